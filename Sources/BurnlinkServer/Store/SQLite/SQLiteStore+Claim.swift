import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB
import NIOCore

/// Claims in the SQLite store, and the reads that never change state: metadata and the
/// chunks of a read in progress.
extension SQLiteStore {
    public func claim(
        id: SecretID, claimVerifier: [UInt8], passwordProofVerifier: [UInt8]?,
        session: ClaimSessionTerms?, now: Date
    ) async throws -> ClaimResult {
        let key = Data(id.bytes)
        let now = EpochMilliseconds(now)
        let session = session.map { (verifier: Data($0.verifier), deadline: EpochMilliseconds($0.deadline)) }
        // A secret whose chunks are in the chunk file takes two operations: the first checks
        // everything and changes nothing (unless a wrong password is counted); then chunk 0 is
        // read, and the second decides with it in hand. So a view is never spent on a claim
        // that then fails to read its first chunk.
        var firstChunkFromFile: ByteBuffer?
        while true {
            let (step, deferred) = try await committer.submit { [firstChunkFromFile] db in
                var deferred: StoredCiphertext?
                let step = try Self.claim(
                    db, key: key, claimVerifier: claimVerifier, proof: passwordProofVerifier,
                    session: session, now: now, firstChunkFromFile: firstChunkFromFile,
                    deferredDiscard: &deferred)
                return (step, deferred)
            }
            if let deferred { try await discardInSteps(deferred) }
            switch step {
            case .done(let result):
                return result
            case .readFirstChunk:
                guard let chunk = try await withChunkFiles({ try await $0.read(secret: key, index: 0) }) else {
                    return .notFound  // freed meanwhile: the secret ended
                }
                firstChunkFromFile = chunk
            }
        }
    }

    private enum ClaimStep: Sendable {
        case done(ClaimResult)
        /// Call again with chunk 0 from the chunk file.
        case readFirstChunk
    }

