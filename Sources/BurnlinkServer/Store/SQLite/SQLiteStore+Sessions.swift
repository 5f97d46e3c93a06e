import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB

/// Claim sessions (docs/http-api.md section 3.3.1) in the SQLite store. A session is its
/// view's row in `secret_view` (`delivery = 'pending'`, the digest of the session secret,
/// a deadline); while it is open it counts as one of the secret's `active_readers`, which
/// keeps the ciphertext in place whatever else happens to the secret.
extension SQLiteStore {
    /// SQL: the `secret` row in scope has a claim session that is still open.
    static let hasPendingSession = """
        EXISTS (SELECT 1 FROM secret_view WHERE secret_view.secret_id = secret.id AND delivery = \(Delivery.pending.sql))
        """

    public func session(
        id: SecretID, claimVerifier: [UInt8], sessionVerifier: [UInt8], passwordProofVerifier: [UInt8]?,
        now: Date
    ) async throws -> SessionLookup {
        let key = Data(id.bytes)
        let now = EpochMilliseconds(now)
        return try await read { db in
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT claim_verifier, password_verifier, password_attempts_left, size, chunk_count
                        FROM secret WHERE id = ?
                        """), arguments: [key])
            guard let row, StoredVerifier.matches(row["claim_verifier"], claimVerifier),
                let view = try Self.findSession(db, key: key, sessionVerifier: sessionVerifier),
                view.isOpen, now < view.deadline
            else { return .notFound }
            if let passwordVerifier = row["password_verifier"] as Data? {
                guard let passwordProofVerifier else { return .passwordRequired }
                guard ConstantTime.equal(passwordVerifier, passwordProofVerifier) else {
                    return .wrongPassword(attemptsLeft: row["password_attempts_left"])
                }
            }
            return .open(
                SessionEnvelope(
                    size: row["size"], chunkCount: row["chunk_count"],
                    deadline: view.deadline.date))
        }
    }

    public func confirm(id: SecretID, claimVerifier: [UInt8], sessionVerifier: [UInt8], now: Date) async throws -> Bool {
        let key = Data(id.bytes)
        let now = EpochMilliseconds(now)
        let (confirmed, deferred) = try await committer.submit { db -> (Bool, StoredCiphertext?) in
            let stored = try Data.fetchOne(
                db.cachedStatement(sql: "SELECT claim_verifier FROM secret WHERE id = ?"),
                arguments: [key])
            guard StoredVerifier.matches(stored, claimVerifier),
                let view = try Self.findSession(db, key: key, sessionVerifier: sessionVerifier)
            else { return (false, nil) }
            if view.delivery == .delivered { return (true, nil) }  // a repeat after a lost answer
            guard view.isOpen, now < view.deadline else { return (false, nil) }
            try db.cachedStatement(
                sql: """
                    UPDATE secret_view SET delivery = \(Delivery.delivered.sql), confirmed_at = ?
                    WHERE secret_id = ? AND view_no = ?
                    """
            ).execute(arguments: [now, key, view.number])
            return (true, try Self.releaseReader(db, key: key))
        }
        if let deferred {
            // The confirm is answered now: freeing a large ciphertext takes seconds (paced) and
            // the claimer has nothing to wait for. Should it fail, be stopped by `shutDown`
            // or the process die, the ended secret still counts its bytes, and `sweep` (or
            // `recover`) frees them.
            backgroundWork.start { _ = try? await self.discardInSteps(deferred) }
        }
        return confirmed
    }

    /// Ends every session past its deadline as unconfirmed, in batches; returns how many.
    func endLapsedSessions(now: EpochMilliseconds) async throws -> Int {
        try await StoreLimits.inSweepBatches {
            let (count, deferred) = try await committer.submit { db -> (Int, [StoredCiphertext]) in
                let lapsed = try Data.fetchAll(
                    db.cachedStatement(
                        sql: """
                            UPDATE secret_view SET delivery = \(Delivery.unconfirmed.sql)
                            WHERE (secret_id, view_no) IN (SELECT secret_id, view_no FROM secret_view
                                                           WHERE delivery = \(Delivery.pending.sql) AND session_deadline <= ?
                                                           LIMIT ?)
                            RETURNING secret_id
                            """), arguments: [now, StoreLimits.sweepBatch])
                var deferred: [StoredCiphertext] = []
                for key in lapsed {
                    if let ciphertext = try Self.releaseReader(db, key: key) { deferred.append(ciphertext) }
                }
                return (lapsed.count, deferred)
            }
            for ciphertext in deferred { try await discardInSteps(ciphertext) }
            return (count, count)
        }
    }

    /// The view of `key` whose session verifier is `sessionVerifier`, whatever its delivery.
    /// Every candidate is compared in constant time (a secret has at most 100 views).
    private static func findSession(_ db: Database, key: Data, sessionVerifier: [UInt8]) throws -> StoredClaimSession? {
        var found: StoredClaimSession?
        let rows = try Row.fetchCursor(
            db.cachedStatement(
                sql: """
                    SELECT view_no, delivery, session_verifier, session_deadline FROM secret_view
                    WHERE secret_id = ? AND session_verifier IS NOT NULL
                    """), arguments: [key])
        while let row = try rows.next() {
            if ConstantTime.equal(row["session_verifier"] as Data, sessionVerifier) {
                found = StoredClaimSession(number: row["view_no"], delivery: row["delivery"], deadline: row["session_deadline"])
            }
        }
        return found
    }
}
