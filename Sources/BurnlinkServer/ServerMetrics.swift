import BurnlinkProtocol
import CoreMetrics
import Foundation
import Prometheus

/// The server's metrics (swift-metrics API, Prometheus registry per application, so tests
/// and several apps in one process never share counters). No label ever carries an id.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let created: CoreMetrics.Counter
    private let claimed: CoreMetrics.Counter
    private let expired: CoreMetrics.Counter
    private let revoked: CoreMetrics.Counter
    private let burned: CoreMetrics.Counter
    private let confirmed: CoreMetrics.Counter
    private let unconfirmed: CoreMetrics.Counter
    private let storedBytes: CoreMetrics.Gauge
    private let uploadsInProgress: CoreMetrics.Meter
    private let longPollsWaiting: CoreMetrics.Gauge
    private let requestsCreated: CoreMetrics.Counter
    private let requestsAnswered: CoreMetrics.Counter
    private let sweepDuration: CoreMetrics.Timer

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
        ]
        self.factory = factory
        created = Counter(label: "burnlink_secrets_created_total", factory: factory)
        claimed = Counter(label: "burnlink_secrets_claimed_total", factory: factory)
        expired = Counter(label: "burnlink_secrets_expired_total", factory: factory)
        revoked = Counter(label: "burnlink_secrets_revoked_total", factory: factory)
        burned = Counter(label: "burnlink_secrets_burned_total", factory: factory)
        confirmed = Counter(label: "burnlink_deliveries_confirmed_total", factory: factory)
        unconfirmed = Counter(label: "burnlink_deliveries_unconfirmed_total", factory: factory)
        storedBytes = Gauge(label: "burnlink_stored_bytes", factory: factory)
        uploadsInProgress = Meter(label: "burnlink_uploads_in_progress", factory: factory)
        longPollsWaiting = Gauge(label: "burnlink_long_polls_waiting", factory: factory)
        requestsCreated = Counter(label: "burnlink_requests_created_total", factory: factory)
        requestsAnswered = Counter(label: "burnlink_requests_answered_total", factory: factory)
        sweepDuration = Timer(label: "burnlink_sweep_duration_seconds", factory: factory)
    }

    func secretCreated() { created.increment() }
    func requestCreated() { requestsCreated.increment() }
    func requestAnswered() { requestsAnswered.increment() }
    func secretClaimed() { claimed.increment() }
    func secretsExpired(_ count: Int) { expired.increment(by: count) }
    func secretRevoked() { revoked.increment() }
    func secretBurned() { burned.increment() }
    func deliveryConfirmed() { confirmed.increment() }
    func deliveriesUnconfirmed(_ count: Int) { unconfirmed.increment(by: count) }
    func setStoredBytes(_ bytes: Int) { storedBytes.record(bytes) }
    func uploadStarted() { uploadsInProgress.increment() }
    func uploadEnded() { uploadsInProgress.decrement() }
    func setLongPollsWaiting(_ count: Int) { longPollsWaiting.record(count) }
    func sweepFinished(after duration: Duration) { sweepDuration.recordNanoseconds(duration.wholeNanoseconds) }

    func rejected(_ reason: ErrorCode) {
        Counter(label: "burnlink_rejected_requests_total", dimensions: [("reason", reason.rawValue)], factory: factory)
            .increment()
    }

    func request(method: String, route: String, status: Int, duration: Duration) {
        Timer(
            label: "burnlink_request_duration_seconds",
            dimensions: [("method", method), ("route", route), ("status", String(status))], factory: factory
        )
        .recordNanoseconds(duration.wholeNanoseconds)
    }

    /// The Prometheus text exposition.
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
