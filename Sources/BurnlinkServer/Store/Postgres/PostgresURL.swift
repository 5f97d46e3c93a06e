import Foundation
import NIOSSL
import PostgresNIO

/// A `postgres://` connection URL, read the way libpq reads one (the subset operators use):
///
///     postgres[ql]://[user[:password]@][host][:port][/database][?sslmode=...&sslrootcert=...&host=/socket/dir]
///
/// - The password may come from the URL or, when the URL has none, from `PGPASSWORD`,
///   so that it need not appear in a process listing.
/// - `sslmode` as in libpq: `disable`, `allow` and `prefer` (TLS if offered, unverified),
///   `require` (TLS, unverified), `verify-ca` (TLS, chain checked), `verify-full` (TLS,
///   chain and host name checked). libpq's default is `prefer`, and so is ours.
/// - `host=/dir` (or a percent-encoded path as the host) connects through a Unix socket.
public struct PostgresURL: Sendable, Equatable {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var unixSocketDirectory: String?
    public var username: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    public var sslRootCertificate: String?
    public var applicationName: String
    /// Seconds to wait for a new connection (libpq's `connect_timeout`).
    public var connectTimeout: Int

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// True for text that names a PostgreSQL database rather than a SQLite file.
    public static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(Invalid) {
        guard Self.isPostgresURL(text), let components = URLComponents(string: text) else {
            throw Invalid(description: "expected postgres://user[:password]@host[:port]/database")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] {
            guard let value = item.value, query[item.name] == nil else {
                throw Invalid(description: "query parameter '\(item.name)' needs exactly one value")
            }
            query[item.name] = value
        }
        let known: Set<String> = ["sslmode", "sslrootcert", "host", "application_name", "connect_timeout"]
        if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
            throw Invalid(description: "unsupported query parameter '\(unknown)'")
        }

        let urlHost = components.percentEncodedHost.flatMap { $0.removingPercentEncoding } ?? ""
        if let socket = query["host"] ?? (urlHost.hasPrefix("/") ? urlHost : nil) {
            guard socket.hasPrefix("/") else { throw Invalid(description: "host= must be a socket directory (an absolute path)") }
            unixSocketDirectory = socket
            host = "localhost"
        } else {
            unixSocketDirectory = nil
            host = urlHost.isEmpty ? "localhost" : urlHost
        }
        port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw Invalid(description: "port must be 1 to 65535") }

        guard let user = components.user.flatMap({ $0.removingPercentEncoding }) ?? environment["PGUSER"], !user.isEmpty else {
            throw Invalid(description: "no user: give postgres://USER@host/database (or set PGUSER)")
        }
        username = user
        password = components.password.flatMap { $0.removingPercentEncoding } ?? environment["PGPASSWORD"]
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.removingPercentEncoding.flatMap { $0.isEmpty ? nil : $0 } ?? user
        guard !database.contains("/") else { throw Invalid(description: "the path must be a single database name") }

        let modeText = query["sslmode"] ?? "prefer"
        guard let mode = SSLMode(rawValue: modeText) else {
            throw Invalid(description: "sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        sslMode = mode
        sslRootCertificate = query["sslrootcert"]
        applicationName = query["application_name"] ?? "burnlink-server"
        if let text = query["connect_timeout"] {
            guard let seconds = Int(text), (1...600).contains(seconds) else {
                throw Invalid(description: "connect_timeout must be 1 to 600 seconds")
            }
            connectTimeout = seconds
        } else {
            connectTimeout = 10
        }
        if unixSocketDirectory != nil, mode == .require || mode == .verifyCA || mode == .verifyFull {
            throw Invalid(description: "sslmode=\(mode.rawValue) cannot be used over a Unix socket")
        }
    }

    /// The URL without its password, for logs and error messages.
    public var redacted: String {
        let location = unixSocketDirectory.map { "[\($0)]" } ?? "\(host):\(port)"
        return "postgres://\(username)@\(location)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// Whether the database is on this machine: a Unix socket, `localhost`, or a loopback
    /// address (127.0.0.0/8, ::1).
    public var isLocal: Bool {
        if unixSocketDirectory != nil { return true }
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if name == "localhost" || name == "::1" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// What to warn the operator of at start, or nil: a database on another host reached
    /// without verified TLS, where whoever is on the path can read the traffic (verifiers,
    /// ciphertext) or stand in for the server. `prefer`, the default as in libpq, silently
    /// falls back to plaintext when the server offers no TLS; `require` encrypts but
    /// accepts any certificate. Local connections never leave the machine.
    public var transportWarning: String? {
        guard !isLocal else { return nil }
        let advice = "use sslmode=verify-full (with sslrootcert=) for a database on another host"
        switch sslMode {
        case .verifyCA, .verifyFull:
            return nil
        case .disable:
            return "the connection to the database at \(host) is not encrypted (sslmode=disable); \(advice)"
        case .allow, .prefer:
            return "the connection to the database at \(host) may fall back to plaintext and does not verify the "
                + "server's certificate (sslmode=\(sslMode.rawValue)); \(advice)"
        case .require:
            return "the connection to the database at \(host) does not verify the server's certificate "
                + "(sslmode=require); \(advice)"
        }
    }

    /// The client configuration postgres-nio needs.
    public func clientConfiguration() throws -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let unixSocketDirectory {
            // libpq's convention: the socket file is .s.PGSQL.<port> in the directory.
            configuration = PostgresClient.Configuration(
                unixSocketPath: "\(unixSocketDirectory)/.s.PGSQL.\(port)",
                username: username, password: password, database: database)
        } else {
            configuration = PostgresClient.Configuration(
                host: host, port: port, username: username, password: password,
                database: database, tls: try tls())
        }
        configuration.options.connectTimeout = .seconds(connectTimeout)
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        return configuration
    }

    private func tls() throws -> PostgresClient.Configuration.TLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable:
            return .disable
        case .allow, .prefer, .require:
            // libpq encrypts but does not authenticate the server in these modes.
            configuration.certificateVerification = .none
        case .verifyCA:
            configuration.certificateVerification = .noHostnameVerification
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
        }
        if let sslRootCertificate {
            configuration.trustRoots = .file(sslRootCertificate)
        }
        return sslMode == .allow || sslMode == .prefer ? .prefer(configuration) : .require(configuration)
    }
}
