import Synchronization
import Testing

@testable import BurnlinkServer

// The deadline every PostgreSQL operation runs under (`withConnectionDeadline`): it may end
// the wait for a connection, never an operation under way. The bodies stand in for the
// connection pool's wait, which, like `Task.sleep`, ends when its task is cancelled.
@Suite("PostgreSQL connection deadline")
struct ConnectionDeadlineTests {
    @Test("a wait for a connection that never comes ends at the deadline")
    func waitEndsAtDeadline() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10))
        let started = ContinuousClock.now
        await #expect(throws: DeadlineExceeded.self) {
            try await withConnectionDeadline(.milliseconds(200), waits: waits) { deadline -> Int in
                try await Task.sleep(for: .seconds(60))
                try deadline.start()
                return 1
            }
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(200))
        #expect(waited < .seconds(30))
        #expect(waits.waitingCount == 0)
    }

    @Test("an operation that started runs past the deadline and its answer is returned")
    func startedOperationFinishes() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10))
        // The deadline leaves a loaded machine a second to start the operation.
        let answer = try await withConnectionDeadline(.seconds(1), waits: waits) { deadline in
            try deadline.start()
            try await Task.sleep(for: .milliseconds(1500))
            return 7
        }
        #expect(answer == 7)
        #expect(waits.waitingCount == 0)
    }

    @Test("a connection that comes after the deadline is not used")
    func lateConnectionIsNotUsed() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10))
        let used = Flag()
        await #expect(throws: DeadlineExceeded.self) {
            try await withConnectionDeadline(.milliseconds(50), waits: waits) { deadline in
                // A pool wait that ignores cancellation and hands over a connection late.
                try? await Task.sleep(for: .seconds(60))
                try deadline.start()
                used.set()
            }
        }
        #expect(!used.isSet)
    }

    @Test("cancelling the caller cancels the operation")
    func callerCancellation() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10))
        let caller = Task {
            try await withConnectionDeadline(.seconds(60), waits: waits) { deadline in
                try deadline.start()
                try await Task.sleep(for: .seconds(60))
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        let cancelled = ContinuousClock.now
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        #expect(ContinuousClock.now - cancelled < .seconds(30))
        #expect(waits.waitingCount == 0)
    }

    @Test("many operations at once, each deadline on its own")
    func manyAtOnce() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10))
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<200 {
                group.addTask {
                    // Even ones get their connection as soon as they run (within the two
                    // seconds even on a loaded machine); odd ones never do.
                    let result = try? await withConnectionDeadline(.seconds(2), waits: waits) { deadline in
                        if index % 2 == 1 { try await Task.sleep(for: .seconds(60)) }
                        try deadline.start()
                        return index
                    }
                    return result == index
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 100)
        #expect(waits.waitingCount == 0)
    }
}

private final class Flag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}
