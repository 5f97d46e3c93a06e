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
        let now = EpochMilliseconds(now)
        return try await perform { [logger] connection in
            guard
                let (row, stored) = try await Self.request(
                    connection, logger, id, verifierColumn: "fill_verifier", matching: fillVerifier),
                stored.exists(at: now)
            else { return nil }
            return RequestSummary(
                note: try row.value("note", as: String?.self), expiresAt: stored.expiresAt.date, answered: stored.isAnswered)
        }
    }

    public func requestAnswer(id: SecretID, answerVerifier: [UInt8], now: Date) async throws -> RequestAnswer? {
        let now = EpochMilliseconds(now)
        return try await perform { [logger] connection in
            guard
                let (_, stored) = try await Self.request(
                    connection, logger, id, verifierColumn: "answer_verifier", matching: answerVerifier),
                stored.exists(at: now)
            else { return nil }
            return stored.answer
        }
    }

    /// The request's row when the verifier in `verifierColumn` matches (compared in constant
    /// time, also for a missing row); `lock` takes the row lock for the transaction.
    private static func request(
        _ connection: PostgresConnection, _ logger: Logger, _ id: SecretID, verifierColumn: String,
        matching verifier: [UInt8], lock: Bool = false
    ) async throws -> (PostgresRandomAccessRow, StoredRequest)? {
        let row = try await connection.firstRow(
            """
            SELECT \(unescaped: verifierColumn) AS verifier, note, expires_at, answered_at, secret_id, sealed_key
            FROM request WHERE id = \(key(id)) \(unescaped: lock ? "FOR UPDATE" : "")
            """, logger: logger)
        guard StoredVerifier.matches(try row?.value("verifier", as: Data.self), verifier), let row else { return nil }
        return (row, try StoredRequest(row: row))
    }

    /// Answers `fill`'s request with the secret `secret`, in the caller's transaction, or
    /// throws why not. The row lock makes concurrent fills, on any replica, queue here:
    /// the first commits, the others then find it answered.
    static func answer(_ connection: PostgresConnection, _ logger: Logger, _ fill: RequestFill, with secret: SecretID)
        async throws
    {
        let key = key(fill.requestID)
        let now = EpochMilliseconds(fill.now)
        guard
            let (_, stored) = try await request(
                connection, logger, fill.requestID, verifierColumn: "fill_verifier", matching: fill.fillVerifier, lock: true),
            stored.exists(at: now)
        else {
            throw StoreError.noSuchRequest
        }
        guard !stored.isAnswered else { throw StoreError.alreadyAnswered }
        let secretKey = Self.key(secret)
        try await connection.query(
            """
            UPDATE request SET answered_at = \(now), secret_id = \(secretKey), sealed_key = \(ByteBuffer(bytes: fill.sealedKey)),
                   expires_at = (SELECT expires_at FROM secret WHERE id = \(secretKey))
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
