import CLinuxFiles
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An open file of `ChunkFiles`, checked to be one the store made, with the few calls it
/// needs (each retried on EINTR).
struct ChunkFileDescriptor {
    let descriptor: Int32

    /// The name is not a file this store made: a symbolic link, not a regular file, a file
    /// with other hard links, or another user's. Never written through. Its text names no
    /// path: a chunk file's name is a secret's id, which stays out of logs.
    struct NotOurs: Error, CustomStringConvertible {
        var description: String { "a name in the chunk directory is not a chunk file this server made; left alone" }
    }

    /// Opens the file for writing, creating it (owner-only) if it is missing.
    init(creating path: String) throws {
        guard let opened = try Self.open(path, flags: O_RDWR | O_CREAT) else {
            throw ChunkFiles.failure("creating the chunk file", code: ENOENT)
        }
        self = opened
    }

    /// Opens an existing file; nil when there is none.
    init?(existing path: String, writable: Bool) throws {
        guard let opened = try Self.open(path, flags: writable ? O_RDWR : O_RDONLY) else { return nil }
        self = opened
    }

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// O_NOFOLLOW: a link in the last component fails (ELOOP). O_NONBLOCK: a FIFO put in a
    /// file's place cannot block the opening thread (it is refused just after).
    private static func open(_ path: String, flags: Int32) throws -> ChunkFileDescriptor? {
        let descriptor = Glibc.open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            switch errno {
            case ENOENT where flags & O_CREAT == 0: return nil
            case ELOOP: throw NotOurs()
            default: throw ChunkFiles.failure("opening the chunk file")
            }
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw ChunkFiles.failure("reading the chunk file's state", code: code)
        }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_nlink <= 1, info.st_uid == geteuid() else {
            Glibc.close(descriptor)
            throw NotOurs()
        }
        return ChunkFileDescriptor(descriptor: descriptor)
    }

    func close() { Glibc.close(descriptor) }

    func size() throws -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw ChunkFiles.failure("reading the chunk file's size") }
        return Int(info.st_size)
    }

    /// Waits for any other holder of the file's lock (another deletion of it).
    func lockExclusively() throws {
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw ChunkFiles.failure("locking the chunk file") }
        }
    }

    func sync(what: String) throws {
        guard fsync(descriptor) == 0 else { throw ChunkFiles.failure("syncing \(what)") }
    }

    /// Starts writing `count` bytes from `offset` out to the disk, without waiting. False
    /// when the file does not support it (`burnlink_start_writeback`).
    func startWriteback(from offset: Int, count: Int, what: String) throws -> Bool {
        switch burnlink_start_writeback(descriptor, Int64(offset), Int64(count)) {
        case 0: return true
        case BURNLINK_WRITEBACK_UNSUPPORTED: return false
        case let code: throw ChunkFiles.failure("writing \(what)", code: code)
        }
    }

    /// Waits until `count` bytes from `offset` are on the disk, and drops their pages from
    /// the page cache. Any failure fails the caller: it is the file's writeback error,
    /// which a later fsync no longer reports (`burnlink_finish_writeback`).
    func settle(from offset: Int, count: Int, what: String) throws {
        let code = burnlink_finish_writeback(descriptor, Int64(offset), Int64(count))
        guard code == 0 else { throw ChunkFiles.failure("writing \(what)", code: code) }
    }

    /// Drops the clean pages of `count` bytes from `offset` from the page cache.
    func dropCached(from offset: Int, count: Int) {
        _ = posix_fadvise(descriptor, off_t(offset), off_t(count), POSIX_FADV_DONTNEED)
    }

    /// Starts reading `count` bytes from `offset` into the page cache, without waiting.
    func prefetch(from offset: Int, count: Int) {
        _ = posix_fadvise(descriptor, off_t(offset), off_t(count), POSIX_FADV_WILLNEED)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int, what: String) throws {
        if let code = writeAll(bytes, at: offset) { throw ChunkFiles.failure("writing \(what)", code: code) }
    }

    /// Overwrites `start..<end` with zeros. False when the file system has no room for them
    /// (a copy-on-write one, full): the caller frees the space without them.
    func writeZeros(from start: Int, to end: Int) throws -> Bool {
        var offset = start
        while offset < end {
            let count = min(end - offset, Self.zeros.count)
            let code = Self.zeros.withUnsafeBytes { writeAll(UnsafeRawBufferPointer(rebasing: $0[..<count]), at: offset) }
            switch code {
            case nil: offset += count
            case ENOSPC?, EDQUOT?: return false
            case let code?: throw ChunkFiles.failure("overwriting a chunk", code: code)
            }
        }
        return true
    }

    private static let zeros = [UInt8](repeating: 0, count: 1 << 20)

    /// Writes all of `bytes`; the errno that stopped it, or nil.
    private func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int32? {
        var done = 0
        while done < bytes.count {
            let count = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return count == 0 ? EIO : errno }
            done += count
        }
        return nil
    }

    /// Reads up to `buffer.count` bytes; fewer only at the end of the file.
    func readAvailable(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        var done = 0
        while done < buffer.count {
            let count = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw ChunkFiles.failure("reading the chunk file") }
            if count == 0 { break }
            done += count
        }
        return done
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        guard try readAvailable(into: buffer, at: offset) == buffer.count else {
            throw StoreError.unavailable("a chunk file ends inside a chunk")
        }
    }
}
