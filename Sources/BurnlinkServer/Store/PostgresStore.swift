import BurnlinkCore
import BurnlinkProtocol
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// The shared `SecretStore`: PostgreSQL through postgres-nio, for several server replicas
/// behind one load balancer.
///
/// - The schema is the SQLite store's (same tables, same states, times in milliseconds);
///   see `PostgresSchema`. Migrations run under an advisory lock (`prepare`).
/// - Every state change is one transaction at READ COMMITTED. Each decision (a claim, a
///   wrong password, a revoke, an expiry) is a single conditional `UPDATE ... RETURNING`
///   whose WHERE clause repeats every check, so two replicas racing on one secret cannot
///   both win: PostgreSQL re-evaluates the WHERE clause on the row it locked. Tokens are
///   first compared in constant time in this process; the WHERE clause only repeats it.
/// - Unlike the SQLite store, no replica may clear uploads or reader counts on start
///   (another replica may own them): stale uploads and readers that died are reclaimed by
///   `sweep` after their lease, and sweeps on several replicas skip each other's rows
///   (`FOR UPDATE SKIP LOCKED`).
/// - Receipt changes are published with `NOTIFY` in the changing transaction (delivered at
///   commit) and read back with `LISTEN` on every replica, so a long-poll on one replica
///   wakes when a claim lands on another.
/// - The store is a `Service`: `run()` drives the connection pool and the listener.
public final class PostgresStore: SharedSecretStore {
    public let url: PostgresURL
    private let client: PostgresClient
    let logger: Logger
    private let staleUploadAge: TimeInterval
    private let readerLease: TimeInterval
    private let operationTimeout: Duration
    public let receiptChanges: AsyncStream<SecretID>
    private let receiptChangeSink: AsyncStream<SecretID>.Continuation

    /// The notification channel for receipt changes; payload: the id, base64url.
    static let receiptChannel = "burnlink_receipt"
    /// Rows handled per statement of a sweep, so no sweep holds many row locks for long.
    static let sweepBatch = 256

    /// - Parameters:
    ///   - operationTimeout: an operation that cannot get a connection or an answer in this
    ///     time fails with `.unavailable` (the API answers 503) instead of hanging.
    ///   - maximumConnections: connections this replica opens at most.
    public init(url: PostgresURL, logger: Logger = Logger(label: "burnlink-postgres"),
                staleUploadAge: TimeInterval = 3600, readerLease: TimeInterval = 6 * 3600,
                operationTimeout: Duration = .seconds(5), maximumConnections: Int = 20) throws {
        self.url = url
        self.logger = logger
        self.staleUploadAge = staleUploadAge
        self.readerLease = readerLease
        self.operationTimeout = operationTimeout
        var configuration = try url.clientConfiguration()
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = 0
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        (receiptChanges, receiptChangeSink) = AsyncStream.makeStream(of: SecretID.self, bufferingPolicy: .bufferingNewest(4096))
    }

    // MARK: - Lifecycle

