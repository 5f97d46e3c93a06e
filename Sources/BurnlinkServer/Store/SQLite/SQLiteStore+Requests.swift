import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB

/// Requests in the SQLite store: one `request` row each, answered once, inside the
/// transaction that commits the answer's upload.
extension SQLiteStore {
    public func createRequest(_ record: RequestRecord) async throws {
        let values: [any DatabaseValueConvertible & Sendable] = [
            Data(record.id.bytes), Data(record.fillVerifier), Data(record.answerVerifier),
            EpochMilliseconds(record.createdAt), EpochMilliseconds(record.expiresAt),
        ]
        let note = record.note
        try await committer.submit { db in
            do {
                try db.cachedStatement(
                    sql: """
                        INSERT INTO request (id, fill_verifier, answer_verifier, created_at, expires_at, note)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """
                ).execute(arguments: StatementArguments(values + [note]))
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw StoreError.duplicateID
            }
        }
    }

    public func request(id: SecretID, fillVerifier: [UInt8], now: Date) async throws -> RequestSummary? {
        let key = Data(id.bytes)
        let now = EpochMilliseconds(now)
        return try await read { db in
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT fill_verifier, note, expires_at, answered_at, secret_id, sealed_key FROM request WHERE id = ?
                        """), arguments: [key])
            guard StoredVerifier.matches(row?["fill_verifier"], fillVerifier), let row else { return nil }
            let stored = StoredRequest(row: row)
            guard stored.exists(at: now) else { return nil }
            return RequestSummary(note: row["note"], expiresAt: stored.expiresAt.date, answered: stored.isAnswered)
        }
    }

    public func requestAnswer(id: SecretID, answerVerifier: [UInt8], now: Date) async throws -> RequestAnswer? {
        let key = Data(id.bytes)
        let now = EpochMilliseconds(now)
        return try await read { db in
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT answer_verifier, expires_at, answered_at, secret_id, sealed_key FROM request WHERE id = ?
                        """), arguments: [key])
            guard StoredVerifier.matches(row?["answer_verifier"], answerVerifier), let row else { return nil }
            let stored = StoredRequest(row: row)
            return stored.exists(at: now) ? stored.answer : nil
        }
    }

    /// Answers `fill`'s request with the secret `secret`, in the caller's transaction, or
    /// throws why not. The request's life extends to the answer's expiry when that is later.
    static func answer(_ db: Database, _ fill: RequestFill, with secret: Data) throws {
        let key = Data(fill.requestID.bytes)
        let now = EpochMilliseconds(fill.now)
        let row = try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT fill_verifier, expires_at, answered_at, secret_id, sealed_key FROM request WHERE id = ?
                    """), arguments: [key])
        guard StoredVerifier.matches(row?["fill_verifier"], fill.fillVerifier), let row else {
            throw StoreError.noSuchRequest
        }
        let stored = StoredRequest(row: row)
        guard stored.exists(at: now) else { throw StoreError.noSuchRequest }
        guard !stored.isAnswered else { throw StoreError.alreadyAnswered }
        try db.cachedStatement(
            sql: """
                UPDATE request SET answered_at = ?, secret_id = ?, sealed_key = ?,
                       expires_at = max(expires_at, (SELECT expires_at FROM secret WHERE id = ?))
                WHERE id = ? AND secret_id IS NULL
                """
        ).execute(arguments: [now, secret, Data(fill.sealedKey), secret, key])
        guard db.changesCount == 1 else { throw StoreError.alreadyAnswered }
    }

    /// Removes requests past their expiry, in batches.
    func sweepRequests(now: EpochMilliseconds) async throws -> Int {
        let limit = StoreLimits.sweepBatch
        return try await StoreLimits.inSweepBatches {
            let removed = try await committer.submit { db in
                try db.cachedStatement(
                    sql: """
                        DELETE FROM request WHERE id IN (SELECT id FROM request WHERE expires_at <= ? LIMIT ?)
                        """
                ).execute(arguments: [now, limit])
                return db.changesCount
            }
            return (removed, removed)
        }
    }
}

extension StoredRequest {
    /// From a row of `request` with the columns `expires_at`, `answered_at`, `secret_id` and
    /// `sealed_key`.
    init(row: Row) {
        self.init(
            expiresAt: row["expires_at"], answeredAt: row["answered_at"], secretID: row["secret_id"],
            sealedKey: row["sealed_key"])
    }
}
