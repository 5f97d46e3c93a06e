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
            guard let digest = Self.hex(field) else { throw .badLine(index + 1) }
            digests.append(digest)
        }
        guard !digests.isEmpty else { throw .empty }
        self.digests = digests
    }

    /// The digest line for a token, as the file holds it.
    public static func digestLine(token: String) -> String {
        BurnlinkCrypto.SHA256.hash(Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
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

    private static func hex(_ text: Substring) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for index in stride(from: 0, to: 64, by: 2) {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
