import BurnlinkCore
import Foundation
import Synchronization

/// Uploads in progress per client address. A slot is held from the start of a create
/// until its handler returns, whatever way it ends (stored, refused, client gone, timed
/// out), so a client cannot pin more than `limit` uploads open at once.
final class UploadSlots: Sendable {
    let limit: Int
    private let active = Mutex<[ClientKey: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot for `client`; false when it already holds `limit`.
    func acquire(_ client: ClientKey) -> Bool {
        active.withLock { active in
            let held = active[client, default: 0]
            guard held < limit else { return false }
            active[client] = held + 1
            return true
        }
    }

    func release(_ client: ClientKey) {
        active.withLock { active in
            let held = active[client, default: 0] - 1
            active[client] = held > 0 ? held : nil
        }
    }

    /// Slots held by `client` (for tests and metrics).
    func held(by client: ClientKey) -> Int {
        active.withLock { $0[client, default: 0] }
    }
}

/// The SHA-256 digests of the tokens an operator issued to people allowed to create.
///
/// File format (`--creator-tokens FILE`): one digest per line as 64 hex digits, which is
/// what `printf %s "$TOKEN" | sha256sum` prints; anything after the digest on the same
/// line (such as sha256sum's `  -`, or a note saying whose token it is) is ignored, as
/// are blank lines and lines starting with `#`. The server never sees the tokens themselves.
public struct CreatorTokens: Sendable, Equatable {
    public let digests: [[UInt8]]

    public init(digests: [[UInt8]]) {
        self.digests = digests
    }

    public enum ParseError: Error, CustomStringConvertible, Equatable {
        case badLine(Int)
        case empty

        public var description: String {
            switch self {
            case .badLine(let number):
                "line \(number): expected a SHA-256 digest as 64 hex digits (printf %s \"$TOKEN\" | sha256sum)"
            case .empty:
                "no token digests found: every create would be refused"
            }
        }
    }

    public init(parsing text: String) throws(ParseError) {
        var digests: [[UInt8]] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let field = line.prefix { !$0.isWhitespace }
            guard let digest = Hex.decode(field, count: 32) else { throw .badLine(index + 1) }
            digests.append(digest)
        }
        guard !digests.isEmpty else { throw .empty }
        self.digests = digests
    }

    /// The digest line for a token, as the file holds it.
    public static func digestLine(token: String) -> String {
        Hex.encode(BurnlinkCrypto.SHA256.hash(Array(token.utf8)))
    }

    /// Whether `token` is one of the issued tokens. Every digest is compared, in constant
    /// time, whatever matched: the time taken says nothing about which one or how close.
    public func admits(token: [UInt8]) -> Bool {
        let digest = BurnlinkCrypto.SHA256.hash(token)
        var matched = false
        for candidate in digests {
            matched = ConstantTime.equal(candidate, digest) || matched
        }
        return matched
    }
}
