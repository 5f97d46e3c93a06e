import BurnlinkCore
import BurnlinkProtocol
import Foundation
import Logging

/// Everything an operator can set; the executable fills it from flags and environment.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// SQLite file path.
    public var databasePath = "./burnlink-data/burnlink.sqlite"
    /// A shared PostgreSQL database instead of the SQLite file (several replicas).
    public var postgresURL: PostgresURL?
    /// Largest envelope accepted, in bytes.
    public var maxSize = 100 << 20
    public var minExpiry: TimeInterval = 60
    public var maxExpiry: TimeInterval = 7 * 86_400
    /// Used when a create names no expiry (capped by `maxExpiry`).
    public var defaultExpiry: TimeInterval = 86_400
    /// Wrong passwords allowed before a secret is destroyed.
    public var passwordAttempts = 5
    /// How long receipts outlive the ciphertext.
    public var receiptRetention: TimeInterval = 7 * 86_400
    /// How long a claim session stays open for its claimer (docs/http-api.md section
    /// 3.3.1); 0 opens none: the ciphertext then goes with the claim's body.
    public var claimWindow: TimeInterval = 120
    /// Claim windows an operator may set, in seconds.
    public static let claimWindowRange = 0...API.maximumClaimWindow
    public var sweepInterval: Duration = .seconds(30)
    /// Base URL clients should build links on (behind a proxy); nil: the URL they used.
    /// Set it through `validPublicURL`.
    public var publicURL: String?
    /// Take the client address from the last `X-Forwarded-For` entry (only behind a proxy).
    public var trustProxy = false
    /// nil turns rate limiting off.
    public var rateLimit: RateLimitConfiguration? = RateLimitConfiguration()
    /// A connection that sends nothing for this long is closed: an idle keep-alive
    /// connection, or an upload whose body stalls (slow-loris); nothing of it is kept.
    public var idleTimeout: Duration = .seconds(30)
    /// Uploads one client address may have in progress at once; nil: no cap. Generous by
    /// default: `send --recipients N` uploads N at once, and offices share one address.
    public var maxConcurrentUploads: Int? = 16
    /// Total ciphertext bytes the store may hold (readable secrets and uploads in
    /// progress); a create that would pass it answers 507. nil: no quota.
    public var storageQuota: Int?
    /// When set, creating a secret needs `Authorization: Bearer <token>` with one of
    /// these tokens; opening never does.
    public var creatorTokens: CreatorTokens?
    public var logLevel: Logger.Level = .info
    /// Directory holding the browser reveal page (reveal.html and its assets); nil: the
    /// installed copy beside the binary, else the source tree's Web/.
    public var webDirectory: String?
    /// Serve the browser create page (`GET /new`); the reveal and fill pages are always served.
    public var webCreate = true
    /// tweetnacl-js, served to the reveal page (Debian's node-tweetnacl installs it here).
    /// HTTPS on the listening port with this certificate and key (`--tls-cert`, `--tls-key`);
    /// nil serves plain HTTP, for a proxy in front.
    public var tls: TLSFiles?
    public var tweetnaclPath = "/usr/share/nodejs/tweetnacl/nacl-fast.min.js"

    public init() {}

    /// `text` as a public URL, if every link built on it parses under the link grammar
    /// (docs/format.md): an origin, `https://host[:port]` (or http), with no user-info,
    /// path, query or fragment. One trailing slash is dropped. Anything else would make
    /// links that `burnlink open` refuses: secrets stored that nobody could open.
    public static func validPublicURL(_ text: String) -> String? {
        let url = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard Link.origin(of: url) == url else { return nil }
        return url
    }
}

/// Token buckets per client address.
public struct RateLimitConfiguration: Sendable, Equatable {
    /// Creates allowed per minute (and as a burst).
    public var createsPerMinute: Double = 60
    /// Failed lookups and claims (404, 403) allowed per minute (and as a burst): this is
    /// what makes guessing ids, tokens or passwords online slow.
    public var failuresPerMinute: Double = 20

    public init(createsPerMinute: Double = 60, failuresPerMinute: Double = 20) {
        self.createsPerMinute = createsPerMinute
        self.failuresPerMinute = failuresPerMinute
    }

    /// `off`, `N/min` (creates; failures keep their default), or `N/min,M/min`.
    public init?(parsing text: String) {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard (1...2).contains(parts.count), let creates = Self.perMinute(parts[0]) else { return nil }
        createsPerMinute = creates
        if parts.count == 2 {
            guard let failures = Self.perMinute(parts[1]) else { return nil }
            failuresPerMinute = failures
        }
    }

    private static func perMinute(_ text: String) -> Double? {
        let pieces = text.split(separator: "/")
        guard pieces.count == 2, let count = Double(pieces[0]), count > 0 else { return nil }
        switch pieces[1] {
        case "s", "sec", "second": return count * 60
        case "m", "min", "minute": return count
        case "h", "hour": return count / 60
        default: return nil
        }
    }
}
