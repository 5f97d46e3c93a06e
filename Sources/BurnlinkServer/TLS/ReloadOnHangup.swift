import Logging
import ServiceLifecycle
import UnixSignals

/// SIGHUP (`systemctl reload`, `kill -HUP`) reads the TLS certificate and key again. The
/// signal is trapped even without TLS, so a reload never ends the server.
struct ReloadOnHangup: Service {
    let identity: ReloadableTLSIdentity?
    let logger: Logger

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups { reload() }
        }
    }

    func reload() {
        guard let identity else {
            logger.notice("SIGHUP: nothing to reload (no --tls-cert)")
            return
        }
        do {
            try identity.reload()
            logger.notice(
                "SIGHUP: TLS certificate reloaded",
                metadata: ["certificate": "\(identity.summary)", "file": "\(identity.files.certificatePath)"])
        } catch {
            logger.error("SIGHUP: TLS certificate not reloaded, the previous one stays in use: \(error)")
        }
    }
}
