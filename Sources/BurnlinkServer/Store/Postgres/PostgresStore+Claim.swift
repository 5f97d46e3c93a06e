import BurnlinkCore
import BurnlinkProtocol
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Claims in the PostgreSQL store, and the reads that never change state: metadata and the
/// chunks of a read in progress.
extension PostgresStore {
    public func claim(
        id: SecretID, claimVerifier: [UInt8], passwordProofVerifier: [UInt8]?,
        session: ClaimSessionTerms?, now: Date
    ) async throws -> ClaimResult {
        let key = Self.key(id)
        let delivery = (session == nil ? Delivery.sent : .pending).rawValue
        let sessionVerifier = session.map { ByteBuffer(bytes: $0.verifier) }
        let sessionDeadline = session.map { EpochMilliseconds($0.deadline) }
        let verifier = ByteBuffer(bytes: claimVerifier)
        let now = EpochMilliseconds(now)
        // No transaction around the whole: the first read only screens (constant-time token
        // check, password), and every statement after it re-checks what it relies on.
        return try await perform { [logger] connection in
            let row = try await connection.firstRow(ScreenClaim(key: key), logger: logger)
            guard let row, StoredVerifier.matches(try row.value("claim_verifier", as: Data.self), claimVerifier),
                try StoredStatus(row: row).isReadable(at: now)
            else { return .notFound }

            if let passwordVerifier = try row.value("password_verifier", as: Data?.self) {
                guard let passwordProofVerifier else { return .passwordRequired }
                if !ConstantTime.equal(passwordVerifier, passwordProofVerifier) {
                    return try await connection.withTransaction(logger: logger) { connection -> ClaimResult in
                        let left = try await connection.query(
                            """
                            UPDATE secret SET password_attempts_left = password_attempts_left - 1
                            WHERE id = \(key) AND claim_verifier = \(verifier) AND password_attempts_left > 0
                              AND \(unescaped: StoredStatus.readableSQL())\(now)
                            RETURNING password_attempts_left
                            """, logger: logger
                        ).collect().first?.decode(Int.self)
                        // No row: the secret stopped being readable meanwhile (another replica).
                        guard let left else { return .notFound }
                        try await Self.notifyReceiptChange(connection, logger, id)
                        if left > 0 { return .wrongPassword(attemptsLeft: left) }
                        try await Self.end(connection, logger, key: key, state: .burned, endedAt: now)
                        return .passwordAttemptsExhausted
                    }
                }
            }

            let multiChunk = try row.value("chunk_count", as: Int.self) > 1
            // A claim session holds a reader until it ends, whatever the size.
            let readers = multiChunk || session != nil ? 1 : 0
            let slot = Int.random(in: 0..<PostgresSchema.statSlots)
            // The decision: one conditional UPDATE. At READ COMMITTED, a concurrent claim that
            // locked the row first makes PostgreSQL re-check this WHERE clause against the
            // row it committed, so the views can never go below zero. Everything the decision
            // implies (the view record, the last view's discard of the ciphertext, the byte
            // count, the receipt notification) rides in the same statement, one round trip;
            // all its parts see the rows as they were, so chunk 0 is read even as it goes.
            let decision = DecideClaim(
                key: key, claimVerifier: verifier, readers: readers, now: now, delivery: delivery,
                sessionVerifier: sessionVerifier, sessionDeadline: sessionDeadline, slot: slot, encodedID: id.encoded)
            guard let decided = try await connection.firstRow(decision, logger: logger)
            else { return .notFound }
            // With a session, the session holds the reader: the stream need not finish it.
            return .granted(
                ClaimGrant(
                    size: try decided.value("size"), chunkCount: try decided.value("chunk_count"),
                    viewsLeft: try decided.value("views_left"),
                    firstChunk: try decided.value("data", as: ByteBuffer?.self) ?? ByteBuffer(),
                    mustFinishRead: multiChunk && session == nil))
        }
    }

    public func finishRead(id: SecretID) async throws {
        let key = Self.key(id)
        try await transaction { connection, logger in try await Self.releaseReader(connection, logger, key: key) }
    }

    public func metadata(id: SecretID, claimVerifier: [UInt8], now: Date) async throws -> SecretMetadata? {
        let key = Self.key(id)
        let now = EpochMilliseconds(now)
        return try await perform { [logger] connection in
            let row = try await connection.firstRow(
                """
                SELECT claim_verifier, state, expires_at, views_left, size, password_kdf
                FROM secret WHERE id = \(key)
                """, logger: logger)
            guard let row, StoredVerifier.matches(try row.value("claim_verifier", as: Data.self), claimVerifier) else {
                return nil
            }
            let status = try StoredStatus(row: row)
            guard status.isReadable(at: now) else { return nil }
            return SecretMetadata(
                size: try row.value("size"), expiresAt: status.expiresAt.date, viewsLeft: status.viewsLeft,
                passwordKDF: try row.value("password_kdf"))
        }
    }

