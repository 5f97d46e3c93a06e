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
            // The common case: grouped with the creates waiting beside it into one statement.
            return try await groupCreate.submit(.init(record: record, ciphertext: ciphertext))
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

    /// Stores a batch of whole one-chunk secrets in one statement (`PostgresGroupCreate`).
    /// When a batch of several fails in the database, each create is tried alone, so that
    /// only one the database refuses fails.
    static func insertBatch(
        _ creates: [PostgresGroupCreate.Create], client: PostgresClient, within timeout: Duration, logger: Logger
    ) async -> [Result<Void, StoreError>] {
        let slot = Int.random(in: 0..<PostgresSchema.statSlots)
        let inserted: Set<ByteBuffer>?
        do {
            inserted = try await perform(on: client, within: timeout) { connection in
                do {
                    var ids: Set<ByteBuffer> = []
                    let rows = try await connection.execute(InsertSecrets(creates: creates, slot: slot), logger: logger)
                    for try await id in rows { ids.insert(id) }
                    return ids
                } catch let error as PSQLError where error.serverInfo != nil && creates.count > 1 {
                    return nil  // the database refused the statement: find which create it was
                } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                    // A lone create whose id is taken in another table (a chunk row left
                    // behind): a duplicate, as for a create made alone.
                    throw StoreError.duplicateID
                }
            }
        } catch {
            return creates.map { _ in .failure(StoreError(postgres: error)) }
        }
        guard let inserted else {
            var outcomes: [Result<Void, StoreError>] = []
            for create in creates {
                outcomes += await insertBatch([create], client: client, within: timeout, logger: logger)
            }
            return outcomes
        }
        return creates.map { create in
            inserted.contains(PostgresStore.key(create.record.id)) ? .success(()) : .failure(.duplicateID)
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
        let statement = InsertSecret(
            record: record, state: state, size: size, chunkCount: chunkCount, storedBytes: storedBytes,
            firstChunk: firstChunk, slot: Int.random(in: 0..<PostgresSchema.statSlots))
        do {
            // A failure (a duplicate id) arrives with the rows.
            for try await _ in try await connection.execute(statement, logger: logger) {}
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw StoreError.duplicateID
        }
    }
}

/// A secret's row, its first chunk and its share of the byte count, in one statement: one
/// round trip and an implicit transaction. Prepared once per connection: parsing and
/// planning it on every create cost the database a third of its create rate
/// (docs/benchmarks.md, "Issue 18").
private struct InsertSecret: PostgresPreparedStatement {
    // A plain name: the default is the type's reflected name, which for a private type
    // carries a runtime address and shows up as such in PostgreSQL's logs and pg_prepared_statements.
    static let name = "burnlink_insert_secret"
    static let sql = """
        WITH created AS (
            INSERT INTO secret (id, state, claim_verifier, receipt_verifier, password_verifier, password_kdf,
                                password_attempts_left, created_at, expires_at, max_views, views_left,
                                size, chunk_count, stored_bytes)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13)
            RETURNING id
        ), stored AS (
            INSERT INTO secret_chunk (secret_id, idx, data)
            SELECT id, 0, $14 FROM created WHERE $14 IS NOT NULL
        ), counted AS (
            UPDATE store_stats SET stored_bytes = stored_bytes + $13 WHERE slot = $15 AND $13 <> 0
        )
        SELECT 1
        """
    // Declared rather than inferred from the first execution's values, where a nil has no type.
    static let bindingDataTypes: [PostgresDataType] = [
        .bytea, .text, .bytea, .bytea, .bytea, .text, .int8, .int8, .int8, .int8, .int8, .int8, .int8, .bytea, .int8,
    ]

