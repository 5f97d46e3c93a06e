import BurnlinkCore
import BurnlinkProtocol
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The sweep of the PostgreSQL store: what time, abandoned uploads and replicas that died
/// leave behind.
extension PostgresStore {
    /// Each step locks at most `StoreLimits.sweepBatch` rows with SKIP LOCKED, so sweeps
    /// running on several replicas at once share the work instead of waiting on each other.
    public func sweep(now: Date, receiptRetention: TimeInterval) async throws -> SweepReport {
        let now = EpochMilliseconds(now)
        let limit = StoreLimits.sweepBatch
        var report = SweepReport()

        // 0. Claim sessions past their deadline: unconfirmed, their hold on the ciphertext gone.
        report.unconfirmed = try await endLapsedSessions(now: now)

        // 1. Secrets whose time ran out: state expired, ciphertext gone unless being read.
        report.expired = try await StoreLimits.inSweepBatches {
            let expired = try await transaction { connection, logger in
                let rows = try await connection.rows(
                    """
                    UPDATE secret SET state = \(unescaped: StoredState.expired.sql), ended_at = expires_at
                    WHERE id IN (SELECT id FROM secret WHERE state = \(unescaped: StoredState.active.sql)
                                   AND expires_at <= \(now)
                                 LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                      AND state = \(unescaped: StoredState.active.sql)
                    RETURNING id, active_readers, stored_bytes
                    """, logger: logger)
                for row in rows {
                    let storedBytes: Int = try row.value("stored_bytes")
                    if try row.value("active_readers", as: Int.self) == 0, storedBytes > 0 {
                        _ = try await Self.discardChunks(connection, logger, key: try row.value("id"), storedBytes: storedBytes)
                    }
                }
                return rows.count
            }
            return (expired, expired)
        }

        // 2. Ciphertext of secrets no longer readable, once no reader needs it (or the reader
        //    has held it past its lease: its replica may have died).
        let leaseCutoff = now - readerLease
        report.orphanedChunks += try await StoreLimits.inSweepBatches {
            try await transaction { connection, logger in
                let rows = try await connection.rows(
                    """
                    UPDATE secret SET active_readers = 0
                    WHERE id IN (SELECT id FROM secret
                                 WHERE stored_bytes > 0 AND state IN \(unescaped: StoredState.endedSQL)
                                   AND (active_readers = 0 OR ended_at < \(leaseCutoff))
                                   AND NOT EXISTS (SELECT 1 FROM secret_view v
                                                   WHERE v.secret_id = secret.id
                                                     AND v.delivery = \(unescaped: Delivery.pending.sql))
                                 LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING id, stored_bytes
                    """, logger: logger)
                var chunks = 0
                for row in rows {
                    chunks += try await Self.discardChunks(
                        connection, logger, key: try row.value("id"),
                        storedBytes: try row.value("stored_bytes"))
                }
                return (rows.count, chunks)
            }
        }

        // 3. Uploads that never completed (their replica died, or the client went away).
        let uploadCutoff = now - staleUploadAge
        report.orphanedChunks += try await StoreLimits.inSweepBatches {
            try await transaction { connection, logger in
                let rows = try await connection.rows(
                    """
                    DELETE FROM secret
                    WHERE id IN (SELECT id FROM secret
                                 WHERE state = \(unescaped: StoredState.uploading.sql) AND created_at < \(uploadCutoff)
                                 LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING id, stored_bytes
                    """, logger: logger)
                var chunks = 0
                for row in rows {
                    chunks += try await Self.deleteChunks(connection, logger, key: try row.value("id"))
                    try await Self.adjustStoredBytes(connection, logger, by: -(try row.value("stored_bytes", as: Int.self)))
                }
                return (rows.count, chunks)
            }
        }

        // 4. Tombstones past their retention (only once their ciphertext is gone).
        let retentionCutoff = now - receiptRetention
        report.receiptsRemoved = try await StoreLimits.inSweepBatches {
            let removed = try await transaction { connection, logger in
                let rows = try await connection.rows(
                    """
                    DELETE FROM secret
                    WHERE id IN (SELECT id FROM secret
                                 WHERE ended_at IS NOT NULL AND ended_at < \(retentionCutoff) AND stored_bytes = 0
                                   AND state IN \(unescaped: StoredState.endedSQL)
                                 LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING id
                    """, logger: logger)
                for row in rows {
                    try await connection.query(
                        "DELETE FROM secret_view WHERE secret_id = \(try row.value("id", as: ByteBuffer.self))",
                        logger: logger)
                }
                return rows.count
            }
            return (removed, removed)
        }

        // 5. Requests past their expiry (an answered one lives until its answer expires).
        report.requestsRemoved = try await StoreLimits.inSweepBatches {
            let removed = try await transaction { connection, logger in
                try await connection.rows(
                    """
                    DELETE FROM request
                    WHERE id IN (SELECT id FROM request WHERE expires_at <= \(now)
                                 LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING id
                    """, logger: logger
                ).count
            }
            return (removed, removed)
        }

        return report
    }
}
