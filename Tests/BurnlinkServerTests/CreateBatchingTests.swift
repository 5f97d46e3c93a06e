import BurnlinkCore
import NIOCore
import Synchronization
import Testing

@testable import BurnlinkServer

// When `PostgresGroupCreate` starts a batch beside one under way. The commits here stand in
// for the database and are held until the test lets them end, so what the batcher does while
// a batch runs can be seen; what the database makes of a batch is `PostgresGroupCreateTests`.
@Suite("PostgreSQL create batching")
struct CreateBatchingTests {
    @Test("creates that arrive while a batch runs wait for it until enough of them can make a second batch")
    func secondBatchWaitsForEnoughCreates() async throws {
        let creates = (0..<4).map { _ in Self.create() }
        let batcher = try await Self.withBatcher(minimumConcurrentBatch: 3, concurrentBatchDelay: .seconds(600)) {
            batcher, commits, submit in
            _ = submit(creates[0])
            #expect(await soon { commits.batches == [[creates[0].record.id]] })
            _ = submit(creates[1])
            _ = submit(creates[2])
            // Two waiting are fewer than the minimum: still the one batch (the batcher decides
            // as it queues a create).
            #expect(await soon { await batcher.waiting == 2 })
            #expect(await batcher.runningBatches == 1)

            _ = submit(creates[3])
            try #require(await soon { commits.batches.count == 2 })
            #expect(Set(commits.batches[1]) == Set(creates[1...].map(\.record.id)))
        }
        #expect(await batcher.statistics.creates == 4)
    }

    @Test("a create waits for a running batch no longer than the delay, and one alone runs at once")
    func delayBoundsTheWait() async throws {
        let first = Self.create()
        let second = Self.create()
        let batcher = try await Self.withBatcher(minimumConcurrentBatch: 100, concurrentBatchDelay: .milliseconds(50)) {
            _, commits, submit in
            _ = submit(first)
            #expect(await soon { commits.batches.count == 1 })
            // The first batch is held (a slow statement): the second create gets its own batch
            // once it has waited out the delay, and its answer does not wait for the first.
            let submitted = ContinuousClock.now
            let secondAnswered = submit(second)
            try #require(await soon { commits.batches.count == 2 })
            #expect(ContinuousClock.now - submitted >= .milliseconds(50))
            #expect(commits.batches[1] == [second.record.id])
            commits.release(batch: 1)
            #expect(await soon { secondAnswered.isSet })
        }
        #expect(await batcher.statistics.batches == 2)
    }

    @Test("no more than `parallel` batches run at once; the creates left over go in one batch after")
    func parallelIsTheLimit() async throws {
        let creates = (0..<6).map { _ in Self.create() }
        _ = try await Self.withBatcher(minimumConcurrentBatch: 1, concurrentBatchDelay: .milliseconds(10)) {
            batcher, commits, submit in
            _ = submit(creates[0])
            #expect(await soon { commits.batches.count == 1 })
            _ = submit(creates[1])
            #expect(await soon { commits.batches.count == 2 })
            for create in creates[2...] { _ = submit(create) }
            #expect(await soon { await batcher.waiting == 4 })
            #expect(await batcher.runningBatches == 2)

            commits.release(batch: 0)
            try #require(await soon { commits.batches.count == 3 })
            #expect(Set(commits.batches[2]) == Set(creates[2...].map(\.record.id)))
        }
    }

    /// Runs `body` with a batcher of two parallel batches over held commits. `submit` sends a
    /// create from a task of its own and returns a flag set once it was answered. At the end
    /// every commit is released, and every create must have been stored.
    static func withBatcher(
        minimumConcurrentBatch: Int, concurrentBatchDelay: Duration,
        _ body: (PostgresGroupCreate, HeldCommits, _ submit: (PostgresGroupCreate.Create) -> Flag) async throws -> Void
    ) async throws -> PostgresGroupCreate {
        let commits = HeldCommits()
        let batcher = PostgresGroupCreate(
            parallel: 2, minimumConcurrentBatch: minimumConcurrentBatch, concurrentBatchDelay: concurrentBatchDelay,
            commit: commits.commit)
        try await withThrowingTaskGroup { group in
            // Released however the body ends: the group waits for every submit, and a submit
            // cannot be cancelled while its batch is held.
            defer { commits.releaseAll() }
            try await body(batcher, commits) { create in
                let answered = Flag()
                group.addTask {
                    try await batcher.submit(create)
                    answered.set()
                }
                return answered
            }
            commits.releaseAll()
            try await group.waitForAll()
        }
        return batcher
    }

    /// `eventually` with room for a loaded machine: the whole suite starts at once, and its
    /// CPU-bound tests can hold every thread of the pool for seconds.
    func soon(_ condition: () async throws -> Bool) async rethrows -> Bool {
        try await eventually(within: .seconds(60), condition)
    }

    static func create() -> PostgresGroupCreate.Create {
        let sample = StoreSample(size: 16)
        return .init(record: sample.record, ciphertext: sample.buffer)
    }
}

/// Commits that record each batch's ids and answer only when released.
final class HeldCommits: Sendable {
    private struct State {
        var batches: [[SecretID]] = []
        var held: [Int: CheckedContinuation<Void, Never>] = [:]
        var released: Set<Int> = []
        var releasedAll = false
    }

    private let state = Mutex(State())

    var batches: [[SecretID]] { state.withLock { $0.batches } }

    var commit: PostgresGroupCreate.Commit {
        { creates in
            await self.hold(creates.map(\.record.id))
            return creates.map { _ in .success(()) }
        }
    }

    private func hold(_ ids: [SecretID]) async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state in
                let index = state.batches.count
                state.batches.append(ids)
                guard !state.releasedAll, !state.released.contains(index) else { return true }
                state.held[index] = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func release(batch index: Int) {
        let continuation = state.withLock { state in
            state.released.insert(index)
            return state.held.removeValue(forKey: index)
        }
        continuation?.resume()
    }

    func releaseAll() {
        let continuations = state.withLock { state in
            state.releasedAll = true
            defer { state.held = [:] }
            return Array(state.held.values)
        }
        for continuation in continuations { continuation.resume() }
    }
}
