import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB

/// Opening the SQLite store: its files, its connections' settings, its migrations, and the
/// recovery from what a previous process left.
extension SQLiteStore {
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
    static func prepareDirectory(for path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, !FileManager.default.fileExists(atPath: parent) {
            try FileManager.default.createDirectory(
                atPath: parent, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        }
    }

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
                try Int.fetchOne(db, sql: "PRAGMA secure_delete") == 1
            else {
                throw StoreError.unavailable("SQLite refused synchronous=\(synchronous) or secure_delete=ON for \(label)")
            }
        }
        return pool
    }

    /// The migrations, as they were first written: a migration's text never changes once
    /// released, so the state names are spelled out here rather than taken from `StoredState`.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
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
            try db.execute(
                sql: """
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
            try db.execute(
                sql: """
                    ALTER TABLE secret_view ADD COLUMN delivery TEXT NOT NULL DEFAULT 'sent'
                        CHECK (delivery IN ('pending', 'delivered', 'unconfirmed', 'sent'));
                    ALTER TABLE secret_view ADD COLUMN session_verifier BLOB;
                    ALTER TABLE secret_view ADD COLUMN session_deadline INTEGER;
                    ALTER TABLE secret_view ADD COLUMN confirmed_at INTEGER;
                    CREATE INDEX secret_view_pending ON secret_view (session_deadline) WHERE delivery = 'pending';
                    """)
        }
        // Requests (docs/http-api.md sections 3.9 to 3.12): one row each, answered once.
        migrator.registerMigration("v5") { db in
            try db.execute(
                sql: """
                    CREATE TABLE request (
                        id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
                        fill_verifier BLOB NOT NULL,
                        answer_verifier BLOB NOT NULL,
                        note TEXT,
                        created_at INTEGER NOT NULL,
                        expires_at INTEGER NOT NULL,
                        answered_at INTEGER,
                        secret_id BLOB,
                        sealed_key BLOB,
                        CHECK ((answered_at IS NULL) = (secret_id IS NULL) AND (secret_id IS NULL) = (sealed_key IS NULL))
                    ) WITHOUT ROWID;
                    CREATE INDEX request_expiry ON request (expires_at);
                    """)
        }
        return migrator
    }

    /// Startup recovery. This process is the only writer, so any upload in progress and any
    /// streaming reader counted in the file died with a previous process. Open claim sessions
    /// did not: they live in the file, each still holds its secret's ciphertext (the sweeper
    /// ends those past their deadline).
    static func recover(_ db: Database) throws {
        let abandoned = try Int64.fetchAll(
            db,
            sql: """
                SELECT seq FROM secret
                WHERE state = \(StoredState.uploading.sql)
                   OR (stored_bytes > 0 AND state IN \(StoredState.endedSQL) AND NOT \(hasPendingSession))
                """)
        for seq in abandoned { _ = try deleteChunks(db, seq: seq) }
        try db.execute(
            sql: """
                DELETE FROM secret_view WHERE secret_id IN (SELECT id FROM secret WHERE state = \(StoredState.uploading.sql));
                DELETE FROM secret WHERE state = \(StoredState.uploading.sql);
                UPDATE secret SET active_readers = (SELECT count(*) FROM secret_view
                                                    WHERE secret_id = secret.id AND delivery = \(Delivery.pending.sql))
                    WHERE active_readers <> 0 OR \(hasPendingSession);
                UPDATE secret SET stored_bytes = 0
                    WHERE stored_bytes > 0 AND state IN \(StoredState.endedSQL) AND NOT \(hasPendingSession);
                UPDATE store_stats SET stored_bytes = (SELECT coalesce(sum(stored_bytes), 0) FROM secret) WHERE id = 1;
                """)
        try removeOrphanedChunks(db)
    }

    /// Chunks whose secret row is gone. Never expected (a secret's row is deleted only with
    /// or after its chunks); a safety net run at open, visiting one row per secret.
    static func removeOrphanedChunks(_ db: Database) throws {
        var next: Int64 = 0
        while let key = try Int64.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT key FROM secret_chunk WHERE key >= ? ORDER BY key LIMIT 1
                    """), arguments: [next])
        {
            let seq = key >> 24
            if try Int.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM secret WHERE seq = ?"), arguments: [seq]) == nil {
                _ = try deleteChunks(db, seq: seq)
            }
            next = (seq + 1) << 24
        }
    }

}
