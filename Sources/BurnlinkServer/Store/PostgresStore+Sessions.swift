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
    public func session(id: SecretID, claimVerifier: [UInt8], sessionVerifier: [UInt8], passwordProofVerifier: [UInt8]?,
                        now: Date) async throws -> SessionLookup {
        let key = Self.key(id)
        let nowMs = SQLiteStore.milliseconds(now)
        return try await perform { [logger] connection in
            guard let row = try await connection.query("""
                SELECT claim_verifier, password_verifier, password_attempts_left, size, chunk_count
                FROM secret WHERE id = \(key)
                """, logger: logger).collect().first else {
                _ = ConstantTime.equal(Self.absentVerifier, claimVerifier)
                return .notFound
            }
            let (stored, passwordVerifier, attemptsLeft, size, chunkCount) =
                try row.decode((ByteBuffer, ByteBuffer?, Int, Int, Int).self)
            guard ConstantTime.equal(Array(buffer: stored), claimVerifier),
                  let view = try await Self.findSession(connection, logger, key: key, sessionVerifier: sessionVerifier),
                  view.isOpen, nowMs < view.deadline else { return .notFound }
            if let passwordVerifier {
                guard let passwordProofVerifier else { return .passwordRequired }
                guard ConstantTime.equal(Array(buffer: passwordVerifier), passwordProofVerifier) else {
                    return .wrongPassword(attemptsLeft: attemptsLeft)
                }
            }
            return .open(SessionEnvelope(size: size, chunkCount: chunkCount, deadline: SQLiteStore.date(view.deadline)))
        }
    }

    public func confirm(id: SecretID, claimVerifier: [UInt8], sessionVerifier: [UInt8], now: Date) async throws -> Bool {
        let key = Self.key(id)
        let nowMs = SQLiteStore.milliseconds(now)
        return try await transaction { connection, logger in
            guard let row = try await connection.query("SELECT claim_verifier FROM secret WHERE id = \(key)",
                                                       logger: logger).collect().first else {
                _ = ConstantTime.equal(Self.absentVerifier, claimVerifier)
                return false
            }
            guard ConstantTime.equal(Array(buffer: try row.decode(ByteBuffer.self)), claimVerifier),
                  let view = try await Self.findSession(connection, logger, key: key, sessionVerifier: sessionVerifier)
            else { return false }
            if view.delivery == "delivered" { return true }  // a repeat after a lost answer
            // The WHERE clause repeats the checks: a sweep on another replica may end it first.
            let confirmed = try await connection.query("""
                UPDATE secret_view SET delivery = 'delivered', confirmed_at = \(nowMs)
                WHERE secret_id = \(key) AND view_no = \(view.number) AND delivery = 'pending'
                  AND session_deadline > \(nowMs)
                RETURNING 1
                """, logger: logger).collect()
            guard !confirmed.isEmpty else { return false }
            try await Self.releaseReader(connection, logger, key: key)
            try await Self.notifyReceiptChange(connection, logger, id)
            return true
        }
    }

    /// Ends every session past its deadline as unconfirmed, in batches that replicas
    /// sweeping at once share (SKIP LOCKED); returns how many this replica ended.
    func endLapsedSessions(nowMs: Int64) async throws -> Int {
        var ended = 0
        while true {
            let count = try await transaction { connection, logger in
                let rows = try await connection.query("""
                    UPDATE secret_view SET delivery = 'unconfirmed'
                    WHERE (secret_id, view_no) IN (SELECT secret_id, view_no FROM secret_view
                                                   WHERE delivery = 'pending' AND session_deadline <= \(nowMs)
                                                   LIMIT \(Self.sweepBatch) FOR UPDATE SKIP LOCKED)
                      AND delivery = 'pending'
                    RETURNING secret_id
                    """, logger: logger).collect()
                for row in rows {
                    let key = try row.decode(ByteBuffer.self)
                    try await Self.releaseReader(connection, logger, key: key)
                    if let id = SecretID(bytes: Array(buffer: key)) {
                        try await Self.notifyReceiptChange(connection, logger, id)
                    }
                }
                return rows.count
            }
            ended += count
            if count < Self.sweepBatch { return ended }
        }
    }

    /// The view of `key` whose session verifier is `sessionVerifier`, whatever its delivery.
    /// Every candidate is compared in constant time (a secret has at most 100 views).
    private static func findSession(_ connection: PostgresConnection, _ logger: Logger, key: ByteBuffer,
                                    sessionVerifier: [UInt8]) async throws -> StoredClaimSession? {
        var found: StoredClaimSession?
        for try await (number, delivery, verifier, deadline) in try await connection.query("""
            SELECT view_no, delivery, session_verifier, session_deadline FROM secret_view
            WHERE secret_id = \(key) AND session_verifier IS NOT NULL
            """, logger: logger).decode((Int, String, ByteBuffer, Int64).self) {
            if ConstantTime.equal(Array(buffer: verifier), sessionVerifier) {
                found = StoredClaimSession(number: number, delivery: delivery, deadline: deadline)
            }
        }
        return found
    }
}
