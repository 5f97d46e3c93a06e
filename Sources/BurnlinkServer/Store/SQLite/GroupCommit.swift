import GRDB

/// Group commit for a single SQLite writer.
///
/// SQLite in WAL mode with `synchronous=FULL` pays one fsync per committed transaction,
/// which caps a one-transaction-per-request design at a few thousand writes per second.
/// `GroupCommit` lifts that cap without weakening durability:
///
/// - every state-changing operation is *submitted* as a closure over a `Database`;
/// - while one batch is committing, newly submitted operations queue up;
/// - when it has committed, everything queued so far (up to `maximumBatchSize`) runs as the
///   next batch in **one** write transaction, one fsync, each operation inside its own
///   savepoint so that an operation that throws rolls back only its own changes;
/// - each caller is resumed only after the transaction holding its operation has
///   committed (or failed), so an answer given to a client is always durable.
///
/// Under no load a batch holds one operation and the latency is that of a plain
/// transaction; under load the batch grows by itself to the number of waiting operations.
///
/// The operations run on GRDB's writer dispatch queue (through its async `write`), never
/// on a Swift concurrency thread, and they run one after another, so each one sees the
/// effects of those before it in the batch: the batch is equivalent to running its
/// operations serially, in submission order.
actor GroupCommit {
    typealias Operation = @Sendable (Database) throws -> any Sendable
    typealias Outcome = Result<any Sendable, any Error>

    private struct Pending: Sendable {
        let operation: Operation
        let continuation: CheckedContinuation<any Sendable, any Error>
        /// False for steps that confirm nothing by themselves (see `submit`).
        let durable: Bool
    }

    /// Counters for benchmarks and tests: how well operations are being grouped.
    struct Statistics: Sendable, Equatable {
        var batches = 0
        var operations = 0
        var largestBatch = 0
    }

    private let writer: DatabasePool
    private let maximumBatchSize: Int
    private var queue: [Pending] = []
    /// The task committing batches while the queue is not empty; nil when idle.
    private var drainer: Task<Void, Never>?
    private(set) var statistics = Statistics()

    init(writer: DatabasePool, maximumBatchSize: Int = 512) {
        precondition(maximumBatchSize > 0)
        self.writer = writer
        self.maximumBatchSize = maximumBatchSize
    }

    /// Runs `operation` in the next batch and returns its result once that batch has
    /// committed. Errors thrown by `operation` are rethrown (its savepoint rolled back,
    /// the rest of the batch unaffected); a failure of the transaction itself reaches every
    /// operation of the batch as `StoreError.unavailable`.
    ///
    /// `durable: false` is for intermediate steps that confirm nothing to anyone (a chunk
    /// of an upload in progress): when a batch holds only such steps it commits with
    /// `synchronous=NORMAL`, without an fsync, and the durable operation that completes
    /// them later (the upload's commit) syncs the WAL, which covers every earlier frame.
    /// A crash before that loses only steps that nobody was told about.
    ///
    /// Cancelling the calling task does not withdraw a submitted operation: once queued it
    /// runs, and the caller learns its outcome.
    func submit<T: Sendable>(durable: Bool = true, _ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let value = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any Sendable, any Error>) in
            queue.append(Pending(operation: { db in try operation(db) }, continuation: continuation, durable: durable))
            if drainer == nil {
                // Not a child of the store's service: every submitted operation must be
                // answered whether or not the service runs (tests and tools use the store
                // without it). It ends as soon as the queue is empty; the store awaits it
                // (`waitUntilIdle`) before closing.
                drainer = Task { await self.drain() }
            }
        }
        return value as! T
    }

    private func drain() async {
        while !queue.isEmpty {
            let batch: [Pending]
            if queue.count <= maximumBatchSize {
                batch = queue
                queue.removeAll(keepingCapacity: true)
            } else {
                batch = Array(queue.prefix(maximumBatchSize))
                queue.removeFirst(maximumBatchSize)
            }
            statistics.batches += 1
            statistics.operations += batch.count
            statistics.largestBatch = max(statistics.largestBatch, batch.count)

            // The actor is free while the batch commits, so submissions keep queueing.
            let durable = batch.contains(where: \.durable)
            let outcomes = await Self.commit(batch.map(\.operation), durable: durable, writer: writer)
            for (pending, outcome) in zip(batch, outcomes) {
                pending.continuation.resume(with: outcome)
            }
        }
        drainer = nil
    }

    /// Returns once every operation submitted so far, and any submitted meanwhile, has
    /// been committed and answered.
    func waitUntilIdle() async {
        while let drainer { await drainer.value }
    }

    /// Runs the operations in one transaction; returns one outcome per operation, which is
    /// a success only if the transaction committed.
    private static func commit(_ operations: [Operation], durable: Bool, writer: DatabasePool) async -> [Outcome] {
        do {
            return try await writer.writeWithoutTransaction { db -> [Outcome] in
                // The writer runs with synchronous=FULL; only a batch of non-durable steps
                // commits without the fsync (PRAGMA synchronous is per connection and takes
                // effect at the next commit).
                if !durable { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
                defer { if !durable { try? db.execute(sql: "PRAGMA synchronous = FULL") } }
                var outcomes: [Outcome] = []
                outcomes.reserveCapacity(operations.count)
                try db.inTransaction {
                    for operation in operations {
                        do {
                            var value: (any Sendable)?
                            try db.inSavepoint {
                                value = try operation(db)
                                return .commit
                            }
                            outcomes.append(.success(value!))
                        } catch {
                            // SQLite rolls a whole transaction back on some errors (I/O, full
                            // disk, out of memory). Then nothing of this batch can commit:
                            // fail it all rather than let later operations run in autocommit.
                            if !db.isInsideTransaction { throw error }
                            outcomes.append(.failure(StoreError(mapping: error)))
                        }
                    }
                    return .commit
                }
                return outcomes
            }
        } catch {
            let failure = StoreError(mapping: error)
            return operations.map { _ in .failure(failure) }
        }
    }
}

extension StoreError {
    /// `StoreError`s pass through; database and other failures become `.unavailable`.
    init(mapping error: any Error) {
        switch error {
        case let error as StoreError:
            self = error
        case let error as DatabaseError:
            let detail = "SQLite error \(error.extendedResultCode.rawValue): \(error.message ?? "no message")"
            self = error.resultCode == .SQLITE_FULL ? .storageFull(detail) : .unavailable(detail)
        default:
            self = .unavailable(String(describing: error))
        }
    }
}
