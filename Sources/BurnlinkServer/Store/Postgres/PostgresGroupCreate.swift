import BurnlinkCore
import NIOCore
import PostgresNIO

/// Group commit of whole-secret creates for PostgreSQL, as `GroupCommit` is for SQLite.
///
/// A create that is alone runs at once, as a batch of one. While a batch is being
/// committed, newly submitted creates queue up, and the next free drainer takes all of them
/// (up to `maximumBatch`) into **one** statement, so one transaction, one WAL flush. Each
/// caller is answered only after the statement holding its create committed, so an answer
/// is always durable. The database stores many rows per statement far faster than one row
/// per statement (docs/benchmarks.md, "Issue 18: PostgreSQL creates grouped into one
/// statement").
///
/// A second batch runs beside the first (up to `parallel`) only when it is worth a
/// transaction of its own: once `minimumConcurrentBatch` creates wait, or
/// `concurrentBatchDelay` after the first of them began to wait (a slow statement holds
/// none for longer). Until then they wait for the running batch, whose drainer takes them
/// all when it ends. Starting one for every create that arrived split the creates of two
/// replicas on one database into small batches, and the database spent 94 to 104 µs of CPU
/// per create against 64 to 75 (docs/benchmarks.md, "Issue 18: a second create batch only
/// when it is worth one").
///
/// The drainers are not children of the store's service: every submitted create must be
/// answered, and a drainer ends as soon as the queue is empty. Creates come from request
/// handlers, which the server finishes before it stops the store, so none outlives them.
actor PostgresGroupCreate {
    struct Create: Sendable {
        var record: SecretRecord
        var ciphertext: ByteBuffer
    }

    typealias Commit = @Sendable ([Create]) async -> [Result<Void, StoreError>]

    private struct Pending {
        let create: Create
        let continuation: CheckedContinuation<Void, any Error>
    }

    private let parallel: Int
    private let minimumConcurrentBatch: Int
    private let concurrentBatchDelay: Duration
    private let maximumBatch: Int
    /// A statement carries all its ciphertext as bound values: up to 1 MiB per create.
    private let maximumBatchBytes: Int
    private let commit: Commit
    private var queue: [Pending] = []
    private var drainers = 0
    /// A task is sleeping out `concurrentBatchDelay` for creates that wait.
    private var delayedStartPending = false

    /// Counters for benchmarks and tests: how well creates are being grouped.
    struct Statistics: Sendable, Equatable {
        var batches = 0
        var creates = 0
        var largestBatch = 0
    }

    private(set) var statistics = Statistics()
    /// Creates submitted and not yet in a batch.
    var waiting: Int { queue.count }
    /// Batches running or about to (a drainer started is counted at once).
    var runningBatches: Int { drainers }

    /// - Parameters:
    ///   - parallel: batches committed at once at most (each on its own pooled connection).
    ///   - minimumConcurrentBatch: creates waiting before a batch starts beside one that runs.
    ///   - concurrentBatchDelay: how long creates wait for a running batch at most before a
    ///     batch starts beside it anyway. Far above a commit's usual time (1 to 2 ms under
    ///     load), so that it does not split batches that a commit's end would have taken.
    ///   - commit: stores a batch in one statement; one outcome per create, in order.
    init(
        parallel: Int, minimumConcurrentBatch: Int = 6, concurrentBatchDelay: Duration = .milliseconds(20),
        maximumBatch: Int = 64, maximumBatchBytes: Int = 4 << 20, commit: @escaping Commit
    ) {
        precondition(parallel > 0 && maximumBatch > 0 && minimumConcurrentBatch > 0)
        self.parallel = parallel
        self.minimumConcurrentBatch = minimumConcurrentBatch
        self.concurrentBatchDelay = concurrentBatchDelay
        self.maximumBatch = maximumBatch
        self.maximumBatchBytes = maximumBatchBytes
        self.commit = commit
    }

    /// Stores `create` with whatever else is waiting; returns once it committed, or throws
    /// its `StoreError`. Cancelling the caller does not withdraw it: once queued it runs,
    /// and the caller learns how.
    func submit(_ create: Create) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.append(Pending(create: create, continuation: continuation))
            if drainers == 0 || queue.count >= minimumConcurrentBatch {
                startDrainer()
            } else if !delayedStartPending, drainers < parallel {
                delayedStartPending = true
                Task {
                    try? await Task.sleep(for: concurrentBatchDelay)
                    self.delayElapsed()
                }
            }
        }
    }

    private func startDrainer() {
        guard drainers < parallel else { return }
        drainers += 1
        Task { await self.drain() }
    }

    /// Creates that waited out the delay get a batch of their own if the running one has
    /// not taken them yet.
    private func delayElapsed() {
        delayedStartPending = false
        if !queue.isEmpty { startDrainer() }
    }

    private func drain() async {
        while let batch = nextBatch() {
            statistics.batches += 1
            statistics.creates += batch.count
            statistics.largestBatch = max(statistics.largestBatch, batch.count)
            // The actor is free while the batch commits, so submissions keep queueing.
            let outcomes = await commit(batch.map(\.create))
            for (pending, outcome) in zip(batch, outcomes) {
                pending.continuation.resume(with: outcome.mapError { $0 })
            }
        }
        drainers -= 1
    }

    /// The oldest waiting creates: at most `maximumBatch` of them and `maximumBatchBytes` of
    /// ciphertext (but always one), no id twice (a second create with the same id waits for
    /// the next batch, where it fails as a duplicate, as it would alone).
    private func nextBatch() -> [Pending]? {
        guard !queue.isEmpty else { return nil }
        var batch: [Pending] = []
        var bytes = 0
        var ids: Set<SecretID> = []
        var left: [Pending] = []
        for pending in queue {
            let size = pending.create.ciphertext.readableBytes
            let fits = batch.isEmpty || (batch.count < maximumBatch && bytes + size <= maximumBatchBytes)
            if fits, ids.insert(pending.create.record.id).inserted {
                batch.append(pending)
                bytes += size
            } else {
                left.append(pending)
            }
        }
        queue = left
        return batch
    }
}
