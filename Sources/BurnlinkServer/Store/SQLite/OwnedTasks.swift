import Synchronization

/// Work a store starts after answering (freeing a large ciphertext once its confirm was
/// answered) that no caller waits for, but that must not outlive the store: each task is
/// kept here until it ends, and `cancelAndWait()` stops and awaits them all before the
/// store closes. A task cut short leaves nothing wrong behind: its work is such that
/// `sweep` or the next open finishes it.
final class OwnedTasks: Sendable {
    private struct State {
        var nextKey = 0
        var running: [Int: Task<Void, Never>] = [:]
        var stopped = false
    }

    private let state = Mutex(State())

    /// Starts `work` unless `cancelAndWait()` has been called; returns whether it started.
    @discardableResult
    func start(_ work: @escaping @Sendable () async -> Void) -> Bool {
        state.withLock { state in
            guard !state.stopped else { return false }
            let key = state.nextKey
            state.nextKey += 1
            // Registered under the lock before it can end, so its own removal always finds it.
            state.running[key] = Task {
                await work()
                self.state.withLock { _ = $0.running.removeValue(forKey: key) }
            }
            return true
        }
    }

    /// How many tasks are still running.
    var count: Int { state.withLock { $0.running.count } }

    /// Refuses new tasks, cancels the running ones and returns once every one has ended.
    func cancelAndWait() async {
        let running = state.withLock { state in
            state.stopped = true
            return Array(state.running.values)
        }
        for task in running { task.cancel() }
        for task in running { await task.value }
    }
}
