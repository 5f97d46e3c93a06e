import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Removes expired ciphertext, orphaned chunks and old receipts on a fixed interval, and
/// keeps the stored-bytes gauge current. Expiry itself is enforced at read time; this
/// only reclaims space.
struct Sweeper: Service {
    let store: any SecretStore
    let clock: any ServerClock
    let interval: Duration
    let receiptRetention: TimeInterval
    let metrics: ServerMetrics
    let logger: Logger
    /// The first sweep waits for it: on a fresh database the tables exist only then.
    let storePrepared: StorePrepared

    func run() async throws {
        while !storePrepared.isSet {
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
            try? await gracefulShutdownSleep(for: .milliseconds(50))
        }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await sweepOnce()
            try? await gracefulShutdownSleep(for: interval)
        }
    }

    func sweepOnce() async {
        let started = ContinuousClock.now
        do {
            let report = try await store.sweep(now: clock.now(), receiptRetention: receiptRetention)
            metrics.secretsExpired(report.expired)
            metrics.deliveriesUnconfirmed(report.unconfirmed)
            metrics.setStoredBytes(try await store.storedBytes())
            let duration = ContinuousClock.now - started
            metrics.sweepFinished(after: duration)
            if report != SweepReport() {
                logger.info(
                    "sweep",
                    metadata: [
                        "expired": "\(report.expired)", "orphaned_chunks": "\(report.orphanedChunks)",
                        "receipts_removed": "\(report.receiptsRemoved)", "unconfirmed": "\(report.unconfirmed)",
                        "duration_ms": "\(duration.millisecondsText)",
                    ])
            }
        } catch is CancellationError {
            return  // stopped with the server; the next sweep goes on from here
        } catch {
            logger.error("sweep failed", metadata: ["error.type": "\(type(of: error))"])
        }
    }
}

private func gracefulShutdownSleep(for duration: Duration) async throws {
    try await cancelWhenGracefulShutdown {
        try await Task.sleep(for: duration)
    }
}

/// Set once the store's `prepare()` has returned (its schema is in place). Services that
/// start beside the server, before it, check it before their first store operation.
final class StorePrepared: Sendable {
    private let prepared = Atomic<Bool>(false)

    var isSet: Bool { prepared.load(ordering: .acquiring) }

    func set() { prepared.store(true, ordering: .releasing) }
}
