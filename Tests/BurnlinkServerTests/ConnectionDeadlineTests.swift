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
        let waits = ConnectionWaits(tick: .milliseconds(10), closedGrace: .milliseconds(200))
        let started = ContinuousClock.now
        await #expect(throws: DeadlineExceeded.self) {
            try await waitForConnectionThatNeverComes(.milliseconds(200), waits: waits)
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(200))
        #expect(waited < .seconds(30))
        #expect(waits.runningCount == 0)
    }

    @Test("an operation that started runs past the deadline and its answer is returned")
    func startedOperationFinishes() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10), closedGrace: .milliseconds(200))
        // The deadline leaves a loaded machine a second to start the operation, which then
        // runs well past it.
        let started = ContinuousClock.now
        let answer = try await withConnectionDeadline(.seconds(1), waits: waits) { deadline in
            try deadline.start()
            try await Task.sleep(until: started + .seconds(1.5))
            return 7
        }
        #expect(answer == 7)
        #expect(ContinuousClock.now - started >= .seconds(1.5))
    }

    @Test("a connection that comes after the deadline is not used")
    func lateConnectionIsNotUsed() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10), closedGrace: .milliseconds(200))
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
        #expect(waits.runningCount == 0)
    }

    @Test("cancelling the caller cancels the operation")
    func callerCancellation() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10), closedGrace: .milliseconds(200))
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
        #expect(waits.runningCount == 0)
    }

    @Test("many operations at once, each deadline on its own")
    func manyAtOnce() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10), closedGrace: .milliseconds(200))
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
        #expect(waits.runningCount == 0)
    }

    @Test("an operation whose connection closed and that never answers ends with ConnectionLost after the grace")
    func lostConnection() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10), closedGrace: .milliseconds(200))
        let closed = Flag()
        let ran = Flag()
        let statement = ParkedStatement()
        let started = ContinuousClock.now
        await #expect(throws: ConnectionLost.self) {
            try await withConnectionDeadline(.seconds(60), waits: waits) { deadline in
                try deadline.start(connectionIsClosed: { closed.isSet })
                ran.set()
                closed.set()
                // A statement the closed connection never answers: its wait ignores
                // cancellation, as postgres-nio's does for a statement it dropped.
                await statement.wait()
                return 1
            }
        }
        #expect(ran.isSet)
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(200))
        #expect(waited < .seconds(30))
        #expect(waits.runningCount == 0)
        // The stuck body may still end; its late answer goes nowhere.
        statement.answer()
    }

    @Test("an operation that answers within the grace after its connection closed keeps its answer")
    func answerAfterClose() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10), closedGrace: .seconds(10))
        let closed = Flag()
        let answer = try await withConnectionDeadline(.seconds(60), waits: waits) { deadline in
            try deadline.start(connectionIsClosed: { closed.isSet })
            closed.set()
            // Several checks see the connection closed before the answer comes.
            try await Task.sleep(for: .milliseconds(300))
            return 42
        }
        #expect(answer == 42)
        #expect(waits.runningCount == 0)
    }

    @Test("an open connection never ends a long operation")
    func openConnectionRunsOn() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10), closedGrace: .milliseconds(50))
        let answer = try await withConnectionDeadline(.milliseconds(100), waits: waits) { deadline in
            try deadline.start(connectionIsClosed: { false })
            try await Task.sleep(for: .milliseconds(500))
            return 3
        }
        #expect(answer == 3)
    }

    @Test("the checking task stops when nothing waits, and starts again with the next wait")
    func checkingStopsAndRestarts() async throws {
        let waits = ConnectionWaits(tick: .milliseconds(10), closedGrace: .milliseconds(200))
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

/// A wait that only `answer` ends, whatever happens to its task.
private final class ParkedStatement: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Void, Never>?, answered: Bool)>((nil, false))

    func wait() async {
        await withCheckedContinuation { continuation in
            let answered = state.withLock { state in
                if !state.answered { state.continuation = continuation }
                return state.answered
            }
            if answered { continuation.resume() }
        }
    }

    func answer() {
        let continuation = state.withLock { state in
            state.answered = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }
}

/// An operation whose connection never comes: its wait lasts a minute unless the deadline
/// cancels it.
private func waitForConnectionThatNeverComes(_ deadline: Duration, waits: ConnectionWaits) async throws {
    try await withConnectionDeadline(deadline, waits: waits) { deadline in
        try await Task.sleep(for: .seconds(60))
        try deadline.start()
    }
}
