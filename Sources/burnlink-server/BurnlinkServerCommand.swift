import ArgumentParser
import BurnlinkProtocol
import BurnlinkServer
import Foundation
import Hummingbird
import Logging

/// `burnlink-server`: flags (or BURNLINK_* environment variables) in, a running server out.
@main
struct BurnlinkServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "burnlink-server",
        abstract: "The burnlink blob store: keeps encrypted one-time secrets it cannot read.",
        discussion: """
        Every option can also be set through the environment variable named in its help; \
        a flag wins over the variable.
        """,
        subcommands: [HashToken.self]
    )

    @Option(help: "Address to listen on. [BURNLINK_HOST] (default: 127.0.0.1)")
    var host: String?

    @Option(help: "Port to listen on. [BURNLINK_PORT] (default: 8080)")
    var port: Int?

    @Option(help: ArgumentHelp(
        "SQLite database file (secrets over 1 MiB go to <file>-chunks beside it), or a PostgreSQL URL (postgres://user@host:port/db?sslmode=...) shared by several replicas. [BURNLINK_DATABASE or BURNLINK_DATABASE_URL] (default: ./burnlink-data/burnlink.sqlite)",
        discussion: "A PostgreSQL password can come from PGPASSWORD instead of the URL."))
    var database: String?

    @Option(help: "Largest secret accepted: bytes or a size such as 100MiB. [BURNLINK_MAX_SIZE] (default: 100MiB)")
    var maxSize: String?

    @Option(help: "Longest expiry a sender may ask for: seconds or a duration such as 7d. [BURNLINK_MAX_EXPIRY] (default: 7d)")
    var maxExpiry: String?

    @Option(help: "Wrong passwords allowed before a secret is destroyed. [BURNLINK_PASSWORD_ATTEMPTS] (default: 5)")
    var passwordAttempts: Int?

    @Option(help: "How long receipts are kept after a secret ends, e.g. 7d. [BURNLINK_RECEIPT_RETENTION] (default: 7d)")
    var receiptRetention: String?

    @Option(help: "How long a claimer may fetch a secret again and confirm it arrived, after its claim: a duration such as 2m, up to 1h; 0 destroys it as it is sent, with no second chance. [BURNLINK_CLAIM_WINDOW] (default: 2m)")
    var claimWindow: String?

    @Option(help: "How often expired secrets, ended claim sessions and old receipts are cleaned up: a duration such as 30s or 500ms. (Expiry holds at once either way.) [BURNLINK_SWEEP_INTERVAL] (default: 30s)")
    var sweepInterval: String?

    @Option(help: "Public base URL clients build links on, when behind a proxy, e.g. https://burn.example.com. [BURNLINK_PUBLIC_URL]")
    var publicURL: String?

    @Flag(help: "Take client addresses from X-Forwarded-For (only behind a proxy you run). [BURNLINK_TRUST_PROXY=1]")
    var trustProxy = false

    @Option(help: "Per-client limits: 'off', 'N/min' for creates, or 'N/min,M/min' for creates and failed lookups. [BURNLINK_RATE_LIMIT] (default: 60/min,20/min)")
    var rateLimit: String?

    @Option(help: "Close a connection that sends nothing for this long, such as an upload whose body stalls: seconds or a duration such as 30s or 500ms. [BURNLINK_BODY_IDLE_TIMEOUT] (default: 30s)")
    var bodyIdleTimeout: String?

    @Option(help: "Uploads one client address may have in progress at once, or 'off'. [BURNLINK_MAX_CONCURRENT_UPLOADS] (default: 16)")
    var maxConcurrentUploads: String?

    @Option(help: "Total ciphertext the server may hold: bytes or a size such as 10GiB, or 'off'; creates past it get 507. [BURNLINK_STORAGE_QUOTA] (default: off)")
    var storageQuota: String?

    @Option(help: ArgumentHelp(
        "File of SHA-256 digests (hex, one per line) of the tokens allowed to create secrets; without it anyone may create. [BURNLINK_CREATOR_TOKENS]",
        discussion: "Make a digest with: printf %s \"$TOKEN\" | burnlink-server hash-token (or sha256sum). Opening a link never needs a token."))
    var creatorTokens: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. [BURNLINK_LOG_LEVEL] (default: info)")
    var logLevel: String?

    @Option(help: "Directory of the browser reveal page (reveal.html and its assets). [BURNLINK_WEB_DIRECTORY] (default: the installed copy)")
    var webDirectory: String?

    @Option(help: "tweetnacl-js served to the reveal page. [BURNLINK_TWEETNACL] (default: /usr/share/nodejs/tweetnacl/nacl-fast.min.js)")
    var tweetnacl: String?

    func run() async throws {
        let configuration = try makeConfiguration()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = configuration.logLevel
            return handler
        }
        var logger = Logger(label: "burnlink-server")
        logger.logLevel = configuration.logLevel

        let store: any SecretStore
        let databaseDescription: String
        if let url = configuration.postgresURL {
            store = try PostgresStore(url: url, logger: logger)
            databaseDescription = url.redacted
        } else {
            do {
                store = try SQLiteStore(path: configuration.databasePath)
            } catch let error as DatabaseInUse {
                // Printed as "Error: ...", exit 1, without the usage text of a flag error.
                throw ServerStartFailure(description: "\(error); stop it first, or give this server its own --database")
            } catch {
                throw ValidationError("cannot open the database at \(configuration.databasePath): \(error)")
            }
            databaseDescription = configuration.databasePath
        }
        let app = buildApplication(configuration: configuration, store: store, logger: logger)
        let base = "http://\(configuration.host):\(configuration.port)"
        logger.notice("burnlink-server listening", metadata: [
            "address": "\(base)", "database": "\(databaseDescription)",
            "max_size": "\(configuration.maxSize)",
            // How many, never which: the digests stay in their file.
            "creator_tokens": "\(configuration.creatorTokens.map { String($0.digests.count) } ?? "off")",
            "storage_quota": "\(configuration.storageQuota.map(String.init) ?? "off")",
            "max_concurrent_uploads": "\(configuration.maxConcurrentUploads.map(String.init) ?? "off")",
        ])
        try await app.runService()
    }

    func makeConfiguration() throws -> ServerConfiguration {
        let environment = ProcessInfo.processInfo.environment
        func value(_ flag: String?, _ variable: String) -> String? { flag ?? environment[variable] }

        var configuration = ServerConfiguration()
        if let host = value(host, "BURNLINK_HOST") { configuration.host = host }
        if let text = value(port.map(String.init), "BURNLINK_PORT") {
            guard let port = Int(text), (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
            configuration.port = port
        }
        if let text = database ?? environment["BURNLINK_DATABASE_URL"] ?? environment["BURNLINK_DATABASE"] {
            if PostgresURL.isPostgresURL(text) {
                do {
                    configuration.postgresURL = try PostgresURL(text, environment: environment)
                } catch {
                    throw ValidationError("--database: \(error)")
                }
            } else {
                configuration.databasePath = text
            }
        }
        if let text = value(maxSize, "BURNLINK_MAX_SIZE") {
            guard let bytes = Quantity.bytes(text), bytes > 0 else { throw ValidationError("--max-size: expected bytes or a size such as 100MiB") }
            configuration.maxSize = bytes
        }
        if let text = value(maxExpiry, "BURNLINK_MAX_EXPIRY") {
            guard let seconds = Quantity.seconds(text), seconds >= Int(configuration.minExpiry) else {
                throw ValidationError("--max-expiry: expected at least 60 seconds, or a duration such as 7d")
            }
            configuration.maxExpiry = TimeInterval(seconds)
        }
        if let text = value(passwordAttempts.map(String.init), "BURNLINK_PASSWORD_ATTEMPTS") {
            guard let attempts = Int(text), (1...100).contains(attempts) else { throw ValidationError("--password-attempts must be 1 to 100") }
            configuration.passwordAttempts = attempts
        }
        if let text = value(receiptRetention, "BURNLINK_RECEIPT_RETENTION") {
            guard let seconds = Quantity.seconds(text) else { throw ValidationError("--receipt-retention: expected a duration such as 7d") }
            configuration.receiptRetention = TimeInterval(seconds)
        }
        if let text = value(claimWindow, "BURNLINK_CLAIM_WINDOW") {
            guard let seconds = Quantity.seconds(text), ServerConfiguration.claimWindowRange.contains(seconds) else {
                throw ValidationError("--claim-window: expected a duration from 0 to 1h, such as 2m")
            }
            configuration.claimWindow = TimeInterval(seconds)
        }
        if let text = value(sweepInterval, "BURNLINK_SWEEP_INTERVAL") {
            guard let interval = Quantity.duration(text), interval >= .milliseconds(100) else {
                throw ValidationError("--sweep-interval: expected a duration of at least 100ms, such as 30s")
            }
            configuration.sweepInterval = interval
        }
        if let text = value(publicURL, "BURNLINK_PUBLIC_URL") {
            guard let url = ServerConfiguration.validPublicURL(text) else {
                throw ValidationError("--public-url: expected an origin, https://host[:port], with nothing after it (no path, query, fragment or user name)")
            }
            configuration.publicURL = url
        }
        configuration.trustProxy = trustProxy || environment["BURNLINK_TRUST_PROXY"] == "1"
        if let text = value(rateLimit, "BURNLINK_RATE_LIMIT") {
            if text == "off" {
                configuration.rateLimit = nil
            } else {
                guard let limit = RateLimitConfiguration(parsing: text) else {
                    throw ValidationError("--rate-limit: expected 'off', 'N/min' or 'N/min,M/min'")
                }
                configuration.rateLimit = limit
            }
        }
        if let text = value(logLevel, "BURNLINK_LOG_LEVEL") {
            guard let level = Logger.Level(rawValue: text) else { throw ValidationError("--log-level: unknown level '\(text)'") }
            configuration.logLevel = level
        }
        if let text = value(bodyIdleTimeout, "BURNLINK_BODY_IDLE_TIMEOUT") {
            guard let timeout = Quantity.duration(text), timeout >= .milliseconds(100) else {
                throw ValidationError("--body-idle-timeout: expected a duration of at least 100ms, such as 30s")
            }
            configuration.idleTimeout = timeout
        }
        if let text = value(maxConcurrentUploads, "BURNLINK_MAX_CONCURRENT_UPLOADS") {
            if text == "off" {
                configuration.maxConcurrentUploads = nil
            } else {
                guard let count = Int(text), count >= 1 else {
                    throw ValidationError("--max-concurrent-uploads: expected a number of at least 1, or 'off'")
                }
                configuration.maxConcurrentUploads = count
            }
        }
        if let text = value(storageQuota, "BURNLINK_STORAGE_QUOTA") {
            if text == "off" {
                configuration.storageQuota = nil
            } else {
                guard let bytes = Quantity.bytes(text), bytes > 0 else {
                    throw ValidationError("--storage-quota: expected bytes, a size such as 10GiB, or 'off'")
                }
                configuration.storageQuota = bytes
            }
        }
        if let path = value(creatorTokens, "BURNLINK_CREATOR_TOKENS") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("--creator-tokens: cannot read \(path)")
            }
            do {
                configuration.creatorTokens = try CreatorTokens(parsing: text)
            } catch {
                throw ValidationError("--creator-tokens \(path): \(error)")
            }
        }
        configuration.webDirectory = value(webDirectory, "BURNLINK_WEB_DIRECTORY")
        if let path = value(tweetnacl, "BURNLINK_TWEETNACL") { configuration.tweetnaclPath = path }
        return configuration
    }
}

/// A start-up failure that is not a bad flag: its description is the whole message.
struct ServerStartFailure: Error, CustomStringConvertible {
    let description: String
}

/// `burnlink-server hash-token`: the line for a `--creator-tokens` file, from a token read
/// on standard input, so the token never appears in argv or shell history.
struct HashToken: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the SHA-256 digest of a creator token read from standard input.",
        discussion: """
        Make a token, for example with 'openssl rand -hex 32', give it to the person who may \
        create secrets, and add the digest this prints to the --creator-tokens file. A token is \
        \(API.HeaderValue.creatorTokenGrammar).
        """
    )

    func run() throws {
        var line = readLine(strippingNewline: true) ?? ""
        if line.hasSuffix("\r") { line.removeLast() }
        guard API.HeaderValue.creatorToken(line) != nil else {
            throw ValidationError("expected a token of \(API.HeaderValue.creatorTokenGrammar) on standard input")
        }
        print(CreatorTokens.digestLine(token: line))
    }
}
