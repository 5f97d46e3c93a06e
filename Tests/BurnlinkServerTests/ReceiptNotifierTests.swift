import BurnlinkCore
@testable import BurnlinkServer
import Testing

@Suite("receipt notifier")
struct ReceiptNotifierTests {
    @Test("a wait ends when notified, when its timeout passes, and when its task is cancelled")
    func waitEnds() async throws {
        let notifier = ReceiptNotifier()
        let secret = SecretID.random()

        let notified = notifier.register(secret)
        Task { try await Task.sleep(for: .milliseconds(100)); notifier.notify(secret) }
        var started = ContinuousClock.now
        await notifier.wait(notified, timeout: .seconds(60))
        #expect(ContinuousClock.now - started < .seconds(10))

        started = ContinuousClock.now
        await notifier.wait(notifier.register(secret), timeout: .milliseconds(200))
        #expect(ContinuousClock.now - started >= .milliseconds(200))

        let waiter = Task { await notifier.wait(notifier.register(secret), timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(100))
        started = ContinuousClock.now
        waiter.cancel()
        await waiter.value
        #expect(ContinuousClock.now - started < .seconds(10), "a cancelled long-poll kept waiting")
    }
}
