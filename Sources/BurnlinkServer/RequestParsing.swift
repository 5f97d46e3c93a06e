import BurnlinkCore
import BurnlinkProtocol
import Foundation
import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    static let burnlinkClaimVerifier = Self(API.Header.claimVerifier)!
    static let burnlinkReceiptVerifier = Self(API.Header.receiptVerifier)!
    static let burnlinkPasswordVerifier = Self(API.Header.passwordVerifier)!
    static let burnlinkPasswordKDF = Self(API.Header.passwordKDF)!
    static let burnlinkPasswordProof = Self(API.Header.passwordProof)!
    static let burnlinkExpiresIn = Self(API.Header.expiresIn)!
    static let burnlinkMaxViews = Self(API.Header.maxViews)!
    static let burnlinkViewsLeft = Self(API.Header.viewsLeft)!
    static let burnlinkClaimSession = Self(API.Header.claimSession)!
    static let burnlinkClaimWindow = Self(API.Header.claimWindow)!
    static let xRobotsTag = Self("X-Robots-Tag")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xForwardedFor = Self("X-Forwarded-For")!
}

/// Reading the API's headers strictly. Values are never echoed into errors or logs.
enum RequestParsing {
    /// A 32-byte value in base64url, as every verifier and token is.
    static func digest(_ request: Request, _ name: HTTPField.Name) throws(APIError) -> [UInt8]? {
        guard let value = request.headers[name] else { return nil }
        guard let bytes = API.HeaderValue.digest(value) else {
            throw .badHeader(name.rawName, "must be 32 bytes in base64url without padding")
        }
        return bytes
    }

    static func requiredDigest(_ request: Request, _ name: HTTPField.Name) throws(APIError) -> [UInt8] {
        guard let bytes = try digest(request, name) else { throw .badHeader(name.rawName, "is required") }
        return bytes
    }

    static func integer(_ request: Request, _ name: HTTPField.Name, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let value = request.headers[name] else { return nil }
        guard let number = API.HeaderValue.decimal(value, in: range) else {
            throw .badHeader(name.rawName, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// The token from `Authorization: Bearer <base64url>`, as the SHA-256 verifier the store
    /// compares. A missing or malformed token gives nil: callers answer it like a wrong one.
    static func bearerVerifier(_ request: Request) -> [UInt8]? {
        guard let value = request.headers[.authorization],
            let token = API.HeaderValue.bearerToken(value)
        else { return nil }
        return BurnlinkCrypto.SHA256.hash(token)
    }

    /// The `wait` query parameter of a long-poll: 0 to `API.maximumReceiptWait` seconds, 0
    /// when absent.
    static func wait(_ request: Request) throws(APIError) -> Int {
        guard let text = request.uri.queryParameters.get("wait") else { return 0 }
        guard !text.isEmpty, text.count <= 3, text.allSatisfy({ $0.isASCII && $0.isNumber }),
            let seconds = Int(text), (0...API.maximumReceiptWait).contains(seconds)
        else {
            throw APIError(.badRequest, .badRequest, "wait must be 0 to \(API.maximumReceiptWait) seconds")
        }
        return seconds
    }

    /// The secret id in the path; a malformed one is answered like a missing secret.
    static func secretID(_ context: some RequestContext) -> SecretID? {
        context.parameters.get("id").flatMap { SecretID(encoded: $0) }
    }

    /// The client rate limits apply to: the peer, or behind a trusted proxy the last
    /// `X-Forwarded-For` entry (the one the proxy itself added), when it is an IP address.
    /// Anything else there counts against the proxy's own address, never as a key of its own.
    static func client(_ request: Request, context: BurnlinkRequestContext, trustProxy: Bool) -> ClientKey {
        if trustProxy, let forwarded = request.headers[values: .xForwardedFor].last,
            let last = API.HeaderValue.lastForwardedAddress(forwarded), let key = ClientKey(address: last)
        {
            return key
        }
        return context.remoteAddress?.ipAddress.flatMap { ClientKey(address: $0) } ?? .unknown
    }
}
