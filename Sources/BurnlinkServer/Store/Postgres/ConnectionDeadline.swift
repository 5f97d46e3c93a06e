import Synchronization

/// Thrown by `withConnectionDeadline` when the time ran out before the operation started.
struct DeadlineExceeded: Error {}

/// The deadline of one operation, which can end the wait for a connection but never an
/// operation under way: whichever comes first, `start` or `expire`, decides.
final class ConnectionDeadline: Sendable {
    private enum State { case waiting, started, expired }
    private let state = Mutex(State.waiting)

    /// Call with the connection in hand, before anything is sent: throws `DeadlineExceeded`
    /// when the time ran out first.
    func start() throws {
        try state.withLock { state in
            if state == .expired { throw DeadlineExceeded() }
            state = .started
        }
    }

    /// The time ran out: true when the operation had not started, and never will.
    func expire() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .expired
            return true
        }
    }

    var hasExpired: Bool { state.withLock { $0 == .expired } }
}

/// Runs `body`, throwing `DeadlineExceeded` when it has not called `start()` on its deadline
/// within `duration` (the wait for a pooled connection responds to the cancellation at
/// once); once started, `body` runs to its end and its outcome is returned. Cancelling the
/// caller cancels `body`.
///
/// Every PostgreSQL operation passes through here, so the deadline is kept cheap: `body`
/// runs as one task, and its deadline is an entry in `ConnectionWaits.shared` rather than a
/// sleeping task and a timer of its own. A task group with a sleeping child cost a create
/// batch about 0.2 ms of its 1.6 ms (docs/benchmarks.md, "Issue 18: the deadline of a
/// PostgreSQL operation").
func withConnectionDeadline<T: Sendable>(
    _ duration: Duration, waits: ConnectionWaits = .shared,
    _ body: @escaping @Sendable (ConnectionDeadline) async throws -> T
) async throws -> T {
    let deadline = ConnectionDeadline()
    let operation = Task { try await body(deadline) }
    let entry = waits.add(expiry: .now + duration) {
        if deadline.expire() { operation.cancel() }
    }
    defer { waits.remove(entry) }
    return try await withTaskCancellationHandler {
        do {
            return try await operation.value
        } catch {
            // The cancellation the deadline caused, as the pool reports it.
            throw deadline.hasExpired ? DeadlineExceeded() : error
        }
    } onCancel: {
        operation.cancel()
    }
}

/// The deadlines of operations waiting for a connection, checked together every `tick`: an
/// operation's deadline costs a lock and a table entry. The ticking task runs only while
/// something waits, so an idle server stays idle.
final class ConnectionWaits: Sendable {
    /// One table for the process: deadlines of seconds need no finer clock than `tick`.
    static let shared = ConnectionWaits(tick: .milliseconds(100))

    struct Entry: Sendable { fileprivate let key: UInt64 }

    private struct Waiting {
        let expiry: ContinuousClock.Instant
        let expire: @Sendable () -> Void
    }

    private struct State {
        var waiting: [UInt64: Waiting] = [:]
        var nextKey: UInt64 = 0
        var ticking = false
    }

    private let state = Mutex(State())
    private let tick: Duration

    init(tick: Duration) {
        self.tick = tick
    }

    /// Calls `expire` once `expiry` has passed, within `tick`, unless `remove` comes first.
    func add(expiry: ContinuousClock.Instant, expire: @escaping @Sendable () -> Void) -> Entry {
        let (key, startTicking) = state.withLock { state in
            let key = state.nextKey
            state.nextKey += 1
            state.waiting[key] = Waiting(expiry: expiry, expire: expire)
            defer { state.ticking = true }
            return (key, !state.ticking)
        }
        // Detached: the checking task outlives the operation that started it, and must
        // carry none of its priority or task-local values.
        if startTicking { Task.detached { await self.checkUntilNoneWait() } }
        return Entry(key: key)
    }

    func remove(_ entry: Entry) {
        _ = state.withLock { $0.waiting.removeValue(forKey: entry.key) }
    }

    var waitingCount: Int { state.withLock { $0.waiting.count } }
    var isTicking: Bool { state.withLock { $0.ticking } }

    private func checkUntilNoneWait() async {
        while true {
            try? await Task.sleep(for: tick)
            let now = ContinuousClock.now
            let (due, done) = state.withLock { state -> ([Waiting], Bool) in
                var due: [Waiting] = []
                for (key, waiting) in state.waiting where waiting.expiry <= now {
                    due.append(waiting)
                    state.waiting[key] = nil
                }
                if state.waiting.isEmpty { state.ticking = false }
                return (due, !state.ticking)
            }
            for waiting in due { waiting.expire() }
            if done { return }
        }
    }
}
