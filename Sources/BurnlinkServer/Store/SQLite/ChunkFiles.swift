import Foundation
import NIOCore
import NIOPosix
import Synchronization

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
/// copy-on-write ones and SSD remapping promise no more than for SQLite's `secure_delete`
/// (and where the zeros find no room, the file is cut and removed all the same: freeing
/// space comes first). Deletions of one file take turns (`flock`).
///
/// Only files this store made are written through: a name in the directory that is a
/// symbolic link, a file with other hard links or another owner, is never opened for
/// writing (a deletion removes the name alone); other kinds of entries, and names that
/// are not an id, are left alone. The directory must be the server user's own; it is
/// made owner-only.
///
/// An upload keeps its file open from its first append until its sync or deletion
/// (`UploadFile`). The kernel keeps a file's writeback errors with its inode in memory, and
/// an inode that no descriptor holds can be evicted between two appends, its error with it:
/// the sync before the commit would then succeed over a chunk that never reached the disk.
///
/// Every system call runs on NIO's blocking-I/O pool, never on a cooperative thread.
final class ChunkFiles: Sendable {
    let directory: String
    /// The directory has been made, checked and its name synced (`prepareDirectory`).
    private let directoryReady = Mutex(false)
    /// The open file of each upload in progress, by secret id; none after `releaseAll`.
    private let uploads = Mutex(Uploads())

    private struct Uploads {
        var files: [Data: UploadFile] = [:]
        /// The store is closing: no upload opens its file any more.
        var closed = false
    }

    /// "BLC1": tells a written slot from unwritten (zero) space.
    static let magic: UInt32 = 0x3143_4C42
    static let headerSize = 8
    static let slotSize = headerSize + StoreLimits.chunkSize

    /// Chunks of an upload written but not yet waited for: 64 MiB. A large secret's pages
    /// leave the page cache once on the disk (when written) or read (when claimed), so its
    /// pages are reused instead of fresh ones taken: filling 1 GiB of fresh page-cache pages
    /// cost this machine 2.8 to 3.4 s of system time, against 0.5 s with 64 MiB in flight
    /// (docs/benchmarks.md, "Issue 18: a large output's pages dropped once on the disk").
    static let slotsInFlight = 64
    /// Chunks read ahead of a claim's reads: they come from the disk now.
    static let slotsPrefetched = 8

    init(directory: String) {
        self.directory = directory
    }

    /// The directory for the database at `path`.
    static func directory(for path: String) -> String { path + "-chunks.d" }

