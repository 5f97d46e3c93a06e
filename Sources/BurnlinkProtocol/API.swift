#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The version 1 HTTP contract (docs/http-api.md), shared by the server and the client.
public enum API {
    public static let secretsPath = "/api/v1/secrets"

    public static func secretPath(_ id: String) -> String { "\(secretsPath)/\(id)" }
    public static func claimPath(_ id: String) -> String { "\(secretsPath)/\(id)/claim" }
    public static func receiptPath(_ id: String) -> String { "\(secretsPath)/\(id)/receipt" }
    /// A claim session's envelope, fetched again (`GET`, optionally with `Range: bytes=N-`).
    public static func envelopePath(_ id: String) -> String { "\(secretsPath)/\(id)/envelope" }
    /// Ends a claim session: everything arrived and verified.
    public static func confirmPath(_ id: String) -> String { "\(secretsPath)/\(id)/confirm" }

    /// Header names. Tokens travel only in headers, never in paths or query strings.
    public enum Header {
        public static let claimVerifier = "Burnlink-Claim-Verifier"
        public static let receiptVerifier = "Burnlink-Receipt-Verifier"
        public static let passwordVerifier = "Burnlink-Password-Verifier"
        public static let passwordKDF = "Burnlink-Password-KDF"
        public static let passwordProof = "Burnlink-Password-Proof"
        public static let expiresIn = "Burnlink-Expires-In"
        public static let maxViews = "Burnlink-Max-Views"
        /// On a claim response: views left after this one.
        public static let viewsLeft = "Burnlink-Views-Left"
        /// On a claim response: `b64u(S)`, the claim session secret; with `T` it fetches
        /// the envelope again and confirms.
        public static let claimSession = "Burnlink-Claim-Session"
        /// With the session: seconds until it ends.
        public static let claimWindow = "Burnlink-Claim-Window"
    }

    /// The longest claim window a server may be configured with, in seconds.
    public static let maximumClaimWindow = 3600

    /// Views a secret may allow.
    public static let maxViewsRange = 1...100
    /// The longest a receipt long-poll may wait, in seconds.
    public static let maximumReceiptWait = 300
}

/// `201` body of `POST /api/v1/secrets`.
public struct CreateSecretResponse: Codable, Equatable, Sendable {
    public var id: String
    public var expiresAt: Date
    public var maxViews: Int
    /// The operator's public base URL when configured; clients build links on it.
    public var publicURL: String?

    public init(id: String, expiresAt: Date, maxViews: Int, publicURL: String?) {
        self.id = id
        self.expiresAt = expiresAt
        self.maxViews = maxViews
        self.publicURL = publicURL
    }

    enum CodingKeys: String, CodingKey {
        case id
        case expiresAt = "expires_at"
        case maxViews = "max_views"
        case publicURL = "public_url"
    }
}

/// `200` body of `GET /api/v1/secrets/{id}`: public metadata, read without consuming.
public struct SecretMetadataResponse: Codable, Equatable, Sendable {
    /// Envelope size in bytes.
    public var size: Int
    public var expiresAt: Date
    public var viewsLeft: Int
    /// The encoded Argon2id parameters when a password is set, else nil.
    public var passwordKDF: String?

    public init(size: Int, expiresAt: Date, viewsLeft: Int, passwordKDF: String?) {
        self.size = size
        self.expiresAt = expiresAt
        self.viewsLeft = viewsLeft
        self.passwordKDF = passwordKDF
    }

    enum CodingKeys: String, CodingKey {
        case size
        case expiresAt = "expires_at"
        case viewsLeft = "views_left"
        case passwordKDF = "password_kdf"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(size, forKey: .size)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(viewsLeft, forKey: .viewsLeft)
        try container.encode(passwordKDF, forKey: .passwordKDF)  // explicit null: "no password"
    }
}

/// What the sender can learn about a secret through the receipt token.
public enum ReceiptState: String, Codable, Sendable, CaseIterable {
    /// Not opened yet, still readable.
    case waiting
    /// Opened at least once (it may still have views left).
    case viewed
    /// Its time ran out.
    case expired
    /// The sender destroyed it early.
    case revoked
    /// Destroyed after too many wrong passwords.
    case burned
}

/// What became of one claim (docs/http-api.md section 3.3.1).
public enum Delivery: String, Codable, Sendable, CaseIterable {
    /// The claim session is open: the claimer may fetch again, nothing confirmed yet.
    case pending
    /// The claimer confirmed that everything arrived and verified.
    case delivered
    /// The session's window ran out without a confirm; the ciphertext was destroyed.
    case unconfirmed
    /// Claimed from a server that opens no sessions (claim window 0): sent, not tracked.
    case sent
}

/// One successful claim as the receipt shows it.
public struct ReceiptView: Codable, Equatable, Sendable {
    public var viewedAt: Date
    public var delivery: Delivery
    public var confirmedAt: Date?

    public init(viewedAt: Date, delivery: Delivery, confirmedAt: Date?) {
        self.viewedAt = viewedAt
        self.delivery = delivery
        self.confirmedAt = confirmedAt
    }

