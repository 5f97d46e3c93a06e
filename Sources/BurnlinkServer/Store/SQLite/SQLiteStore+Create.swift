import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB
import NIOCore

/// Creating secrets in the SQLite store: whole in one operation, or uploaded chunk by chunk
/// into the chunk file and made readable by `commitUpload`.
extension SQLiteStore {
    public func create(_ record: SecretRecord, ciphertext: ByteBuffer) async throws {
        let chunks = StoreLimits.chunks(of: ciphertext).map { $0.withUnsafeReadableBytes { Data($0) } }
        let size = ciphertext.readableBytes
        let values = RecordValues(record)
        try await committer.submit { db in
            let seq = try Self.insert(db, values, state: .active, size: size, chunkCount: chunks.count, storedBytes: size)
            for (index, chunk) in chunks.enumerated() {
                try Self.insertChunk(db, seq: seq, index: index, data: chunk)
            }
            try Self.adjustStoredBytes(db, by: size)
        }
    }

    public func beginUpload(_ record: SecretRecord) async throws {
        let values = RecordValues(record)
        // Not durable by itself: an upload confirms nothing until `commitUpload`, whose
        // durable commit covers every earlier step (after a crash `recover` drops the rest).
        try await committer.submit(durable: false) { db in
            _ = try Self.insert(db, values, state: .uploading, size: 0, chunkCount: 0, storedBytes: 0, inChunkFile: true)
        }
    }

    /// The secret's row counts the chunk (checking its order), then the chunk goes to the
    /// chunk file, unsynced: `commitUpload` syncs the chunk file before the upload becomes
    /// readable. The order between the two does not matter for a crash: only
    /// `commitUpload`, after every append returned, makes the upload readable, and `recover`
    /// drops an upload in progress. If the chunk cannot be stored, the count is taken back.
    public func appendChunk(id: SecretID, index: Int, bytes: ByteBuffer) async throws {
        let key = Data(id.bytes)
        let count = bytes.readableBytes
        guard index < Self.chunksPerSecret else { throw StoreError.unavailable("too many chunks") }
        try await committer.submit(durable: false) { db in  // see beginUpload
            let advanced = try Int64.fetchAll(
                db.cachedStatement(
                    sql: """
                        UPDATE secret SET chunk_count = chunk_count + 1, stored_bytes = stored_bytes + ?
                        WHERE id = ? AND state = \(StoredState.uploading.sql) AND chunk_count = ?
                        RETURNING seq
                        """), arguments: [count, key, index])
            guard advanced.first != nil else {
                try Self.checkNextChunk(db, key: key, index: index)
                throw StoreError.noSuchUpload
            }
            try Self.adjustStoredBytes(db, by: count)
        }
        do {
            try await withChunkFiles { try await $0.append(secret: key, index: index, bytes: bytes) }
        } catch {
            _ = try? await committer.submit(durable: false) { db in
                let undone = try Int.fetchAll(
                    db.cachedStatement(
                        sql: """
                            UPDATE secret SET chunk_count = chunk_count - 1, stored_bytes = stored_bytes - ?
                            WHERE id = ? AND state = \(StoredState.uploading.sql) AND chunk_count = ?
                            RETURNING 1
                            """), arguments: [count, key, index + 1])
                if !undone.isEmpty { try Self.adjustStoredBytes(db, by: -count) }
            }
            throw error
        }
    }

