import BurnlinkCore
import NIOCore
import PostgresNIO

/// Group commit of whole-secret creates for PostgreSQL, as `GroupCommit` is for SQLite.
///
/// A create that is alone runs at once, as a batch of one. While `parallel` batches are
/// being committed, newly submitted creates queue up, and the next free drainer takes all
/// of them (up to `maximumBatch`) into **one** statement, so one transaction, one WAL
/// flush. Each caller is answered only after the statement holding its create committed,
/// so an answer is always durable. The database stores many rows per statement far faster
/// than one row per statement (docs/benchmarks.md, "Issue 18: PostgreSQL creates grouped
/// into one statement").
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
    private let maximumBatch: Int
    /// A statement carries all its ciphertext as bound values: up to 1 MiB per create.
    private let maximumBatchBytes: Int
    private let commit: Commit
    private var queue: [Pending] = []
    private var drainers = 0

    /// Counters for benchmarks and tests: how well creates are being grouped.
    struct Statistics: Sendable, Equatable {
        var batches = 0
        var creates = 0
        var largestBatch = 0
    }

    private(set) var statistics = Statistics()

    /// - Parameters:
    ///   - parallel: batches committed at once (each on its own pooled connection).
    ///   - commit: stores a batch in one statement; one outcome per create, in order.
    init(parallel: Int, maximumBatch: Int = 64, maximumBatchBytes: Int = 4 << 20, commit: @escaping Commit) {
        precondition(parallel > 0 && maximumBatch > 0)
        self.parallel = parallel
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
            if drainers < parallel {
                drainers += 1
                Task { await self.drain() }
            }
        }
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
