import BurnlinkCore
import BurnlinkProtocol
import Foundation

/// What the server keeps about a request when it is created (docs/http-api.md section 3.9):
/// the digests of the fill and answer tokens, the public note and the expiry.
public struct RequestRecord: Sendable, Equatable {
    public var id: SecretID
    /// SHA-256 of the fill token F.
    public var fillVerifier: [UInt8]
    /// SHA-256 of the answer token A.
    public var answerVerifier: [UInt8]
    /// Public: shown to whoever holds the request link.
    public var note: String?
    public var createdAt: Date
    public var expiresAt: Date

    public init(
        id: SecretID, fillVerifier: [UInt8], answerVerifier: [UInt8], note: String?, createdAt: Date, expiresAt: Date
    ) {
        self.id = id
        self.fillVerifier = fillVerifier
        self.answerVerifier = answerVerifier
        self.note = note
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// An upload that answers a request: committed only if, in the same atomic step, the
/// request is still open, so that a request takes exactly one fill.
public struct RequestFill: Sendable, Equatable {
    public var requestID: SecretID
    /// SHA-256 of the fill token F, checked again at the decision.
    public var fillVerifier: [UInt8]
    /// The answer's sealed link key (opaque to the server).
    public var sealedKey: [UInt8]
    /// When the fill is decided.
    public var now: Date

    public init(requestID: SecretID, fillVerifier: [UInt8], sealedKey: [UInt8], now: Date) {
        self.requestID = requestID
        self.fillVerifier = fillVerifier
        self.sealedKey = sealedKey
        self.now = now
    }
}

/// A request as its filler sees it.
public struct RequestSummary: Sendable, Equatable {
    public var note: String?
    public var expiresAt: Date
    public var answered: Bool

    public init(note: String?, expiresAt: Date, answered: Bool) {
        self.note = note
        self.expiresAt = expiresAt
        self.answered = answered
    }
}

/// The requester's view of its request: exactly what the API returns.
public typealias RequestAnswer = RequestAnswerResponse

/// The rules both stores apply to a request's row, in one place.
struct StoredRequest: Sendable {
    var expiresAt: EpochMilliseconds
    var answeredAt: EpochMilliseconds?
    var secretID: Data?
    var sealedKey: Data?

    var isAnswered: Bool { secretID != nil }

    /// A request exists until its expiry; once answered, until the answer's expiry, which
    /// the fill wrote into `expires_at`.
    func exists(at now: EpochMilliseconds) -> Bool { now < expiresAt }

    var answer: RequestAnswer {
        RequestAnswer(
            state: isAnswered ? .answered : .open, expiresAt: expiresAt.date, answeredAt: answeredAt?.date,
            secretID: secretID.flatMap { SecretID(bytes: [UInt8]($0))?.encoded },
            sealedKey: sealedKey.map { Base64URL.encode([UInt8]($0)) })
    }
}
