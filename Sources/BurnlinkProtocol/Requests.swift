#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The request routes (docs/http-api.md sections 3.9 to 3.12).
extension API {
    public static let requestsPath = "/api/v1/requests"

    public static func requestPath(_ id: String) -> String { "\(requestsPath)/\(id)" }
    public static func fillPath(_ id: String) -> String { "\(requestsPath)/\(id)/fill" }
    public static func answerPath(_ id: String) -> String { "\(requestsPath)/\(id)/answer" }

    /// The request headers.
    public enum RequestHeader {
        /// `SHA256(F)`, on a request create.
        public static let fillVerifier = "Burnlink-Fill-Verifier"
        /// `SHA256(A)`, on a request create.
        public static let answerVerifier = "Burnlink-Answer-Verifier"
        /// `b64u` of the 80-byte sealed link key, on a fill.
        public static let sealedKey = "Burnlink-Sealed-Key"
    }

    /// The largest request create body, in bytes.
    public static let maximumRequestBody = 4096

    /// A request's note: public, 1 to 256 characters (code points, as JSON Schema's
    /// maxLength counts them) without control characters.
    public enum RequestNote {
        public static let maximumCharacters = 256

        /// Why `note` is refused, or nil when it is acceptable.
        public static func problem(_ note: String) -> String? {
            if note.unicodeScalars.isEmpty { return "the note is empty (leave it out instead)" }
            if note.unicodeScalars.count > maximumCharacters {
                return "the note is longer than \(maximumCharacters) characters"
            }
            if note.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
                return "the note contains control characters (line breaks included)"
            }
            return nil
        }
    }
}

/// Body of `POST /api/v1/requests`.
public struct CreateRequestBody: Codable, Equatable, Sendable {
    public var note: String?

    public init(note: String?) {
        self.note = note
    }
}

/// `201` body of `POST /api/v1/requests`.
public struct CreateRequestResponse: Codable, Equatable, Sendable {
    public var id: String
    public var expiresAt: Date
    public var publicURL: String?

    public init(id: String, expiresAt: Date, publicURL: String?) {
        self.id = id
        self.expiresAt = expiresAt
        self.publicURL = publicURL
    }

    enum CodingKeys: String, CodingKey {
        case id
        case expiresAt = "expires_at"
        case publicURL = "public_url"
    }
}

/// `200` body of `GET /api/v1/requests/{id}`: what a filler sees.
public struct RequestMetadataResponse: Codable, Equatable, Sendable {
    public var note: String?
    public var expiresAt: Date
    public var answered: Bool
    public var maxSize: Int

    public init(note: String?, expiresAt: Date, answered: Bool, maxSize: Int) {
        self.note = note
        self.expiresAt = expiresAt
        self.answered = answered
        self.maxSize = maxSize
    }

    enum CodingKeys: String, CodingKey {
        case note
        case expiresAt = "expires_at"
        case answered
        case maxSize = "max_size"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(note, forKey: .note)  // explicit null: no note
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(answered, forKey: .answered)
        try container.encode(maxSize, forKey: .maxSize)
    }
}

/// `200` body of `GET /api/v1/requests/{id}/answer`: what the requester sees.
public struct RequestAnswerResponse: Codable, Equatable, Sendable {
    public enum State: String, Codable, Sendable {
        case open, answered
    }

    public var state: State
    public var expiresAt: Date
    public var answeredAt: Date?
    /// The answer's secret id, once answered.
    public var secretID: String?
    /// `b64u` of the sealed link key, once answered.
    public var sealedKey: String?

    public init(state: State, expiresAt: Date, answeredAt: Date?, secretID: String?, sealedKey: String?) {
        self.state = state
        self.expiresAt = expiresAt
        self.answeredAt = answeredAt
        self.secretID = secretID
        self.sealedKey = sealedKey
    }

    enum CodingKeys: String, CodingKey {
        case state
        case expiresAt = "expires_at"
        case answeredAt = "answered_at"
        case secretID = "secret_id"
        case sealedKey = "sealed_key"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(state, forKey: .state)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(answeredAt, forKey: .answeredAt)  // explicit nulls while open
        try container.encode(secretID, forKey: .secretID)
        try container.encode(sealedKey, forKey: .sealedKey)
    }
}
