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
            try await waitForConnectionThatNeverComes(.milliseconds(200), waits: waits)
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(200))
        #expect(waited < .seconds(30))
        #expect(waits.waitingCount == 0)
    }

    @Test("an operation that started runs past the deadline and its answer is returned")
    func startedOperationFinishes() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10))
        // The deadline leaves a loaded machine a second to start the operation, which then
        // runs until the deadline has been checked and passed (its entry gone from the table).
        let answer = try await withConnectionDeadline(.seconds(1), waits: waits) { deadline in
            try deadline.start()
            while waits.waitingCount > 0 { try await Task.sleep(for: .milliseconds(10)) }
            return 7
        }
        #expect(answer == 7)
    }

    @Test("a connection that comes after the deadline is not used")
    func lateConnectionIsNotUsed() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10))
        let used = Flag()
        await #expect(throws: DeadlineExceeded.self) {
            try await withConnectionDeadline(.milliseconds(50), waits: waits) { deadline in
                // A body that carries on once its wait was cancelled, as a pool might hand
                // over a connection it had just opened.
                try? await Task.sleep(for: .seconds(60))
                try deadline.start()
                used.set()
            }
        }
        #expect(!used.isSet)
        #expect(waits.waitingCount == 0)
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
        let succeeded = await withTaskGroup(of: Int?.self) { group in
            for index in 0..<200 {
                group.addTask {
                    // Odd ones never get a connection and are due after 300 ms; even ones get
                    // theirs at 600 ms, past the odd ones' deadlines but well within their own.
                    let odd = index % 2 == 1
                    return try? await withConnectionDeadline(odd ? .milliseconds(300) : .seconds(10), waits: waits) {
                        deadline in
                        try await Task.sleep(for: odd ? .seconds(60) : .milliseconds(600))
                        try deadline.start()
                        return index
                    }
                }
            }
            return await group.reduce(into: Set<Int>()) { if let index = $1 { $0.insert(index) } }
        }
        #expect(succeeded == Set(stride(from: 0, to: 200, by: 2)))
        #expect(waits.waitingCount == 0)
    }

    @Test("the checking task stops when nothing waits, and starts again with the next wait")
    func checkingStopsAndRestarts() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10))
        let answer = try await withConnectionDeadline(.seconds(5), waits: waits) { deadline in
            try deadline.start()
            return 1
        }
        #expect(answer == 1)
        #expect(await eventually(within: .seconds(30)) { !waits.isTicking })
        // Were it not started again, this wait would run its full minute.
        let started = ContinuousClock.now
        await #expect(throws: DeadlineExceeded.self) {
            try await waitForConnectionThatNeverComes(.milliseconds(100), waits: waits)
        }
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(await eventually(within: .seconds(30)) { !waits.isTicking })
    }
}

private final class Flag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}

/// An operation whose connection never comes: its wait lasts a minute unless the deadline
/// cancels it.
private func waitForConnectionThatNeverComes(_ deadline: Duration, waits: ConnectionWaits) async throws {
    try await withConnectionDeadline(deadline, waits: waits) { deadline in
        try await Task.sleep(for: .seconds(60))
        try deadline.start()
    }
}