    enum CodingKeys: String, CodingKey {
        case viewedAt = "viewed_at"
        case delivery
        case confirmedAt = "confirmed_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(viewedAt, forKey: .viewedAt)
        try container.encode(delivery, forKey: .delivery)
        try container.encode(confirmedAt, forKey: .confirmedAt)  // explicit null
    }
}

/// `200` body of `GET /api/v1/secrets/{id}/receipt`.
public struct ReceiptResponse: Codable, Equatable, Sendable {
    public var state: ReceiptState
    public var createdAt: Date
    public var expiresAt: Date
    public var maxViews: Int
    public var viewsLeft: Int
    public var viewedAt: [Date]
    /// When it stopped being readable (last view, expiry, revoke or burn).
    public var endedAt: Date?
    /// Each claim with its delivery, oldest first (`viewedAt` lists the same times).
    public var views: [ReceiptView]

    public init(
        state: ReceiptState, createdAt: Date, expiresAt: Date, maxViews: Int, viewsLeft: Int,
        views: [ReceiptView], endedAt: Date?
    ) {
        self.state = state
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.maxViews = maxViews
        self.viewsLeft = viewsLeft
        self.views = views
        self.viewedAt = views.map(\.viewedAt)
        self.endedAt = endedAt
    }

    /// Some view reached its recipient (confirmed, or sent by a server that does not track).
    public var delivered: Bool { views.contains { $0.delivery == .delivered || $0.delivery == .sent } }
    /// Some claim session is still open.
    public var deliveryPending: Bool { views.contains { $0.delivery == .pending } }

    enum CodingKeys: String, CodingKey {
        case state
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case maxViews = "max_views"
        case viewsLeft = "views_left"
        case viewedAt = "viewed_at"
        case endedAt = "ended_at"
        case views
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        state = try container.decode(ReceiptState.self, forKey: .state)
        createdAt = try container.decode(Date.self, forKey: .createdAt)
        expiresAt = try container.decode(Date.self, forKey: .expiresAt)
        maxViews = try container.decode(Int.self, forKey: .maxViews)
        viewsLeft = try container.decode(Int.self, forKey: .viewsLeft)
        viewedAt = try container.decode([Date].self, forKey: .viewedAt)
        endedAt = try container.decodeIfPresent(Date.self, forKey: .endedAt)
        // A server from before claim sessions sends no `views`: its claims were sent, untracked.
        views =
            try container.decodeIfPresent([ReceiptView].self, forKey: .views)
            ?? viewedAt.map { ReceiptView(viewedAt: $0, delivery: .sent, confirmedAt: nil) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(state, forKey: .state)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(maxViews, forKey: .maxViews)
        try container.encode(viewsLeft, forKey: .viewsLeft)
        try container.encode(viewedAt, forKey: .viewedAt)
        try container.encode(endedAt, forKey: .endedAt)
        try container.encode(views, forKey: .views)
    }
}

/// Every error body: `{"error": "<code>", "message": "<text>"}`, plus `attempts_left`
/// on a wrong password.
public struct ErrorResponse: Codable, Equatable, Sendable {
    public var error: ErrorCode
    public var message: String
    public var attemptsLeft: Int?

    public init(error: ErrorCode, message: String, attemptsLeft: Int? = nil) {
        self.error = error
        self.message = message
        self.attemptsLeft = attemptsLeft
    }

    enum CodingKeys: String, CodingKey {
        case error, message
        case attemptsLeft = "attempts_left"
    }
}

/// Stable machine-readable error codes.
public enum ErrorCode: String, Codable, Sendable, CaseIterable {
    /// Missing, expired, already read, revoked, burned, or a wrong token: all look alike.
    case notFound = "not_found"
    /// A header or parameter is missing or malformed; the message names it.
    case badRequest = "bad_request"
    /// The secret has a password and no proof was sent. Nothing consumed.
    case passwordRequired = "password_required"
    /// The proof is wrong. Nothing consumed; `attempts_left` says how many remain.
    case wrongPassword = "wrong_password"
    /// The last allowed wrong password: the secret is now destroyed.
    case passwordAttemptsExhausted = "password_attempts_exhausted"
    case payloadTooLarge = "payload_too_large"
    /// Too many requests from this client, or too many of its uploads at once (429).
    case rateLimited = "rate_limited"
    /// The server's storage quota would be passed by this create (507). Nothing kept.
    case storageFull = "storage_full"
    /// A `Range` on the envelope route starts at or past its end (416).
    case rangeNotSatisfiable = "range_not_satisfiable"
    /// The server requires a creator token to create, and none or a wrong one came (401).
    case creatorTokenRequired = "creator_token_required"
    /// The request was answered already: a request takes one fill (409).
    case alreadyAnswered = "already_answered"
    case methodNotAllowed = "method_not_allowed"
    case unavailable = "unavailable"
    case internalError = "internal_error"
}

/// One JSON date style for the whole API: ISO 8601 in UTC, whole seconds.
public enum APIJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
