import BurnlinkClient
import BurnlinkProtocol

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Environment variables, read one at a time: ProcessInfo's copy of the whole environment
/// costs a start-up time every command would pay.
enum Environment {
    /// The variable's value; nil when it is unset or empty.
    static func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        let value = String(cString: raw)
        return value.isEmpty ? nil : value
    }
}

/// `$XDG_STATE_HOME/burnlink`, else `~/.local/state/burnlink`; nil when neither gives an
/// absolute path (a relative path in either variable is ignored, as the XDG base directory
/// rules say).
func stateDirectory() -> String? {
    let absolute = { (name: String) in Environment.value(name).flatMap { $0.hasPrefix("/") ? $0 : nil } }
    guard let state = absolute("XDG_STATE_HOME") ?? absolute("HOME").map({ $0 + "/.local/state" }) else { return nil }
    return state + "/burnlink"
}

/// Where `open` keeps its claim sessions for a re-run. Without it, a claim that failed
/// part-way could never be resumed, so `open` claims nothing.
func claimSessionStore() throws(ClientError) -> ClaimSessionStore {
    let directory = try requiredStateDirectory(
        "nothing was claimed: no place to record the claim", hint: "set HOME, or XDG_STATE_HOME")
    return ClaimSessionStore(directory: directory + "/sessions")
}

/// Where `request` keeps the private keys of the requests this machine waits on.
func pendingRequests() throws(ClientError) -> PendingRequests {
    let directory = try requiredStateDirectory(
        "no place to keep the request's private key",
        hint: "set HOME, or use 'burnlink request --wait', which keeps the key in memory")
    return PendingRequests(directory: directory + "/requests")
}

/// `stateDirectory()`, or a usage error that says what has no place without one.
private func requiredStateDirectory(_ problem: String, hint: String) throws(ClientError) -> String {
    guard let directory = stateDirectory() else {
        throw .usage("\(problem): neither XDG_STATE_HOME nor HOME is an absolute path", hint: hint)
    }
    return directory
}

/// Defaults from `$XDG_CONFIG_HOME/burnlink/config` (else `~/.config/burnlink/config`):
/// `key = value` lines for `server`, `expires`, `views`, `token` and `cacert`; `#` starts a
/// comment.
struct ConfigFile {
    var server: String?
    /// A PEM file of the certificate authorities to trust instead of the system's.
    var cacert: String?
    var expires: String?
    var views: Int?
    /// A creator token for servers that require one (used by `send` only).
    var token: String?

    static var path: String {
        let base =
            Environment.value("XDG_CONFIG_HOME")
            ?? (Environment.value("HOME") ?? FileManager.default.homeDirectoryForCurrentUser.path) + "/.config"
        return base + "/burnlink/config"
    }

    /// `~/x` under HOME; a relative path beside the config file, not wherever burnlink runs.
    static func resolve(_ file: String, besides configPath: String) -> String {
        if file.hasPrefix("~/"), let home = Environment.value("HOME") { return home + file.dropFirst(1) }
        if file.hasPrefix("/") { return file }
        let directory = configPath.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return directory + "/" + file
    }

    static func load() throws(ClientError) -> ConfigFile {
        let path = Self.path
        let text: String
        switch SmallTextFile.read(path, regularOnly: true) {
        case .success(let contents): text = contents
        case .failure(.missing): return ConfigFile()
        case .failure(.unreadable(let reason)):
            throw .usage("cannot read the config file \(path): \(reason)", hint: "fix or remove it")
        }
        var config = ConfigFile()
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .trimmingWhitespace()
            guard !line.isEmpty else { continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace() }
            guard parts.count == 2 else {
                throw .usage("\(path) line \(number + 1): expected 'key = value'")
            }
            switch parts[0] {
            case "server": config.server = parts[1]
            case "expires": config.expires = parts[1]
            case "token": config.token = parts[1]
            case "cacert": config.cacert = Self.resolve(parts[1], besides: path)
            case "views":
                guard let views = Int(parts[1]) else { throw .usage("\(path) line \(number + 1): views must be a number") }
                config.views = views
            default:
                throw .usage(
                    "\(path) line \(number + 1): unknown key '\(parts[0])'",
                    hint: "known keys: server, expires, views, token, cacert")
            }
        }
        return config
    }
}

enum Settings {
    static let defaultServer = "http://127.0.0.1:8080"

    /// --server, else BURNLINK_SERVER, else the config file, else the local default.
    static func server(flag: String?, config: ConfigFile, connection: ConnectionOptions) throws(ClientError) -> ServerEndpoint {
        let text = flag ?? Environment.value("BURNLINK_SERVER") ?? config.server ?? defaultServer
        return try connection.endpoint(text, config: config)
    }

    /// The creator token for `send`: BURNLINK_TOKEN, else the config file's `token`. Never
    /// a flag, so it stays out of argv and shell history.
    static func creatorToken(config: ConfigFile) throws(ClientError) -> String? {
        let value = Environment.value("BURNLINK_TOKEN") ?? config.token
        guard let token = value?.trimmingWhitespace(), !token.isEmpty else { return nil }
        guard API.HeaderValue.creatorToken(token) != nil else {
            throw .usage(
                "the creator token (BURNLINK_TOKEN or the config file's 'token') is malformed",
                hint: "a token is \(API.HeaderValue.creatorTokenGrammar); ask the server's operator for yours")
        }
        return token
    }

    /// A warning when the creator token comes from a config file others can read.
    static func tokenFileWarning(config: ConfigFile) -> String? {
        let fromEnvironment = Environment.value("BURNLINK_TOKEN") != nil
        guard !fromEnvironment, config.token != nil else { return nil }
        var info = stat()
        guard stat(ConfigFile.path, &info) == 0, info.st_mode & 0o077 != 0 else { return nil }
        return "burnlink: warning: \(ConfigFile.path) holds a creator token and other users can read it (chmod 600 it)"
    }

    /// `90`, `90s`, `10m`, `1h`, `7d`, `2w` as seconds (BurnlinkProtocol's `Quantity`).
    static func duration(_ text: String) throws(ClientError) -> Int {
        guard let seconds = Quantity.seconds(text), seconds > 0 else {
            throw .usage("invalid duration '\(text)'", hint: "use a number with s, m, h, d or w, e.g. 10m, 1h, 7d")
        }
        return seconds
    }

    /// "in 23h 59m" style, for people.
    static func describe(seconds: Int) -> String {
        if seconds <= 0 { return "now" }
        let days = seconds / 86_400
        let hours = seconds % 86_400 / 3600
        let minutes = seconds % 3600 / 60
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(seconds % 60)s" }
        return "\(seconds)s"
    }
}
