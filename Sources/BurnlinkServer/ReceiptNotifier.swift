import BurnlinkCore
import Foundation
import Synchronization

/// Wakes receipt long-polls when something happens to their secret in this process.
///
/// A waiter registers before it reads the receipt, then waits: a change that lands
/// between the read and the wait still wakes it, because `notify` marks the registration.
final class ReceiptNotifier: Sendable {
    struct Ticket: Sendable {
        fileprivate let secret: SecretID
        fileprivate let number: UInt64
    }

    private enum Slot {
        case pending
        case waiting(CheckedContinuation<Void, Never>)
        case fired
    }

    private let state = Mutex<(next: UInt64, slots: [SecretID: [UInt64: Slot]], shuttingDown: Bool)>((0, [:], false))

    func register(_ secret: SecretID) -> Ticket {
        state.withLock { state in
            state.next += 1
            // Once the server is shutting down, a new waiter is woken at once.
            state.slots[secret, default: [:]][state.next] = state.shuttingDown ? .fired : .pending
            return Ticket(secret: secret, number: state.next)
        }
    }

    /// Long-polls parked in `wait` right now.
    var waitingCount: Int {
        state.withLock { state in
            state.slots.values.reduce(0) { total, slots in
                total + slots.values.count { if case .waiting = $0 { true } else { false } }
            }
        }
    }

    /// Set once graceful shutdown has begun: long-polls answer with what they have.
    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// Wakes every waiter and every later one, so that open long-polls answer at once and
    /// the server can finish its requests and exit.
    func beginShutdown() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.shuttingDown = true
            var continuations: [CheckedContinuation<Void, Never>] = []
            for (secret, slots) in state.slots {
                for (number, slot) in slots {
                    if case .waiting(let continuation) = slot { continuations.append(continuation) }
                    state.slots[secret]?[number] = .fired
                }
            }
            return continuations
        }
        waiting.forEach { $0.resume() }
    }

    /// Returns once the ticket's secret was notified since `register`, after `timeout`, or
    /// when the task is cancelled. The ticket is spent afterwards.
    func wait(_ ticket: Ticket, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { timer in
            timer.addTask {
                try? await Task.sleep(for: timeout)
                self.fire(ticket)
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let fired = state.withLock { state -> Bool in
                        guard case .pending = state.slots[ticket.secret]?[ticket.number] else { return true }
                        state.slots[ticket.secret]?[ticket.number] = .waiting(continuation)
                        return false
                    }
                    if fired { continuation.resume() }
                }
            } onCancel: {
                self.fire(ticket)
            }
            timer.cancelAll()
        }
        cancel(ticket)
    }

    /// Forgets a ticket that will not be waited on.
    func cancel(_ ticket: Ticket) {
        state.withLock { state in
            state.slots[ticket.secret]?[ticket.number] = nil
            if state.slots[ticket.secret]?.isEmpty == true { state.slots[ticket.secret] = nil }
        }
    }

    func notify(_ secret: SecretID) {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard let slots = state.slots[secret] else { return [] }
            var continuations: [CheckedContinuation<Void, Never>] = []
            for (number, slot) in slots {
                if case .waiting(let continuation) = slot { continuations.append(continuation) }
                state.slots[secret]?[number] = .fired
            }
            return continuations
        }
        waiting.forEach { $0.resume() }
    }

    private func fire(_ ticket: Ticket) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let slot = state.slots[ticket.secret]?[ticket.number] else { return nil }
            state.slots[ticket.secret]?[ticket.number] = .fired
            if case .waiting(let continuation) = slot { return continuation }
            return nil
        }
        continuation?.resume()
    }
}
