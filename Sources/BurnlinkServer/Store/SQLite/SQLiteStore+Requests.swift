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
        let now = EpochMilliseconds(now)
        return try await read { db in
            guard let (row, stored) = try Self.request(db, id, verifierColumn: "fill_verifier", matching: fillVerifier),
                stored.exists(at: now)
            else { return nil }
            return RequestSummary(note: row["note"], expiresAt: stored.expiresAt.date, answered: stored.isAnswered)
        }
    }

    public func requestAnswer(id: SecretID, answerVerifier: [UInt8], now: Date) async throws -> RequestAnswer? {
        let now = EpochMilliseconds(now)
        return try await read { db in
            guard let (_, stored) = try Self.request(db, id, verifierColumn: "answer_verifier", matching: answerVerifier),
                stored.exists(at: now)
            else { return nil }
            return stored.answer
        }
    }

    /// The request's row when the verifier in `verifierColumn` matches (compared in constant
    /// time, also for a missing row).
    private static func request(_ db: Database, _ id: SecretID, verifierColumn: String, matching verifier: [UInt8])
        throws -> (Row, StoredRequest)?
    {
        let row = try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT \(verifierColumn), note, expires_at, answered_at, secret_id, sealed_key FROM request WHERE id = ?
                    """), arguments: [Data(id.bytes)])
        guard StoredVerifier.matches(row?[verifierColumn], verifier), let row else { return nil }
        return (row, StoredRequest(row: row))
    }

    /// Answers `fill`'s request with the secret `secret`, in the caller's transaction, or
    /// throws why not. From then on the request lives as long as its answer (the one
    /// thing left to do with it is to open the answer).
    static func answer(_ db: Database, _ fill: RequestFill, with secret: Data) throws {
        let key = Data(fill.requestID.bytes)
        let now = EpochMilliseconds(fill.now)
        guard let (_, stored) = try request(db, fill.requestID, verifierColumn: "fill_verifier", matching: fill.fillVerifier),
            stored.exists(at: now)
        else {
            throw StoreError.noSuchRequest
        }
        guard !stored.isAnswered else { throw StoreError.alreadyAnswered }
        try db.cachedStatement(
            sql: """
                UPDATE request SET answered_at = ?, secret_id = ?, sealed_key = ?,
                       expires_at = (SELECT expires_at FROM secret WHERE id = ?)
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
