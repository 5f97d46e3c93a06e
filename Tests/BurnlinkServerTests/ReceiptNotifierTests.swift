import BurnlinkCore
import Foundation
import Testing

@testable import BurnlinkServer

/// The waits are long (300 s) and the bounds loose (120 s): each ending must come from its
/// cause, not from the timeout, however busy the machine's cooperative threads are.
@Suite("receipt notifier")
struct ReceiptNotifierTests {
    @Test("a wait ends when notified, also when the notice came before the wait")
    func notified() async {
        let notifier = ReceiptNotifier()
        let secret = SecretID.random()

        let early = notifier.register(secret)
        notifier.notify(secret)
        var started = ContinuousClock.now
        await notifier.wait(early, timeout: .seconds(300))
        #expect(ContinuousClock.now - started < .seconds(120))

        let late = notifier.register(secret)
        // From a thread of its own, so the notice does not queue behind other tests' work.
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.1)
            notifier.notify(secret)
        }
        started = ContinuousClock.now
        await notifier.wait(late, timeout: .seconds(300))
        #expect(ContinuousClock.now - started < .seconds(120))
    }

    @Test("a wait ends after its timeout with no notice")
    func timesOut() async {
        let notifier = ReceiptNotifier()
        let started = ContinuousClock.now
        await notifier.wait(notifier.register(SecretID.random()), timeout: .milliseconds(200))
        #expect(ContinuousClock.now - started >= .milliseconds(200))
    }

    @Test("a wait ends when its task is cancelled")
    func cancelled() async throws {
        let notifier = ReceiptNotifier()
        let waiter = Task { await notifier.wait(notifier.register(SecretID.random()), timeout: .seconds(300)) }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        waiter.cancel()
        await waiter.value
        #expect(ContinuousClock.now - started < .seconds(120), "a cancelled long-poll kept waiting")
    }
}
