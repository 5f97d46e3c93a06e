import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB
import NIOCore
import Synchronization

/// The embedded `SecretStore`: SQLite through GRDB. The main file holds every secret's
/// row and the ciphertext of secrets stored in one request (up to one chunk); secrets
/// uploaded in several chunks keep their chunks in `SQLiteChunkFile` beside it.
///
/// - WAL, `synchronous=FULL` (a confirmed create survives power loss, a confirmed burn
///   stays burned) and `secure_delete=ON` (freed pages are overwritten) on every connection.
///   Only steps that confirm nothing (chunks of an upload in progress, freeing a large
///   ciphertext) commit without their own fsync; see `GroupCommit.submit(durable:)`.
/// - Every state change goes through `GroupCommit`: concurrent operations share one write
///   transaction and one fsync, each in its own savepoint, each answered after the commit.
/// - Reads (metadata, chunks, receipts, stored bytes) run concurrently on the pool's readers.
/// - This process must be the only writer of the file: on open, uploads in progress and
///   reader counts left by a previous process are cleared. `SQLiteWriterLock` makes a
///   second store on the same file refuse to open before it touches anything.
///
/// Schema (migrations "v1" to "v3"); times are integer milliseconds since 1970:
///
///     secret(seq INTEGER PK, id BLOB UNIQUE, state, claim_verifier, receipt_verifier,
///            password_verifier, password_kdf, password_attempts_left, created_at,
///            expires_at, ended_at, max_views, views_left, size, chunk_count,
///            stored_bytes, active_readers, in_chunk_file)
///     secret_view(secret_id, view_no, viewed_at)         PK (secret_id, view_no)
///     secret_chunk(key INTEGER PK, data)                 key = seq << 24 | chunk index
///     store_stats(id = 1, stored_bytes)                  running total of chunk bytes
///
/// Chunk rows are keyed by the secret's sequence number, not its random id: a create
/// appends at the end of both tables, and only the `id` index takes a scattered insert.
/// `seq` is an INTEGER PRIMARY KEY, so VACUUM keeps it; a secret's row is deleted only
/// after its chunks, so a reused `seq` never finds chunks of another secret.
///
/// `state` is one of `uploading`, `active`, `exhausted`, `revoked`, `burned`, `expired`.
/// Ciphertext lives in `secret_chunk`, or in the chunk file when `in_chunk_file` is 1 (an
/// upload of more than one chunk). `stored_bytes` is what the secret's chunks hold right
/// now wherever they are (0 once they are deleted), so no query ever has to measure blobs.
public final class SQLiteStore: SecretStore {
    /// The database file.
    public let path: String
    private let writerLock: SQLiteWriterLock
    private let pool: DatabasePool
    let committer: GroupCommit
    /// The chunks of multi-chunk uploads, in `<path>-chunks`: opened at init when the file
    /// exists, else by the first upload that needs it, so that a store that never sees a
    /// large secret holds no file, connections or descriptors for it.
    private let chunkFile = Mutex<SQLiteChunkFile?>(nil)
    private let checkpointer: SQLiteCheckpointer
    private let staleUploadAge: TimeInterval
    private let readerLease: TimeInterval

    /// Rows handled per write operation of a sweep, so that a large sweep never holds the
    /// writer (and the claims queued behind it) for long.
    static let sweepBatch = 256

    /// Opens (creating if needed) the database at `path`.
    ///
    /// - Parameters:
    ///   - staleUploadAge: an upload not committed this long after its `createdAt` is
    ///     removed by `sweep`.
    ///   - readerLease: a multi-chunk reader that has not called `finishRead` this long after
    ///     the secret stopped being readable no longer protects its ciphertext from `sweep`.
    public init(path: String, staleUploadAge: TimeInterval = 3600, readerLease: TimeInterval = 6 * 3600) throws {
        self.path = path
        self.staleUploadAge = staleUploadAge
        self.readerLease = readerLease
        do { try Self.prepareDirectory(for: path) } catch { throw StoreError(mapping: error) }
        // Before any connection or recovery: `DatabaseInUse` when another store holds the file.
        writerLock = try SQLiteWriterLock(database: path)
        do {
            pool = try Self.openPool(path: path, label: "burnlink", synchronous: Self.synchronousFull)
            try Self.migrator.migrate(pool)
            try pool.write { db in try Self.recover(db) }
            let chunkFilePath = Self.chunkFilePath(for: path)
            if FileManager.default.fileExists(atPath: chunkFilePath) {
                let file = try SQLiteChunkFile(path: chunkFilePath)
                chunkFile.withLock { $0 = file }
                // Only active secrets, and those an open claim session holds, keep chunks in
                // the chunk file (recover ended the rest).
                let keep = try pool.read { db in
                    try Data.fetchSet(db, sql: """
                        SELECT id FROM secret
                        WHERE in_chunk_file = 1 AND (state = 'active' OR \(Self.hasPendingSession))
                        """)
                }
                try file.removeAll(except: keep)
            }
            try SQLiteCheckpointer.leaveCheckpoints(of: pool, backstopBytes: 64 << 20)
            checkpointer = try SQLiteCheckpointer(path: path, label: "burnlink-checkpoint")
        } catch {
            throw StoreError(mapping: error)
        }
        committer = GroupCommit(writer: pool)
    }

    /// Closes every connection. Operations after `close()` fail with `.unavailable`.
    /// Call it once no operation is in flight (the server does, after its requests finished).
    public func close() throws {
        defer { writerLock.release() }
        do {
            try checkpointer.close()
            try pool.close()
            try chunkFile.withLock { $0 }?.close()
        } catch {
            throw StoreError(mapping: error)
        }
    }

    // MARK: - Opening

