import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB

/// The sweep of the SQLite store: what time, abandoned uploads and unfinished readers
/// leave behind.
extension SQLiteStore {
    /// Runs in steps of at most `StoreLimits.sweepBatch` rows, each its own operation in the
    /// group commit, so claims are never held up behind a long sweep.
    public func sweep(now: Date, receiptRetention: TimeInterval) async throws -> SweepReport {
        let now = EpochMilliseconds(now)
        let limit = StoreLimits.sweepBatch
        var report = SweepReport()

        // 0. Claim sessions past their deadline: unconfirmed, their hold on the ciphertext gone.
        report.unconfirmed = try await endLapsedSessions(now: now)

        // 1. Secrets whose time ran out: state expired, ciphertext gone unless being read.
        report.expired = try await StoreLimits.inSweepBatches {
            let (expired, deferred) = try await committer.submit { db in
                let rows = try Row.fetchAll(
                    db.cachedStatement(
                        sql: """
                            UPDATE secret SET state = \(StoredState.expired.sql), ended_at = expires_at
                            WHERE id IN (SELECT id FROM secret WHERE state = \(StoredState.active.sql) AND expires_at <= ? LIMIT ?)
                            RETURNING id, active_readers, stored_bytes, seq, in_chunk_file
                            """), arguments: [now, limit])
                var deferred: [StoredCiphertext] = []
                for row in rows where (row["active_readers"] as Int) == 0 && (row["stored_bytes"] as Int) > 0 {
                    let ciphertext = StoredCiphertext(row: row)
                    if try Self.discardChunks(db, ciphertext, storedBytes: row["stored_bytes"]) == nil {
                        deferred.append(ciphertext)
                    }
                }
                return (rows.count, deferred)
            }
            for ciphertext in deferred { try await discardInSteps(ciphertext) }
            return (expired, expired)
        }

        // 2. Ciphertext of secrets no longer readable, once no reader needs it (or the
        //    reader has held it past its lease).
        let leaseCutoff = now - readerLease
        report.orphanedChunks += try await StoreLimits.inSweepBatches {
            var (secrets, chunks, deferred) = try await committer.submit { db in
                let rows = try Row.fetchAll(
                    db.cachedStatement(
                        sql: """
                            SELECT id, stored_bytes, seq, in_chunk_file FROM secret
                            WHERE stored_bytes > 0 AND state IN \(StoredState.endedSQL)
                              AND (active_readers = 0 OR ended_at < ?) AND NOT \(Self.hasPendingSession)
                            LIMIT ?
                            """), arguments: [leaseCutoff, limit])
                var chunks = 0
                var deferred: [StoredCiphertext] = []
                for row in rows {
                    let ciphertext = StoredCiphertext(row: row)
                    try db.cachedStatement(sql: "UPDATE secret SET active_readers = 0 WHERE id = ?")
                        .execute(arguments: [ciphertext.key])
                    if let deleted = try Self.discardChunks(db, ciphertext, storedBytes: row["stored_bytes"]) {
                        chunks += deleted
                    } else {
                        deferred.append(ciphertext)
                    }
                }
                return (rows.count, chunks, deferred)
            }
            for ciphertext in deferred { chunks += try await discardInSteps(ciphertext) }
            return (secrets, chunks)
        }

        // 3. Uploads that never completed.
        let uploadCutoff = now - staleUploadAge
        report.orphanedChunks += try await StoreLimits.inSweepBatches {
            var (uploads, chunks, inChunkFile) = try await committer.submit { db in
                let rows = try Row.fetchAll(
                    db.cachedStatement(
                        sql: """
                            DELETE FROM secret
                            WHERE id IN (SELECT id FROM secret WHERE state = \(StoredState.uploading.sql) AND created_at < ? LIMIT ?)
                            RETURNING id, stored_bytes, seq, in_chunk_file
                            """), arguments: [uploadCutoff, limit])
                var chunks = 0
                var inChunkFile: [StoredCiphertext] = []
                for row in rows {
                    let ciphertext = StoredCiphertext(row: row)
                    if ciphertext.inChunkFile { inChunkFile.append(ciphertext) }
                    chunks += try Self.deleteChunks(db, seq: ciphertext.seq)
                    try Self.adjustStoredBytes(db, by: -(row["stored_bytes"] as Int))
                }
                return (rows.count, chunks, inChunkFile)
            }
            // Never readable, so their rows may go first; a crash here leaves chunks
            // without a row, which step 5 and `recover` remove.
            for ciphertext in inChunkFile { chunks += try await deleteChunksInSteps(ciphertext) }
            return (uploads, chunks)
        }

        // 4. Tombstones past their retention (only once their ciphertext is gone).
        let retentionCutoff = now - receiptRetention
        report.receiptsRemoved = try await StoreLimits.inSweepBatches {
            let removed = try await committer.submit { db in
                let ids = try Data.fetchAll(
                    db.cachedStatement(
                        sql: """
                            DELETE FROM secret
                            WHERE id IN (SELECT id FROM secret
                                         WHERE ended_at IS NOT NULL AND ended_at < ? AND stored_bytes = 0
                                           AND state IN \(StoredState.endedSQL)
                                         LIMIT ?)
                            RETURNING id
                            """), arguments: [retentionCutoff, limit])
                for id in ids {
                    try db.cachedStatement(sql: "DELETE FROM secret_view WHERE secret_id = ?").execute(arguments: [id])
                }
                return ids.count
            }
            return (removed, removed)
        }

        // 5. Chunk files that no secret can read any more: left by a crash or by a failed
        //    step of the above. (Ended secrets with stored bytes are step 2's.) One that
        //    cannot be removed does not hold up the others, nor step 6; its error is
        //    reported once they are done.
        var firstFailure: (any Error)?
        let chunkFileSecrets = try await withChunkFiles { try await $0.secrets() }
        for secret in chunkFileSecrets {
            do {
                let orphaned = try await read { db in
                    try Row.fetchOne(
                        db.cachedStatement(sql: "SELECT state, stored_bytes FROM secret WHERE id = ?"),
                        arguments: [secret]
                    )
                    .map { row in (row["state"] as StoredState).isEnded && (row["stored_bytes"] as Int) == 0 } ?? true
                }
                if orphaned {
                    report.orphanedChunks += try await deleteChunksInSteps(
                        StoredCiphertext(key: secret, seq: 0, inChunkFile: true))
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                firstFailure = firstFailure ?? error
            }
        }

        // 6. Requests past their expiry (an answered one lives until its answer expires).
        report.requestsRemoved = try await sweepRequests(now: now)

        if let firstFailure { throw firstFailure }
        return report
    }
}
