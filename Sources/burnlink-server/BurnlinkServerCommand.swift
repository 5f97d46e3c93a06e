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
        version: BurnlinkVersion.current,
        subcommands: [HashToken.self, HealthCheck.self]
    )

    @Option(
        help: Defaults.help("Address to listen on.", "BURNLINK_HOST", default: Defaults.configuration.host, valueName: "address"))
    var host: Verbatim?

    @Option(
        help: Defaults.help(
            "Port to listen on; 0 picks a free one.", "BURNLINK_PORT", default: "\(Defaults.configuration.port)",
            valueName: "port"))
    var port: Count?

    @Option(
        help: ArgumentHelp(
            "SQLite database file (secrets over 1 MiB go to a file each in <file>-chunks.d beside it), or a PostgreSQL URL (postgres://user@host:port/db?sslmode=...) shared by several replicas. [BURNLINK_DATABASE or BURNLINK_DATABASE_URL] (default: \(Defaults.configuration.databasePath))",
            discussion: "A PostgreSQL password can come from PGPASSWORD instead of the URL."))
    var database: Verbatim?

    @Option(
        help: Defaults.help(
            "Largest secret accepted: \(ByteCount.expected).", "BURNLINK_MAX_SIZE",
            default: Quantity.text(bytes: Defaults.configuration.maxSize), valueName: "size"))
    var maxSize: ByteCount?

    @Option(
        help: Defaults.help(
            "Longest expiry a sender may ask for: at least 1m.", "BURNLINK_MAX_EXPIRY",
            default: Defaults.seconds(Defaults.configuration.maxExpiry), valueName: "duration"))
    var maxExpiry: TimeSpan?

    @Option(
        help: Defaults.help(
            "Wrong passwords allowed before a secret is destroyed: 1 to 100.", "BURNLINK_PASSWORD_ATTEMPTS",
            default: "\(Defaults.configuration.passwordAttempts)", valueName: "n"))
    var passwordAttempts: Count?

    @Option(
        help: Defaults.help(
            "How long receipts are kept after a secret ends.", "BURNLINK_RECEIPT_RETENTION",
            default: Defaults.seconds(Defaults.configuration.receiptRetention), valueName: "duration"))
    var receiptRetention: TimeSpan?

    @Option(
        help: Defaults.help(
            "How long a claimer may fetch a secret again and confirm it arrived, after its claim: up to 1h; 0 destroys it as it is sent, with no second chance.",
            "BURNLINK_CLAIM_WINDOW", default: Defaults.seconds(Defaults.configuration.claimWindow), valueName: "duration"))
    var claimWindow: TimeSpan?

    @Option(
        help: Defaults.help(
            "How often expired secrets, ended claim sessions and old receipts are cleaned up, at least 100ms. (Expiry holds at once either way.)",
            "BURNLINK_SWEEP_INTERVAL", default: Quantity.text(Defaults.configuration.sweepInterval), valueName: "duration"))
    var sweepInterval: TimeSpan?

    @Option(
        help: Defaults.help(
            "Public origin clients build links on, when behind a proxy, e.g. https://burn.example.com.", "BURNLINK_PUBLIC_URL",
            valueName: "url"))
    var publicURL: PublicURL?

    @Flag(help: "Take client addresses from X-Forwarded-For (only behind a proxy you run). [BURNLINK_TRUST_PROXY=1]")
    var trustProxy = false

    @Option(
        help: Defaults.help(
            "Per-client limits: 'off', 'N/min' for creates, or 'N/min,M/min' for creates and failed lookups.",
            "BURNLINK_RATE_LIMIT",
            default: Defaults.configuration.rateLimit.map { "\(Int($0.createsPerMinute))/min,\(Int($0.failuresPerMinute))/min" }
                ?? "off", valueName: "limits"))
    var rateLimit: Limit<RateLimit>?

    @Option(
        help: Defaults.help(
            "Close a connection that sends nothing for this long, such as an upload whose body stalls: at least 100ms.",
            "BURNLINK_BODY_IDLE_TIMEOUT", default: Quantity.text(Defaults.configuration.idleTimeout), valueName: "duration"))
    var bodyIdleTimeout: TimeSpan?

    @Option(
        help: Defaults.help(
            "Uploads one client address may have in progress at once, or 'off'.", "BURNLINK_MAX_CONCURRENT_UPLOADS",
            default: Defaults.configuration.maxConcurrentUploads.map(String.init) ?? "off", valueName: "n|off"))
    var maxConcurrentUploads: Limit<Count>?

    @Option(
        help: Defaults.help(
            "Total ciphertext the server may hold: \(ByteCount.expected), or 'off'; creates past it get 507.",
            "BURNLINK_STORAGE_QUOTA",
            default: Defaults.configuration.storageQuota.map { Quantity.text(bytes: $0) } ?? "off", valueName: "size|off"))
    var storageQuota: Limit<ByteCount>?

    @Option(
        help: ArgumentHelp(
            "File of SHA-256 digests (hex, one per line) of the tokens allowed to create secrets; without it anyone may create. [BURNLINK_CREATOR_TOKENS]",
            discussion:
                "Make a digest with: printf %s \"$TOKEN\" | burnlink-server hash-token (or sha256sum). Opening a link never needs a token."
        ))
    var creatorTokens: Verbatim?

    @Option(
        help: Defaults.help(
            "Log level: \(LogLevel.expected).", "BURNLINK_LOG_LEVEL", default: Defaults.configuration.logLevel.rawValue,
            valueName: "level"))
    var logLevel: LogLevel?

    @Option(
        help: Defaults.help(
            "Directory of the browser pages (reveal.html, fill.html, new.html and their assets).", "BURNLINK_WEB_DIRECTORY",
            default: "the installed copy", valueName: "directory"))
    var webDirectory: Verbatim?

    @Option(
        help: Defaults.help(
            "Serve the browser create page, /new (the reveal and request fill pages are always served).",
            "BURNLINK_WEB_CREATE", default: Defaults.configuration.webCreate ? "on" : "off", valueName: "on|off"))
    var webCreate: Switch?

    @Option(
        help: Defaults.help(
            "PEM certificate chain (leaf first) to serve HTTPS with; needs --tls-key. SIGHUP reads both files again.",
            "BURNLINK_TLS_CERT", valueName: "file"))
    var tlsCert: Verbatim?

    @Option(
        help: Defaults.help("PEM private key of --tls-cert.", "BURNLINK_TLS_KEY", valueName: "file"))
    var tlsKey: Verbatim?

    @Option(
        help: Defaults.help(
            "tweetnacl-js served to the browser pages.", "BURNLINK_TWEETNACL", default: Defaults.configuration.tweetnaclPath,
            valueName: "file"))
    var tweetnacl: Verbatim?

    func run() async throws {
        // SIGHUP reloads TLS files once the server runs; until its handler is in place, it
        // must not end the process (a reload sent just after a start).
        signal(SIGHUP, SIG_IGN)
        AllocatorTuning.apply()
        DescriptorLimit.raise()
        LocalTimeZone.keepLoaded()
        let configuration = try makeConfiguration()
        // Log lines reach standard error from a thread of their own: a slow log sink must
        // not stall the event loops (BackgroundLogOutput). What waits is written at exit.
        let logOutput = BackgroundLogOutput.standardError
        defer { logOutput.flush() }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler(label: label, stream: logOutput)
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
        // A TLS certificate or key that cannot be used stops the start with its reason.
        let app = try buildApplication(configuration: configuration, store: store, logger: logger)
        // The address it listens on is logged once bound ("listening on http://HOST:PORT").
        logger.notice(
            "burnlink-server starting",
            metadata: [
                "version": "\(BurnlinkVersion.current)",
                "database": "\(databaseDescription)",
                "max_size": "\(configuration.maxSize)",
                // How many, never which: the digests stay in their file.
                "creator_tokens": "\(configuration.creatorTokens.map { String($0.digests.count) } ?? "off")",
                "storage_quota": "\(configuration.storageQuota.map(String.init) ?? "off")",
                "max_concurrent_uploads": "\(configuration.maxConcurrentUploads.map(String.init) ?? "off")",
            ])
        try await app.runService()
        // Every service has stopped: nothing uses the store any more.
        try await store.shutDown()
        logger.notice("burnlink-server stopped")
    }

    func makeConfiguration() throws -> ServerConfiguration {
        let environment = ProcessInfo.processInfo.environment
        let value = Fallback(environment: environment)
        var configuration = ServerConfiguration()

        if let host = try value(host, "BURNLINK_HOST", expected: "an address") { configuration.host = host.text }
        if let port = try value(port, "BURNLINK_PORT", expected: Count.expected) {
            guard port.value <= 65535 else { throw ValidationError("--port must be 0 to 65535") }
            configuration.port = port.value
        }
        if let text = try value(database, "BURNLINK_DATABASE_URL", "BURNLINK_DATABASE", expected: "a path or a URL")?.text {
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
        if let size = try value(maxSize, "BURNLINK_MAX_SIZE", expected: ByteCount.expected) {
            guard size.bytes > 0 else { throw ValidationError("--max-size: expected more than 0 bytes") }
            configuration.maxSize = size.bytes
        }
        if let span = try value(maxExpiry, "BURNLINK_MAX_EXPIRY", expected: TimeSpan.expected) {
            guard span.seconds >= configuration.minExpiry else {
                throw ValidationError("--max-expiry: expected at least 60 seconds, such as 7d")
            }
            configuration.maxExpiry = span.seconds.rounded(.down)
        }
        if let attempts = try value(passwordAttempts, "BURNLINK_PASSWORD_ATTEMPTS", expected: Count.expected) {
            guard (1...100).contains(attempts.value) else { throw ValidationError("--password-attempts must be 1 to 100") }
            configuration.passwordAttempts = attempts.value
        }
        if let span = try value(receiptRetention, "BURNLINK_RECEIPT_RETENTION", expected: TimeSpan.expected) {
            configuration.receiptRetention = span.seconds.rounded(.down)
        }
        if let span = try value(claimWindow, "BURNLINK_CLAIM_WINDOW", expected: TimeSpan.expected) {
            guard ServerConfiguration.claimWindowRange.contains(Int(span.seconds)), span.duration.components.attoseconds == 0
            else {
                throw ValidationError("--claim-window: expected whole seconds from 0 to 1h, such as 2m")
            }
            configuration.claimWindow = span.seconds
        }
        if let span = try value(sweepInterval, "BURNLINK_SWEEP_INTERVAL", expected: TimeSpan.expected) {
            guard span.duration >= .milliseconds(100) else {
                throw ValidationError("--sweep-interval: expected at least 100ms, such as 30s")
            }
            configuration.sweepInterval = span.duration
        }
        if let url = try value(publicURL, "BURNLINK_PUBLIC_URL", expected: PublicURL.expected) {
            configuration.publicURL = url.url
        }
        configuration.trustProxy = trustProxy || environment["BURNLINK_TRUST_PROXY"] == "1"
        if let limit = try value(rateLimit, "BURNLINK_RATE_LIMIT", expected: RateLimit.expected) {
            configuration.rateLimit = limit.value?.configuration
        }
        if let level = try value(logLevel, "BURNLINK_LOG_LEVEL", expected: LogLevel.expected) {
            configuration.logLevel = level.level
        }
        if let span = try value(bodyIdleTimeout, "BURNLINK_BODY_IDLE_TIMEOUT", expected: TimeSpan.expected) {
            guard span.duration >= .milliseconds(100) else {
                throw ValidationError("--body-idle-timeout: expected at least 100ms, such as 30s")
            }
            configuration.idleTimeout = span.duration
        }
        if let limit = try value(
            maxConcurrentUploads, "BURNLINK_MAX_CONCURRENT_UPLOADS", expected: "a number of at least 1, or 'off'")
        {
            if let count = limit.value, count.value < 1 {
                throw ValidationError("--max-concurrent-uploads: expected a number of at least 1, or 'off'")
            }
            configuration.maxConcurrentUploads = limit.value?.value
        }
        if let limit = try value(storageQuota, "BURNLINK_STORAGE_QUOTA", expected: "\(ByteCount.expected), or 'off'") {
            if let size = limit.value, size.bytes < 1 {
                throw ValidationError("--storage-quota: expected more than 0 bytes, or 'off'")
            }
            configuration.storageQuota = limit.value?.bytes
        }
        if let path = try value(creatorTokens, "BURNLINK_CREATOR_TOKENS", expected: "a file")?.text {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("--creator-tokens: cannot read \(path)")
            }
            do {
                configuration.creatorTokens = try CreatorTokens(parsing: text)
            } catch {
                throw ValidationError("--creator-tokens \(path): \(error)")
            }
        }
        configuration.webDirectory = try value(webDirectory, "BURNLINK_WEB_DIRECTORY", expected: "a directory")?.text
        if let webCreate = try value(webCreate, "BURNLINK_WEB_CREATE", expected: Switch.expected) {
            configuration.webCreate = webCreate == .on
        }
        let certificate = try value(tlsCert, "BURNLINK_TLS_CERT", expected: "a file")?.text
        let key = try value(tlsKey, "BURNLINK_TLS_KEY", expected: "a file")?.text
        switch (certificate, key) {
        case (let certificate?, let key?): configuration.tls = TLSFiles(certificatePath: certificate, keyPath: key)
        case (nil, nil): break
        default: throw ValidationError("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
        }
        if let path = try value(tweetnacl, "BURNLINK_TWEETNACL", expected: "a file")?.text { configuration.tweetnaclPath = path }
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