    /// Throws unless chunk `index` is the next one the upload `key` expects.
    private static func checkNextChunk(_ db: Database, key: Data, index: Int) throws {
        let expected = try Int.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT chunk_count FROM secret WHERE id = ? AND state = \(StoredState.uploading.sql)
                    """), arguments: [key])
        guard let expected else { throw StoreError.noSuchUpload }
        guard expected == index else {
            throw StoreError.unavailable("upload chunk \(index) out of order (expected \(expected))")
        }
    }

    /// Makes the upload readable. `size` and `chunkCount` must match what was appended
    /// (else `.unavailable` names the mismatch and the upload stays uncommitted).
    public func commitUpload(id: SecretID, size: Int, chunkCount: Int, answering fill: RequestFill?) async throws {
        let key = Data(id.bytes)
        // Appends to the chunk file are not synced one by one: one sync covers them all.
        if chunkCount > 0 { try await withChunkFiles { try await $0.sync(secret: key) } }
        try await committer.submit { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT chunk_count, stored_bytes, seq FROM secret WHERE id = ? AND state = \(StoredState.uploading.sql)
                            """), arguments: [key])
            else { throw StoreError.noSuchUpload }
            let storedCount: Int = row["chunk_count"]
            let storedBytes: Int = row["stored_bytes"]
            let seq: Int64 = row["seq"]
            guard storedCount == chunkCount, storedBytes == size else {
                throw StoreError.unavailable(
                    "upload mismatch: \(storedCount) chunks of \(storedBytes) bytes appended, commit says \(chunkCount) of \(size)"
                )
            }
            // First, so that a fill that lost changes nothing (its savepoint rolls back).
            if let fill { try Self.answer(db, fill, with: key) }
            if chunkCount == 0 {
                // An empty secret still has its (empty) chunk 0, like one made by `create`,
                // and like one it is kept in this file.
                try Self.insertChunk(db, seq: seq, index: 0, data: Data())
            }
            // Every appended chunk is already durable in the chunk file, so this commit
            // (durable) can never make a secret readable without its chunks.
            try db.cachedStatement(
                sql: """
                    UPDATE secret SET state = \(StoredState.active.sql), size = ?, chunk_count = ?, in_chunk_file = ?
                    WHERE id = ?
                    """
            ).execute(arguments: [size, max(chunkCount, 1), chunkCount > 0, key])
        }
    }

    /// Removes an upload that will not complete. Does nothing when there is no such upload
    /// (already aborted, swept, or committed).
    public func abortUpload(id: SecretID) async throws {
        let key = Data(id.bytes)
        // Whether or not the upload is still there (a sweep may have ended it), its file is
        // no longer held open.
        await chunkFiles.release(secret: key)
        // A read, not a write: the caller's appends have all committed by now.
        let staged = try await read { db -> (ciphertext: StoredCiphertext, storedBytes: Int)? in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT seq, stored_bytes, in_chunk_file FROM secret WHERE id = ? AND state = \(StoredState.uploading.sql)
                        """), arguments: [key]
            ).map { (StoredCiphertext(row: $0, key: key), $0["stored_bytes"]) }
        }
        if let staged, staged.ciphertext.inChunkFile || staged.storedBytes > Self.inlineDiscardLimit {
            try await deleteChunksInSteps(staged.ciphertext)
        }
        try await committer.submit { db in
            guard
                let removed = try Row.fetchAll(
                    db.cachedStatement(
                        sql: """
                            DELETE FROM secret WHERE id = ? AND state = \(StoredState.uploading.sql) RETURNING stored_bytes, seq
                            """), arguments: [key]
                ).first
            else { return }
            _ = try Self.deleteChunks(db, seq: removed["seq"])
            try Self.adjustStoredBytes(db, by: -(removed["stored_bytes"] as Int))
        }
    }

    /// A record's values, converted once outside the writer.
    private struct RecordValues: Sendable {
        var key: Data
        var claimVerifier: Data
        var receiptVerifier: Data?
        var passwordVerifier: Data?
        var passwordKDF: String?
        var passwordAttempts: Int
        var createdAt: EpochMilliseconds
        var expiresAt: EpochMilliseconds
        var maxViews: Int

        init(_ record: SecretRecord) {
            key = Data(record.id.bytes)
            claimVerifier = Data(record.claimVerifier)
            receiptVerifier = record.receiptVerifier.map { Data($0) }
            passwordVerifier = record.passwordVerifier.map { Data($0) }
            passwordKDF = record.passwordKDF
            passwordAttempts = record.passwordAttempts
            createdAt = EpochMilliseconds(record.createdAt)
            expiresAt = EpochMilliseconds(record.expiresAt)
            maxViews = record.maxViews
        }
    }

    /// Inserts a secret row; returns its `seq`, which keys its chunk rows.
    private static func insert(
        _ db: Database, _ values: RecordValues, state: StoredState, size: Int, chunkCount: Int,
        storedBytes: Int, inChunkFile: Bool = false
    ) throws -> Int64 {
        do {
            try db.cachedStatement(
                sql: """
                    INSERT INTO secret (id, state, claim_verifier, receipt_verifier, password_verifier, password_kdf,
                                        password_attempts_left, created_at, expires_at, max_views, views_left,
                                        size, chunk_count, stored_bytes, in_chunk_file)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                values.key, state, values.claimVerifier, values.receiptVerifier, values.passwordVerifier,
                values.passwordKDF, values.passwordAttempts, values.createdAt, values.expiresAt,
                values.maxViews, values.maxViews, size, chunkCount, storedBytes, inChunkFile,
            ])
            return db.lastInsertedRowID
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw StoreError.duplicateID
        }
    }
}