    /// `deferredDiscard` receives a secret this claim ended whose ciphertext cannot be
    /// freed inside the operation (see `discardInSteps`). `firstChunkFromFile`: chunk 0 of
    /// a secret kept in the chunk file, read by the caller after a `.readFirstChunk`.
    private static func claim(
        _ db: Database, key: Data, claimVerifier: [UInt8], proof: [UInt8]?,
        session: (verifier: Data, deadline: EpochMilliseconds)?, now: EpochMilliseconds,
        firstChunkFromFile: ByteBuffer?, deferredDiscard: inout StoredCiphertext?
    ) throws -> ClaimStep {
        let row = try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT claim_verifier, password_verifier, password_attempts_left, state, expires_at,
                           views_left, max_views, size, chunk_count, seq, in_chunk_file
                    FROM secret WHERE id = ?
                    """), arguments: [key])
        guard let row, StoredVerifier.matches(row["claim_verifier"], claimVerifier),
            StoredStatus(row: row).isReadable(at: now)
        else { return .done(.notFound) }

        if let passwordVerifier = row["password_verifier"] as Data? {
            guard let proof else { return .done(.passwordRequired) }
            if !ConstantTime.equal(passwordVerifier, proof) {
                let left =
                    try Int.fetchAll(
                        db.cachedStatement(
                            sql: """
                                UPDATE secret SET password_attempts_left = password_attempts_left - 1
                                WHERE id = ? AND state = \(StoredState.active.sql) AND password_attempts_left > 0
                                RETURNING password_attempts_left
                                """), arguments: [key]
                    ).first ?? 0
                if left > 0 { return .done(.wrongPassword(attemptsLeft: left)) }
                deferredDiscard = try end(db, key: key, state: .burned, endedAt: now)
                return .done(.passwordAttemptsExhausted)
            }
        }

        let maxViews: Int = row["max_views"]
        let size: Int = row["size"]
        let chunkCount: Int = row["chunk_count"]
        let ciphertext = StoredCiphertext(row: row, key: key)
        if ciphertext.inChunkFile, firstChunkFromFile == nil { return .readFirstChunk }
        // A reader of the chunk file is counted even for one chunk, so that its chunks are
        // freed by its finishRead, never by another operation while it streams. A claim
        // session is counted as a reader until it ends, whatever the size.
        let multiChunk = chunkCount > 1 || ciphertext.inChunkFile
        let holdsReader = multiChunk || session != nil
        // The decision itself: one conditional statement, atomic whatever the isolation. The
        // last view also ends the secret; its ciphertext goes in this transaction unless a
        // multi-chunk reader (this one) is counted. (SET expressions see the old values.)
        guard
            let decided = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        UPDATE secret SET
                            views_left = views_left - 1,
                            active_readers = active_readers + ?,
                            state = CASE WHEN views_left = 1 THEN \(StoredState.exhausted.sql) ELSE state END,
                            ended_at = CASE WHEN views_left = 1 THEN ? ELSE ended_at END
                        WHERE id = ? AND \(StoredStatus.readableSQL(now: "?"))
                        RETURNING views_left, active_readers, stored_bytes
                        """), arguments: [holdsReader ? 1 : 0, now, key, now]
            ).first
        else { return .done(.notFound) }
        let left: Int = decided["views_left"]
        let readers: Int = decided["active_readers"]
        let storedBytes: Int = decided["stored_bytes"]
        try db.cachedStatement(
            sql: """
                INSERT INTO secret_view (secret_id, view_no, viewed_at, delivery, session_verifier, session_deadline)
                VALUES (?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            key, maxViews - left, now, (session == nil ? Delivery.sent : .pending).rawValue,
            session?.verifier, session?.deadline,
        ])
        let firstChunk = try firstChunkFromFile ?? readChunk(db, seq: ciphertext.seq, index: 0) ?? ByteBuffer()
        if left == 0, readers == 0, storedBytes > 0, try discardChunks(db, ciphertext, storedBytes: storedBytes) == nil {
            deferredDiscard = ciphertext
        }
        // With a session, the session holds the reader: the stream need not finish it.
        return .done(
            .granted(
                ClaimGrant(
                    size: size, chunkCount: chunkCount, viewsLeft: left,
                    firstChunk: firstChunk, mustFinishRead: multiChunk && session == nil)))
    }

    /// Only a claim granted with `mustFinishRead` must call this, exactly once.
    public func finishRead(id: SecretID) async throws {
        let key = Data(id.bytes)
        let deferred = try await committer.submit { db in try Self.releaseReader(db, key: key) }
        if let deferred { try await discardInSteps(deferred) }
    }

    public func metadata(id: SecretID, claimVerifier: [UInt8], now: Date) async throws -> SecretMetadata? {
        let key = Data(id.bytes)
        let now = EpochMilliseconds(now)
        return try await read { db in
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT claim_verifier, state, expires_at, views_left, size, password_kdf
                        FROM secret WHERE id = ?
                        """), arguments: [key])
            guard let row, StoredVerifier.matches(row["claim_verifier"], claimVerifier) else { return nil }
            let status = StoredStatus(row: row)
            guard status.isReadable(at: now) else { return nil }
            return SecretMetadata(
                size: row["size"], expiresAt: status.expiresAt.date, viewsLeft: status.viewsLeft,
                passwordKDF: row["password_kdf"])
        }
    }

    /// Chunk `index` while a granted multi-chunk read is in progress (between a claim that
    /// set `mustFinishRead` and its `finishRead`), else nil. Chunk 0 of a single-chunk
    /// secret comes only with its grant.
    public func chunk(id: SecretID, index: Int) async throws -> ByteBuffer? {
        let key = Data(id.bytes)
        let found = try await read { db -> (chunk: ByteBuffer?, inChunkFile: Bool)? in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT active_readers, seq, in_chunk_file FROM secret WHERE id = ?
                            """), arguments: [key]), (row["active_readers"] as Int) > 0
            else { return nil }
            if row["in_chunk_file"] as Bool { return (nil, true) }
            return (try Self.readChunk(db, seq: row["seq"], index: index), false)
        }
        guard let found else { return nil }
        guard found.inChunkFile else { return found.chunk }
        // The counted reader keeps these chunks in place until its finishRead.
        return try await withChunkFiles { try await $0.read(secret: key, index: index) }
    }
}
