import BurnlinkCore
import BurnlinkProtocol
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Requests in the PostgreSQL store: one `request` row each, answered once, inside the
/// transaction that commits the answer's upload; the fill is announced to every replica
/// with NOTIFY on the receipt channel (request ids and secret ids never collide: both are
/// 128 random bits).
extension PostgresStore {
    public func createRequest(_ record: RequestRecord) async throws {
        let key = Self.key(record.id)
        let fill = ByteBuffer(bytes: record.fillVerifier)
        let answer = ByteBuffer(bytes: record.answerVerifier)
        let createdAt = EpochMilliseconds(record.createdAt)
        let expiresAt = EpochMilliseconds(record.expiresAt)
        do {
            try await perform { [logger] connection in
                _ = try await connection.query(
                    """
                    INSERT INTO request (id, fill_verifier, answer_verifier, note, created_at, expires_at)
                    VALUES (\(key), \(fill), \(answer), \(record.note), \(createdAt), \(expiresAt))
                    """, logger: logger
                ).collect()
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw StoreError.duplicateID
        }
    }

    public func request(id: SecretID, fillVerifier: [UInt8], now: Date) async throws -> RequestSummary? {
        let key = Self.key(id)
        let now = EpochMilliseconds(now)
        return try await perform { [logger] connection in
            let row = try await connection.firstRow(
                """
                SELECT fill_verifier, note, expires_at, answered_at, secret_id, sealed_key FROM request WHERE id = \(key)
                """, logger: logger)
            guard StoredVerifier.matches(try row?.value("fill_verifier", as: Data.self), fillVerifier), let row else {
                return nil
            }
            let stored = try StoredRequest(row: row)
            guard stored.exists(at: now) else { return nil }
            return RequestSummary(
                note: try row.value("note", as: String?.self), expiresAt: stored.expiresAt.date, answered: stored.isAnswered)
        }
    }

    public func requestAnswer(id: SecretID, answerVerifier: [UInt8], now: Date) async throws -> RequestAnswer? {
        let key = Self.key(id)
        let now = EpochMilliseconds(now)
        return try await perform { [logger] connection in
            let row = try await connection.firstRow(
                """
                SELECT answer_verifier, expires_at, answered_at, secret_id, sealed_key FROM request WHERE id = \(key)
                """, logger: logger)
            guard StoredVerifier.matches(try row?.value("answer_verifier", as: Data.self), answerVerifier), let row else {
                return nil
            }
            let stored = try StoredRequest(row: row)
            return stored.exists(at: now) ? stored.answer : nil
        }
    }

    /// Answers `fill`'s request with the secret `secret`, in the caller's transaction, or
    /// throws why not. The row lock makes concurrent fills, on any replica, queue here:
    /// the first commits, the others then find it answered.
    static func answer(_ connection: PostgresConnection, _ logger: Logger, _ fill: RequestFill, with secret: SecretID)
        async throws
    {
        let key = key(fill.requestID)
        let now = EpochMilliseconds(fill.now)
        let row = try await connection.firstRow(
            """
            SELECT fill_verifier, expires_at, answered_at, secret_id, sealed_key FROM request WHERE id = \(key) FOR UPDATE
            """, logger: logger)
        guard StoredVerifier.matches(try row?.value("fill_verifier", as: Data.self), fill.fillVerifier), let row else {
            throw StoreError.noSuchRequest
        }
        let stored = try StoredRequest(row: row)
        guard stored.exists(at: now) else { throw StoreError.noSuchRequest }
        guard !stored.isAnswered else { throw StoreError.alreadyAnswered }
        let secretKey = Self.key(secret)
        try await connection.query(
            """
            UPDATE request SET answered_at = \(now), secret_id = \(secretKey), sealed_key = \(ByteBuffer(bytes: fill.sealedKey)),
                   expires_at = greatest(expires_at, (SELECT expires_at FROM secret WHERE id = \(secretKey)))
            WHERE id = \(key)
            """, logger: logger)
        try await notifyReceiptChange(connection, logger, fill.requestID)
    }
}

extension StoredRequest {
    /// From a row of `request` with the columns `expires_at`, `answered_at`, `secret_id` and
    /// `sealed_key`.
    init(row: PostgresRandomAccessRow) throws {
        self.init(
            expiresAt: try row.value("expires_at"), answeredAt: try row.value("answered_at"),
            secretID: try row.value("secret_id"), sealedKey: try row.value("sealed_key"))
    }
}
