import BurnlinkCore
import BurnlinkProtocol
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Creating secrets in the PostgreSQL store: whole in one statement (or one transaction for
/// several chunks), or uploaded chunk by chunk and made readable by `commitUpload`.
extension PostgresStore {
    public func create(_ record: SecretRecord, ciphertext: ByteBuffer) async throws {
        let chunks = StoreLimits.chunks(of: ciphertext)
        let size = ciphertext.readableBytes
        guard chunks.count > 1 else {
            // The common case: one statement, so one round trip and an implicit transaction.
            return try await perform { [logger] connection in
                try await Self.insert(
                    connection, logger, record, state: .active, size: size,
                    chunkCount: 1, storedBytes: size, firstChunk: chunks[0])
            }
        }
        try await transaction { connection, logger in
            try await Self.insert(
                connection, logger, record, state: .active, size: size,
                chunkCount: chunks.count, storedBytes: size, firstChunk: chunks[0])
            let key = Self.key(record.id)
            for (index, chunk) in chunks.enumerated().dropFirst() {
                try await connection.query(
                    """
                    INSERT INTO secret_chunk (secret_id, idx, data) VALUES (\(key), \(index), \(chunk))
                    """, logger: logger)
            }
        }
    }

    public func beginUpload(_ record: SecretRecord) async throws {
        try await perform { [logger] connection in
            try await Self.insert(
                connection, logger, record, state: .uploading, size: 0, chunkCount: 0,
                storedBytes: 0, firstChunk: nil)
        }
    }

    public func appendChunk(id: SecretID, index: Int, bytes: ByteBuffer) async throws {
        let key = Self.key(id)
        try await transaction { connection, logger in
            let advanced = try await connection.query(
                """
                UPDATE secret SET chunk_count = chunk_count + 1, stored_bytes = stored_bytes + \(bytes.readableBytes)
                WHERE id = \(key) AND state = \(unescaped: StoredState.uploading.sql) AND chunk_count = \(index)
                RETURNING chunk_count
                """, logger: logger
            ).collect()
            guard !advanced.isEmpty else {
                let expected = try await connection.query(
                    """
                    SELECT chunk_count FROM secret WHERE id = \(key) AND state = \(unescaped: StoredState.uploading.sql)
                    """, logger: logger
                ).collect().first?.decode(Int.self)
                guard let expected else { throw StoreError.noSuchUpload }
                throw StoreError.unavailable("upload chunk \(index) out of order (expected \(expected))")
            }
            try await connection.query(
                """
                INSERT INTO secret_chunk (secret_id, idx, data) VALUES (\(key), \(index), \(bytes))
                """, logger: logger)
            try await Self.adjustStoredBytes(connection, logger, by: bytes.readableBytes)
        }
    }

    public func commitUpload(id: SecretID, size: Int, chunkCount: Int, answering fill: RequestFill?) async throws {
        let key = Self.key(id)
        try await transaction { connection, logger in
            guard
                let row = try await connection.firstRow(
                    """
                    SELECT chunk_count, stored_bytes FROM secret
                    WHERE id = \(key) AND state = \(unescaped: StoredState.uploading.sql) FOR UPDATE
                    """, logger: logger)
            else { throw StoreError.noSuchUpload }
            let storedCount: Int = try row.value("chunk_count")
            let storedBytes: Int = try row.value("stored_bytes")
            guard storedCount == chunkCount, storedBytes == size else {
                throw StoreError.unavailable(
                    "upload mismatch: \(storedCount) chunks of \(storedBytes) bytes appended, commit says \(chunkCount) of \(size)"
                )
            }
            // First, so that a fill that lost changes nothing (the transaction rolls back).
            if let fill { try await Self.answer(connection, logger, fill, with: id) }
            if chunkCount == 0 {
                // An empty secret still has its (empty) chunk 0, like one made by `create`.
                try await connection.query(
                    """
                    INSERT INTO secret_chunk (secret_id, idx, data) VALUES (\(key), 0, \(ByteBuffer()))
                    """, logger: logger)
            }
            try await connection.query(
                """
                UPDATE secret SET state = \(unescaped: StoredState.active.sql), size = \(size),
                                  chunk_count = \(max(chunkCount, 1))
                WHERE id = \(key)
                """, logger: logger)
        }
    }

    public func abortUpload(id: SecretID) async throws {
        let key = Self.key(id)
        try await transaction { connection, logger in
            guard
                let row = try await connection.query(
                    """
                    DELETE FROM secret WHERE id = \(key) AND state = \(unescaped: StoredState.uploading.sql)
                    RETURNING stored_bytes
                    """, logger: logger
                ).collect().first
            else { return }
            try await connection.query("DELETE FROM secret_chunk WHERE secret_id = \(key)", logger: logger)
            try await Self.adjustStoredBytes(connection, logger, by: -(try row.decode(Int.self)))
        }
    }

    /// Inserts a secret row, with its chunk 0 when given, and counts `storedBytes`: one
    /// statement, so it is atomic on its own.
    private static func insert(
        _ connection: PostgresConnection, _ logger: Logger, _ record: SecretRecord,
        state: StoredState, size: Int, chunkCount: Int, storedBytes: Int,
        firstChunk: ByteBuffer?
    ) async throws {
        let key = key(record.id)
        let claim = ByteBuffer(bytes: record.claimVerifier)
        let receipt = record.receiptVerifier.map { ByteBuffer(bytes: $0) }
        let password = record.passwordVerifier.map { ByteBuffer(bytes: $0) }
        let createdAt = EpochMilliseconds(record.createdAt)
        let expiresAt = EpochMilliseconds(record.expiresAt)
        do {
            let slot = Int.random(in: 0..<PostgresSchema.statSlots)
            _ = try await connection.query(
                """
                WITH created AS (
                    INSERT INTO secret (id, state, claim_verifier, receipt_verifier, password_verifier, password_kdf,
                                        password_attempts_left, created_at, expires_at, max_views, views_left,
                                        size, chunk_count, stored_bytes)
                    VALUES (\(key), \(state.rawValue), \(claim), \(receipt), \(password), \(record.passwordKDF),
                            \(record.passwordAttempts), \(createdAt), \(expiresAt), \(record.maxViews),
                            \(record.maxViews), \(size), \(chunkCount), \(storedBytes))
                    RETURNING id
                ), stored AS (
                    INSERT INTO secret_chunk (secret_id, idx, data)
                    SELECT id, 0, \(firstChunk)::bytea FROM created WHERE \(firstChunk)::bytea IS NOT NULL
                ), counted AS (
                    UPDATE store_stats SET stored_bytes = stored_bytes + \(storedBytes)
                    WHERE slot = \(slot) AND \(storedBytes) <> 0
                )
                SELECT 1
                """, logger: logger
            ).collect()  // a failure (a duplicate id) arrives with the rows
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw StoreError.duplicateID
        }
    }
}
