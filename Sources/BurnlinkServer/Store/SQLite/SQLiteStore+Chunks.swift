import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB
import NIOCore

/// Chunk rows in the main file and the store's running count of stored bytes. Chunk rows
/// are keyed by the secret's `seq` (see `SQLiteStore`); chunks of multi-chunk uploads are
/// in the chunk file instead.
extension SQLiteStore {
    /// Where a secret's ciphertext is kept, for freeing it after its operation committed.
    struct StoredCiphertext: Sendable {
        var key: Data
        /// Keys its chunk rows in this file.
        var seq: Int64
        /// Its chunks are in the chunk file (keyed by `key`) instead.
        var inChunkFile: Bool

        init(key: Data, seq: Int64, inChunkFile: Bool) {
            self.key = key
            self.seq = seq
            self.inChunkFile = inChunkFile
        }

        /// From a row of `secret` with the columns `seq` and `in_chunk_file`, and `id`
        /// unless the key is given.
        init(row: Row, key: Data? = nil) {
            self.init(key: key ?? row["id"], seq: row["seq"], inChunkFile: row["in_chunk_file"])
        }
    }

    /// Chunk indexes a secret can have: the low 24 bits of a chunk row's key.
    static let chunksPerSecret = 1 << 24

    static func chunkKey(_ seq: Int64, _ index: Int) -> Int64 {
        seq << 24 | Int64(index)
    }

    static func insertChunk(_ db: Database, seq: Int64, index: Int, data: Data) throws {
        try db.cachedStatement(sql: "INSERT INTO secret_chunk (key, data) VALUES (?, ?)")
            .execute(arguments: [chunkKey(seq, index), data])
    }

    static func readChunk(_ db: Database, seq: Int64, index: Int) throws -> ByteBuffer? {
        try fetchBlob(
            db.cachedStatement(sql: "SELECT data FROM secret_chunk WHERE key = ?"),
            arguments: [chunkKey(seq, index)])
    }

    /// The blob of the first row, copied straight from SQLite's row into a ByteBuffer (one copy).
    static func fetchBlob(_ statement: Statement, arguments: StatementArguments) throws -> ByteBuffer? {
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        guard let row = try rows.next() else { return nil }
        return try row.withUnsafeData(atIndex: 0) { data in
            guard let data else { return ByteBuffer() }
            var buffer = ByteBufferAllocator().buffer(capacity: data.count)
            data.withUnsafeBytes { _ = buffer.writeBytes($0) }
            return buffer
        }
    }

    /// Deletes a secret's chunk rows in this file (one key range); returns how many.
    static func deleteChunks(_ db: Database, seq: Int64) throws -> Int {
        try db.cachedStatement(sql: "DELETE FROM secret_chunk WHERE key >= ? AND key < ?")
            .execute(arguments: [chunkKey(seq, 0), chunkKey(seq + 1, 0)])
        return db.changesCount
    }

    static func adjustStoredBytes(_ db: Database, by delta: Int) throws {
        guard delta != 0 else { return }
        try db.cachedStatement(sql: "UPDATE store_stats SET stored_bytes = stored_bytes + ? WHERE id = 1")
            .execute(arguments: [delta])
    }

    /// Takes `bytes` just deleted off the secret's `stored_bytes` and the store's total,
    /// never more than the secret still counts (its row may be gone, or already at 0).
    static func accountFreed(_ db: Database, key: Data, bytes: Int) throws {
        guard bytes > 0,
            let counted = try Int.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT stored_bytes FROM secret WHERE id = ?
                        """), arguments: [key])
        else { return }
        let delta = min(counted, bytes)
        try db.cachedStatement(sql: "UPDATE secret SET stored_bytes = ? WHERE id = ?").execute(arguments: [counted - delta, key])
        try adjustStoredBytes(db, by: -delta)
    }
}
