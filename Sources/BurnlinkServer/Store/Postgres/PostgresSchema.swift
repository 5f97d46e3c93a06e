import Logging
import PostgresNIO

/// The PostgreSQL schema and its migrations.
///
/// Several replicas may start at once: each takes a session-level advisory lock around the
/// migrations, so exactly one applies a missing migration and the others find it done.
/// Every migration runs in its own transaction together with its row in
/// `burnlink_migration`, so a crash mid-migration leaves the schema as it was.
///
/// Times are integer milliseconds since 1970 (as in the SQLite store), so both stores
/// share one notion of time and no time zone setting can change a comparison.
enum PostgresSchema {
    /// The advisory lock key (an arbitrary constant: "burnlink" in ASCII).
    static let migrationLock: Int64 = 0x6275_726E_6C69_6E6B

    static let migrations: [(name: String, sql: [String])] = [
        (
            "v1",
            [
                """
                CREATE TABLE secret (
                    id bytea NOT NULL PRIMARY KEY CHECK (length(id) = 16),
                    state text NOT NULL
                        CHECK (state IN ('uploading', 'active', 'exhausted', 'revoked', 'burned', 'expired')),
                    claim_verifier bytea NOT NULL,
                    receipt_verifier bytea,
                    password_verifier bytea,
                    password_kdf text,
                    password_attempts_left integer NOT NULL,
                    created_at bigint NOT NULL,
                    expires_at bigint NOT NULL,
                    ended_at bigint,
                    max_views integer NOT NULL CHECK (max_views >= 1),
                    views_left integer NOT NULL CHECK (views_left >= 0),
                    size bigint NOT NULL DEFAULT 0,
                    chunk_count integer NOT NULL DEFAULT 0,
                    stored_bytes bigint NOT NULL DEFAULT 0,
                    active_readers integer NOT NULL DEFAULT 0
                )
                """,
                // The sweeper's ways in; each partial index covers only the rows it looks for.
                "CREATE INDEX secret_active_expiry ON secret (expires_at) WHERE state = 'active'",
                "CREATE INDEX secret_uploading ON secret (created_at) WHERE state = 'uploading'",
                "CREATE INDEX secret_ended ON secret (ended_at) WHERE ended_at IS NOT NULL",
                """
                CREATE INDEX secret_lingering ON secret (ended_at)
                    WHERE stored_bytes > 0 AND state IN ('exhausted', 'revoked', 'burned', 'expired')
                """,
                """
                CREATE TABLE secret_view (
                    secret_id bytea NOT NULL,
                    view_no integer NOT NULL,
                    viewed_at bigint NOT NULL,
                    PRIMARY KEY (secret_id, view_no)
                )
                """,
                """
                CREATE TABLE secret_chunk (
                    secret_id bytea NOT NULL,
                    idx integer NOT NULL CHECK (idx >= 0),
                    data bytea NOT NULL,
                    PRIMARY KEY (secret_id, idx)
                )
                """,
                // Ciphertext does not compress: store it out of line without trying.
                "ALTER TABLE secret_chunk ALTER COLUMN data SET STORAGE EXTERNAL",
                // The running total of stored bytes, spread over slots so that concurrent
                // creates on several replicas do not all queue on one row lock.
                """
                CREATE TABLE store_stats (
                    slot integer PRIMARY KEY CHECK (slot >= 0 AND slot < \(statSlots)),
                    stored_bytes bigint NOT NULL
                )
                """,
                "INSERT INTO store_stats (slot, stored_bytes) SELECT s, 0 FROM generate_series(0, \(statSlots - 1)) AS s",
            ]
        ),
        // Claim sessions (docs/http-api.md section 3.3.1): each view says what became of it.
        // Views from before were sent without a session.
        (
            "v2",
            [
                """
                ALTER TABLE secret_view
                    ADD COLUMN delivery text NOT NULL DEFAULT 'sent'
                        CHECK (delivery IN ('pending', 'delivered', 'unconfirmed', 'sent')),
                    ADD COLUMN session_verifier bytea,
                    ADD COLUMN session_deadline bigint,
                    ADD COLUMN confirmed_at bigint
                """,
                "CREATE INDEX secret_view_pending ON secret_view (session_deadline) WHERE delivery = 'pending'",
            ]
        ),
        // Requests (docs/http-api.md sections 3.9 to 3.12): one row each, answered once.
        (
            "v3",
            [
                """
                CREATE TABLE request (
                    id bytea NOT NULL PRIMARY KEY CHECK (length(id) = 16),
                    fill_verifier bytea NOT NULL,
                    answer_verifier bytea NOT NULL,
                    note text,
                    created_at bigint NOT NULL,
                    expires_at bigint NOT NULL,
                    answered_at bigint,
                    secret_id bytea,
                    sealed_key bytea,
                    CHECK ((answered_at IS NULL) = (secret_id IS NULL) AND (secret_id IS NULL) = (sealed_key IS NULL))
                )
                """,
                "CREATE INDEX request_expiry ON request (expires_at)",
            ]
        ),
    ]

    /// Slots of `store_stats`.
    static let statSlots = 16

    /// Applies every missing migration, holding the advisory lock.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_lock(\(migrationLock))", logger: logger)
        do {
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS burnlink_migration (
                    name text PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            var applied: Set<String> = []
            for try await name in try await connection.query("SELECT name FROM burnlink_migration", logger: logger)
                .decode(String.self)
            {
                applied.insert(name)
            }
            for migration in migrations where !applied.contains(migration.name) {
                try await connection.withTransaction(logger: logger) { connection in
                    for statement in migration.sql {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO burnlink_migration (name) VALUES (\(migration.name))",
                        logger: logger)
                }
                logger.notice("database migrated", metadata: ["migration": "\(migration.name)"])
            }
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
            throw error
        }
        try await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
    }
}
