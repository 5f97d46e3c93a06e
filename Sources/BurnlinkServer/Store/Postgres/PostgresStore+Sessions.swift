import BurnlinkCore
import BurnlinkProtocol
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Claim sessions (docs/http-api.md section 3.3.1) in the PostgreSQL store, as in the
/// SQLite store: a session is its view's row in `secret_view`, and while it is open it
/// counts as one of the secret's `active_readers`. Every replica serves every session.
extension PostgresStore {
    public func session(
        id: SecretID, claimVerifier: [UInt8], sessionVerifier: [UInt8], passwordProofVerifier: [UInt8]?,
        now: Date
    ) async throws -> SessionLookup {
        let key = Self.key(id)
        let now = EpochMilliseconds(now)
        return try await perform { [logger] connection in
            let row = try await connection.firstRow(
                """
                SELECT claim_verifier, password_verifier, password_attempts_left, size, chunk_count
                FROM secret WHERE id = \(key)
                """, logger: logger)
            guard let row, StoredVerifier.matches(try row.value("claim_verifier", as: Data.self), claimVerifier),
                let view = try await Self.findSession(connection, logger, key: key, sessionVerifier: sessionVerifier),
                view.isOpen, now < view.deadline
            else { return .notFound }
            if let passwordVerifier = try row.value("password_verifier", as: Data?.self) {
                guard let passwordProofVerifier else { return .passwordRequired }
                guard ConstantTime.equal(passwordVerifier, passwordProofVerifier) else {
                    return .wrongPassword(attemptsLeft: try row.value("password_attempts_left"))
                }
            }
            return .open(
                SessionEnvelope(
                    size: try row.value("size"), chunkCount: try row.value("chunk_count"),
                    deadline: view.deadline.date))
        }
    }

    public func confirm(id: SecretID, claimVerifier: [UInt8], sessionVerifier: [UInt8], now: Date) async throws -> Bool {
        let key = Self.key(id)
        let now = EpochMilliseconds(now)
        return try await transaction { connection, logger in
            let stored = try await connection.firstRow("SELECT claim_verifier FROM secret WHERE id = \(key)", logger: logger)
            guard StoredVerifier.matches(try stored?.value("claim_verifier", as: Data.self), claimVerifier),
                let view = try await Self.findSession(connection, logger, key: key, sessionVerifier: sessionVerifier)
            else { return false }
            if view.delivery == .delivered { return true }  // a repeat after a lost answer
            // The WHERE clause repeats the checks: a sweep on another replica may end it first.
            let confirmed = try await connection.query(
                """
                UPDATE secret_view SET delivery = \(unescaped: Delivery.delivered.sql), confirmed_at = \(now)
                WHERE secret_id = \(key) AND view_no = \(view.number) AND delivery = \(unescaped: Delivery.pending.sql)
                  AND session_deadline > \(now)
                RETURNING 1
                """, logger: logger
            ).collect()
            guard !confirmed.isEmpty else { return false }
            try await Self.releaseReader(connection, logger, key: key)
            try await Self.notifyReceiptChange(connection, logger, id)
            return true
        }
    }

    /// Ends every session past its deadline as unconfirmed, in batches that replicas
    /// sweeping at once share (SKIP LOCKED); returns how many this replica ended.
    func endLapsedSessions(now: EpochMilliseconds) async throws -> Int {
        try await StoreLimits.inSweepBatches {
            let count = try await transaction { connection, logger in
                let rows = try await connection.rows(
                    """
                    UPDATE secret_view SET delivery = \(unescaped: Delivery.unconfirmed.sql)
                    WHERE (secret_id, view_no) IN (SELECT secret_id, view_no FROM secret_view
                                                   WHERE delivery = \(unescaped: Delivery.pending.sql)
                                                     AND session_deadline <= \(now)
                                                   LIMIT \(StoreLimits.sweepBatch) FOR UPDATE SKIP LOCKED)
                      AND delivery = \(unescaped: Delivery.pending.sql)
                    RETURNING secret_id
                    """, logger: logger)
                for row in rows {
                    let key: ByteBuffer = try row.value("secret_id")
                    try await Self.releaseReader(connection, logger, key: key)
                    if let id = SecretID(bytes: Array(buffer: key)) {
                        try await Self.notifyReceiptChange(connection, logger, id)
                    }
                }
                return rows.count
            }
            return (count, count)
        }
    }

    /// The view of `key` whose session verifier is `sessionVerifier`, whatever its delivery.
    /// Every candidate is compared in constant time (a secret has at most 100 views).
    private static func findSession(
        _ connection: PostgresConnection, _ logger: Logger, key: ByteBuffer,
        sessionVerifier: [UInt8]
    ) async throws -> StoredClaimSession? {
        var found: StoredClaimSession?
        for row in try await connection.rows(
            """
            SELECT view_no, delivery, session_verifier, session_deadline FROM secret_view
            WHERE secret_id = \(key) AND session_verifier IS NOT NULL
            """, logger: logger)
        {
            if ConstantTime.equal(try row.value("session_verifier", as: Data.self), sessionVerifier) {
                found = StoredClaimSession(
                    number: try row.value("view_no"), delivery: try row.value("delivery"),
                    deadline: try row.value("session_deadline"))
            }
        }
        return found
    }
}
