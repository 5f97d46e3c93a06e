import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB

/// Ending a secret and freeing its ciphertext in the SQLite store: at once inside the
/// ending operation when it is small and in this file, else in paced steps after it.
extension SQLiteStore {
    /// Ends a readable secret (`exhausted`, `revoked`, `burned`): its ciphertext is removed
    /// now, or by the last reader's `finishRead` when a multi-chunk read is in progress.
    /// Returns the ciphertext when it is left for `discardInSteps`.
    static func end(_ db: Database, key: Data, state: StoredState, endedAt: EpochMilliseconds) throws -> StoredCiphertext? {
        guard
            let row = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        UPDATE secret SET state = ?, ended_at = ? WHERE id = ?
                        RETURNING state, active_readers, stored_bytes, seq, in_chunk_file
                        """), arguments: [state, endedAt, key]
            ).first
        else { return nil }
        return try discardUnlessRead(db, row, key: key)
    }

    /// One reader (a streaming read, or a claim session) lets go of a secret's ciphertext;
    /// the last one of an ended secret discards it. Returns the ciphertext when it is left
    /// for `discardInSteps`.
    static func releaseReader(_ db: Database, key: Data) throws -> StoredCiphertext? {
        guard
            let row = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        UPDATE secret SET active_readers = max(active_readers - 1, 0) WHERE id = ?
                        RETURNING state, active_readers, stored_bytes, seq, in_chunk_file
                        """), arguments: [key]
            ).first
        else { return nil }
        return try discardUnlessRead(db, row, key: key)
    }

    /// Discards the ciphertext of a secret's row just changed (columns `state`,
    /// `active_readers`, `stored_bytes`, `seq`, `in_chunk_file`) when the secret has ended
    /// and no reader holds it. Returns the ciphertext when it is left for `discardInSteps`.
    private static func discardUnlessRead(_ db: Database, _ row: Row, key: Data) throws -> StoredCiphertext? {
        let state: StoredState = row["state"]
        let readers: Int = row["active_readers"]
        let storedBytes: Int = row["stored_bytes"]
        let ciphertext = StoredCiphertext(row: row, key: key)
        if readers == 0, storedBytes > 0, state.isEnded, try discardChunks(db, ciphertext, storedBytes: storedBytes) == nil {
            return ciphertext
        }
        return nil
    }

    /// Ciphertext larger than this is freed in steps (`discardInSteps`) rather than inside
    /// the operation that ends its secret. With `secure_delete=ON`, freeing 1 GiB rewrites
    /// 1 GiB of pages; in one transaction that would hold the single writer, and every
    /// create and claim queued behind it, for seconds: right after a 1 GiB secret was
    /// read no create completed, while in small steps creates kept running
    /// (docs/benchmarks.md, "Large secrets: uploads, and freeing the ciphertext"). Since
    /// chunk files, only secrets uploaded before them hold that much in this file; a chunk
    /// file is always freed in steps, outside the main file's writer.
    static let inlineDiscardLimit = 8 * StoreLimits.chunkSize
    /// Chunks freed per step of `deleteChunksInSteps`: small enough that a step holds the
    /// writer only briefly with secure_delete; larger steps raised the creates' p99 during
    /// a burn (docs/benchmarks.md, "Large secrets: uploads, and freeing the ciphertext").
    /// In a chunk file a step is two chunks of zeros and one sync.
    private static let discardStep = 2

    /// Frees an ended secret's ciphertext a few chunks per operation, so that other
    /// operations run in between, then sets its `stored_bytes` to 0. Returns the chunks
    /// deleted. Safe to run twice at once for one secret (finishRead and the sweeper):
    /// each step accounts only for the rows it deleted. A crash midway leaves an ended
    /// secret with `stored_bytes > 0`, which `recover` and `sweep` finish.
    @discardableResult
    func discardInSteps(_ ciphertext: StoredCiphertext) async throws -> Int {
        let deleted = try await deleteChunksInSteps(ciphertext, paced: true)
        let key = ciphertext.key
        try await committer.submit { db in
            let left =
                try Int.fetchOne(
                    db.cachedStatement(sql: "SELECT stored_bytes FROM secret WHERE id = ?"),
                    arguments: [key]) ?? 0
            try db.cachedStatement(sql: "UPDATE secret SET stored_bytes = 0 WHERE id = ?").execute(arguments: [key])
            try Self.adjustStoredBytes(db, by: -left)
            _ = try Self.deleteChunks(db, seq: ciphertext.seq)  // none left: a safety net
        }
        return deleted
    }

    /// Deletes a secret's chunks in steps of `discardStep` chunks, each its own operation,
    /// keeping the secret's `stored_bytes` and the store's total exact after every step.
    /// In this file the steps are not durable by themselves (whoever finishes the secret
    /// commits durably); nothing in them is ever confirmed to a client. In a chunk file
    /// each step's zeros are synced before it is counted here.
    ///
    /// `paced`: after each step, wait as long as the step took, so that freeing takes at
    /// most half of the writer's time and of the disk. For the ciphertext of an ended
    /// secret, which nobody can read any more: rewriting 1 GiB with zeros at full speed
    /// slowed everything else on the machine, the download that ended the secret
    /// included: a 1 GiB open right after its send was faster with pacing
    /// (docs/benchmarks.md, "Large secrets: uploads, and freeing the ciphertext").
    @discardableResult
    func deleteChunksInSteps(_ ciphertext: StoredCiphertext, paced: Bool = false) async throws -> Int {
        let key = ciphertext.key
        let end = Self.chunkKey(ciphertext.seq + 1, 0)
        var lower = Self.chunkKey(ciphertext.seq, 0)
        var deleted = 0
        while true {
            let started = ContinuousClock.now
            let count: Int
            let more: Bool
            if ciphertext.inChunkFile {
                let freed = try await withChunkFiles { try await $0.delete(secret: key, limit: Self.discardStep) }
                if freed.bytes > 0 {
                    try await committer.submit(durable: false) { db in try Self.accountFreed(db, key: key, bytes: freed.bytes) }
                }
                (count, more) = (freed.chunks, freed.more)
            } else {
                let (lowerKey, upper) = (lower, min(lower + Int64(Self.discardStep), end))
                let next: Int64?
                (count, next) = try await committer.submit(durable: false) { db -> (Int, Int64?) in
                    let freed = try Int.fetchAll(
                        db.cachedStatement(
                            sql: """
                                DELETE FROM secret_chunk WHERE key >= ? AND key < ? RETURNING length(data)
                                """), arguments: [lowerKey, upper])
                    try Self.accountFreed(db, key: key, bytes: freed.reduce(0, +))
                    let next = try Int64.fetchOne(
                        db.cachedStatement(
                            sql: """
                                SELECT key FROM secret_chunk WHERE key >= ? AND key < ? ORDER BY key LIMIT 1
                                """), arguments: [upper, end])
                    return (freed.count, next)
                }
                lower = next ?? end
                more = next != nil
            }
            deleted += count
            guard more else { break }
            // Cancellation (the store shutting down) ends the freeing between steps; what is
            // left is counted on the ended secret, and `sweep` or the next open frees it.
            if paced { try await Task.sleep(for: ContinuousClock.now - started) }
        }
        return deleted
    }

    /// Deletes a secret's chunks and accounts for their bytes; returns the chunks deleted,
    /// or nil when they are in the chunk file or more than `inlineDiscardLimit`: then
    /// nothing is deleted here and the caller runs `discardInSteps` once its operation
    /// has committed.
    static func discardChunks(_ db: Database, _ ciphertext: StoredCiphertext, storedBytes: Int) throws -> Int? {
        guard !ciphertext.inChunkFile, storedBytes <= inlineDiscardLimit else { return nil }
        let deleted = try deleteChunks(db, seq: ciphertext.seq)
        try db.cachedStatement(sql: "UPDATE secret SET stored_bytes = 0 WHERE id = ?").execute(arguments: [ciphertext.key])
        try adjustStoredBytes(db, by: -storedBytes)
        return deleted
    }
}
