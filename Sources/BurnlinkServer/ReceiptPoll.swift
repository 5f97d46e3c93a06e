import BurnlinkCore
import Foundation
import NIOCore
import ServiceLifecycle

/// One long-poll (`?wait=SECONDS`) on a receipt or a request's answer: it sleeps until this
/// process sees a change to the id (`ReceiptNotifier`; a shared store reports other
/// replicas' changes into it), the value's expiry, the caller's limit, or shutdown begins.
/// A wake-up that changed nothing sleeps again.
struct ReceiptPoll {
    let id: SecretID
    let deadline: ContinuousClock.Instant
    let wait: Int
    let notifier: ReceiptNotifier
    /// How often a waiting poll re-reads regardless: `SecretStore.receiptRecheckInterval`.
    let recheckInterval: Duration?

    init(id: SecretID, wait: Int, notifier: ReceiptNotifier, recheckInterval: Duration?) {
        self.id = id
        self.wait = wait
        self.deadline = ContinuousClock.now + .seconds(wait)
        self.notifier = notifier
        self.recheckInterval = recheckInterval
    }

    /// Registers (when the caller waits) and reads the value a first time: registered first,
    /// so that a change between that read and the wait still wakes the poll. Nil when there
    /// is no value; the ticket is given back then, and when the read fails.
    func begin<Value>(_ read: () async throws -> Value?) async throws -> (first: Value, ticket: ReceiptNotifier.Ticket?)? {
        let ticket = wait > 0 ? notifier.register(id) : nil
        do {
            guard let first = try await read() else {
                ticket.map(notifier.cancel)
                return nil
            }
            return (first, ticket)
        } catch {
            ticket.map(notifier.cancel)
            throw error
        }
    }

    /// The value once it differs from `first`, or as it stands when the poll ends; nil when
    /// it stopped existing. Answers at once without a ticket or when `first` is settled.
    /// Handlers run inside the server's service, so its graceful shutdown reaches here:
    /// open polls then answer with the value as it stands, and the server can exit. A poll
    /// whose client closed `connection` ends then too.
    func untilChanged<Value: Equatable & Sendable>(
        from first: Value, ticket: ReceiptNotifier.Ticket?, expiresAt: Date,
        isOpen: @escaping @Sendable (Value) -> Bool, recheck: @escaping @Sendable (Value) -> Duration?,
        clock: any ServerClock, connection: any Channel,
        read: @escaping @Sendable () async throws -> Value?
    ) async throws -> Value? {
        guard let ticket else { return first }
        let notifier = self.notifier
        return try await withGracefulShutdownHandler {
            try await ClientHangUp.cancelling(on: connection) {
                try await loop(
                    from: first, ticket: ticket, expiresAt: expiresAt, isOpen: isOpen, recheck: recheck,
                    clock: clock, read: read)
            }
        } onGracefulShutdown: {
            notifier.beginShutdown()
        }
    }

    private func loop<Value: Equatable & Sendable>(
        from first: Value, ticket: ReceiptNotifier.Ticket, expiresAt: Date,
        isOpen: (Value) -> Bool, recheck: (Value) -> Duration?, clock: any ServerClock, read: () async throws -> Value?
    ) async throws -> Value? {
        var ticket: ReceiptNotifier.Ticket? = ticket
        var current: Value? = first
        defer { if let ticket { notifier.cancel(ticket) } }
        while let waiting = ticket, let value = current, value == first, isOpen(value) {
            let remaining = ContinuousClock.now.duration(to: deadline)
            let secondsToExpiry = expiresAt.timeIntervalSince(clock.now())
            let untilExpiry = secondsToExpiry > 0 ? Duration.milliseconds(Int64(secondsToExpiry * 1000) + 50) : remaining
            guard remaining > .zero, !notifier.isShuttingDown, !Task.isCancelled else { break }
            // A shared store's change reports are best effort: re-read now and then anyway.
            var nextRead = recheckInterval ?? remaining
            if let sooner = recheck(value) { nextRead = min(nextRead, sooner) }
            await notifier.wait(waiting, timeout: min(remaining, untilExpiry, nextRead))
            guard let fresh = try await readUnlessCancelled(read) else { break }
            current = fresh
            let again = current == first && ContinuousClock.now < deadline && !notifier.isShuttingDown
            ticket = again ? notifier.register(id) : nil
            if ticket != nil {
                // Registered anew: re-read so a change between the read and the register is not missed.
                guard let fresh = try await readUnlessCancelled(read) else { break }
                current = fresh
            }
        }
        return current
    }

    /// A read, or nil once the poll was cancelled (its client hung up): a store may refuse
    /// work for a cancelled task, and that is the end of the poll, not a failure.
    private func readUnlessCancelled<Value>(_ read: () async throws -> Value?) async throws -> Value?? {
        do {
            return .some(try await read())
        } catch  where Task.isCancelled {
            return nil
        }
    }
}
