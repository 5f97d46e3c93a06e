import BurnlinkCore
import BurnlinkProtocol
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The sender's side in the PostgreSQL store: receipts, revoking, and the stored byte count.
extension PostgresStore {
    public func revoke(id: SecretID, receiptVerifier: [UInt8], now: Date) async throws -> Bool {
        let key = Self.key(id)
        let now = EpochMilliseconds(now)
        return try await transaction { connection, logger in
            let stored = try await connection.firstRow(
                "SELECT receipt_verifier FROM secret WHERE id = \(key)",
                logger: logger)
            let verifier = try stored?.value("receipt_verifier", as: Data?.self) ?? nil
            guard StoredVerifier.matches(verifier, receiptVerifier) else { return false }
            let ended = try await Self.end(
                connection, logger, key: key, state: .revoked, endedAt: now,
                onlyIfReadableAt: now)
            if ended { try await Self.notifyReceiptChange(connection, logger, id) }
            return ended
        }
    }

    public func receipt(id: SecretID, receiptVerifier: [UInt8], now: Date) async throws -> Receipt? {
        let key = Self.key(id)
        let now = EpochMilliseconds(now)
        return try await perform { [logger] connection in
            let row = try await connection.firstRow(
                """
                SELECT receipt_verifier, state, created_at, expires_at, max_views, views_left, ended_at
                FROM secret WHERE id = \(key)
                """, logger: logger)
            guard let row, StoredVerifier.matches(try row.value("receipt_verifier", as: Data?.self), receiptVerifier)
            else { return nil }
            let stored = try StoredReceipt(row: row)
            guard stored.exists else { return nil }
            let views = try await connection.rows(
                """
                SELECT viewed_at, delivery, session_deadline, confirmed_at FROM secret_view
                WHERE secret_id = \(key) ORDER BY viewed_at, view_no
                """, logger: logger
            ).map { try ReceiptView(row: $0, at: now) }
            return stored.receipt(views: views, at: now)
        }
    }

    public func storedBytes() async throws -> Int {
        try await perform { [logger] connection in
            try await connection.query("SELECT coalesce(sum(stored_bytes), 0)::bigint FROM store_stats", logger: logger)
                .collect().first?.decode(Int.self) ?? 0
        }
    }
}
