import BurnlinkProtocol
import Foundation
import HTTPTypes
import Hummingbird

/// An error the API answers with: a status and the JSON body of docs/http-api.md.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var body: ErrorResponse
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String,
        attemptsLeft: Int? = nil, headers: HTTPFields = [:]
    ) {
        self.status = status
        self.body = ErrorResponse(error: code, message: message, attemptsLeft: attemptsLeft)
        self.headers = headers
    }

    /// The one answer for missing, expired, used, revoked, burned and wrong-token secrets.
    public static let notFound = APIError(
        .notFound, .notFound,
        "no such secret: it may have been read already, expired, or never existed")

    /// The one answer for missing, expired and wrong-token requests.
    public static let noSuchRequest = APIError(
        .notFound, .notFound,
        "no such request: it may have expired, or never existed")

    public static let alreadyAnswered = APIError(
        .conflict, .alreadyAnswered, "this request was already answered: a request takes one answer")

    public static func badHeader(_ name: String, _ problem: String) -> APIError {
        APIError(.badRequest, .badRequest, "header \(name): \(problem)")
    }

    public static func tooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, .payloadTooLarge, "the secret is larger than this server's limit of \(limit) bytes")
    }

    public static func rateLimited(retryAfter seconds: Int) -> APIError {
        var headers = HTTPFields()
        headers[.retryAfter] = String(seconds)
        return APIError(.tooManyRequests, .rateLimited, "too many requests; retry in \(seconds) s", headers: headers)
    }

    /// Too many uploads in progress from one address; a slot frees when one of them ends.
    public static func tooManyUploads(limit: Int) -> APIError {
        var headers = HTTPFields()
        headers[.retryAfter] = "1"
        return APIError(
            .tooManyRequests, .rateLimited,
            "too many uploads in progress from this address (at most \(limit) at once); retry when one has finished",
            headers: headers)
    }

    /// 401: the secret has a password and no proof came. Nothing used, no attempt counted.
    public static let passwordRequired = APIError(
        .unauthorized, .passwordRequired,
        "this secret is protected by a password: send \(API.Header.passwordProof)",
        headers: [.wwwAuthenticate: #"Burnlink-Password-Proof realm="burnlink""#])

    /// 403: a wrong proof; nothing was revealed, `attemptsLeft` remain.
    public static func wrongPassword(attemptsLeft: Int) -> APIError {
        APIError(.forbidden, .wrongPassword, "wrong password; nothing was revealed", attemptsLeft: attemptsLeft)
    }

    public static let storageFull = APIError(
        .init(code: 507, reasonPhrase: "Insufficient Storage"), .storageFull,
        "the server's storage quota is used up; retry later or send something smaller")

    /// 507 for a disk that filled up under an operation; nothing of it was kept.
    public static let diskFull = APIError(
        .init(code: 507, reasonPhrase: "Insufficient Storage"), .storageFull,
        "the server's disk is full; retry later or send something smaller")

    /// 401 for a create without a valid creator token. The challenge names the scheme;
    /// `invalid_token` only when one was presented (RFC 6750 section 3).
    public static func creatorTokenRequired(presented: Bool) -> APIError {
        var headers = HTTPFields()
        headers[.wwwAuthenticate] = presented ? #"Bearer realm="burnlink", error="invalid_token""# : #"Bearer realm="burnlink""#
        return APIError(
            .unauthorized, .creatorTokenRequired,
            presented
                ? "this creator token is not accepted here"
                : "this server only accepts secrets from holders of a creator token: send Authorization: Bearer <token>",
            headers: headers)
    }

    static let unavailable = APIError(.serviceUnavailable, .unavailable, "the server's storage is unavailable; retry later")
    static let internalError = APIError(.internalServerError, .internalError, "internal server error")

    /// HTTPResponseError: the JSON error body through the context's encoder, with this
    /// error's status and headers.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try body.response(status: status, from: request, context: context)
        for field in headers { response.headers.append(field) }
        return response
    }
}
