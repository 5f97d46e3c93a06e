import Synchronization

/// Thrown by `withConnectionDeadline` when the time ran out before the operation started.
struct DeadlineExceeded: Error {}

/// Thrown by `withConnectionDeadline` when the operation's connection had been closed for
/// `ConnectionWaits.closedGrace` and the operation still had no answer.
struct ConnectionLost: Error {}

/// The deadline of one operation, which can end the wait for a connection but never an
/// operation under way: whichever comes first, `start` or `expire`, decides. Once started,
/// it watches the operation's connection (see `withConnectionDeadline`).
final class ConnectionDeadline: Sendable {
    private enum State {
        case waiting
        case started(isClosed: @Sendable () -> Bool, closedSince: ContinuousClock.Instant?)
        case expired
    }
    private let state = Mutex(State.waiting)

    /// Call with the connection in hand, before anything is sent: throws `DeadlineExceeded`
    /// when the time ran out first. `connectionIsClosed` tells whether that connection has
    /// closed; it is asked now and then while the operation runs.
    func start(connectionIsClosed: @escaping @Sendable () -> Bool = { false }) throws {
        try state.withLock { state in
            if case .expired = state { throw DeadlineExceeded() }
            state = .started(isClosed: connectionIsClosed, closedSince: nil)
        }
    }

    /// The time ran out: true when the operation had not started, and never will.
    func expire() -> Bool {
        state.withLock { state in
            guard case .waiting = state else { return false }
            state = .expired
            return true
        }
    }

    var hasExpired: Bool {
        state.withLock { state in
            if case .expired = state { return true }
            return false
        }
    }

    /// True once the operation started and its connection has been seen closed for `grace`
    /// (counted from the first check that saw it closed).
    func connectionClosed(for grace: Duration, now: ContinuousClock.Instant) -> Bool {
        let isClosed: (@Sendable () -> Bool)? = state.withLock { state in
            guard case .started(let isClosed, _) = state else { return nil }
            return isClosed
        }
        guard let isClosed, isClosed() else { return false }
        return state.withLock { state in
            guard case .started(let isClosed, let closedSince) = state else { return false }
            guard let closedSince else {
                state = .started(isClosed: isClosed, closedSince: now)
                return false
            }
            return now - closedSince >= grace
        }
    }
}

/// Runs `body`, throwing `DeadlineExceeded` when it has not called `start()` on its deadline
/// within `duration` (the wait for a pooled connection responds to the cancellation at
/// once); once started, `body` runs to its end and its outcome is returned. Cancelling the
/// caller cancels `body`.
///
/// One exception to running to the end: postgres-nio (1.33) drops a statement written to a
/// connection whose channel has already closed without ever failing it, so a body that
/// sends one after the database closed its connection (a transaction's ROLLBACK after a
/// restart, say) waits forever, and held a server's stop after a PostgreSQL restart. Every
/// statement sent before the close has failed by the time the channel reports it closed, so
/// an operation still running `waits.closedGrace` after that has nothing left to answer
/// with: the caller gets `ConnectionLost`, and the stuck task is left behind (and
/// cancelled).
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
    let outcome = FirstOutcome<T>()
    let operation = Task {
        do {
            outcome.settle(.success(try await body(deadline)))
        } catch {
            outcome.settle(.failure(error))
        }
    }
    let entry = waits.add(
        deadline, expiry: .now + duration,
        expire: { operation.cancel() },
        lose: {
            outcome.settle(.failure(ConnectionLost()))
            operation.cancel()
        })
    defer { waits.remove(entry) }
    return try await withTaskCancellationHandler {
        do {
            return try await outcome.value
        } catch {
            // The cancellation the deadline caused, as the pool reports it.
            throw deadline.hasExpired ? DeadlineExceeded() : error
        }
    } onCancel: {
        operation.cancel()
    }
}

/// The first answer an operation gets, its own or `ConnectionLost`, awaited once.
private final class FirstOutcome<T: Sendable>: Sendable {
    private enum State {
        case pending
        case awaited(CheckedContinuation<T, any Error>)
        case settled(Result<T, any Error>)
        case delivered
    }
    private let state = Mutex(State.pending)

