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
    /// Whether the server's answer to the claim arrived. False from the moment the claim is
    /// sent until then: if that answer is lost, the session may or may not exist.
    public var granted: Bool

    public init(
        server: String, id: String, session: String, deadline: Date, passwordKDF: String?, size: Int?,
        granted: Bool
    ) {
        self.server = server
        self.id = id
        self.session = session
        self.deadline = deadline
        self.passwordKDF = passwordKDF
        self.size = size
        self.granted = granted
    }

    enum CodingKeys: String, CodingKey {
        case server, id, session, deadline, size, granted
        case passwordKDF = "password_kdf"
    }

    /// A record as `ClaimSessionRecord.update` writes it, of made-up values.
    static func encodeSample() throws -> Data {
        try JSONEncoder().encode(
            SavedClaimSession(
                server: "https://burn.example.com", id: "pFeHrmPCRIl7oMl7gzV-Cw",
                session: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", deadline: Date(), passwordKDF: nil,
                size: 1_096, granted: false))
    }

    var secret: SecretBytes? {
        guard var bytes = Base64URL.decode(session, count: 32) else { return nil }
        defer { bytes.withUnsafeMutableBytes { SecureMemory.wipe($0) } }
        return SecretBytes(copying: bytes)
    }
}

/// One recorded claim session, held by this run: the file stays locked (`flock`) while
/// the run uses it, so a second `burnlink open` of the same link on this machine never
/// takes over a session that a first one is still using (it claims on its own, and gets
/// "gone" like anyone else). The lock dies with the process, however it ends.
public final class ClaimSessionRecord: @unchecked Sendable {
    public private(set) var session: SavedClaimSession
    private let path: String
    private var descriptor: Int32

    init(session: SavedClaimSession, path: String, descriptor: Int32) {
        self.session = session
        self.path = path
        self.descriptor = descriptor
    }

    /// Whether a re-run can find this record: false once it was removed, or could not be
    /// written.
    public var isRecorded: Bool { descriptor >= 0 }

    /// Rewrites the record in place (the lock is on this file): the new bytes over the old,
    /// then the file cut to their length, so that an update never empties the file first
    /// (a full disk has no block to give back). Not synced: a session lost to a crash of
    /// the machine only means its window runs out. A write that changed nothing leaves the
    /// old record, which still resumes (the session secret never changes); one that left it
    /// damaged removes it, so that no re-run finds a record that cannot resume, and no run
    /// promises one. False when the new content is not what the file holds.
    @discardableResult
    public func update(_ session: SavedClaimSession) -> Bool {
        self.session = session
        guard descriptor >= 0 else { return false }
        switch write(session) {
        case .written: return true
        case .untouched: return false
        case .damaged(let failure):
            remove()
            errno = failure
            return false
        }
    }

    private enum WriteOutcome {
        case written
        /// Nothing was written: the file holds what it held.
        case untouched
        case damaged(Int32)
    }

    private func write(_ session: SavedClaimSession) -> WriteOutcome {
        guard let data = try? JSONEncoder().encode(session) else { return .untouched }
        let written = data.withUnsafeBytes { bytes in
            var result: Int
            repeat {
                result = pwrite(descriptor, bytes.baseAddress, bytes.count, 0)
            } while result < 0 && errno == EINTR
            return result
        }
        if written < 0 { return .untouched }
        guard written == data.count else { return .damaged(ENOSPC) }
        return ftruncate(descriptor, off_t(data.count)) == 0 ? .written : .damaged(errno)
    }

    /// The session ended (confirmed, or gone): nothing to resume any more.
    public func remove() {
        guard descriptor >= 0 else { return }
        unlink(path)
        close(descriptor)
        descriptor = -1
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }
}

/// The directory of open claim sessions: `$XDG_STATE_HOME/burnlink/sessions`, else
/// `~/.local/state/burnlink/sessions` (directories 0700, files 0600), one file per claim:
/// `<id>-<random>.json`, written before the claim is sent and removed once it is
/// confirmed or found ended.
public struct ClaimSessionStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// Records a new session, locked by this run.
    public func create(_ session: SavedClaimSession) throws(ClientError) -> ClaimSessionRecord {
        guard SecretID(encoded: session.id) != nil else { throw .other("not a secret id") }
        try PrivateDirectory.make(directory)
        let path = directory + "/" + session.id + "-" + Base64URL.encode(SecretBytes.random(count: 6)) + ".json"
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw .other("cannot record the claim session in \(directory): \(Self.reason())") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw .other("cannot lock the claim session record: \(Self.reason())")
        }
        let record = ClaimSessionRecord(session: session, path: path, descriptor: descriptor)
        guard record.update(session) else {
            let reason = Self.reason()
            record.remove()  // empty, or part of a record: nothing a re-run could use
            throw .other("cannot record the claim session in \(directory): \(reason)")
        }
        return record
    }

    /// A session recorded for this secret on this server that no other run is using,
    /// now locked by this one. Records of any secret found past their deadline are removed
    /// on the way (the directory holds a handful at most).
    public func claimable(id: SecretID, server: String) -> ClaimSessionRecord? {
        guard let stream = opendir(directory) else { return nil }
        defer { closedir(stream) }
        var found: ClaimSessionRecord?
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasSuffix(".json") else { continue }
            let path = directory + "/" + name
            let descriptor = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
            guard descriptor >= 0 else { continue }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0,
                let data = FileManager.default.contents(atPath: path),
                let session = try? JSONDecoder().decode(SavedClaimSession.self, from: data)
            else {
                close(descriptor)  // in use by another run, or not a record of ours
                continue
            }
            let record = ClaimSessionRecord(session: session, path: path, descriptor: descriptor)
            if session.deadline <= Date() {
                record.remove()
            } else if found == nil, session.id == id.encoded, session.server == server {
                found = record
            }
        }
        return found
    }

    private static func reason() -> String { String(cString: strerror(errno)) }
}
