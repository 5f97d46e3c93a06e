import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The ciphertext of secrets uploaded in several chunks (over `StoreLimits.chunkSize`): a
/// file per secret, named by its id in hex, in an owner-only directory beside the main
/// database (`<database>-chunks.d/`).
///
/// Why files: a large byte is written once while it streams and once more, as zeros, when
/// its secret ends. The SQLite chunk file these replace wrote it four times (its WAL, the
/// checkpoint's copy, and both again for `secure_delete`'s zeros), and copied one upload
/// back into the file while the next one streamed (docs/scaling.md, point 4).
///
/// Layout: chunk `i` fills slot `i`, at `i × slotSize`: an 8-byte header (`magic`, then the
/// length, both little-endian `UInt32`) and the chunk's bytes. Fixed slots find a chunk
/// without an index; uploads fill every slot but the last, so their files are dense. A
/// slot without a valid header holds no chunk (unwritten space reads as zeros).
///
/// Durability: appends are not synced one by one (an fsync per 1 MiB chunk held uploads to
/// the disk's synced-write rate); `sync(secret:)` makes a file and its name durable, and the
/// store calls it before the commit that makes the upload readable. The main file stays the
/// authority: a file here is readable only through a secret row there, so a crash can only
/// leave files that no secret reads (or bring back the file of a secret that ended), which
/// `SQLiteStore` removes at open and in its sweep; never a readable secret without its
/// chunks. Keyed by the random id, so a file left by a crash is never taken for a later
/// secret's.
///
/// Deletion runs from the last chunk backwards, a few chunks a step: their bytes are
/// overwritten with zeros and synced, then the file is cut before them, and removed once
/// empty. The sync comes first because the kernel drops dirty pages that a truncation
/// frees, and the blocks would go back to the file system still holding ciphertext. On
/// file systems that write in place (ext4, XFS) the zeros land on the ciphertext's blocks;
/// copy-on-write ones and SSD remapping promise no more than for SQLite's `secure_delete`.
///
/// Every system call runs on NIO's blocking-I/O pool, never on a cooperative thread.
final class ChunkFiles: Sendable {
    let directory: String

    /// "BLC1": tells a written slot from unwritten (zero) space.
    static let magic: UInt32 = 0x3143_4C42
    static let headerSize = 8
    static let slotSize = headerSize + StoreLimits.chunkSize

    init(directory: String) {
        self.directory = directory
    }

    /// The directory for the database at `path`.
    static func directory(for path: String) -> String { path + "-chunks.d" }

    func path(of secret: Data) -> String {
        directory + "/" + secret.map { String(format: "%02x", $0) }.joined()
    }

    // MARK: - Operations (async: on the blocking-I/O pool)

    /// Stores chunk `index` of a secret (at most `StoreLimits.chunkSize` bytes); durable only
    /// after `sync(secret:)`. A chunk already in that slot is a conflict (throws).
    func append(secret: Data, index: Int, bytes: ByteBuffer) async throws {
        guard bytes.readableBytes <= StoreLimits.chunkSize else {
            throw StoreError.unavailable("chunk \(index) is larger than \(StoreLimits.chunkSize) bytes")
        }
        let path = path(of: secret)
        try await blocking { [self] in
            try createDirectory()
            let file = try Descriptor(path: path, flags: O_RDWR | O_CREAT)
            defer { file.close() }
            let offset = Self.offset(of: index)
            if try Self.header(of: file, at: offset) != nil {
                throw StoreError.unavailable("chunk \(index) of this upload is already stored")
            }
            var header = Self.header(length: bytes.readableBytes)
            try header.withUnsafeBytes { try file.write($0, at: offset, what: "chunk \(index)") }
            try bytes.withUnsafeReadableBytes {
                try file.write($0, at: offset + Self.headerSize, what: "chunk \(index)")
            }
            header.removeAll()
        }
    }

    /// Makes every earlier append of the secret durable, and its file's name with it. No
    /// file, nothing to sync: the commit that follows finds no such upload.
    func sync(secret: Data) async throws {
        let path = path(of: secret)
        try await blocking { [self] in
            guard let file = try Descriptor(existing: path, flags: O_RDONLY) else { return }
            defer { file.close() }
            try file.sync(what: "the chunk file")
            try syncDirectory()
        }
    }

