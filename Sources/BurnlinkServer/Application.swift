import BurnlinkCore
import BurnlinkProtocol
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the burnlink server: routes, middleware and the sweeper, over a store. Throws
/// `TLSLoadError` when `configuration.tls` names files that make no certificate and key.
/// The event loops are NIO's shared ones unless a test gives the server loops of its own.
public func buildApplication(
    configuration: ServerConfiguration,
    store: any SecretStore,
    clock: any ServerClock = SystemServerClock(),
    metrics: ServerMetrics = ServerMetrics(),
    logger: Logger? = nil,
    eventLoopGroupProvider: EventLoopGroupProvider = .singleton
) throws -> some ApplicationProtocol {
    var logger = logger ?? Logger(label: "burnlink-server")
    if logger.logLevel > configuration.logLevel || logger.logLevel == .info { logger.logLevel = configuration.logLevel }

    let notifier = ReceiptNotifier()
    let router = makeRouter(configuration: configuration, store: store, clock: clock, metrics: metrics, notifier: notifier)
    let storePrepared = StorePrepared()
    let sweeper = Sweeper(
        store: store, clock: clock, interval: configuration.sweepInterval,
        receiptRetention: configuration.receiptRetention, metrics: metrics, logger: logger,
        storePrepared: storePrepared)
    // The idle timeout also ends uploads whose body stalls (slow-loris): the connection
    // closes, the body stream fails, and the controller removes what was staged.
    // A HangUpWatcher on each connection lets long-polls end when their client leaves.
    let http1 = HTTPServerBuilder.http1(
        configuration: .init(additionalChannelHandlers: [HangUpWatcher()], idleTimeout: timeAmount(configuration.idleTimeout)))
    let identity = try configuration.tls.map { files throws(TLSLoadError) in try ReloadableTLSIdentity(files: files) }
    let scheme = identity == nil ? "http" : "https"
    if let identity { logger.notice("TLS certificate: \(identity.summary)") }
    var app = Application(
        router: router,
        server: try identity.map { try .tls(http1, tlsConfiguration: $0.serverConfiguration) } ?? http1,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "burnlink"),
        onServerRunning: { [logger] channel in
            // The bound address (a --port 0 server's real port): tests and scripts read it here.
            guard let address = channel.localAddress, let port = address.port, let ip = address.ipAddress else { return }
            let host = ip.contains(":") ? "[\(ip)]" : ip
            logger.notice("listening on \(scheme)://\(host):\(port)")
            ServiceManager.ready(status: "listening on \(scheme)://\(host):\(port)")
        },
        eventLoopGroupProvider: eventLoopGroupProvider,
        logger: logger
    )
    // The store runs before the server and stops after it (PostgreSQL's pool, SQLite's
    // checkpoints); its schema is ready before the first request and the first sweep.
    app.addServices(store)
    app.beforeServerStarts {
        try await store.prepare()
        storePrepared.set()
    }
    if let changes = store.receiptChanges {
        // Changes made by other replicas wake this process's long-polls.
        app.addServices(ReceiptChangeRelay(changes: changes, notifier: notifier))
    }
    app.addServices(sweeper)
    app.addServices(ReloadOnHangup(identity: identity, logger: logger))
    // systemd (Type=notify) learns when a stop begins; readiness is sent from onServerRunning.
    app.addServices(ShutdownAnnouncer())
    return app
}

private func timeAmount(_ duration: Duration) -> TimeAmount {
    .nanoseconds(duration.wholeNanoseconds)
}

/// Wakes this process's receipt long-polls for changes reported by a shared store.
struct ReceiptChangeRelay: Service {
    let changes: AsyncStream<SecretID>
    let notifier: ReceiptNotifier

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await id in changes { notifier.notify(id) }
        }
    }
}

/// The router alone, for tests that drive requests without a socket.
public func buildRouter(
    configuration: ServerConfiguration,
    store: any SecretStore,
    clock: any ServerClock = SystemServerClock(),
    metrics: ServerMetrics = ServerMetrics()
) -> Router<BurnlinkRequestContext> {
    makeRouter(configuration: configuration, store: store, clock: clock, metrics: metrics, notifier: ReceiptNotifier())
}

func makeRouter(
    configuration: ServerConfiguration,
    store: any SecretStore,
    clock: any ServerClock,
    metrics: ServerMetrics,
    notifier: ReceiptNotifier
) -> Router<BurnlinkRequestContext> {
    let router = Router(context: BurnlinkRequestContext.self)
    router.middlewares.add(SecurityHeadersMiddleware())
    router.middlewares.add(RequestLogMiddleware(metrics: metrics))
    let allowedMethods = AllowedMethods()
    router.middlewares.add(ErrorResponseMiddleware(metrics: metrics, allowedMethods: allowedMethods))

    let controller = SecretsController(
        store: store, configuration: configuration, clock: clock, metrics: metrics, notifier: notifier,
        createLimiter: configuration.rateLimit.map { RateLimiter(perMinute: $0.createsPerMinute, clock: clock) },
        failureLimiter: configuration.rateLimit.map { RateLimiter(perMinute: $0.failuresPerMinute, clock: clock) },
        uploadSlots: configuration.maxConcurrentUploads.map { UploadSlots(limit: $0) })
    controller.addRoutes(to: router)
    RevealPage.addRoutes(to: router, configuration: configuration)

    let health: @Sendable (Request, BurnlinkRequestContext) async throws -> Response = { request, _ in
        do {
            _ = try await store.storedBytes()
        } catch {
            throw APIError(.serviceUnavailable, .unavailable, "storage unavailable")
        }
        let body = request.method == .head ? ByteBuffer() : ByteBuffer(string: #"{"status":"ok"}"#)
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: body))
    }
    router.get("/healthz", use: health)
    router.head("/healthz", use: health)
    router.get("/metrics") { _, _ -> Response in
        if let bytes = try? await store.storedBytes() { metrics.setStoredBytes(bytes) }
        metrics.setLongPollsWaiting(notifier.waitingCount)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
    }
    allowedMethods.load(router.routes)
    return router
}
