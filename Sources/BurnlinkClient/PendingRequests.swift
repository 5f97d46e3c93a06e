import BurnlinkCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// A request this machine made and has not opened the answer of. It holds the private key
/// that opens the answer: as sensitive as the secret it waits for (owner-only file).
public struct SavedRequest: Codable, Sendable, Equatable {
    /// The request link (public key only: it lets someone fill, never read).
    public var link: String
    /// `b64u(sk)`.
    public var secretKey: String
    public var note: String?
    public var createdAt: Date
    /// Until when it can be answered, as the server said at creation.
    public var expiresAt: Date

    public init(link: String, secretKey: String, note: String?, createdAt: Date, expiresAt: Date) {
        self.link = link
        self.secretKey = secretKey
        self.note = note
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case link, note
        case secretKey = "secret_key"
        case createdAt = "created_at"
        case expiresAt = "expires_at"
    }

    /// The parsed link and the key pair, checked against each other.
    public func open() throws(ClientError) -> (RequestLink, RequestKeyPair) {
        guard let link = try? RequestLink(parsing: link),
            let secret = Base64URL.decodeSecret(secretKey, count: RequestKeyPair.secretKeyByteCount),
            let keys = try? RequestKeyPair(secretKey: secret), ConstantTime.equal(keys.publicKey, link.publicKey)
        else {
            throw .other("the saved request is damaged", hint: "ask for the secret again with a new request")
        }
        return (link, keys)
    }
}

/// The requests this machine waits on: `$XDG_STATE_HOME/burnlink/requests`, else
/// `~/.local/state/burnlink/requests` (directories 0700, files 0600), one `<id>.json` per
/// request, written and synced before the request link is shown, removed once its answer
/// is opened or the server says the request is gone.
public struct PendingRequests: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    private func path(_ id: SecretID) -> String { directory + "/" + id.encoded + ".json" }

    /// Saves a new request durably: without this file nobody can read its answer.
    public func save(_ request: SavedRequest, id: SecretID) throws(ClientError) {
        try PrivateDirectory.make(directory)
        let data: Data
        do {
            data = try JSONEncoder().encode(request)
        } catch {
            throw .other("cannot encode the request: \(error)")
        }
        let descriptor = Glibc.open(path(id), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw .other("cannot save the request in \(directory): \(Self.reason())") }
        let written = data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        let synced = written == data.count && fsync(descriptor) == 0
        let failure = synced ? nil : Self.reason()
        close(descriptor)
        if let failure {
            unlink(path(id))
            throw .other("cannot save the request in \(directory): \(failure)")
        }
        // The new name must survive a crash too.
        let directoryDescriptor = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// The saved request with this id, if this machine made it.
    public func load(_ id: SecretID) -> SavedRequest? {
        guard let data = FileManager.default.contents(atPath: path(id)) else { return nil }
        return try? JSONDecoder().decode(SavedRequest.self, from: data)
    }

    /// Every saved request, oldest first.
    public func all() -> [(id: SecretID, request: SavedRequest)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> (SecretID, SavedRequest)? in
            guard name.hasSuffix(".json"), let id = SecretID(encoded: name.dropLast(".json".count)),
                let request = load(id)
            else { return nil }
            return (id, request)
        }.sorted { $0.1.createdAt < $1.1.createdAt }
    }

    /// Forgets a request (its answer was opened, or it is gone).
    public func remove(_ id: SecretID) {
        unlink(path(id))
    }

    private static func reason() -> String { String(cString: strerror(errno)) }
}
