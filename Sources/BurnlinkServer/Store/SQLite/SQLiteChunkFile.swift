import Foundation
import GRDB
import GRDBSQLite
import NIOCore

/// The ciphertext of secrets uploaded in several chunks (over `StoreLimits.chunkSize`),
/// in a SQLite file of its own beside the main database (`<database>-chunks`).
///
/// Why apart: the main file keeps 4 KiB pages, which suit its small rows (1 KiB creates
/// ran slower on larger pages). Through 4 KiB pages a 1 MiB chunk is 256 overflow pages,
/// each written with two system calls to the WAL and copied again at checkpoint; that
/// bounded ingest. Here pages are 64 KiB, and the file has its own writer, so large
/// uploads and the freeing of large ciphertext no longer queue behind, or hold up, the
/// creates and claims of the main file (docs/benchmarks.md, "Large secrets in a chunk
/// file of their own").
///
/// WAL, `secure_delete=ON`, owner-only, like the main file, but `synchronous=NORMAL`:
/// appends and deletions are not synced one by one (an fsync per 1 MiB chunk held the
/// upload to the disk's synced-write rate; same section); `sync()` makes them all durable
/// at once, and the store calls it before an upload commits. The main file stays the
/// authority: a chunk here is readable only through a secret row there, so a crash can
/// only leave chunks that no secret reads (or bring back chunks of a secret that ended),
/// which `SQLiteStore` removes at open and in its sweep; never a readable secret without
/// its chunks.
///
/// Schema: `chunk(secret_id BLOB, idx INTEGER, data BLOB)`, unique on (secret_id, idx).
/// Keyed by the random id, not the main file's reusable `seq`, so a chunk left by a crash
/// can never be taken for a later secret's.
final class SQLiteChunkFile: Sendable {
    let path: String
    private let pool: DatabasePool
    private let checkpointer: SQLiteCheckpointer

    /// Page size of a new chunk file: 1 MiB chunks write about twice as fast as through
    /// 4 KiB pages (docs/benchmarks.md, "Figures that were in code comments").
    static let pageSize = 65_536
    /// The WAL may grow this large while uploads stream without a pause: the checkpointer
    /// waits for a quiet moment, so a large upload is written once while it streams and
    /// copied into the file after it, not both at once on the same disk. Past this the
    /// writer copies back by itself.
    static let walBackstopBytes = 2 << 30

