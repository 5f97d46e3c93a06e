#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A server base URL the client may talk to: `https://host[:port]`, or `http://` only
/// to a loopback host unless the user explicitly accepts a plain-text connection.
public struct ServerEndpoint: Sendable, Equatable {
    public let baseURL: String

    public init(_ text: String, insecure: Bool = false) throws(ClientError) {
        var url = text.trimmingWhitespace()
        while url.hasSuffix("/") { url.removeLast() }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "https" || scheme == "http", let host = components.host, !host.isEmpty,
              components.user == nil, components.password == nil, components.query == nil, components.fragment == nil,
              components.path.isEmpty else {
            throw .usage("invalid server URL '\(text)'", hint: "expected https://host[:port], e.g. https://burn.example.com")
        }
        if scheme == "http", !insecure, !Self.isLoopback(host) {
            throw .usage("refusing plain http:// to \(host): the secret's ciphertext and tokens would travel unprotected",
                         hint: "use https://, or pass --insecure if you really mean it")
        }
        baseURL = url
    }

    static func isLoopback(_ host: String) -> Bool {
        var bare = host.lowercased()
        if bare.hasPrefix("[") && bare.hasSuffix("]") { bare = String(bare.dropFirst().dropLast()) }
        return bare == "localhost" || bare.hasSuffix(".localhost") || bare == "::1" || bare.hasPrefix("127.")
    }
}