    /// Chunk `index` of the secret, or nil when it has none there.
    func read(secret: Data, index: Int) async throws -> ByteBuffer? {
        let path = path(of: secret)
        return try await blocking {
            guard let file = try Descriptor(existing: path, flags: O_RDONLY) else { return nil }
            defer { file.close() }
            let offset = Self.offset(of: index)
            guard let length = try Self.header(of: file, at: offset) else { return nil }
            var buffer = ByteBufferAllocator().buffer(capacity: length)
            try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { target in
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: target[..<length]), at: offset + Self.headerSize)
                return length
            }
            return buffer
        }
    }

    /// Deletes up to `limit` of the secret's last chunks (see the type's comment) and the
    /// file once it is empty. Returns the chunks and bytes freed, and whether any remain.
    func delete(secret: Data, limit: Int) async throws -> (chunks: Int, bytes: Int, more: Bool) {
        let path = path(of: secret)
        return try await blocking { [self] in try deleteNow(path: path, limit: limit) }
    }

    /// The ids that have a file here.
    func secrets() async throws -> [Data] {
        try await blocking { [self] in try secretsNow() }
    }

    // MARK: - At open (blocking: nothing is served yet)

    /// Deletes the files of every secret not in `keep`. Returns the chunks deleted.
    @discardableResult
    func removeAll(except keep: Set<Data>) throws -> Int {
        var deleted = 0
        for secret in try secretsNow() where !keep.contains(secret) {
            var more = true
            while more {
                let step = try deleteNow(path: path(of: secret), limit: 64)
                deleted += step.chunks
                more = step.more
            }
        }
        return deleted
    }

    /// Writes a whole secret's chunks and syncs them, for moving chunks from elsewhere into
    /// this store. `chunks` hands each chunk to the closure it is given, in any order. A file
    /// already there is overwritten in place (a repeated move writes the same bytes on the
    /// same blocks), then cut after the last chunk written; without chunks, it is removed.
    func write(
        secret: Data,
        chunks: (_ store: (_ index: Int, _ bytes: UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws {
        try createDirectory()
        let file = try Descriptor(path: path(of: secret), flags: O_RDWR | O_CREAT)
        defer { file.close() }
        var end = 0
        try chunks { index, bytes in
            guard bytes.count <= StoreLimits.chunkSize else {
                throw StoreError.unavailable("chunk \(index) is larger than \(StoreLimits.chunkSize) bytes")
            }
            let offset = Self.offset(of: index)
            try Self.header(length: bytes.count).withUnsafeBytes { try file.write($0, at: offset, what: "chunk \(index)") }
            try file.write(bytes, at: offset + Self.headerSize, what: "chunk \(index)")
            end = max(end, offset + Self.headerSize + bytes.count)
        }
        guard ftruncate(file.descriptor, off_t(end)) == 0 else { throw Self.failure("cutting the chunk file") }
        if end == 0 {
            guard unlink(path(of: secret)) == 0 else { throw Self.failure("removing the chunk file") }
        } else {
            try file.sync(what: "the chunk file")
        }
        try syncDirectory()
    }

    // MARK: - Blocking parts

    private func deleteNow(path: String, limit: Int) throws -> (chunks: Int, bytes: Int, more: Bool) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return (0, 0, false) }
            throw Self.failure("reading the chunk file's type")
        }
        // Never a file this store wrote (a link put in its place): the name goes, unfollowed.
        guard info.st_mode & S_IFMT == S_IFREG else {
            guard unlink(path) == 0 else { throw Self.failure("removing \(path)") }
            return (0, 0, false)
        }
        guard let file = try Descriptor(existing: path, flags: O_RDWR) else { return (0, 0, false) }
        defer { file.close() }
        let size = try file.size()
        var (chunks, bytes) = (0, 0)
        var cut = size
        while cut > 0, chunks < limit {
            let slot = (cut - 1) / Self.slotSize
            let offset = Self.offset(of: slot)
            let length = try Self.header(of: file, at: offset)
            // A slot without a valid header (a write cut by a crash) is zeroed all the same.
            let end = length.map { min(cut, offset + Self.headerSize + $0) } ?? cut
            try file.writeZeros(from: offset, to: end)
            if let length {
                chunks += 1
                bytes += length
            }
            cut = offset
        }
        if cut < size {
            try file.sync(what: "the overwritten chunks")
            guard ftruncate(file.descriptor, off_t(cut)) == 0 else { throw Self.failure("cutting the chunk file") }
        }
        if cut == 0 {
            guard unlink(path) == 0 || errno == ENOENT else { throw Self.failure("removing the chunk file") }
            try syncDirectory()
        }
        return (chunks, bytes, cut > 0)
    }

    private func secretsNow() throws -> [Data] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.compactMap(Self.secret(named:))
    }

    /// The id a file name spells, or nil for a name this store never writes.
    static func secret(named name: String) -> Data? {
        let digits = Array(name.utf8)
        guard digits.count == 32 else { return nil }
        var id = Data(capacity: 16)
        for pair in stride(from: 0, to: 32, by: 2) {
            guard let high = hexValue(digits[pair]), let low = hexValue(digits[pair + 1]) else { return nil }
            id.append(high << 4 | low)
        }
        return id
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    private func createDirectory() throws {
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw Self.failure("creating \(directory)")
        }
    }

    /// Makes the directory's entries (a file created or removed) durable.
    private func syncDirectory() throws {
        let handle = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard handle >= 0 else { throw Self.failure("opening \(directory)") }
        defer { Glibc.close(handle) }
        guard fsync(handle) == 0 else { throw Self.failure("syncing \(directory)") }
    }

    static func offset(of index: Int) -> Int { index * slotSize }

    static func header(length: Int) -> [UInt8] {
        withUnsafeBytes(of: (magic.littleEndian, UInt32(length).littleEndian)) { Array($0) }
    }

    /// The length of the chunk in the slot at `offset`, or nil when the slot holds none.
    private static func header(of file: Descriptor, at offset: Int) throws -> Int? {
        var header = (UInt32(0), UInt32(0))
        let count = try withUnsafeMutableBytes(of: &header) { try file.readAvailable(into: $0, at: offset) }
        guard count == headerSize, UInt32(littleEndian: header.0) == magic else { return nil }
        let length = Int(UInt32(littleEndian: header.1))
        return length <= StoreLimits.chunkSize ? length : nil
    }

    static func failure(_ doing: String, code: Int32 = errno) -> StoreError {
        .unavailable("\(doing) failed: \(String(cString: strerror(code)))")
    }

    private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}

