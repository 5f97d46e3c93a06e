import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB

/// The sender's side in the SQLite store: receipts, revoking, and the stored byte count.
extension SQLiteStore {
    public func revoke(id: SecretID, receiptVerifier: [UInt8], now: Date) async throws -> Bool {
        let key = Data(id.bytes)
        let now = EpochMilliseconds(now)
        let (revoked, deferred) = try await committer.submit { db -> (Bool, StoredCiphertext?) in
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT receipt_verifier, state, expires_at, views_left FROM secret WHERE id = ?
                        """), arguments: [key])
            guard let row, StoredVerifier.matches(row["receipt_verifier"], receiptVerifier),
                StoredStatus(row: row).isReadable(at: now)
            else { return (false, nil) }
            return (true, try Self.end(db, key: key, state: .revoked, endedAt: now))
        }
        if let deferred { try await discardInSteps(deferred) }
        return revoked
    }

    public func receipt(id: SecretID, receiptVerifier: [UInt8], now: Date) async throws -> Receipt? {
        let key = Data(id.bytes)
        let now = EpochMilliseconds(now)
        return try await read { db in
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT receipt_verifier, state, created_at, expires_at, max_views, views_left, ended_at
                        FROM secret WHERE id = ?
                        """), arguments: [key])
            guard let row, StoredVerifier.matches(row["receipt_verifier"], receiptVerifier) else { return nil }
            let stored = StoredReceipt(row: row)
            guard stored.exists else { return nil }
            let views = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT viewed_at, delivery, session_deadline, confirmed_at FROM secret_view
                        WHERE secret_id = ? ORDER BY viewed_at, view_no
                        """), arguments: [key]
            ).map { ReceiptView(row: $0, at: now) }
            return stored.receipt(views: views, at: now)
        }
    }

    /// Ciphertext bytes held in chunk rows: readable secrets, uploads in progress, and the
    /// ciphertext of a used-up secret that a reader is still streaming. One row read.
    public func storedBytes() async throws -> Int {
        try await read { db in
            try Int.fetchOne(db.cachedStatement(sql: "SELECT stored_bytes FROM store_stats WHERE id = 1")) ?? 0
        }
    }
}
