import ArgumentParser
import AsyncHTTPClient
import BurnlinkServer
import Foundation
import NIOSSL

/// `burnlink-server healthcheck`: asks the server on this machine for `GET /healthz`, for
/// a container's HEALTHCHECK or a compose file's `healthcheck:` (the image has no shell and
/// no curl). The port and scheme come from the same flags or variables the server reads.
struct HealthCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck",
        abstract: "Exit 0 when the server on this machine answers GET /healthz with 200, else 1.",
        discussion: """
            It connects to the address and port the server's own --host and --port (or \
            BURNLINK_HOST, BURNLINK_PORT) name, a wildcard address on loopback, over HTTPS when \
            --tls-cert or BURNLINK_TLS_CERT is set: 'burnlink-server --port 9000 healthcheck'. It checks that the server is up and its \
            storage answers, not who it is: the certificate is not verified.
            """
    )

    /// The server's own --port and --tls-cert (or their variables) say where to ask and how.
    @ParentCommand var server: BurnlinkServerCommand

    @Option(help: ArgumentHelp("Seconds to wait for the answer.", valueName: "seconds"))
    var timeout = 5

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let value = Fallback(environment: environment)
        let port = try value(server.port, "BURNLINK_PORT", expected: Count.expected)?.value ?? Defaults.configuration.port
        let host = Self.probeHost(
            try value(server.host, "BURNLINK_HOST", expected: "an address")?.text ?? Defaults.configuration.host)
        let secure = try value(server.tlsCert, "BURNLINK_TLS_CERT", expected: "a file") != nil
        let url = "\(secure ? "https" : "http")://\(host):\(port)/healthz"

        var configuration = HTTPClient.Configuration()
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        tlsConfiguration.certificateVerification = .none
        configuration.tlsConfiguration = tlsConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let status: UInt
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(Int64(max(timeout, 1))))
            status = response.status.code
        } catch {
            try? await client.shutdown()
            throw HealthFailure(description: "\(url): \(error)")
        }
        try? await client.shutdown()
        guard status == 200 else { throw HealthFailure(description: "\(url): HTTP \(status)") }
        print("ok")
    }
}

extension HealthCheck {
    /// Where to reach a server listening on `host`: a wildcard address is reached on the
    /// loopback address of its family; an IPv6 literal goes in brackets.
    static func probeHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": return "127.0.0.1"
        case "::", "[::]": return "[::1]"
        default: return host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        }
    }
}

/// A failed probe: "Error: <url>: <why>" on stderr, exit 1.
struct HealthFailure: Error, CustomStringConvertible {
    let description: String
}