    /// Later answers than the first are dropped.
    func settle(_ result: Result<T, any Error>) {
        let continuation: CheckedContinuation<T, any Error>? = state.withLock { state in
            switch state {
            case .pending:
                state = .settled(result)
                return nil
            case .awaited(let continuation):
                state = .delivered
                return continuation
            case .settled, .delivered:
                return nil
            }
        }
        continuation?.resume(with: result)
    }

    var value: T {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let ready: Result<T, any Error>? = state.withLock { state in
                    if case .settled(let result) = state {
                        state = .delivered
                        return result
                    }
                    state = .awaited(continuation)
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }
}

/// The deadlines of running operations, checked together every `tick`: an operation's
/// deadline costs a lock and a table entry. The ticking task runs only while an operation
/// runs, so an idle server stays idle.
final class ConnectionWaits: Sendable {
    /// One table for the process: deadlines of seconds need no finer clock than `tick`.
    static let shared = ConnectionWaits(tick: .milliseconds(100), closedGrace: .seconds(5))

    struct Entry: Sendable { fileprivate let key: UInt64 }

    private struct Running {
        let deadline: ConnectionDeadline
        let expiry: ContinuousClock.Instant
        /// Cancels an operation whose time ran out before it started.
        let expire: @Sendable () -> Void
        /// Answers the caller with `ConnectionLost`.
        let lose: @Sendable () -> Void
    }

    private struct State {
        var running: [UInt64: Running] = [:]
        var nextKey: UInt64 = 0
        var ticking = false
    }

    private let state = Mutex(State())
    private let tick: Duration
    /// How long an operation may go on once its connection is closed. Its own statements
    /// fail as the channel closes; the grace is for a body finishing with what it had, on
    /// a loaded machine, so that an answer it did get is never replaced by a 503.
    let closedGrace: Duration

    init(tick: Duration, closedGrace: Duration) {
        self.tick = tick
        self.closedGrace = closedGrace
    }

    /// Watches `deadline` until `remove`: calls `expire` once `expiry` has passed (within
    /// `tick`) if the operation had not started, and `lose` once its connection has been
    /// closed for `closedGrace`.
    func add(
        _ deadline: ConnectionDeadline, expiry: ContinuousClock.Instant,
        expire: @escaping @Sendable () -> Void, lose: @escaping @Sendable () -> Void
    ) -> Entry {
        let (key, startTicking) = state.withLock { state in
            let key = state.nextKey
            state.nextKey += 1
            state.running[key] = Running(deadline: deadline, expiry: expiry, expire: expire, lose: lose)
            defer { state.ticking = true }
            return (key, !state.ticking)
        }
        // Detached: the checking task outlives the operation that started it, and must
        // carry none of its priority or task-local values.
        if startTicking { Task.detached { await self.checkUntilNoneRun() } }
        return Entry(key: key)
    }

    func remove(_ entry: Entry) {
        _ = state.withLock { $0.running.removeValue(forKey: entry.key) }
    }

    var runningCount: Int { state.withLock { $0.running.count } }
    var isTicking: Bool { state.withLock { $0.ticking } }

    private func checkUntilNoneRun() async {
        while true {
            try? await Task.sleep(for: tick)
            let now = ContinuousClock.now
            let running = state.withLock { Array($0.running) }
            var ended: [UInt64] = []
            for (key, operation) in running {
                // `expire` fails for an operation that has started: its connection is
                // watched instead (`connectionClosed` is false for one still waiting).
                if operation.expiry <= now, operation.deadline.expire() {
                    operation.expire()
                    ended.append(key)
                } else if operation.deadline.connectionClosed(for: closedGrace, now: now) {
                    operation.lose()
                    ended.append(key)
                }
            }
            let done = state.withLock { state in
                for key in ended { state.running[key] = nil }
                if state.running.isEmpty { state.ticking = false }
                return !state.ticking
            }
            if done { return }
        }
    }
}