    public func chunk(id: SecretID, index: Int) async throws -> ByteBuffer? {
        let key = Self.key(id)
        return try await perform { [logger] connection in
            // One statement: the reader count and the chunk are read from one snapshot.
            guard
                let row = try await connection.query(
                    """
                    SELECT c.data FROM secret s JOIN secret_chunk c ON c.secret_id = s.id AND c.idx = \(index)
                    WHERE s.id = \(key) AND s.active_readers > 0
                    """, logger: logger
                ).collect().first
            else { return nil }
            return try row.decode(ByteBuffer.self)
        }
    }
}

extension PostgresConnection {
    /// The first row of a prepared statement, read by column name; nil when there is none.
    func firstRow<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws
        -> PostgresRandomAccessRow? where Statement.Row == PostgresRandomAccessRow
    {
        for try await row in try await execute(statement, logger: logger) { return row }
        return nil
    }
}

/// The claim's first read, which only screens (token, state, password): prepared once per
/// connection, like every statement on the claim path.
private struct ScreenClaim: PostgresPreparedStatement {
    static let name = "burnlink_screen_claim"
    static let sql = """
        SELECT claim_verifier, password_verifier, state, expires_at, views_left, chunk_count
        FROM secret WHERE id = $1
        """
    static let bindingDataTypes: [PostgresDataType] = [.bytea]

    var key: ByteBuffer

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(key)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRandomAccessRow { row.makeRandomAccess() }
}

/// The decision of a claim: one conditional UPDATE and all it implies (see `claim`), in one
/// prepared statement: planned once per connection instead of on every claim.
private struct DecideClaim: PostgresPreparedStatement {
    static let name = "burnlink_decide_claim"
    static let sql = """
        WITH decided AS (
            UPDATE secret SET
                views_left = views_left - 1,
                active_readers = active_readers + $2,
                state = CASE WHEN views_left = 1 THEN \(StoredState.exhausted.sql) ELSE state END,
                ended_at = CASE WHEN views_left = 1 THEN $3 ELSE ended_at END,
                stored_bytes = CASE WHEN views_left = 1 AND active_readers + $2 = 0 THEN 0 ELSE stored_bytes END
            WHERE id = $1 AND claim_verifier = $4 AND \(StoredStatus.readableSQL(now: "$3"))
            RETURNING id, views_left, active_readers, max_views, size, chunk_count,
                      views_left = 0 AND active_readers = 0 AS discard
        ), viewed AS (
            INSERT INTO secret_view (secret_id, view_no, viewed_at, delivery, session_verifier, session_deadline)
            SELECT id, max_views - views_left, $3, $5, $6, $7 FROM decided
        ), discarded AS (
            DELETE FROM secret_chunk WHERE secret_id = $1 AND EXISTS (SELECT 1 FROM decided WHERE discard)
        ), counted AS (
            UPDATE store_stats SET stored_bytes = stored_bytes - (SELECT size FROM decided)
            WHERE slot = $8 AND EXISTS (SELECT 1 FROM decided WHERE discard AND size <> 0)
        ), notified AS (
            SELECT pg_notify('\(PostgresStore.receiptChannel)', $9) FROM decided
        )
        SELECT d.views_left, d.size, d.chunk_count, c.data, (SELECT count(*) FROM notified) AS notified
        FROM decided d LEFT JOIN secret_chunk c ON c.secret_id = d.id AND c.idx = 0
        """
    static let bindingDataTypes: [PostgresDataType] = [.bytea, .int8, .int8, .bytea, .text, .bytea, .int8, .int8, .text]

    var key: ByteBuffer
    var claimVerifier: ByteBuffer
    var readers: Int
    var now: EpochMilliseconds
    var delivery: String
    var sessionVerifier: ByteBuffer?
    var sessionDeadline: EpochMilliseconds?
    var slot: Int
    var encodedID: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 9)
        bindings.append(key)
        bindings.append(readers)
        bindings.append(now)
        bindings.append(claimVerifier)
        bindings.append(delivery)
        bindings.append(sessionVerifier)
        bindings.append(sessionDeadline)
        bindings.append(slot)
        bindings.append(encodedID)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRandomAccessRow { row.makeRandomAccess() }
}