    init(path: String) throws {
        self.path = path
        // NORMAL: appends are synced together by `sync()` (see the type's comment).
        pool = try SQLiteStore.openPool(
            path: path, label: "burnlink-chunks", synchronous: SQLiteStore.synchronousNormal,
            pageSize: Self.pageSize)
        try Self.migrator.migrate(pool)
        try SQLiteCheckpointer.leaveCheckpoints(of: pool, backstopBytes: Self.walBackstopBytes)
        checkpointer = try SQLiteCheckpointer(
            path: path, label: "burnlink-chunks-checkpoint",
            waitForQuiet: .milliseconds(250))
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // A rowid table: chunks append in arrival order; only the small index is sorted by id.
            try db.execute(
                sql: """
                    CREATE TABLE chunk (
                        secret_id BLOB NOT NULL CHECK (length(secret_id) = 16),
                        idx INTEGER NOT NULL CHECK (idx >= 0),
                        data BLOB NOT NULL,
                        UNIQUE (secret_id, idx)
                    );
                    -- One row, changed by a commit whose only purpose is to sync the WAL (see sync()).
                    CREATE TABLE sync_mark (id INTEGER PRIMARY KEY CHECK (id = 1), commits INTEGER NOT NULL);
                    INSERT INTO sync_mark (id, commits) VALUES (1, 0);
                    """)
        }
        return migrator
    }

    /// Checkpoints run so far by `runCheckpoints` (for tests).
    var checkpointsRun: Int { checkpointer.checkpointsRun }

    /// The checkpoints of this file, until the calling task is cancelled (`SQLiteCheckpointer.run`).
    func runCheckpoints() async {
        await checkpointer.run()
    }

    func close() throws {
        try checkpointer.close()
        try pool.close()
    }

    /// Makes every earlier write durable: one commit with `synchronous=FULL`, which syncs
    /// the WAL and so every frame before its own. Call it before the main file records
    /// anything that relies on those writes.
    func sync() async throws {
        // Activity for the checkpointer from start to end: syncing a large upload can outlast
        // its quiet period, and a copy-back begun beside the sync would run on as the upload
        // commits and the download that usually follows begins.
        try await checkpointer.during {
            try await pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                defer { try? db.execute(sql: "PRAGMA synchronous = NORMAL") }
                try db.inTransaction {
                    try db.execute(sql: "UPDATE sync_mark SET commits = commits + 1")
                    return .commit
                }
            }
        }
    }

    /// Stores chunk `index` of a secret; durable only after the next `sync()`. A chunk
    /// already there is a conflict (throws).
    func append(secret: Data, index: Int, bytes: ByteBuffer) async throws {
        try await checkpointer.during {
            try await pool.write { db in try Self.insert(db, secret: secret, index: index, bytes: bytes) }
        }
    }

    /// The INSERT of one chunk, bound by hand: GRDB copies every blob it binds, and the
    /// writer, which every large upload goes through, would copy each 1 MiB chunk once more
    /// before SQLite copies it into its pages. Here SQLite reads the caller's bytes in place
    /// (SQLITE_STATIC), during the one step that needs them.
    private static func insert(_ db: Database, secret: Data, index: Int, bytes: ByteBuffer) throws {
        let statement = try db.makeStatement(sql: "INSERT INTO chunk (secret_id, idx, data) VALUES (?, ?, ?)")
        let handle = statement.sqliteStatement
        let code: CInt = bytes.withUnsafeReadableBytes { blob in
            secret.withUnsafeBytes { id in
                sqlite3_bind_blob(handle, 1, id.baseAddress, CInt(id.count), nil)
                sqlite3_bind_int64(handle, 2, Int64(index))
                // A zero-length blob still needs a non-null pointer to be a blob, not NULL.
                sqlite3_bind_blob(handle, 3, blob.baseAddress ?? UnsafeRawPointer(bitPattern: 1), CInt(blob.count), nil)
                defer { sqlite3_clear_bindings(handle) }
                let code = sqlite3_step(handle)
                sqlite3_reset(handle)
                return code
            }
        }
        guard code == SQLITE_DONE else {
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                sql: statement.sql)
        }
    }

    func read(secret: Data, index: Int) async throws -> ByteBuffer? {
        try await checkpointer.during {
            try await pool.read { db in
                try SQLiteStore.fetchBlob(
                    db.cachedStatement(sql: "SELECT data FROM chunk WHERE secret_id = ? AND idx = ?"),
                    arguments: [secret, index])
            }
        }
    }

    /// Deletes the secret's chunks with an index of at least `from`, at most `limit` of
    /// them (not synced: see the type's comment). Returns the chunks and bytes freed.
    func delete(secret: Data, from index: Int = 0, limit: Int = .max) async throws -> (chunks: Int, bytes: Int) {
        try await checkpointer.during {
            try await pool.write { db in
                let freed = try Int.fetchAll(
                    db.cachedStatement(
                        sql: """
                            DELETE FROM chunk WHERE rowid IN (
                                SELECT rowid FROM chunk WHERE secret_id = ? AND idx >= ? ORDER BY idx LIMIT ?)
                            RETURNING length(data)
                            """), arguments: [secret, index, limit])
                return (freed.count, freed.reduce(0, +))
            }
        }
    }

    /// The ids that have chunks here.
    func secrets() async throws -> [Data] {
        try await pool.read { db in try Self.secrets(db) }
    }

    /// One index seek per secret, not a scan of every chunk.
    private static func secrets(_ db: Database) throws -> [Data] {
        var ids: [Data] = []
        var last = Data()
        while let next = try Data.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT secret_id FROM chunk WHERE secret_id > ? ORDER BY secret_id LIMIT 1
                    """), arguments: [last])
        {
            ids.append(next)
            last = next
        }
        return ids
    }

    /// At open: deletes the chunks of every secret not in `keep`, all at once (nothing is
    /// served yet). Returns the chunks deleted.
    @discardableResult
    func removeAll(except keep: Set<Data>) throws -> Int {
        try pool.write { db in
            var deleted = 0
            for id in try Self.secrets(db) where !keep.contains(id) {
                try db.execute(sql: "DELETE FROM chunk WHERE secret_id = ?", arguments: [id])
                deleted += db.changesCount
            }
            return deleted
        }
    }

    /// The settings the writer runs with (for tests).
    func settings() async throws -> (pageSize: Int, journalMode: String, synchronous: Int, secureDelete: Int) {
        try await pool.writeWithoutTransaction { db in
            (
                try Int.fetchOne(db, sql: "PRAGMA page_size") ?? -1,
                try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
                try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1,
                try Int.fetchOne(db, sql: "PRAGMA secure_delete") ?? -1
            )
        }
    }
}
