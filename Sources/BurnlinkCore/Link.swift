#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The 16-byte id the server assigns to a secret, written as 22 base64url characters.
public struct SecretID: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 16
    public static let encodedCount = 22

    public let bytes: [UInt8]
    /// The canonical 22-character form used in links and API paths.
    public let encoded: String

    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
        self.encoded = Base64URL.encode(bytes)
    }

    public init?(encoded: some StringProtocol) {
        guard encoded.utf8.count == Self.encodedCount,
            let bytes = Base64URL.decode(encoded, count: Self.byteCount)
        else { return nil }
        self.bytes = bytes
        self.encoded = String(encoded)
    }

    public static func random() -> SecretID {
        SecretID(bytes: Sodium.randomBytes(count: byteCount))!
    }

    public var description: String { encoded }
}

/// A burnlink link: `https://host[:port]/s/<id>#<key>` (docs/format.md section 1).
///
/// The key `K` sits in the fragment, which HTTP clients never send to the server.
public struct Link: Sendable {
    public enum Scheme: String, Sendable {
        case https, http
    }

    public static let keyByteCount = 32
    public static let keyEncodedCount = 43

    public let scheme: Scheme
    /// As written in the link: a DNS name, an IPv4 address, or an IPv6 address in brackets.
    public let host: String
    public let port: Int?
    public let id: SecretID
    /// The link key `K`.
    public let key: SecretBytes

    public init(scheme: Scheme, host: String, port: Int?, id: SecretID, key: SecretBytes) throws(BurnlinkError) {
        guard Self.isValidHost(host) else { throw .malformedLink(.badHost) }
        if let port, !(1...65535).contains(port) { throw .malformedLink(.badPort) }
        guard key.count == Self.keyByteCount else { throw .malformedLink(.badKey) }
        self.scheme = scheme
        self.host = host
        self.port = port
        self.id = id
        self.key = key
    }

    /// The server's base URL, `scheme://host[:port]`, which is all the server may learn.
    public var serverURL: String {
        "\(scheme.rawValue)://\(host)" + (port.map { ":\($0)" } ?? "")
    }

    /// The full link, key included: treat the result as a secret.
    public var formatted: String {
        "\(serverURL)/s/\(id.encoded)#\(key.base64URL)"
    }

    /// The origin `scheme://host[:port]` of the links built on `base`, or nil when such links
    /// would not parse: the rule a server's public URL and a client's server URL both follow.
    public static func origin(of base: String) -> String? {
        let probe = "\(base)/s/\(SecretID.random().encoded)#\(Base64URL.encode([UInt8](repeating: 0, count: keyByteCount)))"
        return (try? Link(parsing: probe))?.serverURL
    }

    /// Parses a link strictly; white space is not trimmed (callers reading a line trim it).
    /// A request link (`/r/...`) is refused as a wrong path.
    public init(parsing text: some StringProtocol) throws(BurnlinkError) {
        let parts = try LinkParts(parsing: text, kind: .secret)
        guard let key = Base64URL.decodeSecret(parts.fragment, count: Self.keyByteCount) else {
            throw .malformedLink(.badKey)
        }
        try self.init(scheme: parts.scheme, host: parts.host, port: parts.port, id: parts.id, key: key)
    }

    static func parseAuthority(_ authority: Substring.UnicodeScalarView) throws(BurnlinkError) -> (String, Int?) {
        if authority.contains("@") { throw .malformedLink(.userInfoPresent) }
        var hostPart = authority
        var portPart: Substring.UnicodeScalarView?
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw .malformedLink(.badHost) }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw .malformedLink(.badHost) }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        let host = String(Substring(hostPart))
        guard isValidHost(host) else { throw .malformedLink(.badHost) }
        guard let portPart else { return (host, nil) }
        guard (1...5).contains(portPart.count),
            portPart.allSatisfy({ (0x30...0x39).contains($0.value) }),  // ASCII digits only
            portPart.first != "0",
            let port = Int(Substring(portPart)), (1...65535).contains(port)
        else {
            throw .malformedLink(.badPort)
        }
        return (host, port)
    }

    static func isValidHost(_ host: some StringProtocol) -> Bool {
        let bytes = Array(host.utf8)
        if bytes.first == UInt8(ascii: "[") {
            // IPv6 literal: brackets around hex digits, ':' and '.' (for embedded IPv4).
            guard bytes.count >= 4, bytes.last == UInt8(ascii: "]") else { return false }
            let inner = bytes.dropFirst().dropLast()
            return inner.contains(UInt8(ascii: ":"))
                && inner.allSatisfy { byte in
                    isHexDigit(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
                }
        }
        guard (1...253).contains(bytes.count) else { return false }
        return bytes.allSatisfy { byte in
            isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}
