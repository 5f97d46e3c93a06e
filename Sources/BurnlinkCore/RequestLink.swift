/// A request link: `https://host[:port]/r/<id>#<public key>` (docs/format.md section 6.1).
///
/// It carries only the requester's public key `pk`: whoever holds it can fill the request,
/// nobody can read the answer with it.
public struct RequestLink: Sendable {
    public let scheme: Link.Scheme
    public let host: String
    public let port: Int?
    /// The request id the server chose.
    public let id: SecretID
    /// The requester's X25519 public key `pk`.
    public let publicKey: [UInt8]

    public init(scheme: Link.Scheme, host: String, port: Int?, id: SecretID, publicKey: [UInt8]) throws(BurnlinkError) {
        guard Link.isValidHost(host) else { throw .malformedLink(.badHost) }
        if let port, !(1...65535).contains(port) { throw .malformedLink(.badPort) }
        guard publicKey.count == RequestKeyPair.publicKeyByteCount else { throw .malformedLink(.badKey) }
        self.scheme = scheme
        self.host = host
        self.port = port
        self.id = id
        self.publicKey = publicKey
    }

    /// Parses a request link strictly; a secret link (`/s/...`) is refused as a wrong path.
    public init(parsing text: some StringProtocol) throws(BurnlinkError) {
        let parts = try LinkParts(parsing: text, kind: .request)
        guard let publicKey = Base64URL.decode(parts.fragment, count: RequestKeyPair.publicKeyByteCount) else {
            throw .malformedLink(.badKey)
        }
        try self.init(scheme: parts.scheme, host: parts.host, port: parts.port, id: parts.id, publicKey: publicKey)
    }

    /// The server's base URL, `scheme://host[:port]`.
    public var serverURL: String {
        "\(scheme.rawValue)://\(host)" + (port.map { ":\($0)" } ?? "")
    }

    public var formatted: String {
        "\(serverURL)/r/\(id.encoded)#\(Base64URL.encode(publicKey))"
    }

    /// `F`, the token that reads the request and fills it.
    public var fillToken: SecretBytes { RequestKeys.fillToken(publicKey: publicKey) }
}
