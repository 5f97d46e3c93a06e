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

    /// Makes (or checks) the directory, before a request is made whose key would go there.
    public func prepare() throws(ClientError) {
        try PrivateDirectory.make(directory)
    }

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
        let descriptor = Glibc.open(path(id), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return Self.read(descriptor)
    }

    /// The saved request with this id, locked for this run (`flock`, released when the
    /// returned lock is): two runs never open one answer at once, so neither can forget the
    /// key while the other still needs it. `.other` when another run holds it.
    public func lock(_ id: SecretID) throws(ClientError) -> (SavedRequest, RequestLock)? {
        guard access(directory, F_OK) == 0 else { return nil }  // no request was ever made here
        try PrivateDirectory.check(directory)
        let descriptor = Glibc.open(path(id), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { return nil }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw .other(
                "another burnlink is opening the answer to this request", hint: "wait for it to finish, then run this again")
        }
        guard let saved = Self.read(descriptor) else {
            close(descriptor)
            return nil
        }
        return (saved, RequestLock(descriptor: descriptor))
    }

    private static func read(_ descriptor: Int32) -> SavedRequest? {
        // The file holds a private key: every copy of its bytes is wiped once decoded.
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        defer {
            SecureMemory.wipeArray(&buffer)
            SecureMemory.wipeArray(&data)
        }
        while true {
            let count = Glibc.read(descriptor, &buffer, buffer.count)
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
            if data.count > 1 << 16 { return nil }
        }
        return try? JSONDecoder().decode(SavedRequest.self, from: Data(data))
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

    /// Forgets a request the server no longer knows, once its own expiry has passed: before
    /// that, the server may have lost it only for a while (a restore, a misrouted proxy),
    /// and the key is the one way to read an answer.
    public func forgetIfOver(_ id: SecretID, _ saved: SavedRequest) {
        if saved.expiresAt <= Date() { remove(id) }
    }

    private static func reason() -> String { String(cString: strerror(errno)) }
}

/// A held saved request (see `PendingRequests.lock`): the lock goes with the value.
public final class RequestLock: Sendable {
    private let descriptor: Int32

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }
}
