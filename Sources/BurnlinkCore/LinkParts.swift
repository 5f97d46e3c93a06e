/// The two kinds of link (docs/format.md sections 1 and 6.1): they share one grammar and
/// differ in the path's first segment and in what the fragment holds.
public enum LinkKind: String, Sendable {
    /// `/s/<id>#<link key K>`: opens a secret.
    case secret = "s"
    /// `/r/<id>#<public key pk>`: fills a request.
    case request = "r"

    /// Which kind of link `text` is, judged by its path alone (for telling a user that they
    /// gave one kind where the other belongs); nil when the path is neither.
    public static func of(_ text: some StringProtocol) -> LinkKind? {
        for kind in [LinkKind.secret, .request] {
            switch LinkParts.failure(parsing: text, kind: kind) {
            case nil: return kind
            case .malformedLink(let problem)? where problem.isAfterPath: return kind
            default: continue
            }
        }
        return nil
    }
}

/// A link taken apart under the grammar of docs/format.md section 1, checked in the
/// order the spec gives, up to the fragment's length and alphabet (whose decoding the
/// caller does, into the type it needs).
struct LinkParts {
    let scheme: Link.Scheme
    let host: String
    let port: Int?
    let id: SecretID
    let fragment: Substring

    init(parsing text: some StringProtocol, kind: LinkKind) throws(BurnlinkError) {
        // Split on Unicode scalars, not Characters: a combining mark after a delimiter makes one
        // Character with it ("#\u{301}" is not "#"), which would hide the delimiter and blame
        // the wrong part of the link.
        let text = Substring(text).unicodeScalars
        let scheme: Link.Scheme
        var rest: Substring.UnicodeScalarView
        if text.starts(with: "https://".unicodeScalars) {
            scheme = .https
            rest = text.dropFirst("https://".count)
        } else if text.starts(with: "http://".unicodeScalars) {
            scheme = .http
            rest = text.dropFirst("http://".count)
        } else {
            throw .malformedLink(.unsupportedScheme)
        }

        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let (host, port) = try Link.parseAuthority(rest[..<authorityEnd])
        rest = rest[authorityEnd...]

        // Split off the fragment first: '?' or '/' inside it belong to the (invalid) key.
        var fragment: Substring?
        if let hash = rest.firstIndex(of: "#") {
            fragment = Substring(rest[rest.index(after: hash)...])
            rest = rest[..<hash]
        }
        if rest.contains("?") { throw .malformedLink(.queryPresent) }
        let prefix = "/\(kind.rawValue)/"
        guard rest.starts(with: prefix.unicodeScalars) else { throw .malformedLink(.wrongPath) }
        let idText = rest.dropFirst(prefix.count)
        if idText.contains("/") { throw .malformedLink(.extraPathSegments) }
        guard let id = SecretID(encoded: Substring(idText)) else { throw .malformedLink(.badID) }

        guard let fragment, !fragment.isEmpty else { throw .malformedLink(.missingFragment) }
        // Both kinds carry 32 bytes: 43 characters.
        guard fragment.utf8.count == Link.keyEncodedCount, Base64URL.decodeSecret(fragment, count: Link.keyByteCount) != nil
        else {
            throw .malformedLink(.badKey)
        }
        self.scheme = scheme
        self.host = host
        self.port = port
        self.id = id
        self.fragment = fragment
    }

    static func failure(parsing text: some StringProtocol, kind: LinkKind) -> BurnlinkError? {
        do {
            _ = try LinkParts(parsing: text, kind: kind)
            return nil
        } catch {
            return error
        }
    }
}

extension LinkProblem {
    /// A problem found after the path matched (so the path told the link's kind).
    var isAfterPath: Bool {
        switch self {
        case .extraPathSegments, .badID, .missingFragment, .badKey: true
        default: false
        }
    }
}