    /// Creates the parent directory (owner-only) and an empty database file readable only by
    /// the owner, so that SQLite's WAL and shared-memory files inherit those permissions.
    private static func prepareFile(at path: String) throws {
        try prepareDirectory(for: path)
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: path) {
            guard fileManager.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw StoreError.unavailable("cannot create the database file")
            }
        }
    }

    /// Creates the parent directory of `path` (owner-only) if it is missing.
    private static func prepareDirectory(for path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, !FileManager.default.fileExists(atPath: parent) {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
    }

    /// The chunk file beside the database at `path`.
    static func chunkFilePath(for path: String) -> String { path + "-chunks" }

    /// `PRAGMA synchronous` values.
    static let synchronousNormal = 1, synchronousFull = 2

    /// Opens a WAL pool on a private file (`prepareFile`) whose every connection runs with
    /// `secure_delete=ON` and the given `synchronous`, and cuts its WAL back to 64 MiB after
    /// a checkpoint (a large upload passes through it). `pageSize` applies to a new file.
    static func openPool(path: String, label: String, synchronous: Int, pageSize: Int? = nil) throws -> DatabasePool {
        try prepareFile(at: path)
        var configuration = Configuration()
        configuration.label = label
        configuration.busyMode = .timeout(10)
        configuration.maximumReaderCount = 8
        configuration.prepareDatabase { db in
            // Takes effect only while the file is empty, before GRDB turns WAL on.
            if let pageSize { try db.execute(sql: "PRAGMA page_size = \(pageSize)") }
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            try db.execute(sql: "PRAGMA secure_delete = ON")
            try db.execute(sql: "PRAGMA journal_size_limit = \(64 << 20)")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB switches the writer to synchronous=NORMAL after prepareDatabase when it turns
        // WAL on. The writer connection lives as long as the pool: set it again, and check.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == synchronous,
                  try Int.fetchOne(db, sql: "PRAGMA secure_delete") == 1 else {
                throw StoreError.unavailable("SQLite refused synchronous=\(synchronous) or secure_delete=ON for \(label)")
            }
        }
        return pool
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE secret (
                    id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
                    state TEXT NOT NULL
                        CHECK (state IN ('uploading', 'active', 'exhausted', 'revoked', 'burned', 'expired')),
                    claim_verifier BLOB NOT NULL,
                    receipt_verifier BLOB,
                    password_verifier BLOB,
                    password_kdf TEXT,
                    password_attempts_left INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    ended_at INTEGER,
                    max_views INTEGER NOT NULL CHECK (max_views >= 1),
                    views_left INTEGER NOT NULL CHECK (views_left >= 0),
                    size INTEGER NOT NULL DEFAULT 0,
                    chunk_count INTEGER NOT NULL DEFAULT 0,
                    stored_bytes INTEGER NOT NULL DEFAULT 0,
                    active_readers INTEGER NOT NULL DEFAULT 0
                );  -- a rowid table: new rows append in order; only the small id index is random

                -- The sweeper's ways in; each partial index covers only the rows it looks for.
                CREATE INDEX secret_active_expiry ON secret (expires_at) WHERE state = 'active';
                CREATE INDEX secret_uploading ON secret (created_at) WHERE state = 'uploading';
                CREATE INDEX secret_ended ON secret (ended_at) WHERE ended_at IS NOT NULL;
                CREATE INDEX secret_lingering ON secret (ended_at)
                    WHERE stored_bytes > 0 AND state IN ('exhausted', 'revoked', 'burned', 'expired');

                CREATE TABLE secret_view (
                    secret_id BLOB NOT NULL,
                    view_no INTEGER NOT NULL,
                    viewed_at INTEGER NOT NULL,
                    PRIMARY KEY (secret_id, view_no)
                ) WITHOUT ROWID;

                -- An ordinary rowid table on purpose: as WITHOUT ROWID, every chunk row (1 KiB
                -- and up) would sit in an index b-tree, spill into its own overflow page and
                -- bloat the interior pages; measured, that cost about 40% of create throughput
                -- (docs/benchmarks.md, "Server").
                CREATE TABLE secret_chunk (
                    secret_id BLOB NOT NULL,
                    idx INTEGER NOT NULL CHECK (idx >= 0),
                    data BLOB NOT NULL,
                    PRIMARY KEY (secret_id, idx)
                );

                CREATE TABLE store_stats (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    stored_bytes INTEGER NOT NULL
                );
                INSERT INTO store_stats (id, stored_bytes) VALUES (1, 0);
                """)
        }
        // Chunks keyed by a sequence number instead of the random id (see the type's comment).
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE TABLE secret_v2 (
                    seq INTEGER PRIMARY KEY,
                    id BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
                    state TEXT NOT NULL
                        CHECK (state IN ('uploading', 'active', 'exhausted', 'revoked', 'burned', 'expired')),
                    claim_verifier BLOB NOT NULL,
                    receipt_verifier BLOB,
                    password_verifier BLOB,
                    password_kdf TEXT,
                    password_attempts_left INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    ended_at INTEGER,
                    max_views INTEGER NOT NULL CHECK (max_views >= 1),
                    views_left INTEGER NOT NULL CHECK (views_left >= 0),
                    size INTEGER NOT NULL DEFAULT 0,
                    chunk_count INTEGER NOT NULL DEFAULT 0,
                    stored_bytes INTEGER NOT NULL DEFAULT 0,
                    active_readers INTEGER NOT NULL DEFAULT 0
                );
                INSERT INTO secret_v2 (seq, id, state, claim_verifier, receipt_verifier, password_verifier,
                                       password_kdf, password_attempts_left, created_at, expires_at, ended_at,
                                       max_views, views_left, size, chunk_count, stored_bytes, active_readers)
                    SELECT rowid, id, state, claim_verifier, receipt_verifier, password_verifier,
                           password_kdf, password_attempts_left, created_at, expires_at, ended_at,
                           max_views, views_left, size, chunk_count, stored_bytes, active_readers
                    FROM secret ORDER BY rowid;
                CREATE TABLE secret_chunk_v2 (
                    key INTEGER PRIMARY KEY,
                    data BLOB NOT NULL
                );
                INSERT INTO secret_chunk_v2 (key, data)
                    SELECT (s.seq << 24) | c.idx, c.data
                    FROM secret_chunk c JOIN secret_v2 s ON s.id = c.secret_id
                    ORDER BY 1;
                DROP TABLE secret_chunk;
                DROP TABLE secret;
                ALTER TABLE secret_v2 RENAME TO secret;
                ALTER TABLE secret_chunk_v2 RENAME TO secret_chunk;
                CREATE INDEX secret_active_expiry ON secret (expires_at) WHERE state = 'active';
                CREATE INDEX secret_uploading ON secret (created_at) WHERE state = 'uploading';
                CREATE INDEX secret_ended ON secret (ended_at) WHERE ended_at IS NOT NULL;
                CREATE INDEX secret_lingering ON secret (ended_at)
                    WHERE stored_bytes > 0 AND state IN ('exhausted', 'revoked', 'burned', 'expired');
                """)
        }
        // Multi-chunk uploads move to the chunk file; what was uploaded before stays here.
        migrator.registerMigration("v3") { db in
            try db.execute(sql: "ALTER TABLE secret ADD COLUMN in_chunk_file INTEGER NOT NULL DEFAULT 0")
        }
        // Claim sessions (docs/http-api.md section 3.3.1): each view says what became of it.
        // Views from before were sent without a session.
        migrator.registerMigration("v4") { db in
            try db.execute(sql: """
                ALTER TABLE secret_view ADD COLUMN delivery TEXT NOT NULL DEFAULT 'sent'
                    CHECK (delivery IN ('pending', 'delivered', 'unconfirmed', 'sent'));
                ALTER TABLE secret_view ADD COLUMN session_verifier BLOB;
                ALTER TABLE secret_view ADD COLUMN session_deadline INTEGER;
                ALTER TABLE secret_view ADD COLUMN confirmed_at INTEGER;
                CREATE INDEX secret_view_pending ON secret_view (session_deadline) WHERE delivery = 'pending';
                """)
        }
        return migrator
    }

    /// Startup recovery. This process is the only writer, so any upload in progress and any
    /// streaming reader counted in the file died with a previous process. Open claim sessions
    /// did not: they live in the file, each still holds its secret's ciphertext (the sweeper
    /// ends those past their deadline).
    private static func recover(_ db: Database) throws {
        let abandoned = try Int64.fetchAll(db, sql: """
            SELECT seq FROM secret
            WHERE state = 'uploading'
               OR (stored_bytes > 0 AND state IN ('exhausted', 'revoked', 'burned', 'expired')
                   AND NOT \(hasPendingSession))
            """)
        for seq in abandoned { _ = try deleteChunks(db, seq: seq) }
        try db.execute(sql: """
            DELETE FROM secret_view WHERE secret_id IN (SELECT id FROM secret WHERE state = 'uploading');
            DELETE FROM secret WHERE state = 'uploading';
            UPDATE secret SET active_readers = (SELECT count(*) FROM secret_view
                                                WHERE secret_id = secret.id AND delivery = 'pending')
                WHERE active_readers <> 0 OR \(hasPendingSession);
            UPDATE secret SET stored_bytes = 0
                WHERE stored_bytes > 0 AND state IN ('exhausted', 'revoked', 'burned', 'expired')
                  AND NOT \(hasPendingSession);
            UPDATE store_stats SET stored_bytes = (SELECT coalesce(sum(stored_bytes), 0) FROM secret) WHERE id = 1;
            """)
        try removeOrphanedChunks(db)
    }

    /// Chunks whose secret row is gone. Never expected (a secret's row is deleted only with
    /// or after its chunks); a safety net run at open, visiting one row per secret.
    private static func removeOrphanedChunks(_ db: Database) throws {
        var next: Int64 = 0
        while let key = try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT key FROM secret_chunk WHERE key >= ? ORDER BY key LIMIT 1
            """), arguments: [next]) {
            let seq = key >> 24
            if try Int.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM secret WHERE seq = ?"), arguments: [seq]) == nil {
                _ = try deleteChunks(db, seq: seq)
            }
            next = (seq + 1) << 24
        }
    }

    // MARK: - Writing

    public func create(_ record: SecretRecord, ciphertext: ByteBuffer) async throws {
        let chunks = Self.split(ciphertext)
        let size = ciphertext.readableBytes
        let values = RecordValues(record)
        try await committer.submit { db in
            let seq = try Self.insert(db, values, state: "active", size: size, chunkCount: chunks.count, storedBytes: size)
            for (index, chunk) in chunks.enumerated() {
                try Self.insertChunk(db, seq: seq, index: index, data: chunk)
            }
            try Self.adjustStoredBytes(db, by: size)
        }
    }

    public func beginUpload(_ record: SecretRecord) async throws {
        let values = RecordValues(record)
        // Not durable by itself: an upload confirms nothing until `commitUpload`, whose
        // durable commit covers every earlier step (after a crash `recover` drops the rest).
        try await committer.submit(durable: false) { db in
            _ = try Self.insert(db, values, state: "uploading", size: 0, chunkCount: 0, storedBytes: 0, inChunkFile: true)
        }
    }

    /// The secret's row counts the chunk (checking its order), then the chunk goes to the
    /// chunk file, unsynced: `commitUpload` syncs the chunk file before the upload becomes
    /// readable. The order between the two does not matter for a crash: only
    /// `commitUpload`, after every append returned, makes the upload readable, and `recover`
    /// drops an upload in progress. If the chunk cannot be stored, the count is taken back.
    public func appendChunk(id: SecretID, index: Int, bytes: ByteBuffer) async throws {
        let key = Data(id.bytes)
        let count = bytes.readableBytes
        guard index < Self.chunksPerSecret else { throw StoreError.unavailable("too many chunks") }
        try await committer.submit(durable: false) { db in  // see beginUpload
            let advanced = try Int64.fetchAll(db.cachedStatement(sql: """
                UPDATE secret SET chunk_count = chunk_count + 1, stored_bytes = stored_bytes + ?
                WHERE id = ? AND state = 'uploading' AND chunk_count = ?
                RETURNING seq
                """), arguments: [count, key, index])
            guard advanced.first != nil else {
                try Self.checkNextChunk(db, key: key, index: index)
                throw StoreError.noSuchUpload
            }
            try Self.adjustStoredBytes(db, by: count)
        }
        do {
            try await inChunkFile { try await $0.append(secret: key, index: index, bytes: bytes) }
        } catch {
            _ = try? await committer.submit(durable: false) { db in
                let undone = try Int.fetchAll(db.cachedStatement(sql: """
                    UPDATE secret SET chunk_count = chunk_count - 1, stored_bytes = stored_bytes - ?
                    WHERE id = ? AND state = 'uploading' AND chunk_count = ?
                    RETURNING 1
                    """), arguments: [count, key, index + 1])
                if !undone.isEmpty { try Self.adjustStoredBytes(db, by: -count) }
            }
            throw error
        }
    }

    /// Throws unless chunk `index` is the next one the upload `key` expects.
    private static func checkNextChunk(_ db: Database, key: Data, index: Int) throws {
        let expected = try Int.fetchOne(db.cachedStatement(sql: """
            SELECT chunk_count FROM secret WHERE id = ? AND state = 'uploading'
            """), arguments: [key])
        guard let expected else { throw StoreError.noSuchUpload }
        guard expected == index else {
            throw StoreError.unavailable("upload chunk \(index) out of order (expected \(expected))")
        }
    }

    /// Makes the upload readable. `size` and `chunkCount` must match what was appended
    /// (else `.unavailable` names the mismatch and the upload stays uncommitted).
    public func commitUpload(id: SecretID, size: Int, chunkCount: Int) async throws {
        let key = Data(id.bytes)
        // Appends to the chunk file are not synced one by one: one sync covers them all.
        if chunkCount > 0 { try await inChunkFile { try await $0.sync() } }
        try await committer.submit { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT chunk_count, stored_bytes, seq FROM secret WHERE id = ? AND state = 'uploading'
                """), arguments: [key]) else { throw StoreError.noSuchUpload }
            let storedCount: Int = row[0]
            let storedBytes: Int = row[1]
            let seq: Int64 = row[2]
            guard storedCount == chunkCount, storedBytes == size else {
                throw StoreError.unavailable(
                    "upload mismatch: \(storedCount) chunks of \(storedBytes) bytes appended, commit says \(chunkCount) of \(size)")
            }
            if chunkCount == 0 {
                // An empty secret still has its (empty) chunk 0, like one made by `create`,
                // and like one it is kept in this file.
                try Self.insertChunk(db, seq: seq, index: 0, data: Data())
            }
            // Every appended chunk is already durable in the chunk file, so this commit
            // (durable) can never make a secret readable without its chunks.
            try db.cachedStatement(sql: """
                UPDATE secret SET state = 'active', size = ?, chunk_count = ?, in_chunk_file = ? WHERE id = ?
                """).execute(arguments: [size, max(chunkCount, 1), chunkCount > 0, key])
        }
    }

    /// Removes an upload that will not complete. Does nothing when there is no such upload
    /// (already aborted, swept, or committed).
    public func abortUpload(id: SecretID) async throws {
        let key = Data(id.bytes)
        // A read, not a write: the caller's appends have all committed by now.
        let staged = try await read { db -> (ciphertext: StoredCiphertext, storedBytes: Int)? in
            try Row.fetchOne(db.cachedStatement(sql: """
                SELECT seq, stored_bytes, in_chunk_file FROM secret WHERE id = ? AND state = 'uploading'
                """), arguments: [key]).map { (StoredCiphertext(key: key, seq: $0[0], inChunkFile: $0[2]), $0[1]) }
        }
        if let staged, staged.ciphertext.inChunkFile || staged.storedBytes > Self.inlineDiscardLimit {
            try await deleteChunksInSteps(staged.ciphertext)
        }
        try await committer.submit { db in
            guard let removed = try Row.fetchAll(db.cachedStatement(sql: """
                DELETE FROM secret WHERE id = ? AND state = 'uploading' RETURNING stored_bytes, seq
                """), arguments: [key]).first else { return }
            _ = try Self.deleteChunks(db, seq: removed[1])
            try Self.adjustStoredBytes(db, by: -(removed[0] as Int))
        }
    }

    public func claim(id: SecretID, claimVerifier: [UInt8], passwordProofVerifier: [UInt8]?,
                      session: ClaimSessionTerms?, now: Date) async throws -> ClaimResult {
        let key = Data(id.bytes)
        let nowMs = Self.milliseconds(now)
        let session = session.map { (verifier: Data($0.verifier), deadline: Self.milliseconds($0.deadline)) }
        // A secret whose chunks are in the chunk file takes two operations: the first checks
        // everything and changes nothing (unless a wrong password is counted); then chunk 0 is
        // read, and the second decides with it in hand. So a view is never spent on a claim
        // that then fails to read its first chunk.
        var firstChunkFromFile: ByteBuffer?
        while true {
            let (step, deferred) = try await committer.submit { [firstChunkFromFile] db in
                var deferred: StoredCiphertext?
                let step = try Self.claim(db, key: key, claimVerifier: claimVerifier, proof: passwordProofVerifier,
                                          session: session, nowMs: nowMs, firstChunkFromFile: firstChunkFromFile,
                                          deferredDiscard: &deferred)
                return (step, deferred)
            }
            if let deferred { try await discardInSteps(deferred) }
            switch step {
            case .done(let result):
                return result
            case .readFirstChunk:
                guard let chunk = try await inChunkFile({ try await $0.read(secret: key, index: 0) }) else {
                    return .notFound  // freed meanwhile: the secret ended
                }
                firstChunkFromFile = chunk
            }
        }
    }

    private enum ClaimStep: Sendable {
        case done(ClaimResult)
        /// Call again with chunk 0 from the chunk file.
        case readFirstChunk
    }

    /// `deferredDiscard` receives a secret this claim ended whose ciphertext cannot be
    /// freed inside the operation (see `discardInSteps`). `firstChunkFromFile`: chunk 0 of
    /// a secret kept in the chunk file, read by the caller after a `.readFirstChunk`.
    private static func claim(_ db: Database, key: Data, claimVerifier: [UInt8], proof: [UInt8]?,
                              session: (verifier: Data, deadline: Int64)?, nowMs: Int64,
                              firstChunkFromFile: ByteBuffer?, deferredDiscard: inout StoredCiphertext?) throws -> ClaimStep {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT claim_verifier, password_verifier, password_attempts_left, state, expires_at,
                   views_left, max_views, size, chunk_count, seq, in_chunk_file
            FROM secret WHERE id = ?
            """), arguments: [key]) else {
            _ = ConstantTime.equal(absentVerifier, claimVerifier)
            return .done(.notFound)
        }
        let storedClaimVerifier: Data = row[0]
        guard ConstantTime.equal(storedClaimVerifier, claimVerifier) else { return .done(.notFound) }
        let state: String = row[3]
        let expiresAt: Int64 = row[4]
        let viewsLeft: Int = row[5]
        guard state == "active", nowMs < expiresAt, viewsLeft > 0 else { return .done(.notFound) }

        if let passwordVerifier = row[1] as Data? {
            guard let proof else { return .done(.passwordRequired) }
            if !ConstantTime.equal(passwordVerifier, proof) {
                let left = try Int.fetchAll(db.cachedStatement(sql: """
                    UPDATE secret SET password_attempts_left = password_attempts_left - 1
                    WHERE id = ? AND state = 'active' AND password_attempts_left > 0
                    RETURNING password_attempts_left
                    """), arguments: [key]).first ?? 0
                if left > 0 { return .done(.wrongPassword(attemptsLeft: left)) }
                deferredDiscard = try end(db, key: key, state: "burned", endedAt: nowMs)
                return .done(.passwordAttemptsExhausted)
            }
        }

        let maxViews: Int = row[6]
        let size: Int = row[7]
        let chunkCount: Int = row[8]
        let ciphertext = StoredCiphertext(key: key, seq: row[9], inChunkFile: row[10])
        if ciphertext.inChunkFile, firstChunkFromFile == nil { return .readFirstChunk }
        // A reader of the chunk file is counted even for one chunk, so that its chunks are
        // freed by its finishRead, never by another operation while it streams. A claim
        // session is counted as a reader until it ends, whatever the size.
        let multiChunk = chunkCount > 1 || ciphertext.inChunkFile
        let holdsReader = multiChunk || session != nil
        // The decision itself: one conditional statement, atomic whatever the isolation. The
        // last view also ends the secret; its ciphertext goes in this transaction unless a
        // multi-chunk reader (this one) is counted. (SET expressions see the old values.)
        guard let decided = try Row.fetchAll(db.cachedStatement(sql: """
            UPDATE secret SET
                views_left = views_left - 1,
                active_readers = active_readers + ?,
                state = CASE WHEN views_left = 1 THEN 'exhausted' ELSE state END,
                ended_at = CASE WHEN views_left = 1 THEN ? ELSE ended_at END
            WHERE id = ? AND views_left > 0 AND state = 'active' AND expires_at > ?
            RETURNING views_left, active_readers, stored_bytes
            """), arguments: [holdsReader ? 1 : 0, nowMs, key, nowMs]).first else { return .done(.notFound) }
        let left: Int = decided[0]
        let readers: Int = decided[1]
        let storedBytes: Int = decided[2]
        try db.cachedStatement(sql: """
            INSERT INTO secret_view (secret_id, view_no, viewed_at, delivery, session_verifier, session_deadline)
            VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [key, maxViews - left, nowMs, session == nil ? "sent" : "pending",
                                      session?.verifier, session?.deadline])
        let firstChunk = try firstChunkFromFile ?? readChunk(db, seq: ciphertext.seq, index: 0) ?? ByteBuffer()
        if left == 0, readers == 0, storedBytes > 0, try discardChunks(db, ciphertext, storedBytes: storedBytes) == nil {
            deferredDiscard = ciphertext
        }
        // With a session, the session holds the reader: the stream need not finish it.
        return .done(.granted(ClaimGrant(size: size, chunkCount: chunkCount, viewsLeft: left,
                                         firstChunk: firstChunk, mustFinishRead: multiChunk && session == nil)))
    }

    /// Only a claim granted with `mustFinishRead` must call this, exactly once.
    public func finishRead(id: SecretID) async throws {
        let key = Data(id.bytes)
        let deferred = try await committer.submit { db in try Self.releaseReader(db, key: key) }
        if let deferred { try await discardInSteps(deferred) }
    }

    /// One reader (a streaming read, or a claim session) lets go of a secret's ciphertext;
    /// the last one of an ended secret discards it. Returns the ciphertext when it is left
    /// for `discardInSteps`.
    static func releaseReader(_ db: Database, key: Data) throws -> StoredCiphertext? {
        guard let row = try Row.fetchAll(db.cachedStatement(sql: """
            UPDATE secret SET active_readers = max(active_readers - 1, 0) WHERE id = ?
            RETURNING active_readers, state, stored_bytes, seq, in_chunk_file
            """), arguments: [key]).first else { return nil }
        let readers: Int = row[0]
        let state: String = row[1]
        let storedBytes: Int = row[2]
        let ciphertext = StoredCiphertext(key: key, seq: row[3], inChunkFile: row[4])
        if readers == 0, storedBytes > 0, endedStates.contains(state),
           try discardChunks(db, ciphertext, storedBytes: storedBytes) == nil {
            return ciphertext
        }
        return nil
    }

    public func revoke(id: SecretID, receiptVerifier: [UInt8], now: Date) async throws -> Bool {
        let key = Data(id.bytes)
        let nowMs = Self.milliseconds(now)
        let (revoked, deferred) = try await committer.submit { db -> (Bool, StoredCiphertext?) in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT receipt_verifier, state, expires_at FROM secret WHERE id = ?
                """), arguments: [key]) else {
                _ = ConstantTime.equal(Self.absentVerifier, receiptVerifier)
                return (false, nil)
            }
            guard let stored = row[0] as Data?, ConstantTime.equal(stored, receiptVerifier) else { return (false, nil) }
            let state: String = row[1]
            let expiresAt: Int64 = row[2]
            guard state == "active", nowMs < expiresAt else { return (false, nil) }
            return (true, try Self.end(db, key: key, state: "revoked", endedAt: nowMs))
        }
        if let deferred { try await discardInSteps(deferred) }
        return revoked
    }

    // MARK: - Reading

    public func metadata(id: SecretID, claimVerifier: [UInt8], now: Date) async throws -> SecretMetadata? {
        let key = Data(id.bytes)
        let nowMs = Self.milliseconds(now)
        return try await read { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT claim_verifier, state, expires_at, views_left, size, password_kdf
                FROM secret WHERE id = ?
                """), arguments: [key]) else {
                _ = ConstantTime.equal(Self.absentVerifier, claimVerifier)
                return nil
            }
            let stored: Data = row[0]
            guard ConstantTime.equal(stored, claimVerifier) else { return nil }
            let state: String = row[1]
            let expiresAt: Int64 = row[2]
            let viewsLeft: Int = row[3]
            guard state == "active", nowMs < expiresAt, viewsLeft > 0 else { return nil }
            return SecretMetadata(size: row[4], expiresAt: Self.date(expiresAt), viewsLeft: viewsLeft, passwordKDF: row[5])
        }
    }

    /// Chunk `index` while a granted multi-chunk read is in progress (between a claim that
    /// set `mustFinishRead` and its `finishRead`), else nil. Chunk 0 of a single-chunk
    /// secret comes only with its grant.
    public func chunk(id: SecretID, index: Int) async throws -> ByteBuffer? {
        let key = Data(id.bytes)
        let found = try await read { db -> (chunk: ByteBuffer?, inChunkFile: Bool)? in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT active_readers, seq, in_chunk_file FROM secret WHERE id = ?
                """), arguments: [key]), (row[0] as Int) > 0 else { return nil }
            if row[2] as Bool { return (nil, true) }
            return (try Self.readChunk(db, seq: row[1], index: index), false)
        }
        guard let found else { return nil }
        guard found.inChunkFile else { return found.chunk }
        // The counted reader keeps these chunks in place until its finishRead.
        return try await inChunkFile { try await $0.read(secret: key, index: index) }
    }

    public func receipt(id: SecretID, receiptVerifier: [UInt8], now: Date) async throws -> Receipt? {
        let key = Data(id.bytes)
        let nowMs = Self.milliseconds(now)
        return try await read { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT receipt_verifier, state, created_at, expires_at, max_views, views_left, ended_at
                FROM secret WHERE id = ?
                """), arguments: [key]) else {
                _ = ConstantTime.equal(Self.absentVerifier, receiptVerifier)
                return nil
            }
            guard let stored = row[0] as Data?, ConstantTime.equal(stored, receiptVerifier) else { return nil }
            let stateName: String = row[1]
            let createdAt: Int64 = row[2]
            let expiresAt: Int64 = row[3]
            let maxViews: Int = row[4]
            let viewsLeft: Int = row[5]
            // No receipt for an upload until the secret exists.
            guard let (state, endedAt) = ReceiptState.from(stored: stateName, expiresAt: expiresAt, endedAt: row[6],
                                                           maxViews: maxViews, viewsLeft: viewsLeft, nowMs: nowMs) else {
                return nil
            }
            let views = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT viewed_at, delivery, session_deadline, confirmed_at FROM secret_view
                WHERE secret_id = ? ORDER BY viewed_at, view_no
                """), arguments: [key]).map { row in
                ReceiptView(viewedAt: Self.date(row[0]),
                            delivery: Delivery.from(stored: row[1], deadline: row[2], nowMs: nowMs),
                            confirmedAt: (row[3] as Int64?).map(Self.date))
            }
            return Receipt(state: state, createdAt: Self.date(createdAt), expiresAt: Self.date(expiresAt),
                           maxViews: maxViews, viewsLeft: viewsLeft, views: views, endedAt: endedAt.map(Self.date))
        }
    }

    /// Ciphertext bytes held in chunk rows: readable secrets, uploads in progress, and the
    /// ciphertext of a used-up secret that a reader is still streaming. One row read.
    public func storedBytes() async throws -> Int {
        try await read { db in
            try Int.fetchOne(db.cachedStatement(sql: "SELECT stored_bytes FROM store_stats WHERE id = 1")) ?? 0
        }
    }

    // MARK: - Sweeping

    /// Runs in steps of at most `sweepBatch` rows, each its own operation in the group
    /// commit, so claims are never held up behind a long sweep.
    public func sweep(now: Date, receiptRetention: TimeInterval) async throws -> SweepReport {
        let nowMs = Self.milliseconds(now)
        let limit = Self.sweepBatch
        var report = SweepReport()

        // 0. Claim sessions past their deadline: unconfirmed, their hold on the ciphertext gone.
        report.unconfirmed = try await endLapsedSessions(nowMs: nowMs)

        // 1. Secrets whose time ran out: state expired, ciphertext gone unless being read.
        while true {
            let (expired, deferred) = try await committer.submit { db in
                let rows = try Row.fetchAll(db.cachedStatement(sql: """
                    UPDATE secret SET state = 'expired', ended_at = expires_at
                    WHERE id IN (SELECT id FROM secret WHERE state = 'active' AND expires_at <= ? LIMIT ?)
                    RETURNING id, active_readers, stored_bytes, seq, in_chunk_file
                    """), arguments: [nowMs, limit])
                var deferred: [StoredCiphertext] = []
                for row in rows where (row[1] as Int) == 0 && (row[2] as Int) > 0 {
                    let ciphertext = StoredCiphertext(key: row[0], seq: row[3], inChunkFile: row[4])
                    if try Self.discardChunks(db, ciphertext, storedBytes: row[2]) == nil {
                        deferred.append(ciphertext)
                    }
                }
                return (rows.count, deferred)
            }
            for ciphertext in deferred { try await discardInSteps(ciphertext) }
            report.expired += expired
            if expired < limit { break }
        }

        // 2. Ciphertext of secrets no longer readable, once no reader needs it (or the
        //    reader has held it past its lease).
        let leaseCutoff = nowMs - Self.milliseconds(interval: readerLease)
        while true {
            var (secrets, chunks, deferred) = try await committer.submit { db in
                let rows = try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT id, stored_bytes, seq, in_chunk_file FROM secret
                    WHERE stored_bytes > 0 AND state IN ('exhausted', 'revoked', 'burned', 'expired')
                      AND (active_readers = 0 OR ended_at < ?) AND NOT \(Self.hasPendingSession)
                    LIMIT ?
                    """), arguments: [leaseCutoff, limit])
                var chunks = 0
                var deferred: [StoredCiphertext] = []
                for row in rows {
                    try db.cachedStatement(sql: "UPDATE secret SET active_readers = 0 WHERE id = ?")
                        .execute(arguments: [row[0] as Data])
                    let ciphertext = StoredCiphertext(key: row[0], seq: row[2], inChunkFile: row[3])
                    if let deleted = try Self.discardChunks(db, ciphertext, storedBytes: row[1]) {
                        chunks += deleted
                    } else {
                        deferred.append(ciphertext)
                    }
                }
                return (rows.count, chunks, deferred)
            }
            for ciphertext in deferred { chunks += try await discardInSteps(ciphertext) }
            report.orphanedChunks += chunks
            if secrets < limit { break }
        }

        // 3. Uploads that never completed.
        let uploadCutoff = nowMs - Self.milliseconds(interval: staleUploadAge)
        while true {
            var (uploads, chunks, inChunkFile) = try await committer.submit { db in
                let rows = try Row.fetchAll(db.cachedStatement(sql: """
                    DELETE FROM secret
                    WHERE id IN (SELECT id FROM secret WHERE state = 'uploading' AND created_at < ? LIMIT ?)
                    RETURNING id, stored_bytes, seq, in_chunk_file
                    """), arguments: [uploadCutoff, limit])
                var chunks = 0
                var inChunkFile: [StoredCiphertext] = []
                for row in rows {
                    let ciphertext = StoredCiphertext(key: row[0], seq: row[2], inChunkFile: row[3])
                    if ciphertext.inChunkFile { inChunkFile.append(ciphertext) }
                    chunks += try Self.deleteChunks(db, seq: ciphertext.seq)
                    try Self.adjustStoredBytes(db, by: -(row[1] as Int))
                }
                return (rows.count, chunks, inChunkFile)
            }
            // Never readable, so their rows may go first; a crash here leaves chunks
            // without a row, which step 5 and `recover` remove.
            for ciphertext in inChunkFile { chunks += try await deleteChunksInSteps(ciphertext) }
            report.orphanedChunks += chunks
            if uploads < limit { break }
        }

        // 4. Tombstones past their retention (only once their ciphertext is gone).
        let retentionCutoff = nowMs - Self.milliseconds(interval: receiptRetention)
        while true {
            let removed = try await committer.submit { db in
                let ids = try Data.fetchAll(db.cachedStatement(sql: """
                    DELETE FROM secret
                    WHERE id IN (SELECT id FROM secret
                                 WHERE ended_at IS NOT NULL AND ended_at < ? AND stored_bytes = 0
                                   AND state <> 'active' AND state <> 'uploading'
                                 LIMIT ?)
                    RETURNING id
                    """), arguments: [retentionCutoff, limit])
                for id in ids {
                    try db.cachedStatement(sql: "DELETE FROM secret_view WHERE secret_id = ?").execute(arguments: [id])
                }
                return ids.count
            }
            report.receiptsRemoved += removed
            if removed < limit { break }
        }

        // 5. Chunks in the chunk file that no secret can read any more: left by a crash
        //    or by a failed step of the above. (Ended secrets with stored bytes are step 2's.)
        let chunkFileSecrets = chunkFile.withLock { $0 } == nil ? [] : try await inChunkFile { try await $0.secrets() }
        for secret in chunkFileSecrets {
            let orphaned = try await read { db in
                try Row.fetchOne(db.cachedStatement(sql: "SELECT state, stored_bytes FROM secret WHERE id = ?"),
                                 arguments: [secret])
                    .map { row in Self.endedStates.contains(row[0]) && (row[1] as Int) == 0 } ?? true
            }
            if orphaned {
                report.orphanedChunks += try await deleteChunksInSteps(StoredCiphertext(key: secret, seq: 0, inChunkFile: true))
            }
        }

        return report
    }

    // MARK: - Diagnostics

    /// How well the group commit is grouping: batches committed, operations in them, and
    /// the largest batch so far.
    public func groupCommitStatistics() async -> (batches: Int, operations: Int, largestBatch: Int) {
        let statistics = await committer.statistics
        return (statistics.batches, statistics.operations, statistics.largestBatch)
    }

    /// The connection settings every connection gets (for tests).
    func connectionSettings() async throws -> (journalMode: String, synchronous: Int, secureDelete: Int) {
        try await pool.writeWithoutTransaction { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
             try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1,
             try Int.fetchOne(db, sql: "PRAGMA secure_delete") ?? -1)
        }
    }

    /// The chunk file's settings (for tests).
    func chunkFileSettings() async throws -> (pageSize: Int, journalMode: String, synchronous: Int, secureDelete: Int) {
        try await inChunkFile { try await $0.settings() }
    }

    // MARK: - Helpers

    static let endedStates: Set<String> = ["exhausted", "revoked", "burned", "expired"]
    /// Compared against when a row is missing, so a missing id costs what a wrong token does.
    static let absentVerifier = [UInt8](repeating: 0, count: 32)

    /// A record's values, converted once outside the writer.
    private struct RecordValues: Sendable {
        var key: Data
        var claimVerifier: Data
        var receiptVerifier: Data?
        var passwordVerifier: Data?
        var passwordKDF: String?
        var passwordAttempts: Int
        var createdAt: Int64
        var expiresAt: Int64
        var maxViews: Int

        init(_ record: SecretRecord) {
            key = Data(record.id.bytes)
            claimVerifier = Data(record.claimVerifier)
            receiptVerifier = record.receiptVerifier.map { Data($0) }
            passwordVerifier = record.passwordVerifier.map { Data($0) }
            passwordKDF = record.passwordKDF
            passwordAttempts = record.passwordAttempts
            createdAt = SQLiteStore.milliseconds(record.createdAt)
            expiresAt = SQLiteStore.milliseconds(record.expiresAt)
            maxViews = record.maxViews
        }
    }

    /// Where a secret's ciphertext is kept, for freeing it after its operation committed.
    struct StoredCiphertext: Sendable {
        var key: Data
        /// Keys its chunk rows in this file.
        var seq: Int64
        /// Its chunks are in the chunk file (keyed by `key`) instead.
        var inChunkFile: Bool
    }

    /// Inserts a secret row; returns its `seq`, which keys its chunk rows.
    private static func insert(_ db: Database, _ values: RecordValues, state: String, size: Int, chunkCount: Int,
                               storedBytes: Int, inChunkFile: Bool = false) throws -> Int64 {
        do {
            try db.cachedStatement(sql: """
                INSERT INTO secret (id, state, claim_verifier, receipt_verifier, password_verifier, password_kdf,
                                    password_attempts_left, created_at, expires_at, max_views, views_left,
                                    size, chunk_count, stored_bytes, in_chunk_file)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [
                    values.key, state, values.claimVerifier, values.receiptVerifier, values.passwordVerifier,
                    values.passwordKDF, values.passwordAttempts, values.createdAt, values.expiresAt,
                    values.maxViews, values.maxViews, size, chunkCount, storedBytes, inChunkFile,
                ])
            return db.lastInsertedRowID
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw StoreError.duplicateID
        }
    }

    /// Chunk indexes a secret can have: the low 24 bits of a chunk row's key.
    static let chunksPerSecret = 1 << 24

    private static func chunkKey(_ seq: Int64, _ index: Int) -> Int64 {
        seq << 24 | Int64(index)
    }

    private static func insertChunk(_ db: Database, seq: Int64, index: Int, data: Data) throws {
        try db.cachedStatement(sql: "INSERT INTO secret_chunk (key, data) VALUES (?, ?)")
            .execute(arguments: [chunkKey(seq, index), data])
    }

    private static func readChunk(_ db: Database, seq: Int64, index: Int) throws -> ByteBuffer? {
        try fetchBlob(db.cachedStatement(sql: "SELECT data FROM secret_chunk WHERE key = ?"),
                      arguments: [chunkKey(seq, index)])
    }

    /// The blob of the first row, copied straight from SQLite's row into a ByteBuffer (one copy).
    static func fetchBlob(_ statement: Statement, arguments: StatementArguments) throws -> ByteBuffer? {
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        guard let row = try rows.next() else { return nil }
        return try row.withUnsafeData(atIndex: 0) { data in
            guard let data else { return ByteBuffer() }
            var buffer = ByteBufferAllocator().buffer(capacity: data.count)
            data.withUnsafeBytes { _ = buffer.writeBytes($0) }
            return buffer
        }
    }

    /// Ends a readable secret (`exhausted`, `revoked`, `burned`): its ciphertext is removed
    /// now, or by the last reader's `finishRead` when a multi-chunk read is in progress.
    /// Returns the ciphertext when it is left for `discardInSteps`.
    private static func end(_ db: Database, key: Data, state: String, endedAt: Int64) throws -> StoredCiphertext? {
        guard let row = try Row.fetchAll(db.cachedStatement(sql: """
            UPDATE secret SET state = ?, ended_at = ? WHERE id = ?
            RETURNING active_readers, stored_bytes, seq, in_chunk_file
            """), arguments: [state, endedAt, key]).first else { return nil }
        let readers: Int = row[0]
        let storedBytes: Int = row[1]
        let ciphertext = StoredCiphertext(key: key, seq: row[2], inChunkFile: row[3])
        if readers == 0, storedBytes > 0, try discardChunks(db, ciphertext, storedBytes: storedBytes) == nil {
            return ciphertext
        }
        return nil
    }

    /// Ciphertext larger than this is freed in steps (`discardInSteps`) rather than inside
    /// the operation that ends its secret. With `secure_delete=ON`, freeing 1 GiB rewrites
    /// 1 GiB of pages; in one transaction that would hold the single writer, and every
    /// create and claim queued behind it, for seconds: measured after reading a 1 GiB
    /// secret, no create completed in the next 5 s; in steps of 2 chunks, creates ran at
    /// about 390/s meanwhile with a p99 of 49 ms (docs/benchmarks.md). Since the chunk
    /// file, only secrets uploaded before it hold that much in this file; chunk-file
    /// ciphertext is always freed in steps, on the chunk file's own writer.
    static let inlineDiscardLimit = 8 * StoreLimits.chunkSize
    /// Chunks freed per step of `deleteChunksInSteps` (a step is then ~10-20 ms of writer
    /// time with secure_delete; 8 chunks gave creates a p99 of 86 ms during a burn).
    private static let discardStep = 2

    /// Frees an ended secret's ciphertext a few chunks per operation, so that other
    /// operations run in between, then sets its `stored_bytes` to 0. Returns the chunks
    /// deleted. Safe to run twice at once for one secret (finishRead and the sweeper):
    /// each step accounts only for the rows it deleted. A crash midway leaves an ended
    /// secret with `stored_bytes > 0`, which `recover` and `sweep` finish.
    @discardableResult
    func discardInSteps(_ ciphertext: StoredCiphertext) async throws -> Int {
        let deleted = try await deleteChunksInSteps(ciphertext, paced: true)
        let key = ciphertext.key
        try await committer.submit { db in
            let left = try Int.fetchOne(db.cachedStatement(sql: "SELECT stored_bytes FROM secret WHERE id = ?"),
                                        arguments: [key]) ?? 0
            try db.cachedStatement(sql: "UPDATE secret SET stored_bytes = 0 WHERE id = ?").execute(arguments: [key])
            try Self.adjustStoredBytes(db, by: -left)
            _ = try Self.deleteChunks(db, seq: ciphertext.seq)  // none left: a safety net
        }
        return deleted
    }

    /// Deletes a secret's chunks in steps of `discardStep` chunks, each its own operation,
    /// keeping the secret's `stored_bytes` and the store's total exact after every step.
    /// In this file the steps are not durable by themselves (whoever finishes the secret
    /// commits durably); nothing in them is ever confirmed to a client. In the chunk file
    /// each deletion is durable before it is counted here.
    ///
    /// `paced`: after each step, wait as long as the step took, so that freeing takes at
    /// most half of the writer's time and of the disk. For the ciphertext of an ended
    /// secret, which nobody can read any more: rewriting 1 GiB with zeros at full speed
    /// slowed everything else on the machine, the download that ended the secret
    /// included (measured: `burnlink open` of 1 GiB right after its send took 3.9-5.2 s
    /// unpaced, 3.0-3.6 s paced).
    @discardableResult
    private func deleteChunksInSteps(_ ciphertext: StoredCiphertext, paced: Bool = false) async throws -> Int {
        let key = ciphertext.key
        let end = Self.chunkKey(ciphertext.seq + 1, 0)
        var lower = Self.chunkKey(ciphertext.seq, 0)
        var deleted = 0
        while true {
            let started = ContinuousClock.now
            let count: Int
            let more: Bool
            if ciphertext.inChunkFile {
                let freed = try await inChunkFile { try await $0.delete(secret: key, limit: Self.discardStep) }
                if freed.bytes > 0 {
                    try await committer.submit(durable: false) { db in try Self.accountFreed(db, key: key, bytes: freed.bytes) }
                }
                (count, more) = (freed.chunks, freed.chunks > 0)
            } else {
                let (lowerKey, upper) = (lower, min(lower + Int64(Self.discardStep), end))
                let next: Int64?
                (count, next) = try await committer.submit(durable: false) { db -> (Int, Int64?) in
                    let freed = try Int.fetchAll(db.cachedStatement(sql: """
                        DELETE FROM secret_chunk WHERE key >= ? AND key < ? RETURNING length(data)
                        """), arguments: [lowerKey, upper])
                    try Self.accountFreed(db, key: key, bytes: freed.reduce(0, +))
                    let next = try Int64.fetchOne(db.cachedStatement(sql: """
                        SELECT key FROM secret_chunk WHERE key >= ? AND key < ? ORDER BY key LIMIT 1
                        """), arguments: [upper, end])
                    return (freed.count, next)
                }
                lower = next ?? end
                more = next != nil
            }
            deleted += count
            guard more else { break }
            if paced { try? await Task.sleep(for: ContinuousClock.now - started) }
        }
        return deleted
    }

    /// Takes `bytes` just deleted off the secret's `stored_bytes` and the store's total,
    /// never more than the secret still counts (its row may be gone, or already at 0).
    private static func accountFreed(_ db: Database, key: Data, bytes: Int) throws {
        guard bytes > 0, let counted = try Int.fetchOne(db.cachedStatement(sql: """
            SELECT stored_bytes FROM secret WHERE id = ?
            """), arguments: [key]) else { return }
        let delta = min(counted, bytes)
        try db.cachedStatement(sql: "UPDATE secret SET stored_bytes = ? WHERE id = ?").execute(arguments: [counted - delta, key])
        try adjustStoredBytes(db, by: -delta)
    }

    /// Deletes a secret's chunk rows in this file (one key range); returns how many.
    private static func deleteChunks(_ db: Database, seq: Int64) throws -> Int {
        try db.cachedStatement(sql: "DELETE FROM secret_chunk WHERE key >= ? AND key < ?")
            .execute(arguments: [chunkKey(seq, 0), chunkKey(seq + 1, 0)])
        return db.changesCount
    }

    /// Deletes a secret's chunks and accounts for their bytes; returns the chunks deleted,
    /// or nil when they are in the chunk file or more than `inlineDiscardLimit`: then
    /// nothing is deleted here and the caller runs `discardInSteps` once its operation
    /// has committed.
    static func discardChunks(_ db: Database, _ ciphertext: StoredCiphertext, storedBytes: Int) throws -> Int? {
        guard !ciphertext.inChunkFile, storedBytes <= inlineDiscardLimit else { return nil }
        let deleted = try deleteChunks(db, seq: ciphertext.seq)
        try db.cachedStatement(sql: "UPDATE secret SET stored_bytes = 0 WHERE id = ?").execute(arguments: [ciphertext.key])
        try adjustStoredBytes(db, by: -storedBytes)
        return deleted
    }

    private static func adjustStoredBytes(_ db: Database, by delta: Int) throws {
        guard delta != 0 else { return }
        try db.cachedStatement(sql: "UPDATE store_stats SET stored_bytes = stored_bytes + ? WHERE id = 1")
            .execute(arguments: [delta])
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw StoreError(mapping: error)
        }
    }

    /// Runs `body` on the chunk file (opening it on first use), with its errors mapped
    /// like the main file's.
    private func inChunkFile<T: Sendable>(_ body: (SQLiteChunkFile) async throws -> T) async throws -> T {
        do {
            let file = try chunkFile.withLock { file in
                if let file { return file }
                file = try SQLiteChunkFile(path: Self.chunkFilePath(for: path))
                return file!
            }
            return try await body(file)
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(mapping: error)
        }
    }

    /// Splits a whole ciphertext into chunk rows (one row unless it exceeds the chunk size).
    private static func split(_ buffer: ByteBuffer) -> [Data] {
        guard buffer.readableBytes > StoreLimits.chunkSize else { return [data(buffer)] }
        var rest = buffer
        var chunks: [Data] = []
        while rest.readableBytes > 0, let slice = rest.readSlice(length: min(StoreLimits.chunkSize, rest.readableBytes)) {
            chunks.append(data(slice))
        }
        return chunks
    }

    private static func data(_ buffer: ByteBuffer) -> Data {
        buffer.withUnsafeReadableBytes { Data($0) }
    }

    /// Whole milliseconds since 1970 (rounded, so any date on a millisecond round-trips exactly).
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func milliseconds(interval: TimeInterval) -> Int64 {
        guard interval.isFinite else { return interval > 0 ? Int64.max / 2 : 0 }
        return Int64(max(0, min(interval * 1000, Double(Int64.max / 2))).rounded())
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