    var record: SecretRecord
    var state: StoredState
    var size: Int
    var chunkCount: Int
    var storedBytes: Int
    var firstChunk: ByteBuffer?
    var slot: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 15)
        bindings.append(PostgresStore.key(record.id))
        bindings.append(state.rawValue)
        bindings.append(ByteBuffer(bytes: record.claimVerifier))
        bindings.append(record.receiptVerifier.map { ByteBuffer(bytes: $0) })
        bindings.append(record.passwordVerifier.map { ByteBuffer(bytes: $0) })
        bindings.append(record.passwordKDF)
        bindings.append(record.passwordAttempts)
        bindings.append(EpochMilliseconds(record.createdAt))
        bindings.append(EpochMilliseconds(record.expiresAt))
        bindings.append(record.maxViews)
        bindings.append(size)
        bindings.append(chunkCount)
        bindings.append(storedBytes)
        bindings.append(firstChunk)
        bindings.append(slot)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
}

/// Whole one-chunk secrets, their chunks and their share of the byte count, in one
/// statement: rows come in as one array per column. NULLs travel as empty values (no
/// verifier or KDF text is ever empty), since postgres-nio binds no arrays of optionals.
/// A row whose id exists already is skipped (ON CONFLICT); the ids inserted come back.
private struct InsertSecrets: PostgresPreparedStatement {
    static let name = "burnlink_insert_secrets"
    static let sql = """
        WITH input AS (
            SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bytea[], $5::text[], $6::int8[],
                                 $7::int8[], $8::int8[], $9::int8[], $10::bytea[])
                AS t(id, claim_verifier, receipt_verifier, password_verifier, password_kdf, attempts,
                     created_at, expires_at, max_views, data)
        ), created AS (
            INSERT INTO secret (id, state, claim_verifier, receipt_verifier, password_verifier, password_kdf,
                                password_attempts_left, created_at, expires_at, max_views, views_left,
                                size, chunk_count, stored_bytes)
            SELECT id, \(StoredState.active.sql), claim_verifier, NULLIF(receipt_verifier, ''::bytea),
                   NULLIF(password_verifier, ''::bytea), NULLIF(password_kdf, ''), attempts, created_at, expires_at,
                   max_views, max_views, length(data), 1, length(data)
            FROM input
            ON CONFLICT (id) DO NOTHING
            RETURNING id, stored_bytes
        ), stored AS (
            INSERT INTO secret_chunk (secret_id, idx, data)
            SELECT input.id, 0, input.data FROM input JOIN created ON created.id = input.id
        ), counted AS (
            UPDATE store_stats SET stored_bytes = stored_bytes + (SELECT sum(stored_bytes) FROM created)
            WHERE slot = $11 AND EXISTS (SELECT 1 FROM created WHERE stored_bytes <> 0)
        )
        SELECT id FROM created
        """
    static let bindingDataTypes: [PostgresDataType] = [
        .byteaArray, .byteaArray, .byteaArray, .byteaArray, .textArray, .int8Array, .int8Array, .int8Array,
        .int8Array, .byteaArray, .int8,
    ]

    var creates: [PostgresGroupCreate.Create]
    var slot: Int

    func makeBindings() throws -> PostgresBindings {
        let records = creates.map(\.record)
        let empty = ByteBuffer()
        var bindings = PostgresBindings(capacity: 11)
        bindings.append(records.map { PostgresStore.key($0.id) })
        bindings.append(records.map { ByteBuffer(bytes: $0.claimVerifier) })
        bindings.append(records.map { $0.receiptVerifier.map { ByteBuffer(bytes: $0) } ?? empty })
        bindings.append(records.map { $0.passwordVerifier.map { ByteBuffer(bytes: $0) } ?? empty })
        bindings.append(records.map { $0.passwordKDF ?? "" })
        bindings.append(records.map(\.passwordAttempts))
        bindings.append(records.map { EpochMilliseconds($0.createdAt).rawValue })
        bindings.append(records.map { EpochMilliseconds($0.expiresAt).rawValue })
        bindings.append(records.map(\.maxViews))
        bindings.append(creates.map(\.ciphertext))
        bindings.append(slot)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> ByteBuffer { try row.decode(ByteBuffer.self) }
}
