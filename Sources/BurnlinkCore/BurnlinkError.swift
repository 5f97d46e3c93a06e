/// Every way Core can refuse an input. A CLI maps each case to a message and an exit code;
/// `code` is the stable name used in the known-answer vector files and JSON output.
public enum BurnlinkError: Error, Equatable, Sendable {
    /// The link is not `http(s)://host[:port]/s/<id>#<key>`; the problem says which part.
    case malformedLink(LinkProblem)
    /// The bytes do not start with the envelope magic.
    case notAnEnvelope
    /// A version this build cannot read (newer or unknown).
    case unsupportedVersion(UInt8)
    /// A header field (chunk size, flags) outside what version 1 allows.
    case unsupportedParameters(String)
    /// Password KDF parameters that are malformed or outside the safe caps.
    case badKDFParameters(String)
    /// The envelope was sealed with a password and none was given.
    case passwordRequired
    /// A password was given for an envelope sealed without one.
    case noPasswordExpected
    /// The envelope ends early (mid-chunk, at a chunk boundary, or inside the header).
    case truncated
    /// A chunk failed authentication: altered data, a wrong key or a wrong password.
    case integrityFailure
    /// The authenticated inner metadata breaks the format's rules.
    case invalidMetadata(String)
    /// A request answer's sealed link key is not a sealed box to the requester's key.
    case badSealedKey
    /// The caller passed something Core cannot use (an invalid file name to seal, an empty password).
    case invalidArgument(String)

    public var code: String {
        switch self {
        case .malformedLink: "malformed-link"
        case .notAnEnvelope: "not-an-envelope"
        case .unsupportedVersion: "unsupported-version"
        case .unsupportedParameters: "unsupported-parameters"
        case .badKDFParameters: "bad-kdf-parameters"
        case .passwordRequired: "password-required"
        case .noPasswordExpected: "no-password-expected"
        case .truncated: "truncated"
        case .integrityFailure: "integrity"
        case .invalidMetadata: "invalid-metadata"
        case .badSealedKey: "bad-sealed-key"
        case .invalidArgument: "invalid-argument"
        }
    }
}

extension BurnlinkError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .malformedLink(let problem): "malformed link: \(problem)"
        case .notAnEnvelope: "not a burnlink envelope"
        case .unsupportedVersion(let version): "unsupported envelope version \(version)"
        case .unsupportedParameters(let detail): "unsupported envelope parameters: \(detail)"
        case .badKDFParameters(let detail): "refused password KDF parameters: \(detail)"
        case .passwordRequired: "this secret is protected by a password"
        case .noPasswordExpected: "this secret has no password, but one was given"
        case .truncated: "the secret is incomplete: the data ends early"
        case .integrityFailure: "integrity check failed: the data was altered, or the key or password is wrong"
        case .invalidMetadata(let detail): "invalid inner metadata: \(detail)"
        case .badSealedKey:
            "the answer's sealed key does not open with this request's key: it was altered, or sealed to another key"
        case .invalidArgument(let detail): detail
        }
    }
}

/// What is wrong with a link, precisely enough for an error message to point at it.
public enum LinkProblem: Equatable, Sendable, CustomStringConvertible {
    case unsupportedScheme
    case userInfoPresent
    case badHost
    case badPort
    case wrongPath
    case extraPathSegments
    case queryPresent
    case badID
    case missingFragment
    case badKey

    public var description: String {
        switch self {
        case .unsupportedScheme: "the scheme must be https:// (or http://)"
        case .userInfoPresent: "user name or password before the host is not allowed"
        case .badHost: "the host name is missing or invalid"
        case .badPort: "the port must be a number from 1 to 65535"
        case .wrongPath: "the path must be /s/<id> (a secret link) or /r/<id> (a request link)"
        case .extraPathSegments: "the path has segments after /s/<id>"
        case .queryPresent: "a query string (?...) is not allowed"
        case .badID: "the secret id must be 22 base64url characters"
        case .missingFragment: "the key after # is missing (was the link cut off?)"
        case .badKey: "the key after # must be 43 base64url characters"
        }
    }
}