/// An open file of `ChunkFiles`, with the few calls it needs, retried on EINTR.
private struct Descriptor {
    let descriptor: Int32

    /// Opens (or with O_CREAT creates, owner-only) the file; never through a symbolic link.
    init(path: String, flags: Int32) throws {
        descriptor = Glibc.open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ChunkFiles.failure("opening the chunk file") }
    }

    /// nil when the file does not exist.
    init?(existing path: String, flags: Int32) throws {
        let descriptor = Glibc.open(path, flags | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw ChunkFiles.failure("opening the chunk file")
        }
        self.descriptor = descriptor
    }

    func close() { Glibc.close(descriptor) }

    func size() throws -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw ChunkFiles.failure("reading the chunk file's size") }
        return Int(info.st_size)
    }

    func sync(what: String) throws {
        guard fsync(descriptor) == 0 else { throw ChunkFiles.failure("syncing \(what)") }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int, what: String) throws {
        var done = 0
        while done < bytes.count {
            let count = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw ChunkFiles.failure("writing \(what)", code: count == 0 ? EIO : errno) }
            done += count
        }
    }

    func writeZeros(from start: Int, to end: Int) throws {
        var offset = start
        while offset < end {
            let count = min(end - offset, Self.zeros.count)
            try Self.zeros.withUnsafeBytes { zeros in
                try write(UnsafeRawBufferPointer(rebasing: zeros[..<count]), at: offset, what: "zeros")
            }
            offset += count
        }
    }

    private static let zeros = [UInt8](repeating: 0, count: 1 << 20)

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