    /// Runs the connection pool and the receipt listener until cancelled or shut down.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask {
                await cancelWhenGracefulShutdown { await self.listenForReceiptChanges() }
            }
        }
        receiptChangeSink.finish()
    }

    /// Creates or migrates the schema. Safe to run from several replicas at once.
    public func prepare() async throws {
        try await perform { [logger] connection in
            try await PostgresSchema.migrate(connection, logger: logger)
            // Chunks without a secret row should never exist (a row goes only with or after its
            // chunks, and is committed before an upload's chunks): a safety net, run once per
            // start rather than as a scan of every chunk in each sweep.
            try await connection.query("""
                DELETE FROM secret_chunk c WHERE NOT EXISTS (SELECT 1 FROM secret s WHERE s.id = c.secret_id)
                """, logger: logger)
        }
    }

    /// Holds one connection in LISTEN; reconnects with a backoff when the database goes away.
    /// Notifications sent while disconnected are lost: long-polls re-read on their own
    /// schedule (`SharedSecretStore.receiptRecheckInterval`), so nothing waits forever.
    private func listenForReceiptChanges() async {
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.receiptChannel) { notifications in
                        backoff = .milliseconds(250)
                        for try await notification in notifications {
                            if let id = SecretID(encoded: notification.payload) {
                                receiptChangeSink.yield(id)
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.debug("receipt listener disconnected", metadata: ["error.type": "\(type(of: error))"])
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    // MARK: - Writing

    public func create(_ record: SecretRecord, ciphertext: ByteBuffer) async throws {
        let chunks = Self.split(ciphertext)
        let size = ciphertext.readableBytes
        guard chunks.count > 1 else {
            // The common case: one statement, so one round trip and an implicit transaction.
            return try await perform { [logger] connection in
                try await Self.insert(connection, logger, record, state: "active", size: size,
                                      chunkCount: 1, storedBytes: size, firstChunk: chunks[0])
            }
        }
        try await transaction { connection, logger in
            try await Self.insert(connection, logger, record, state: "active", size: size,
                                  chunkCount: chunks.count, storedBytes: size, firstChunk: chunks[0])
            let key = Self.key(record.id)
            for (index, chunk) in chunks.enumerated().dropFirst() {
                try await connection.query("""
                    INSERT INTO secret_chunk (secret_id, idx, data) VALUES (\(key), \(index), \(chunk))
                    """, logger: logger)
            }
        }
    }

    public func beginUpload(_ record: SecretRecord) async throws {
        try await perform { [logger] connection in
            try await Self.insert(connection, logger, record, state: "uploading", size: 0, chunkCount: 0,
                                  storedBytes: 0, firstChunk: nil)
        }
    }

    public func appendChunk(id: SecretID, index: Int, bytes: ByteBuffer) async throws {
        let key = Self.key(id)
        try await transaction { connection, logger in
            let advanced = try await connection.query("""
                UPDATE secret SET chunk_count = chunk_count + 1, stored_bytes = stored_bytes + \(bytes.readableBytes)
                WHERE id = \(key) AND state = 'uploading' AND chunk_count = \(index)
                RETURNING chunk_count
                """, logger: logger).collect()
            guard !advanced.isEmpty else {
                let expected = try await connection.query("""
                    SELECT chunk_count FROM secret WHERE id = \(key) AND state = 'uploading'
                    """, logger: logger).collect().first?.decode(Int.self)
                guard let expected else { throw StoreError.noSuchUpload }
                throw StoreError.unavailable("upload chunk \(index) out of order (expected \(expected))")
            }
            try await connection.query("""
                INSERT INTO secret_chunk (secret_id, idx, data) VALUES (\(key), \(index), \(bytes))
                """, logger: logger)
            try await Self.adjustStoredBytes(connection, logger, by: bytes.readableBytes)
        }
    }

    public func commitUpload(id: SecretID, size: Int, chunkCount: Int) async throws {
        let key = Self.key(id)
        try await transaction { connection, logger in
            guard let row = try await connection.query("""
                SELECT chunk_count, stored_bytes FROM secret WHERE id = \(key) AND state = 'uploading' FOR UPDATE
                """, logger: logger).collect().first else { throw StoreError.noSuchUpload }
            let (storedCount, storedBytes) = try row.decode((Int, Int).self)
            guard storedCount == chunkCount, storedBytes == size else {
                throw StoreError.unavailable(
                    "upload mismatch: \(storedCount) chunks of \(storedBytes) bytes appended, commit says \(chunkCount) of \(size)")
            }
            if chunkCount == 0 {
                // An empty secret still has its (empty) chunk 0, like one made by `create`.
                try await connection.query("""
                    INSERT INTO secret_chunk (secret_id, idx, data) VALUES (\(key), 0, \(ByteBuffer()))
                    """, logger: logger)
            }
            try await connection.query("""
                UPDATE secret SET state = 'active', size = \(size), chunk_count = \(max(chunkCount, 1)) WHERE id = \(key)
                """, logger: logger)
        }
    }

    public func abortUpload(id: SecretID) async throws {
        let key = Self.key(id)
        try await transaction { connection, logger in
            guard let row = try await connection.query("""
                DELETE FROM secret WHERE id = \(key) AND state = 'uploading' RETURNING stored_bytes
                """, logger: logger).collect().first else { return }
            try await connection.query("DELETE FROM secret_chunk WHERE secret_id = \(key)", logger: logger)
            try await Self.adjustStoredBytes(connection, logger, by: -(try row.decode(Int.self)))
        }
    }

    public func claim(id: SecretID, claimVerifier: [UInt8], passwordProofVerifier: [UInt8]?,
                      session: ClaimSessionTerms?, now: Date) async throws -> ClaimResult {
        let key = Self.key(id)
        let delivery = session == nil ? "sent" : "pending"
        let sessionVerifier = session.map { ByteBuffer(bytes: $0.verifier) }
        let sessionDeadline = session.map { SQLiteStore.milliseconds($0.deadline) }
        let verifier = ByteBuffer(bytes: claimVerifier)
        let nowMs = SQLiteStore.milliseconds(now)
        // No transaction around the whole: the first read only screens (constant-time token
        // check, password), and every statement after it re-checks what it relies on.
        return try await perform { [logger] connection in
            guard let row = try await connection.query("""
                SELECT claim_verifier, password_verifier, state, expires_at, views_left, chunk_count
                FROM secret WHERE id = \(key)
                """, logger: logger).collect().first else {
                _ = ConstantTime.equal(Self.absentVerifier, claimVerifier)
                return .notFound
            }
            let (stored, passwordVerifier, state, expiresAt, viewsLeft, chunkCount) =
                try row.decode((ByteBuffer, ByteBuffer?, String, Int64, Int, Int).self)
            guard ConstantTime.equal(Array(buffer: stored), claimVerifier) else { return .notFound }
            guard state == "active", nowMs < expiresAt, viewsLeft > 0 else { return .notFound }

            if let passwordVerifier {
                guard let passwordProofVerifier else { return .passwordRequired }
                if !ConstantTime.equal(Array(buffer: passwordVerifier), passwordProofVerifier) {
                    return try await connection.withTransaction(logger: logger) { connection -> ClaimResult in
                        let left = try await connection.query("""
                            UPDATE secret SET password_attempts_left = password_attempts_left - 1
                            WHERE id = \(key) AND claim_verifier = \(verifier) AND state = 'active'
                              AND expires_at > \(nowMs) AND password_attempts_left > 0
                            RETURNING password_attempts_left
                            """, logger: logger).collect().first?.decode(Int.self)
                        // No row: the secret stopped being readable meanwhile (another replica).
                        guard let left else { return .notFound }
                        try await Self.notifyReceiptChange(connection, logger, id)
                        if left > 0 { return .wrongPassword(attemptsLeft: left) }
                        try await Self.end(connection, logger, key: key, state: "burned", endedAt: nowMs)
                        return .passwordAttemptsExhausted
                    }
                }
            }

            let multiChunk = chunkCount > 1
            // A claim session holds a reader until it ends, whatever the size.
            let readers = multiChunk || session != nil ? 1 : 0
            let slot = Int.random(in: 0..<PostgresSchema.statSlots)
            // The decision: one conditional UPDATE. At READ COMMITTED, a concurrent claim that
            // locked the row first makes PostgreSQL re-check this WHERE clause against the
            // row it committed, so the views can never go below zero. Everything the decision
            // implies (the view record, the last view's discard of the ciphertext, the byte
            // count, the receipt notification) rides in the same statement, one round trip;
            // all its parts see the rows as they were, so chunk 0 is read even as it goes.
            guard let decided = try await connection.query("""
                WITH decided AS (
                    UPDATE secret SET
                        views_left = views_left - 1,
                        active_readers = active_readers + \(readers),
                        state = CASE WHEN views_left = 1 THEN 'exhausted' ELSE state END,
                        ended_at = CASE WHEN views_left = 1 THEN \(nowMs) ELSE ended_at END,
                        stored_bytes = CASE WHEN views_left = 1 AND active_readers + \(readers) = 0
                                            THEN 0 ELSE stored_bytes END
                    WHERE id = \(key) AND claim_verifier = \(verifier) AND state = 'active'
                      AND views_left > 0 AND expires_at > \(nowMs)
                    RETURNING id, views_left, active_readers, max_views, size, chunk_count,
                              views_left = 0 AND active_readers = 0 AS discard
                ), viewed AS (
                    INSERT INTO secret_view (secret_id, view_no, viewed_at, delivery, session_verifier, session_deadline)
                    SELECT id, max_views - views_left, \(nowMs), \(delivery), \(sessionVerifier), \(sessionDeadline)
                    FROM decided
                ), discarded AS (
                    DELETE FROM secret_chunk WHERE secret_id = \(key) AND EXISTS (SELECT 1 FROM decided WHERE discard)
                ), counted AS (
                    UPDATE store_stats SET stored_bytes = stored_bytes - (SELECT size FROM decided)
                    WHERE slot = \(slot) AND EXISTS (SELECT 1 FROM decided WHERE discard AND size <> 0)
                ), notified AS (
                    SELECT pg_notify(\(Self.receiptChannel), \(id.encoded)) FROM decided
                )
                SELECT d.views_left, d.size, d.chunk_count, c.data, (SELECT count(*) FROM notified)
                FROM decided d LEFT JOIN secret_chunk c ON c.secret_id = d.id AND c.idx = 0
                """, logger: logger).collect().first else { return .notFound }
            let (left, size, chunks, firstChunk, _) = try decided.decode((Int, Int, Int, ByteBuffer?, Int).self)
            // With a session, the session holds the reader: the stream need not finish it.
            return .granted(ClaimGrant(size: size, chunkCount: chunks, viewsLeft: left,
                                       firstChunk: firstChunk ?? ByteBuffer(), mustFinishRead: multiChunk && session == nil))
        }
    }

    public func finishRead(id: SecretID) async throws {
        let key = Self.key(id)
        try await transaction { connection, logger in try await Self.releaseReader(connection, logger, key: key) }
    }

    /// One reader (a streaming read, or a claim session) lets go of a secret's ciphertext;
    /// the last one of an ended secret discards it.
    static func releaseReader(_ connection: PostgresConnection, _ logger: Logger, key: ByteBuffer) async throws {
        guard let row = try await connection.query("""
            UPDATE secret SET active_readers = greatest(active_readers - 1, 0) WHERE id = \(key)
            RETURNING active_readers, state, stored_bytes
            """, logger: logger).collect().first else { return }
        let (readers, state, storedBytes) = try row.decode((Int, String, Int).self)
        if readers == 0, storedBytes > 0, endedStates.contains(state) {
            _ = try await discardChunks(connection, logger, key: key, storedBytes: storedBytes)
        }
    }

    public func revoke(id: SecretID, receiptVerifier: [UInt8], now: Date) async throws -> Bool {
        let key = Self.key(id)
        let nowMs = SQLiteStore.milliseconds(now)
        return try await transaction { connection, logger in
            guard let row = try await connection.query("""
                SELECT receipt_verifier FROM secret WHERE id = \(key)
                """, logger: logger).collect().first else {
                _ = ConstantTime.equal(Self.absentVerifier, receiptVerifier)
                return false
            }
            guard let stored = try row.decode(ByteBuffer?.self),
                  ConstantTime.equal(Array(buffer: stored), receiptVerifier) else { return false }
            let ended = try await Self.end(connection, logger, key: key, state: "revoked", endedAt: nowMs,
                                           onlyIfReadableAt: nowMs)
            if ended { try await Self.notifyReceiptChange(connection, logger, id) }
            return ended
        }
    }

    // MARK: - Reading

    public func metadata(id: SecretID, claimVerifier: [UInt8], now: Date) async throws -> SecretMetadata? {
        let key = Self.key(id)
        let nowMs = SQLiteStore.milliseconds(now)
        return try await perform { [logger] connection in
            guard let row = try await connection.query("""
                SELECT claim_verifier, state, expires_at, views_left, size, password_kdf
                FROM secret WHERE id = \(key)
                """, logger: logger).collect().first else {
                _ = ConstantTime.equal(Self.absentVerifier, claimVerifier)
                return nil
            }
            let (stored, state, expiresAt, viewsLeft, size, kdf) =
                try row.decode((ByteBuffer, String, Int64, Int, Int, String?).self)
            guard ConstantTime.equal(Array(buffer: stored), claimVerifier) else { return nil }
            guard state == "active", nowMs < expiresAt, viewsLeft > 0 else { return nil }
            return SecretMetadata(size: size, expiresAt: SQLiteStore.date(expiresAt), viewsLeft: viewsLeft, passwordKDF: kdf)
        }
    }

    public func chunk(id: SecretID, index: Int) async throws -> ByteBuffer? {
        let key = Self.key(id)
        return try await perform { [logger] connection in
            // One statement: the reader count and the chunk are read from one snapshot.
            guard let row = try await connection.query("""
                SELECT c.data FROM secret s JOIN secret_chunk c ON c.secret_id = s.id AND c.idx = \(index)
                WHERE s.id = \(key) AND s.active_readers > 0
                """, logger: logger).collect().first else { return nil }
            return try row.decode(ByteBuffer.self)
        }
    }

    public func receipt(id: SecretID, receiptVerifier: [UInt8], now: Date) async throws -> Receipt? {
        let key = Self.key(id)
        let nowMs = SQLiteStore.milliseconds(now)
        return try await perform { [logger] connection in
            guard let row = try await connection.query("""
                SELECT receipt_verifier, state, created_at, expires_at, max_views, views_left, ended_at
                FROM secret WHERE id = \(key)
                """, logger: logger).collect().first else {
                _ = ConstantTime.equal(Self.absentVerifier, receiptVerifier)
                return nil
            }
            let (stored, stateName, createdAt, expiresAt, maxViews, viewsLeft, ended) =
                try row.decode((ByteBuffer?, String, Int64, Int64, Int, Int, Int64?).self)
            guard let stored, ConstantTime.equal(Array(buffer: stored), receiptVerifier) else { return nil }
            guard let (state, endedAt) = ReceiptState.from(stored: stateName, expiresAt: expiresAt, endedAt: ended,
                                                           maxViews: maxViews, viewsLeft: viewsLeft, nowMs: nowMs) else {
                return nil
            }
            var views: [ReceiptView] = []
            for try await (viewedAt, delivery, deadline, confirmedAt) in try await connection.query("""
                SELECT viewed_at, delivery, session_deadline, confirmed_at FROM secret_view
                WHERE secret_id = \(key) ORDER BY viewed_at, view_no
                """, logger: logger).decode((Int64, String, Int64?, Int64?).self) {
                views.append(ReceiptView(viewedAt: SQLiteStore.date(viewedAt),
                                         delivery: Delivery.from(stored: delivery, deadline: deadline, nowMs: nowMs),
                                         confirmedAt: confirmedAt.map(SQLiteStore.date)))
            }
            return Receipt(state: state, createdAt: SQLiteStore.date(createdAt), expiresAt: SQLiteStore.date(expiresAt),
                           maxViews: maxViews, viewsLeft: viewsLeft, views: views, endedAt: endedAt.map(SQLiteStore.date))
        }
    }

    public func storedBytes() async throws -> Int {
        try await perform { [logger] connection in
            try await connection.query("SELECT coalesce(sum(stored_bytes), 0)::bigint FROM store_stats", logger: logger)
                .collect().first?.decode(Int.self) ?? 0
        }
    }

    // MARK: - Sweeping

    /// Each step locks at most `sweepBatch` rows with SKIP LOCKED, so sweeps running on
    /// several replicas at once share the work instead of waiting on each other.
    public func sweep(now: Date, receiptRetention: TimeInterval) async throws -> SweepReport {
        let nowMs = SQLiteStore.milliseconds(now)
        let limit = Self.sweepBatch
        var report = SweepReport()

        // 0. Claim sessions past their deadline: unconfirmed, their hold on the ciphertext gone.
        report.unconfirmed = try await endLapsedSessions(nowMs: nowMs)

        // 1. Secrets whose time ran out: state expired, ciphertext gone unless being read.
        while true {
            let expired = try await transaction { connection, logger in
                let rows = try await connection.query("""
                    UPDATE secret SET state = 'expired', ended_at = expires_at
                    WHERE id IN (SELECT id FROM secret WHERE state = 'active' AND expires_at <= \(nowMs)
                                 LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                      AND state = 'active'
                    RETURNING id, active_readers, stored_bytes
                    """, logger: logger).collect()
                for row in rows {
                    let (key, readers, storedBytes) = try row.decode((ByteBuffer, Int, Int).self)
                    if readers == 0, storedBytes > 0 {
                        _ = try await Self.discardChunks(connection, logger, key: key, storedBytes: storedBytes)
                    }
                }
                return rows.count
            }
            report.expired += expired
            if expired < limit { break }
        }

        // 2. Ciphertext of secrets no longer readable, once no reader needs it (or the reader
        //    has held it past its lease: its replica may have died).
        let leaseCutoff = nowMs - SQLiteStore.milliseconds(interval: readerLease)
        while true {
            let (secrets, chunks) = try await transaction { connection, logger in
                let rows = try await connection.query("""
                    UPDATE secret SET active_readers = 0
                    WHERE id IN (SELECT id FROM secret
                                 WHERE stored_bytes > 0 AND state IN ('exhausted', 'revoked', 'burned', 'expired')
                                   AND (active_readers = 0 OR ended_at < \(leaseCutoff))
                                   AND NOT EXISTS (SELECT 1 FROM secret_view v
                                                   WHERE v.secret_id = secret.id AND v.delivery = 'pending')
                                 LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING id, stored_bytes
                    """, logger: logger).collect()
                var chunks = 0
                for row in rows {
                    let (key, storedBytes) = try row.decode((ByteBuffer, Int).self)
                    chunks += try await Self.discardChunks(connection, logger, key: key, storedBytes: storedBytes)
                }
                return (rows.count, chunks)
            }
            report.orphanedChunks += chunks
            if secrets < limit { break }
        }

        // 3. Uploads that never completed (their replica died, or the client went away).
        let uploadCutoff = nowMs - SQLiteStore.milliseconds(interval: staleUploadAge)
        while true {
            let (uploads, chunks) = try await transaction { connection, logger in
                let rows = try await connection.query("""
                    DELETE FROM secret
                    WHERE id IN (SELECT id FROM secret WHERE state = 'uploading' AND created_at < \(uploadCutoff)
                                 LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING id, stored_bytes
                    """, logger: logger).collect()
                var chunks = 0
                for row in rows {
                    let (key, storedBytes) = try row.decode((ByteBuffer, Int).self)
                    chunks += try await Self.deleteChunks(connection, logger, key: key)
                    try await Self.adjustStoredBytes(connection, logger, by: -storedBytes)
                }
                return (rows.count, chunks)
            }
            report.orphanedChunks += chunks
            if uploads < limit { break }
        }

        // 4. Tombstones past their retention (only once their ciphertext is gone).
        let retentionCutoff = nowMs - SQLiteStore.milliseconds(interval: receiptRetention)
        while true {
            let removed = try await transaction { connection, logger in
                let rows = try await connection.query("""
                    DELETE FROM secret
                    WHERE id IN (SELECT id FROM secret
                                 WHERE ended_at IS NOT NULL AND ended_at < \(retentionCutoff) AND stored_bytes = 0
                                   AND state NOT IN ('active', 'uploading')
                                 LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING id
                    """, logger: logger).collect()
                for row in rows {
                    try await connection.query("DELETE FROM secret_view WHERE secret_id = \(try row.decode(ByteBuffer.self))",
                                               logger: logger)
                }
                return rows.count
            }
            report.receiptsRemoved += removed
            if removed < limit { break }
        }

        return report
    }

    // MARK: - Helpers

    static let endedStates: Set<String> = ["exhausted", "revoked", "burned", "expired"]
    /// Compared against when a row is missing, so a missing id costs what a wrong token does.
    static let absentVerifier = [UInt8](repeating: 0, count: 32)

    static func key(_ id: SecretID) -> ByteBuffer { ByteBuffer(bytes: id.bytes) }

    /// Inserts a secret row, with its chunk 0 when given, and counts `storedBytes`: one
    /// statement, so it is atomic on its own.
    private static func insert(_ connection: PostgresConnection, _ logger: Logger, _ record: SecretRecord, state: String,
                               size: Int, chunkCount: Int, storedBytes: Int, firstChunk: ByteBuffer?) async throws {
        let key = key(record.id)
        let claim = ByteBuffer(bytes: record.claimVerifier)
        let receipt = record.receiptVerifier.map { ByteBuffer(bytes: $0) }
        let password = record.passwordVerifier.map { ByteBuffer(bytes: $0) }
        let createdAt = SQLiteStore.milliseconds(record.createdAt)
        let expiresAt = SQLiteStore.milliseconds(record.expiresAt)
        do {
            let slot = Int.random(in: 0..<PostgresSchema.statSlots)
            _ = try await connection.query("""
                WITH created AS (
                    INSERT INTO secret (id, state, claim_verifier, receipt_verifier, password_verifier, password_kdf,
                                        password_attempts_left, created_at, expires_at, max_views, views_left,
                                        size, chunk_count, stored_bytes)
                    VALUES (\(key), \(state), \(claim), \(receipt), \(password), \(record.passwordKDF),
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
                """, logger: logger).collect()  // a failure (a duplicate id) arrives with the rows
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw StoreError.duplicateID
        }
    }

    private static func readChunk(_ connection: PostgresConnection, _ logger: Logger, key: ByteBuffer, index: Int) async throws -> ByteBuffer? {
        try await connection.query("""
            SELECT data FROM secret_chunk WHERE secret_id = \(key) AND idx = \(index)
            """, logger: logger).collect().first?.decode(ByteBuffer.self)
    }

    /// Ends a readable secret. With `onlyIfReadableAt`, only a secret still readable at that
    /// time ends (a revoke); returns whether it ended. Its ciphertext goes now, or with the
    /// last reader's `finishRead`.
    @discardableResult
    private static func end(_ connection: PostgresConnection, _ logger: Logger, key: ByteBuffer, state: String,
                            endedAt: Int64, onlyIfReadableAt nowMs: Int64? = nil) async throws -> Bool {
        guard let row = try await connection.query("""
            UPDATE secret SET state = \(state), ended_at = \(endedAt)
            WHERE id = \(key) AND state = 'active' AND expires_at > \(nowMs ?? Int64.min)
            RETURNING active_readers, stored_bytes
            """, logger: logger).collect().first else { return false }
        let (readers, storedBytes) = try row.decode((Int, Int).self)
        if readers == 0, storedBytes > 0 {
            _ = try await discardChunks(connection, logger, key: key, storedBytes: storedBytes)
        }
        return true
    }

    /// Deletes a secret's chunks and accounts for their bytes; returns the chunks deleted.
    static func discardChunks(_ connection: PostgresConnection, _ logger: Logger, key: ByteBuffer,
                                      storedBytes: Int) async throws -> Int {
        let deleted = try await deleteChunks(connection, logger, key: key)
        try await connection.query("UPDATE secret SET stored_bytes = 0 WHERE id = \(key)", logger: logger)
        try await adjustStoredBytes(connection, logger, by: -storedBytes)
        return deleted
    }

    private static func deleteChunks(_ connection: PostgresConnection, _ logger: Logger, key: ByteBuffer) async throws -> Int {
        try await connection.query("DELETE FROM secret_chunk WHERE secret_id = \(key) RETURNING idx", logger: logger)
            .collect().count
    }

    private static func adjustStoredBytes(_ connection: PostgresConnection, _ logger: Logger, by delta: Int) async throws {
        guard delta != 0 else { return }
        let slot = Int.random(in: 0..<PostgresSchema.statSlots)
        try await connection.query("""
            UPDATE store_stats SET stored_bytes = stored_bytes + \(delta) WHERE slot = \(slot)
            """, logger: logger)
    }

    /// Delivered to every replica's listener when the transaction commits (and never if it
    /// rolls back).
    static func notifyReceiptChange(_ connection: PostgresConnection, _ logger: Logger, _ id: SecretID) async throws {
        try await connection.query("SELECT pg_notify(\(receiptChannel), \(id.encoded))", logger: logger)
    }

    /// One transaction on a pooled connection, within the operation timeout.
    func transaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
    ) async throws -> T {
        let logger = self.logger
        return try await perform { connection in
            try await connection.withTransaction(logger: logger) { connection in
                try await body(connection, logger)
            }
        }
    }

    /// Runs `body` on a pooled connection; database and connection failures and timeouts
    /// become `StoreError.unavailable`, store errors pass through.
    func perform<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let client = self.client
        do {
            return try await withDeadline(operationTimeout) {
                try await client.withConnection { connection in try await body(connection) }
            }
        } catch {
            throw StoreError(postgres: error)
        }
    }

    /// Splits a whole ciphertext into chunk rows (one row unless it exceeds the chunk size).
    private static func split(_ buffer: ByteBuffer) -> [ByteBuffer] {
        guard buffer.readableBytes > StoreLimits.chunkSize else { return [buffer] }
        var rest = buffer
        var chunks: [ByteBuffer] = []
        while rest.readableBytes > 0, let slice = rest.readSlice(length: min(StoreLimits.chunkSize, rest.readableBytes)) {
            chunks.append(slice)
        }
        return chunks
    }
}

extension StoreError {
    /// What a PostgreSQL failure means to a caller: store errors thrown inside a transaction
    /// keep their meaning; everything else is the database being unavailable.
    init(postgres error: any Error) {
        switch error {
        case let error as StoreError:
            self = error
        case let error as PostgresTransactionError:
            if let inner = error.closureError {
                self.init(postgres: inner)
            } else {
                self = .unavailable("transaction failed")
            }
        case let error as PSQLError:
            // The SQL state, never the query: a query's binds hold ids and verifiers.
            self = .unavailable("postgres: \(error.code)" + (error.serverInfo?[.sqlState].map { " (\($0))" } ?? ""))
        case is DeadlineExceeded:
            self = .unavailable("the database did not answer in time")
        case is CancellationError:
            self = .unavailable("cancelled")
        default:
            self = .unavailable("\(type(of: error))")
        }
    }
}

/// Thrown by `withDeadline` when the time ran out.
struct DeadlineExceeded: Error {}

/// Runs `body`, cancelling it and throwing `DeadlineExceeded` when it takes longer than
/// `duration`. (Waiting for a pooled connection responds to cancellation at once.)
func withDeadline<T: Sendable>(_ duration: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: duration)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw DeadlineExceeded() }
        return value
    }
}
