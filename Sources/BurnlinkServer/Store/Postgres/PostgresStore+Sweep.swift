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
        //    One statement per batch ends the rows and frees one-chunk ciphertexts (a
        //    statement per secret made the sweep cost a millisecond per secret); larger
        //    ones are freed one statement each, so that no statement outgrows
        //    `statement_timeout` and stops every sweep at the same batch.
        report.expired = try await StoreLimits.inSweepBatches {
            let expired = try await transaction { connection, logger in
                let rows = try await connection.rows(
                    """
                    WITH due AS (
                        SELECT id, active_readers, stored_bytes FROM secret
                        WHERE state = \(unescaped: StoredState.active.sql) AND expires_at <= \(now)
                        LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    ), expired AS (
                        UPDATE secret SET state = \(unescaped: StoredState.expired.sql), ended_at = secret.expires_at,
                            stored_bytes = CASE WHEN due.active_readers = 0 AND due.stored_bytes <= \(Self.freedTogether)
                                                THEN 0 ELSE due.stored_bytes END
                        FROM due WHERE secret.id = due.id AND secret.state = \(unescaped: StoredState.active.sql)
                        RETURNING secret.id, due.stored_bytes,
                                  due.active_readers = 0 AND due.stored_bytes > 0
                                      AND due.stored_bytes <= \(Self.freedTogether) AS freed,
                                  due.active_readers = 0 AND due.stored_bytes > \(Self.freedTogether) AS large
                    )\(unescaped: Self.freeingSQL(from: "expired"))
                    SELECT id, stored_bytes, large FROM expired
                    """, logger: logger)
                for row in rows where try row.value("large", as: Bool.self) {
                    _ = try await Self.discardChunks(
                        connection, logger, key: try row.value("id"), storedBytes: try row.value("stored_bytes"))
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
                    WITH due AS (
                        SELECT id, stored_bytes FROM secret
                        WHERE stored_bytes > 0 AND state IN \(unescaped: StoredState.endedSQL)
                          AND (active_readers = 0 OR ended_at < \(leaseCutoff))
                          AND NOT EXISTS (SELECT 1 FROM secret_view v
                                          WHERE v.secret_id = secret.id
                                            AND v.delivery = \(unescaped: Delivery.pending.sql))
                        LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    ), lingering AS (
                        UPDATE secret SET active_readers = 0,
                            stored_bytes = CASE WHEN due.stored_bytes <= \(Self.freedTogether) THEN 0 ELSE due.stored_bytes END
                        FROM due WHERE secret.id = due.id
                        RETURNING secret.id, due.stored_bytes, due.stored_bytes <= \(Self.freedTogether) AS freed,
                                  due.stored_bytes > \(Self.freedTogether) AS large
                    )\(unescaped: Self.freeingSQL(from: "lingering"))
                    SELECT id, stored_bytes, large, (SELECT count(*) FROM freed_chunks) AS chunks FROM lingering
                    """, logger: logger)
                var chunks = try rows.first?.value("chunks", as: Int.self) ?? 0
                for row in rows where try row.value("large", as: Bool.self) {
                    chunks += try await Self.discardChunks(
                        connection, logger, key: try row.value("id"), storedBytes: try row.value("stored_bytes"))
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
                try await connection.firstRow(
                    """
                    WITH removed AS (
                        DELETE FROM secret
                        WHERE id IN (SELECT id FROM secret
                                     WHERE ended_at IS NOT NULL AND ended_at < \(retentionCutoff) AND stored_bytes = 0
                                       AND state IN \(unescaped: StoredState.endedSQL)
                                     LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                        RETURNING id
                    ), views AS (
                        DELETE FROM secret_view USING removed WHERE secret_view.secret_id = removed.id
                    )
                    SELECT count(*) AS rows FROM removed
                    """, logger: logger
                )?.value("rows", as: Int.self) ?? 0
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

    /// Ciphertexts up to this size (one chunk) are freed together, a batch in one statement.
    static let freedTogether = StoreLimits.chunkSize

    /// The tail of a `WITH` list that frees the ciphertext of the rows of CTE `rows` (columns
    /// `id`, `freed`, `stored_bytes`: the bytes it held) where `freed`: their chunks (CTE
    /// `freed_chunks`, one row per chunk) and their bytes in one slot of the running total.
    /// PostgreSQL runs every data-modifying CTE to completion, read or not.
    static func freeingSQL(from rows: String) -> String {
        """
        , freed_chunks AS (
            DELETE FROM secret_chunk USING \(rows)
            WHERE secret_chunk.secret_id = \(rows).id AND \(rows).freed
            RETURNING secret_chunk.idx
        ), freed_total AS (
            UPDATE store_stats SET stored_bytes = stored_bytes - (SELECT sum(stored_bytes) FROM \(rows) WHERE freed)
            WHERE slot = \(Int.random(in: 0..<PostgresSchema.statSlots)) AND EXISTS (SELECT 1 FROM \(rows) WHERE freed)
        )
        """
    }
}