    func path(of secret: Data) -> String {
        directory + "/" + Hex.encode(secret)
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
            try prepareDirectory()
            let stored: Void? = try upload(secret, path: path).use { file in
                let offset = Self.offset(of: index)
                if try Self.header(of: file, at: offset) != nil {
                    throw StoreError.unavailable("chunk \(index) of this upload is already stored")
                }
                try bytes.withUnsafeReadableBytes { try Self.store(index: index, bytes: $0, in: file) }
                // Little of an upload stays in the page cache: this chunk starts out to the
                // disk, the one `slotsInFlight` before it is waited for and dropped.
                let supported = try file.startWriteback(from: offset, count: Self.slotSize, what: "chunk \(index)")
                if supported, index >= Self.slotsInFlight {
                    let settled = index - Self.slotsInFlight
                    try file.settle(from: Self.offset(of: settled), count: Self.slotSize, what: "chunk \(settled)")
                }
            }
            // Its file was let go meanwhile: the upload is being deleted.
            guard stored != nil else { throw StoreError.noSuchUpload }
        }
    }

    /// Makes every earlier append of the secret durable, and its file's name with it, and
    /// lets the upload's file go. No file, nothing to sync: the commit that follows finds no
    /// such upload.
    func sync(secret: Data) async throws {
        let path = path(of: secret)
        try await blocking { [self] in
            let held = uploads.withLock { $0.files.removeValue(forKey: secret) }
            defer { held?.close() }
            let synced: Void? = try held?.use { try $0.sync(what: "the chunk file") }
            if synced == nil {
                guard let file = try ChunkFileDescriptor(existing: path, writable: false) else { return }
                defer { file.close() }
                try file.sync(what: "the chunk file")
            }
            try syncDirectory()
        }
    }

    /// Closes the file an upload holds open, if any: the upload ended without a sync.
    func release(secret: Data) async {
        guard let held = uploads.withLock({ $0.files.removeValue(forKey: secret) }) else { return }
        await close(held)
    }

    /// Closes every upload's file (the store is closing).
    func releaseAll() {
        let held = uploads.withLock { uploads in
            defer {
                uploads.files.removeAll()
                uploads.closed = true
            }
            return Array(uploads.files.values)
        }
        for upload in held { upload.close() }
    }

    /// Closes a file let go of, on the blocking pool: it waits for an append under way. If
    /// the pool will not run it (the task is cancelled, or the pool has stopped), here:
    /// callers let go of an upload only once its appends have returned (the controller
    /// aborts after them; deletions and sweeps run on uploads no request writes to), so the
    /// wait is short if any.
    private func close(_ held: UploadFile) async {
        do {
            try await blocking { held.close() }
        } catch {
            held.close()
        }
    }

    /// The upload's open file, opened (and created) by its first append.
    private func upload(_ secret: Data, path: String) throws -> UploadFile {
        let closing = StoreError.unavailable("the store is closing")
        let held = try uploads.withLock { uploads throws(StoreError) -> UploadFile? in
            guard !uploads.closed else { throw closing }
            return uploads.files[secret]
        }
        if let held { return held }
        let opened = UploadFile(try ChunkFileDescriptor(creating: path))
        let kept = uploads.withLock { uploads -> UploadFile? in
            if uploads.closed { return nil }
            if let held = uploads.files[secret] { return held }
            uploads.files[secret] = opened
            return opened
        }
        if kept !== opened { opened.close() }
        guard let kept else { throw closing }
        return kept
    }

    /// Chunk `index` of the secret, or nil when it has none there.
    func read(secret: Data, index: Int) async throws -> ByteBuffer? {
        let path = path(of: secret)
        return try await blocking {
            guard let file = try ChunkFileDescriptor(existing: path, writable: false) else { return nil }
            defer { file.close() }
            let offset = Self.offset(of: index)
            guard let length = try Self.header(of: file, at: offset) else { return nil }
            var buffer = ByteBufferAllocator().buffer(capacity: length)
            try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { target in
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: target[..<length]), at: offset + Self.headerSize)
                return length
            }
            // Most secrets are read once: their pages need not stay cached (see
            // `slotsInFlight`); another view or a resumed download reads them from the disk.
            // The next chunks are asked of the disk now, while this one is being sent.
            file.dropCached(from: offset, count: Self.headerSize + length)
            file.prefetch(from: Self.offset(of: index + 1), count: Self.slotsPrefetched * Self.slotSize)
            return buffer
        }
    }

    /// Deletes up to `limit` of the secret's last chunks (see the type's comment) and the
    /// file once it is empty. Returns the chunks and bytes freed, and whether any remain.
    func delete(secret: Data, limit: Int) async throws -> (chunks: Int, bytes: Int, more: Bool) {
        let path = path(of: secret)
        await release(secret: secret)
        return try await blocking { [self] in try deleteNow(path: path, limit: limit) }
    }

    /// The ids that have a file here.
    func secrets() async throws -> [Data] {
        try await blocking { [self] in try secretsNow() }
    }

    // MARK: - At open (blocking: nothing is served yet)

    /// Deletes the files of every secret not in `keep`. One that cannot be deleted is
    /// skipped (the sweep tries again, and reports it). Returns the chunks deleted and how
    /// many files were skipped.
    @discardableResult
    func removeAll(except keep: Set<Data>) throws -> (chunks: Int, skipped: Int) {
        var (deleted, skipped) = (0, 0)
        for secret in try secretsNow() where !keep.contains(secret) {
            do {
                var more = true
                while more {
                    let step = try deleteNow(path: path(of: secret), limit: 64)
                    deleted += step.chunks
                    more = step.more
                }
            } catch {
                skipped += 1
            }
        }
        return (deleted, skipped)
    }

    /// Writes a secret's chunks and syncs them, for moving chunks from elsewhere into this
    /// store. `chunks` hands each chunk to the closure it is given. A file already there is
    /// overwritten in place (a repeated move writes the same bytes on the same blocks), then
    /// cut after the last chunk written. No chunk, no file.
    func write(
        secret: Data,
        chunks: (_ store: (_ index: Int, _ bytes: UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws {
        try prepareDirectory()
        var file: ChunkFileDescriptor?
        defer { file?.close() }
        var end = 0
        let path = path(of: secret)
        try chunks { index, bytes in
            guard bytes.count <= StoreLimits.chunkSize else {
                throw StoreError.unavailable("chunk \(index) is larger than \(StoreLimits.chunkSize) bytes")
            }
            if file == nil { file = try ChunkFileDescriptor(creating: path) }
            try Self.store(index: index, bytes: bytes, in: file!)
            end = max(end, Self.offset(of: index) + Self.headerSize + bytes.count)
        }
        guard let file else { return }
        guard ftruncate(file.descriptor, off_t(end)) == 0 else { throw Self.failure("cutting the chunk file") }
        try file.sync(what: "the chunk file")
        try syncDirectory()
    }

    /// Makes the directory if it is missing (owner-only, its name synced in the parent),
    /// else checks it: a directory, not a link, the server user's own; group and other
    /// permissions are taken away. Once per store.
    func prepareDirectory() throws {
        if directoryReady.withLock({ $0 }) { return }
        if mkdir(directory, 0o700) == 0 {
            try Self.syncDirectory((directory as NSString).deletingLastPathComponent)
        } else if errno != EEXIST {
            throw Self.failure("creating \(directory)")
        }
        var info = stat()
        guard lstat(directory, &info) == 0 else { throw Self.failure("reading \(directory)") }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw StoreError.unavailable("\(directory) is not a directory")
        }
        guard info.st_uid == geteuid() else {
            throw StoreError.unavailable("\(directory) belongs to another user than the server's")
        }
        if info.st_mode & 0o077 != 0, chmod(directory, 0o700) != 0 {
            throw Self.failure("making \(directory) owner-only")
        }
        directoryReady.withLock { $0 = true }
    }

    // MARK: - Blocking parts

    private func deleteNow(path: String, limit: Int) throws -> (chunks: Int, bytes: Int, more: Bool) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return (0, 0, false) }
            throw Self.failure("reading the chunk file's type")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFLNK:
            try removeName(path)  // a link in a secret's place: the name goes, its target stays
            return (0, 0, false)
        default:
            return (0, 0, false)  // not a kind of entry this store makes: left alone
        }
        let file: ChunkFileDescriptor
        do {
            guard let opened = try ChunkFileDescriptor(existing: path, writable: true) else { return (0, 0, false) }
            file = opened
        } catch is ChunkFileDescriptor.NotOurs {
            try removeName(path)  // hard-linked, another owner's, or a link put there meanwhile
            return (0, 0, false)
        }
        defer { file.close() }
        // One deletion of a file at a time; the size is read under the lock, after whatever
        // an earlier holder cut.
        try file.lockExclusively()
        let size = try file.size()
        var (chunks, bytes) = (0, 0)
        var cut = size
        var zeroing = true
        while cut > 0, chunks < limit {
            let slot = (cut - 1) / Self.slotSize
            let offset = Self.offset(of: slot)
            if let length = try Self.header(of: file, at: offset) {
                chunks += 1
                bytes += length
            }
            // The whole rest of the file from the slot on, header and any bytes past it.
            if zeroing { zeroing = try file.writeZeros(from: offset, to: cut) }
            cut = offset
        }
        if cut < size {
            if zeroing { try file.sync(what: "the overwritten chunks") }
            guard ftruncate(file.descriptor, off_t(cut)) == 0 else { throw Self.failure("cutting the chunk file") }
        }
        if cut == 0 { try removeName(path) }
        return (chunks, bytes, cut > 0)
    }

    private func removeName(_ path: String) throws {
        // Not the path in the error: a chunk file's name is a secret's id.
        guard unlink(path) == 0 || errno == ENOENT else { throw Self.failure("removing a chunk file") }
        try syncDirectory()
    }

    private func secretsNow() throws -> [Data] {
        guard FileManager.default.fileExists(atPath: directory) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: directory).compactMap(Self.secret(named:))
    }

    /// The id a file name spells, or nil for a name this store never writes (lower case only).
    static func secret(named name: String) -> Data? {
        Hex.decode(name, count: 16, upperCase: false).map { Data($0) }
    }

    /// Makes the directory's entries (a file created or removed) durable.
    private func syncDirectory() throws {
        try Self.syncDirectory(directory)
    }

    static func syncDirectory(_ path: String) throws {
        let handle = Glibc.open(path.isEmpty ? "." : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard handle >= 0 else { throw failure("opening \(path)") }
        defer { Glibc.close(handle) }
        guard fsync(handle) == 0 else { throw failure("syncing \(path)") }
    }

    static func offset(of index: Int) -> Int { index * slotSize }

    static func header(length: Int) -> [UInt8] {
        withUnsafeBytes(of: (magic.littleEndian, UInt32(length).littleEndian)) { Array($0) }
    }

    private static func store(index: Int, bytes: UnsafeRawBufferPointer, in file: ChunkFileDescriptor) throws {
        let offset = offset(of: index)
        try header(length: bytes.count).withUnsafeBytes { try file.write($0, at: offset, what: "chunk \(index)") }
        try file.write(bytes, at: offset + headerSize, what: "chunk \(index)")
    }

    /// The length of the chunk in the slot at `offset`, or nil when the slot holds none.
    private static func header(of file: ChunkFileDescriptor, at offset: Int) throws -> Int? {
        var header = (UInt32(0), UInt32(0))
        let count = try withUnsafeMutableBytes(of: &header) { try file.readAvailable(into: $0, at: offset) }
        guard count == headerSize, UInt32(littleEndian: header.0) == magic else { return nil }
        let length = Int(UInt32(littleEndian: header.1))
        return length <= StoreLimits.chunkSize ? length : nil
    }

    static func failure(_ doing: String, code: Int32 = errno) -> StoreError {
        let detail = "\(doing) failed: \(String(cString: strerror(code)))"
        return code == ENOSPC || code == EDQUOT ? .storageFull(detail) : .unavailable(detail)
    }

    private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}
