import BurnlinkCore
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import GRDB
import Logging
import NIOCore
import ServiceLifecycle
import Testing

@testable import BurnlinkServer

// What the SQLite store promises beyond the contract: its files and their settings,
// recovery at open, migrations, the chunk file, freeing large ciphertext in steps, and the
// group commit.

@Suite("Store contract: SQLite file")
struct StoreContractSQLiteTests: StoreContractHelpers {
    /// A fresh directory (not created) and the database path inside it.
    static func location() -> (directory: URL, path: String) {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("burnlink-sqlite-\(UUID().uuidString)", isDirectory: true)
        return (directory, directory.appendingPathComponent("nested/burnlink.sqlite").path)
    }

    @Test("an idle store runs no checkpoints; a commit brings one, and then it is idle again")
    func checkpointsFollowCommits() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        let running = Task { try await store.run() }

        // Nothing while nothing is written (the loop used to wake every 50 ms).
        try await Task.sleep(for: .milliseconds(500))
        #expect(store.checkpointsRun == 0)

        // A commit brings one; then it is idle again. (A loaded machine can hold the
        // checkpointer's low-priority task back for many seconds.)
        try await store.create(StoreSample().record, ciphertext: ByteBuffer(bytes: [1, 2, 3]))
        #expect(await eventually(within: .seconds(120)) { store.checkpointsRun == 1 })
        try await Task.sleep(for: .milliseconds(500))
        #expect(store.checkpointsRun == 1)
        running.cancel()
        try await running.value
        try store.close()
    }

    @Test("as a service, the store checkpoints while it runs, and stops at graceful shutdown")
    func runsAsAService() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        var logger = Logger(label: "burnlink-test")
        logger.logLevel = .error
        let group = ServiceGroup(services: [store], logger: logger)
        let running = Task { try await group.run() }

        let sample = StoreSample(size: 0)
        try await store.upload(sample, chunks: threeChunks())
        #expect(await eventually { store.checkpointsRun > 0 })

        await group.triggerGracefulShutdown()
        try await running.value
        // Its checkpoints have stopped; the store itself still answers until it is closed.
        let stopped = store.checkpointsRun
        try await Task.sleep(for: .milliseconds(300))
        #expect(store.checkpointsRun == stopped)
        #expect(try await store.storedBytes() == threeChunks().reduce(0) { $0 + $1.count })
        try store.close()
        try store.close()  // a second close does nothing
        await #expect(throws: StoreError.self) { try await store.storedBytes() }
    }

    /// Over 8 MiB the SQLite store frees ciphertext in steps after the ending operation;
    /// whichever way such a secret ends, every chunk and every counted byte must go.
    /// SQLite only: PostgreSQL frees any size in the ending statement, which the other
    /// tests cover, and 50 MiB more through it only slows the suites running beside this.
    @Test("a ciphertext over 8 MiB is freed entirely, however its secret ends")
    func largeCiphertextFreed() async throws {
        try await StoreBackend.sqlite.withStore { store in
            let chunks = (0..<9).map { _ in StoreSample.randomBytes(mebibyte) } + [StoreSample.randomBytes(777)]
            let size = chunks.reduce(0) { $0 + $1.count }
            let small = StoreSample(size: 3000, maxViews: 2)
            try await small.store(in: store)

            func expectOnlySmallStored(_ sample: StoreSample, _ how: String) async throws {
                for index in [0, 1, 8, 9] {
                    #expect(try await store.chunk(id: sample.id, index: index) == nil, "\(how): chunk \(index) left")
                }
                #expect(try await store.storedBytes() == small.ciphertext.count, "\(how)")
            }

            // Read to the end by its only reader.
            let read = StoreSample(size: 0)
            try await store.upload(read, chunks: chunks)
            #expect(try await store.storedBytes() == small.ciphertext.count + size)
            let grant = try #require(try await store.claim(read).grant)
            #expect(try await store.readAll(read, grant: grant) == chunks.flatMap { $0 })
            try await store.finishRead(id: read.id)
            try await expectOnlySmallStored(read, "read")

            // Revoked by the sender.
            let revoked = StoreSample(size: 0)
            try await store.upload(revoked, chunks: chunks)
            #expect(try await store.revoke(id: revoked.id, receiptVerifier: revoked.receiptVerifier, now: at(1)))
            try await expectOnlySmallStored(revoked, "revoked")

            // Burned by wrong passwords.
            let burned = StoreSample(size: 0, password: true, attempts: 1)
            try await store.upload(burned, chunks: chunks)
            #expect(ClaimOutcome(try await store.claim(burned, proof: wrong())) == .exhausted)
            try await expectOnlySmallStored(burned, "burned")

            // Expired, then swept.
            let expired = StoreSample(size: 0, lifetime: 60)
            try await store.upload(expired, chunks: chunks)
            #expect(try await store.sweep(now: at(120), receiptRetention: 86_400).expired == 1)
            try await expectOnlySmallStored(expired, "expired")

            // An upload abandoned before its commit.
            let aborted = StoreSample(size: 0)
            try await store.beginUpload(aborted.record)
            for (index, chunk) in chunks.enumerated() {
                try await store.appendChunk(id: aborted.id, index: index, bytes: ByteBuffer(bytes: chunk))
            }
            try await store.abortUpload(id: aborted.id)
            try await expectOnlySmallStored(aborted, "aborted")
            try await store.beginUpload(aborted.record)  // its id is free again
            try await store.abortUpload(id: aborted.id)

            // The receipts still tell what happened, and the small secret is untouched.
            #expect(try await store.receipt(read, now: at(2))?.state == .viewed)
            #expect(try await store.receipt(revoked, now: at(2))?.state == .revoked)
            #expect(try await store.receipt(burned, now: at(2))?.state == .burned)
            #expect(try await store.receipt(expired, now: at(121))?.state == .expired)
            #expect(bytes(try #require(try await store.claim(small).grant).firstChunk) == small.ciphertext)
        }
    }

    @Test("data survives closing and reopening the file")
    func survivesReopen() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let small = StoreSample(maxViews: 2)
        let large = StoreSample()
        let chunks = threeChunks()
        let read = StoreSample()
        do {
            let store = try SQLiteStore(path: path)
            try await small.store(in: store)
            try await store.upload(large, chunks: chunks)
            try await read.store(in: store)
            _ = try #require(try await store.claim(small, now: at(5)).grant)
            _ = try #require(try await store.claim(read, now: at(6)).grant)
            try store.close()
        }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(try await store.storedBytes() == small.ciphertext.count + chunks.reduce(0) { $0 + $1.count })
        #expect(try await store.receipt(small, now: at(7))?.viewedAt == [at(5)])
        #expect(bytes(try #require(try await store.claim(small, now: at(7)).grant).firstChunk) == small.ciphertext)
        let grant = try #require(try await store.claim(large, now: at(7)).grant)
        #expect(try await store.readAll(large, grant: grant) == chunks.flatMap { $0 })
        try await store.finishRead(id: large.id)
        #expect(ClaimOutcome(try await store.claim(read, now: at(7))) == .notFound)
        #expect(try await store.receipt(read, now: at(7))?.state == .viewed)
        #expect(try await store.storedBytes() == 0)
    }

    @Test("a database made by the first schema (chunks keyed by id) opens with every secret intact")
    func migratesFromFirstSchema() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        let small = StoreSample(maxViews: 2)
        let large = StoreSample()
        let chunks = threeChunks()
        do {
            // The "v1" layout, written the way the first release wrote it.
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v1")
            try await queue.write { db in
                for (sample, parts, count) in [(small, [small.ciphertext], 1), (large, chunks, 3)] {
                    let size = parts.reduce(0) { $0 + $1.count }
                    try db.execute(
                        sql: """
                            INSERT INTO secret (id, state, claim_verifier, receipt_verifier, password_attempts_left,
                                                created_at, expires_at, max_views, views_left, size, chunk_count, stored_bytes)
                            VALUES (?, 'active', ?, ?, 5, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            Data(sample.id.bytes), Data(sample.claimVerifier), Data(sample.receiptVerifier),
                            EpochMilliseconds(sample.record.createdAt),
                            EpochMilliseconds(sample.record.expiresAt),
                            sample.record.maxViews, sample.record.maxViews, size, count, size,
                        ])
                    for (index, part) in parts.enumerated() {
                        try db.execute(
                            sql: "INSERT INTO secret_chunk (secret_id, idx, data) VALUES (?, ?, ?)",
                            arguments: [Data(sample.id.bytes), index, Data(part)])
                    }
                }
                try db.execute(
                    sql: "UPDATE store_stats SET stored_bytes = ?",
                    arguments: [small.ciphertext.count + chunks.reduce(0) { $0 + $1.count }])
            }
            try queue.close()
        }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(bytes(try #require(try await store.claim(small, now: at(5)).grant).firstChunk) == small.ciphertext)
        let grant = try #require(try await store.claim(large, now: at(5)).grant)
        #expect(try await store.readAll(large, grant: grant) == chunks.flatMap { $0 })
        try await store.finishRead(id: large.id)
        #expect(try await store.storedBytes() == small.ciphertext.count)
        // New secrets take sequence numbers after the migrated ones; nothing collides.
        let fresh = StoreSample()
        try await fresh.store(in: store)
        #expect(bytes(try #require(try await store.claim(fresh, now: at(6)).grant).firstChunk) == fresh.ciphertext)
    }

    @Test("an upload left uncommitted, or a read left unfinished, at close is gone after reopen")
    func recoveryOnOpen() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let upload = StoreSample()
        let reading = StoreSample()
        let kept = StoreSample()
        do {
            let store = try SQLiteStore(path: path)
            try await store.beginUpload(upload.record)
            try await store.appendChunk(id: upload.id, index: 0, bytes: ByteBuffer(bytes: StoreSample.randomBytes(mebibyte)))
            try await store.appendChunk(id: upload.id, index: 1, bytes: ByteBuffer(bytes: StoreSample.randomBytes(mebibyte)))
            try await store.upload(reading, chunks: threeChunks())
            let grant = try #require(try await store.claim(reading).grant)
            #expect(grant.mustFinishRead && grant.viewsLeft == 0)
            try await kept.store(in: store)
            try store.close()
        }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(try await store.storedBytes() == kept.ciphertext.count)
        #expect(try await store.metadata(upload) == nil)
        #expect(try await store.chunk(id: reading.id, index: 1) == nil)
        await #expect(throws: StoreError.noSuchUpload) {
            try await store.commitUpload(id: upload.id, size: 2 * mebibyte, chunkCount: 2)
        }
        // Nothing of either is left in the file.
        let queue = try DatabaseQueue(path: path)
        let chunkRows = try await queue.read { db in
            // Every chunk row left must belong to a secret row that still exists.
            try Int.fetchOne(
                db,
                sql: """
                    SELECT count(*) FROM secret_chunk WHERE NOT EXISTS (SELECT 1 FROM secret WHERE seq = key >> 24)
                       OR key >> 24 IN (SELECT seq FROM secret WHERE id IN (?, ?))
                    """, arguments: [Data(upload.id.bytes), Data(reading.id.bytes)])
        }
        #expect(chunkRows == 0)
        try queue.close()
        #expect(try await Self.chunkFileIDs(path).isEmpty)
        // The upload's id is free again.
        try await store.beginUpload(upload.record)
        try await store.abortUpload(id: upload.id)
        #expect(bytes(try #require(try await store.claim(kept).grant).firstChunk) == kept.ciphertext)
    }

    @Test("every connection is WAL, synchronous=FULL, secure_delete=ON; the files are private")
    func connectionSettings() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let settings = try await store.connectionSettings()
        #expect(settings.journalMode == "wal")
        #expect(settings.synchronous == 2)
        #expect(settings.secureDelete == 1)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let sample = StoreSample()
        try await store.upload(sample, chunks: threeChunks())
        let chunkFiles = try FileManager.default.attributesOfItem(atPath: path + "-chunks.d")
        #expect((chunkFiles[.posixPermissions] as? NSNumber)?.intValue == 0o700)
        let chunkFile = try FileManager.default.attributesOfItem(atPath: Self.chunkFilePath(path, sample))
        #expect((chunkFile[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    /// The secret ids that have a chunk file beside `path`, sorted (other names skipped).
    static func chunkFileIDs(_ path: String) async throws -> [Data] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path + "-chunks.d")) ?? []
        return names.compactMap(ChunkFiles.secret(named:)).sorted { $0.lexicographicallyPrecedes($1) }
    }

    static func chunkFilePath(_ path: String, _ sample: StoreSample) -> String {
        ChunkFiles(directory: path + "-chunks.d").path(of: Data(sample.id.bytes))
    }

    /// Writes `bytes` into a chunk file at `offset` (creating it), as damage or a leftover would.
    static func patch(_ file: String, at offset: Int, _ bytes: [UInt8]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: bytes)
    }

    @Test("a multi-chunk upload is kept in a chunk file of its own, which is removed once read")
    func uploadsUseTheChunkFile() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let small = StoreSample()
        let large = StoreSample()
        let chunks = threeChunks()
        try await small.store(in: store)
        #expect(!FileManager.default.fileExists(atPath: path + "-chunks.d"), "made only for the first large secret")
        try await store.beginUpload(large.record)
        for (index, chunk) in chunks.enumerated() {
            try await store.appendChunk(id: large.id, index: index, bytes: ByteBuffer(bytes: chunk))
        }
        try await store.commitUpload(id: large.id, size: chunks.reduce(0) { $0 + $1.count }, chunkCount: chunks.count)
        #expect(try await Self.chunkFileIDs(path) == [Data(large.id.bytes)])
        // Slot by slot: a header (magic, length) before each chunk, the last slot cut short.
        let file = try Data(contentsOf: URL(fileURLWithPath: Self.chunkFilePath(path, large)))
        #expect(file.count == 2 * ChunkFiles.slotSize + ChunkFiles.headerSize + chunks[2].count)
        for (index, chunk) in chunks.enumerated() {
            let offset = index * ChunkFiles.slotSize
            #expect(Array(file[offset..<offset + ChunkFiles.headerSize]) == ChunkFiles.header(length: chunk.count))
            #expect(Array(file[offset + ChunkFiles.headerSize..<offset + ChunkFiles.headerSize + chunk.count]) == chunk)
        }
        let mainRows = try await DatabaseQueue(path: path).read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM secret_chunk") ?? -1
        }
        #expect(mainRows == 1, "only the small secret's chunk belongs in the main file")

        let grant = try #require(try await store.claim(large).grant)
        #expect(grant.mustFinishRead)
        #expect(try await store.readAll(large, grant: grant) == chunks.flatMap { $0 })
        try await store.finishRead(id: large.id)
        #expect(try await Self.chunkFileIDs(path).isEmpty)
        #expect(try await store.storedBytes() == small.ciphertext.count)
    }

    @Test("an upload of one chunk from the chunk file: the first chunk comes with the grant, then it is freed")
    func singleChunkUpload() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let sample = StoreSample(size: 5000)
        try await store.upload(sample, chunks: [sample.ciphertext])
        let grant = try #require(try await store.claim(sample).grant)
        #expect(bytes(grant.firstChunk) == sample.ciphertext)
        #expect(grant.mustFinishRead, "counted as a reader, so that only its finishRead frees the chunks")
        #expect(ClaimOutcome(try await store.claim(sample)) == .notFound)
        try await store.finishRead(id: sample.id)
        #expect(try await Self.chunkFileIDs(path).isEmpty)
        #expect(try await store.storedBytes() == 0)
    }

    @Test("a claim that cannot read chunk 0 from the chunk file spends no view")
    func claimWithoutFirstChunk() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let sample = StoreSample(maxViews: 2)
        try await store.upload(sample, chunks: threeChunks())
        try Self.patch(Self.chunkFilePath(path, sample), at: 0, [UInt8](repeating: 0, count: ChunkFiles.headerSize))
        #expect(ClaimOutcome(try await store.claim(sample)) == .notFound)
        let receipt = try #require(try await store.receipt(sample))
        #expect(receipt.state == .waiting && receipt.viewsLeft == 2)
    }

    @Test("chunk files without a readable secret are removed by the sweep and at open; other names are left alone")
    func chunkFileOrphans() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let kept = StoreSample()
        let chunks = threeChunks()
        let orphan = Data(SecretID.random().bytes)
        let files = ChunkFiles(directory: path + "-chunks.d")
        func plantOrphan() async throws {
            try files.write(secret: orphan) { store in
                try [UInt8](repeating: 1, count: 1000).withUnsafeBytes { try store(0, $0) }
                try [UInt8](repeating: 2, count: 2000).withUnsafeBytes { try store(1, $0) }
            }
            // Not a name the store writes: never taken for a secret's, never removed.
            _ = FileManager.default.createFile(atPath: path + "-chunks.d/notes.txt", contents: Data("kept".utf8))
        }
        do {
            let store = try SQLiteStore(path: path)
            try await store.upload(kept, chunks: chunks)
            try await plantOrphan()
            let report = try await store.sweep(now: at(1), receiptRetention: 3600)
            #expect(report.orphanedChunks == 2)
            #expect(try await Self.chunkFileIDs(path) == [Data(kept.id.bytes)])
            #expect(try await store.storedBytes() == chunks.reduce(0) { $0 + $1.count }, "an orphan was never counted")
            try await plantOrphan()
            try store.close()
        }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(try await Self.chunkFileIDs(path) == [Data(kept.id.bytes)])
        #expect(FileManager.default.contents(atPath: path + "-chunks.d/notes.txt") == Data("kept".utf8))
        let grant = try #require(try await store.claim(kept).grant)
        #expect(try await store.readAll(kept, grant: grant) == chunks.flatMap { $0 })
    }

    @Test("the one chunk file of earlier releases moves into chunk files at open, over what a cut move left, and is removed")
    func legacyChunkFileMigrates() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let kept = StoreSample()
        let chunks = threeChunks()
        do {
            let store = try SQLiteStore(path: path)
            try await store.upload(kept, chunks: chunks)
            try store.close()
        }
        // Where an earlier release kept them, with chunks of a secret no row reads.
        let legacy = try DatabaseQueue(path: path + "-chunks")
        try await legacy.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(
                sql: """
                    CREATE TABLE chunk (secret_id BLOB NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL,
                                        UNIQUE (secret_id, idx))
                    """)
            for (index, chunk) in chunks.enumerated().reversed() {
                try db.execute(
                    sql: "INSERT INTO chunk VALUES (?, ?, ?)", arguments: [Data(kept.id.bytes), index, Data(chunk)])
            }
            try db.execute(
                sql: "INSERT INTO chunk VALUES (?, 0, ?)", arguments: [Data(SecretID.random().bytes), Data(count: 10)])
        }
        try legacy.close()
        // A move cut by a crash: the new file is there, its first chunk not yet rewritten.
        try Self.patch(Self.chunkFilePath(path, kept), at: 0, [UInt8](repeating: 0, count: 4096))

        let store = try SQLiteStore(path: path)
        for leftover in ["-chunks", "-chunks-wal", "-chunks-shm"] {
            #expect(!FileManager.default.fileExists(atPath: path + leftover), "\(leftover) removed")
        }
        #expect(try await Self.chunkFileIDs(path) == [Data(kept.id.bytes)])
        try store.close()

        // Cut after the old rows were deleted but before the old file was removed: the next
        // open finds the old file empty and leaves the moved file as it is.
        let emptied = try DatabaseQueue(path: path + "-chunks")
        try await emptied.write { db in
            try db.execute(sql: "CREATE TABLE chunk (secret_id BLOB NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL)")
        }
        try emptied.close()
        let reopened = try SQLiteStore(path: path)
        defer { try? reopened.close() }
        #expect(!FileManager.default.fileExists(atPath: path + "-chunks"))
        let grant = try #require(try await reopened.claim(kept).grant)
        #expect(try await reopened.readAll(kept, grant: grant) == chunks.flatMap { $0 })
        try await reopened.finishRead(id: kept.id)
        #expect(try await Self.chunkFileIDs(path).isEmpty)
    }

    @Test("a chunk file is freed from its last chunk backwards, one deletion at a time, and removed once empty")
    func chunkFilesDeleteInSteps() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(atPath: path + "-chunks.d", withIntermediateDirectories: true)
        let files = ChunkFiles(directory: path + "-chunks.d")
        let secret = Data(SecretID.random().bytes)
        let chunks = threeChunks()
        for (index, chunk) in chunks.enumerated() {
            try await files.append(secret: secret, index: index, bytes: ByteBuffer(bytes: chunk))
        }
        try await files.sync(secret: secret)
        let file = files.path(of: secret)

        let first = try await files.delete(secret: secret, limit: 1)
        #expect(first == (1, chunks[2].count, true))
        #expect(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int == 2 * ChunkFiles.slotSize)
        #expect(try await files.read(secret: secret, index: 1).map { Array($0.readableBytesView) } == chunks[1])
        #expect(try await files.read(secret: secret, index: 2) == nil)
        let rest = try await files.delete(secret: secret, limit: 5)
        #expect(rest == (2, 2 * mebibyte, false))
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(try await files.delete(secret: secret, limit: 5) == (0, 0, false))

        // Two deletions of one file at once (a finished read's and the sweep's): each chunk
        // is counted once, and the file ends removed.
        for (index, chunk) in chunks.enumerated() {
            try await files.append(secret: secret, index: index, bytes: ByteBuffer(bytes: chunk))
        }
        let counted = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    var (chunks, more) = (0, true)
                    while more {
                        let step = try await files.delete(secret: secret, limit: 1)
                        chunks += step.chunks
                        more = step.more
                    }
                    return chunks
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(counted == 3)
        #expect(!FileManager.default.fileExists(atPath: file))
    }

    @Test("names in the chunk directory that the store did not make are never written through")
    func chunkFilesForeignNames() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let chunkDirectory = path + "-chunks.d"
        try FileManager.default.createDirectory(
            atPath: chunkDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let files = ChunkFiles(directory: chunkDirectory)
        let outside = directory.appendingPathComponent("outside").path
        FileManager.default.createFile(atPath: outside, contents: Data("outside".utf8))
        // A symbolic link and a hard link under secrets' names, a directory under a third.
        let symbolic = Data(SecretID.random().bytes)
        try FileManager.default.createSymbolicLink(atPath: files.path(of: symbolic), withDestinationPath: outside)
        let hard = Data(SecretID.random().bytes)
        try FileManager.default.linkItem(atPath: outside, toPath: files.path(of: hard))
        let folder = Data(SecretID.random().bytes)
        try FileManager.default.createDirectory(atPath: files.path(of: folder), withIntermediateDirectories: false)

        for linked in [symbolic, hard] {
            do {
                try await files.append(secret: linked, index: 0, bytes: ByteBuffer(bytes: [1, 2, 3]))
                Issue.record("an append through a name the store did not make went through")
            } catch {
                // The error may reach a log: it names no path, so no id.
                #expect(!"\(error)".contains(Hex.encode(linked)), "\(error)")
            }
            await #expect(throws: ChunkFileDescriptor.NotOurs.self) { try await files.read(secret: linked, index: 0) }
        }
        // The store opens all the same; the links' names go, the directory stays, nothing
        // outside is touched, and the directory is made owner-only.
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(try await Self.chunkFileIDs(path) == [folder])
        #expect(FileManager.default.contents(atPath: outside) == Data("outside".utf8))
        let mode = try FileManager.default.attributesOfItem(atPath: chunkDirectory)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o700)
        _ = try await store.sweep(now: at(1), receiptRetention: 3600)
        #expect(try await Self.chunkFileIDs(path) == [folder])
    }

    @Test("a chunk the chunk file refuses is not counted: the upload stays as it was")
    func refusedChunkIsNotCounted() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let sample = StoreSample()
        let first = StoreSample.randomBytes(mebibyte)
        try await store.beginUpload(sample.record)
        try await store.appendChunk(id: sample.id, index: 0, bytes: ByteBuffer(bytes: first))
        // A chunk already in slot 1 makes the chunk file refuse chunk 1.
        let file = Self.chunkFilePath(path, sample)
        try Self.patch(file, at: ChunkFiles.slotSize, ChunkFiles.header(length: 1) + [0])
        await #expect(throws: StoreError.self) {
            try await store.appendChunk(id: sample.id, index: 1, bytes: ByteBuffer(bytes: StoreSample.randomBytes(1000)))
        }
        #expect(try await store.storedBytes() == mebibyte)
        #expect(truncate(file, off_t(ChunkFiles.slotSize)) == 0)
        try await store.commitUpload(id: sample.id, size: mebibyte, chunkCount: 1)
        let grant = try #require(try await store.claim(sample).grant)
        #expect(bytes(grant.firstChunk) == first)
    }

    @Test("an append to an upload that ended meanwhile leaves no chunk in the chunk file")
    func appendAfterAbort() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let sample = StoreSample()
        try await store.beginUpload(sample.record)
        try await store.appendChunk(id: sample.id, index: 0, bytes: ByteBuffer(bytes: StoreSample.randomBytes(mebibyte)))
        try await store.abortUpload(id: sample.id)
        await #expect(throws: StoreError.noSuchUpload) {
            try await store.appendChunk(id: sample.id, index: 1, bytes: ByteBuffer(bytes: StoreSample.randomBytes(1000)))
        }
        #expect(try await Self.chunkFileIDs(path).isEmpty)
        #expect(try await store.storedBytes() == 0)
    }

    @Test("concurrent writes share transactions")
    func groupCommit() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let samples = (0..<400).map { _ in StoreSample(size: 1024) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sample in samples {
                group.addTask { try await sample.store(in: store) }
            }
            try await group.waitForAll()
        }
        let statistics = await store.groupCommitStatistics()
        #expect(statistics.operations == 400)
        #expect(statistics.batches < statistics.operations)
        #expect(statistics.largestBatch > 1)
        #expect(try await store.storedBytes() == 400 * 1024)
    }
}
