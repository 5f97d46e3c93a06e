import BurnlinkCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// An open claim session as the CLI keeps it, so that running the same `burnlink open`
/// again resumes (docs/http-api.md section 3.3.1). It holds the session secret and public
/// facts only: never the link key, so the file alone opens nothing.
public struct SavedClaimSession: Codable, Sendable, Equatable {
    /// The server's base URL, `scheme://host[:port]`.
    public var server: String
    public var id: String
    /// `b64u(S)`.
    public var session: String
    /// When the session ends, by this machine's clock.
    public var deadline: Date
    /// The secret's public password parameters, so a resumed open can ask for the password.
    public var passwordKDF: String?
    /// The envelope's size, for progress.
    public var size: Int?

    public init(server: String, id: String, session: String, deadline: Date, passwordKDF: String?, size: Int?) {
        self.server = server
        self.id = id
        self.session = session
        self.deadline = deadline
        self.passwordKDF = passwordKDF
        self.size = size
    }

    enum CodingKeys: String, CodingKey {
        case server, id, session, deadline, size
        case passwordKDF = "password_kdf"
    }

    var secret: SecretBytes? {
        guard var bytes = Base64URL.decode(session, count: 32) else { return nil }
        defer { bytes.withUnsafeMutableBytes { SecureMemory.wipe($0) } }
        return SecretBytes(copying: bytes)
    }
}

/// The directory of open claim sessions: `$XDG_STATE_HOME/burnlink/sessions`, else
/// `~/.local/state/burnlink/sessions` (directories 0700, files 0600). A file per secret id,
/// written when a claim opens a session and removed when it is confirmed or found ended.
public struct ClaimSessionStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// Where the XDG base directory rules put it; nil without `XDG_STATE_HOME` or `HOME`.
    public static func standard() -> ClaimSessionStore? {
        func variable(_ name: String) -> String? {
            guard let value = getenv(name).map({ String(cString: $0) }), value.hasPrefix("/") else { return nil }
            return value
        }
        guard let state = variable("XDG_STATE_HOME") ?? variable("HOME").map({ $0 + "/.local/state" }) else { return nil }
        return ClaimSessionStore(directory: state + "/burnlink/sessions")
    }

    /// Keeps `session`, replacing any earlier one for the same id. Not synced: a session
    /// lost to a crash of the machine only means the window runs out.
    public func save(_ session: SavedClaimSession) throws(ClientError) {
        guard SecretID(encoded: session.id) != nil else { throw .other("not a secret id") }
        try makeDirectory()
        let data: Data
        do {
            data = try JSONEncoder().encode(session)
        } catch {
            throw .other("cannot record the claim session: \(error)")
        }
        let target = path(for: session.id)
        let temporary = target + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw .other("cannot record the claim session in \(directory): \(Self.reason())") }
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let closed = close(descriptor)
        guard written == data.count, closed == 0, rename(temporary, target) == 0 else {
            let reason = Self.reason()
            unlink(temporary)
            throw .other("cannot record the claim session in \(directory): \(reason)")
        }
    }

    /// The session kept for this secret on this server, if any (whether or not it ended).
    public func load(id: SecretID, server: String) -> SavedClaimSession? {
        guard let data = FileManager.default.contents(atPath: path(for: id.encoded)),
              let session = try? JSONDecoder().decode(SavedClaimSession.self, from: data),
              session.id == id.encoded, session.server == server else { return nil }
        return session
    }

    public func remove(id: SecretID) {
        unlink(path(for: id.encoded))
    }

    func path(for id: String) -> String { directory + "/" + id + ".json" }

    /// Creates the directory and its parents as needed, owner-only.
    private func makeDirectory() throws(ClientError) {
        var built = ""
        for component in directory.split(separator: "/") {
            built += "/" + component
            if mkdir(built, 0o700) != 0 && errno != EEXIST {
                throw .other("cannot create \(built): \(Self.reason())")
            }
        }
    }

    private static func reason() -> String { String(cString: strerror(errno)) }
}
