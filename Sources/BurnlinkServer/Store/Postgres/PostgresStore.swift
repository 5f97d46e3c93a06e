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
///
/// Its operations are split by concern like the SQLite store's: `+Create`, `+Claim`,
/// `+Sessions`, `+Receipts`, `+Sweep` and `+Discard`; the schema is `PostgresSchema`.
public final class PostgresStore: SecretStore {
    public let url: PostgresURL
    private let client: PostgresClient
    let logger: Logger
    let staleUploadAge: TimeInterval
    let readerLease: TimeInterval
    private let operationTimeout: Duration
    private let changeStream: AsyncStream<SecretID>
    private let receiptChangeSink: AsyncStream<SecretID>.Continuation
    /// Groups concurrent one-chunk creates into one statement each (`+Create`).
    let groupCreate: PostgresGroupCreate

    /// How many create batches one replica commits at once: more made two replicas slower
    /// (more, smaller statements), one would let a slow statement hold every create of a
    /// replica (docs/benchmarks.md, "Issue 18: PostgreSQL creates grouped into one statement").
    /// The second runs only once enough creates wait for it, or they waited a while
    /// (`PostgresGroupCreate`; "Issue 18: a second create batch only when it is worth one").
    static let parallelCreateBatches = 2

    /// Connections the pool keeps open even when idle. The pool gives every other connection
    /// an idle timer each time it comes back and cancels it at the next lease: a timer task
    /// and thread wake-ups per operation. Creates (`parallelCreateBatches` at a time) and
    /// light traffic stay on these. With none kept, a create cost about 0.3 context switches
    /// more (docs/benchmarks.md, "Issue 18: the PostgreSQL pool's timers, and the time zone").
    /// The pool's keep-alive stays on: it keeps idle connections through firewalls and
    /// load balancers that drop quiet ones, though it too sets a timer per operation.
    static let persistentConnections = 4

    /// The notification channel for receipt changes; payload: the id, base64url.
    static let receiptChannel = "burnlink_receipt"

    /// - Parameters:
    ///   - operationTimeout: an operation that cannot get a connection in this time, or one
    ///     of whose statements runs longer (a row lock held elsewhere, a slow disk), fails
    ///     with `.unavailable` (the API answers 503) instead of hanging; see `perform`.
    ///   - maximumConnections: connections this replica opens at most.
    public init(
        url: PostgresURL, logger: Logger = Logger(label: "burnlink-postgres"),
        staleUploadAge: TimeInterval = 3600, readerLease: TimeInterval = 6 * 3600,
        operationTimeout: Duration = .seconds(5), maximumConnections: Int = 20
    ) throws {
        self.url = url
        self.logger = logger
        self.staleUploadAge = staleUploadAge
        self.readerLease = readerLease
        self.operationTimeout = operationTimeout
        var configuration = try url.clientConfiguration()
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = min(Self.persistentConnections, maximumConnections - 1)
        // A run-time parameter sent when each connection starts (no extra round trip): the
        // database aborts, and rolls back, any statement that runs past the operation timeout.
        let (seconds, attoseconds) = operationTimeout.components
        let timeoutMs = max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        configuration.options.additionalStartupParameters.append(("statement_timeout", "\(timeoutMs)"))
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        groupCreate = PostgresGroupCreate(parallel: Self.parallelCreateBatches) { creates in
            await Self.insertBatch(creates, client: client, within: operationTimeout, logger: logger)
        }
        if let warning = url.transportWarning {
            logger.warning("\(warning)")
        }
        (changeStream, receiptChangeSink) = AsyncStream.makeStream(of: SecretID.self, bufferingPolicy: .bufferingNewest(4096))
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
            try await connection.query(
                """
                DELETE FROM secret_chunk c WHERE NOT EXISTS (SELECT 1 FROM secret s WHERE s.id = c.secret_id)
                """, logger: logger)
        }
    }

    /// Several replicas share the database: changes they make arrive through LISTEN.
    public var receiptChanges: AsyncStream<SecretID>? { changeStream }
    /// NOTIFYs sent while this replica's LISTEN connection is down are lost.
    public var receiptRecheckInterval: Duration? { .seconds(5) }

    /// Holds one connection in LISTEN; reconnects with a backoff when the database goes away.
    /// Notifications sent while disconnected are lost: long-polls re-read on their own
    /// schedule (`receiptRecheckInterval`), so nothing waits forever.
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

    // MARK: - Connections

    static func key(_ id: SecretID) -> ByteBuffer { ByteBuffer(bytes: id.bytes) }

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
    ///
    /// The answer must say what happened. postgres-nio cannot take back a statement once it
    /// is sent: a claim abandoned at a deadline of our own could still commit afterwards,
    /// and a 503 would then hide a view spent. So the deadline here ends only the wait for a
    /// connection, when nothing has been sent; once `body` holds one, its real outcome is
    /// awaited and returned. What bounds a statement is the database: every connection runs
    /// with `statement_timeout` (see `init`), and a statement it aborts is rolled back, so
    /// the 503 that follows is true. A body whose connection the database closed, and which
    /// still has no answer a grace later, gets `ConnectionLost` (see `withConnectionDeadline`):
    /// postgres-nio never answers a statement written after the close.
    func perform<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await Self.perform(on: client, within: operationTimeout, body)
    }

    /// `perform` for code that holds the pool but not the store (the create batcher).
    static func perform<T: Sendable>(
        on client: PostgresClient, within operationTimeout: Duration,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        do {
            return try await withConnectionDeadline(operationTimeout) { deadline in
                try await client.withConnection { connection in
                    try deadline.start(connectionIsClosed: { connection.isClosed })
                    return try await body(connection)
                }
            }
        } catch {
            throw StoreError(postgres: error)
        }
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
            let state = error.serverInfo?[.sqlState]
            let detail = "postgres: \(error.code)" + (state.map { " (\($0))" } ?? "")
            // 53100: disk_full.
            self = state == "53100" ? .storageFull(detail) : .unavailable(detail)
        case is DeadlineExceeded:
            self = .unavailable("the database did not answer in time")
        case is ConnectionLost:
            self = .unavailable("the database closed the connection")
        case is CancellationError:
            self = .unavailable("cancelled")
        default:
            self = .unavailable("\(type(of: error))")
        }
    }
}
