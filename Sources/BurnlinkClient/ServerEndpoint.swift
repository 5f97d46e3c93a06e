import BurnlinkCore
import NIOSSL

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A server base URL the client may talk to: `https://host[:port]`, or `http://` only
/// to a loopback host unless the user explicitly accepts a plain-text connection.
public struct ServerEndpoint: Sendable, Equatable {
    public let baseURL: String
    /// Whom to believe about an https:// server's certificate.
    public let trust: ServerTrust
    /// The TLS settings of `trust` for an https:// server with its own authorities; nil for
    /// the shared client's (the system store), and for http://.
    let tlsConfiguration: TLSConfiguration?

    public static func == (lhs: ServerEndpoint, rhs: ServerEndpoint) -> Bool {
        lhs.baseURL == rhs.baseURL && lhs.trust == rhs.trust
    }

    public init(_ text: String, insecure: Bool = false, trust: ServerTrust = .system) throws(ClientError) {
        self.trust = trust
        var url = text.trimmingWhitespace()
        while url.hasSuffix("/") { url.removeLast() }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "https" || scheme == "http", let host = components.host, !host.isEmpty,
            components.user == nil, components.password == nil, components.query == nil, components.fragment == nil,
            components.path.isEmpty
        else {
            throw .usage("invalid server URL '\(text)'", hint: "expected https://host[:port], e.g. https://burn.example.com")
        }
        // The scheme in lower case, and a host the link grammar takes: a link built on this
        // base must parse, or the secret would be stored and nobody could open it.
        // (A String, not the Substring: `+` of the two is generic, and its first use cost
        // 0.3 million instructions of witness lookups on every command's path.)
        url = scheme + String(url.dropFirst(scheme.count))
        guard Link.origin(of: url) != nil else {
            throw .usage(
                "invalid server URL '\(text)': its host is not one a link can carry",
                hint: "a host is letters, digits, '.' and '-', an IPv4 address, or an IPv6 address in brackets")
        }
        if scheme == "http", !insecure, !Self.isLoopback(host) {
            throw .usage(
                "refusing plain http:// to \(host): the secret's ciphertext and tokens would travel unprotected",
                hint: "use https://, or pass --insecure if you really mean it")
        }
        baseURL = url
        tlsConfiguration = scheme == "https" ? try trust.tlsConfiguration() : nil
    }

    /// Loopback means an address literal that cannot leave the machine: 127.0.0.0/8 in strict
    /// dotted-decimal form, ::1, or the name `localhost` (which resolvers keep local). Names that
    /// merely look local (`127.example.com`, `x.localhost`) resolve through DNS, so they are not.
    static func isLoopback(_ host: String) -> Bool {
        var bare = host.lowercased()
        if bare.hasPrefix("[") && bare.hasSuffix("]") { bare = String(bare.dropFirst().dropLast()) }
        if bare.contains(":") {
            var address = in6_addr()
            guard inet_pton(AF_INET6, bare, &address) == 1 else { return false }
            return withUnsafeBytes(of: &address) { $0.elementsEqual([UInt8](repeating: 0, count: 15) + [1]) }
        }
        if bare == "localhost" { return true }
        // Strict dotted decimal: resolvers read "0127.0.0.1" as octal and "127.1" as 127.0.0.1.
        let parts = bare.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4,
            parts.allSatisfy({ part in
                !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCIIDigitCharacter)
                    && (part == "0" || part.first != "0") && Int(part)! <= 255
            })
        else { return false }
        return parts[0] == "127"
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
