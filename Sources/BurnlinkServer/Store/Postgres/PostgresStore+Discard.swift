import BurnlinkCore
import BurnlinkProtocol
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Ending a secret and freeing its ciphertext in the PostgreSQL store, always inside the
/// statement or transaction that ends it, and the store's running count of stored bytes.
extension PostgresStore {
    /// Ends a readable secret. With `onlyIfReadableAt`, only a secret still readable at that
    /// time ends (a revoke); returns whether it ended. Its ciphertext goes now, or with the
    /// last reader's `finishRead`.
    @discardableResult
    static func end(
        _ connection: PostgresConnection, _ logger: Logger, key: ByteBuffer, state: StoredState,
        endedAt: EpochMilliseconds, onlyIfReadableAt now: EpochMilliseconds? = nil
    ) async throws -> Bool {
        guard
            let row = try await connection.firstRow(
                """
                UPDATE secret SET state = \(state.rawValue), ended_at = \(endedAt)
                WHERE id = \(key) AND \(unescaped: StoredStatus.readableSQL())\(now ?? EpochMilliseconds(rawValue: .min))
                RETURNING state, active_readers, stored_bytes
                """, logger: logger)
        else { return false }
        try await discardUnlessRead(connection, logger, row, key: key)
        return true
    }

    /// One reader (a streaming read, or a claim session) lets go of a secret's ciphertext;
    /// the last one of an ended secret discards it.
    static func releaseReader(_ connection: PostgresConnection, _ logger: Logger, key: ByteBuffer) async throws {
        guard
            let row = try await connection.firstRow(
                """
                UPDATE secret SET active_readers = greatest(active_readers - 1, 0) WHERE id = \(key)
                RETURNING state, active_readers, stored_bytes
                """, logger: logger)
        else { return }
        try await discardUnlessRead(connection, logger, row, key: key)
    }

    /// Discards the ciphertext of a secret's row just changed (columns `state`,
    /// `active_readers`, `stored_bytes`) when the secret has ended and no reader holds it.
    private static func discardUnlessRead(
        _ connection: PostgresConnection, _ logger: Logger,
        _ row: PostgresRandomAccessRow, key: ByteBuffer
    ) async throws {
        let storedBytes: Int = try row.value("stored_bytes")
        if try row.value("active_readers", as: Int.self) == 0, storedBytes > 0,
            try row.value("state", as: StoredState.self).isEnded
        {
            _ = try await discardChunks(connection, logger, key: key, storedBytes: storedBytes)
        }
    }

    /// Deletes a secret's chunks and accounts for their bytes; returns the chunks deleted.
    static func discardChunks(
        _ connection: PostgresConnection, _ logger: Logger, key: ByteBuffer,
        storedBytes: Int
    ) async throws -> Int {
        let deleted = try await deleteChunks(connection, logger, key: key)
        try await connection.query("UPDATE secret SET stored_bytes = 0 WHERE id = \(key)", logger: logger)
        try await adjustStoredBytes(connection, logger, by: -storedBytes)
        return deleted
    }

    static func deleteChunks(_ connection: PostgresConnection, _ logger: Logger, key: ByteBuffer) async throws -> Int {
        try await connection.query("DELETE FROM secret_chunk WHERE secret_id = \(key) RETURNING idx", logger: logger)
            .collect().count
    }

    /// Adds `delta` to one slot of the running total, chosen at random (see `PostgresSchema`).
    static func adjustStoredBytes(_ connection: PostgresConnection, _ logger: Logger, by delta: Int) async throws {
        guard delta != 0 else { return }
        let slot = Int.random(in: 0..<PostgresSchema.statSlots)
        try await connection.query(
            """
            UPDATE store_stats SET stored_bytes = stored_bytes + \(delta) WHERE slot = \(slot)
            """, logger: logger)
    }
}
