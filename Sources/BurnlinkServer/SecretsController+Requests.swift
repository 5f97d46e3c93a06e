import BurnlinkCore
import BurnlinkProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension HTTPField.Name {
    static let burnlinkFillVerifier = Self(API.RequestHeader.fillVerifier)!
    static let burnlinkAnswerVerifier = Self(API.RequestHeader.answerVerifier)!
    static let burnlinkSealedKey = Self(API.RequestHeader.sealedKey)!
}

/// The request routes (docs/http-api.md sections 3.9 to 3.12). An answer is an ordinary
/// secret, stored through the create path; what is particular to a request is that its
/// commit also answers the request, atomically, once.
extension SecretsController {
    // MARK: create a request

    @Sendable func createRequest(_ request: Request, context: BurnlinkRequestContext) async throws -> Response {
        let client = RequestParsing.client(request, context: context, trustProxy: configuration.trustProxy)
        if let wait = createLimiter?.take(client) { throw APIError.rateLimited(retryAfter: wait) }
        try checkCreatorToken(request, client: client)
        let fillVerifier = try RequestParsing.requiredDigest(request, .burnlinkFillVerifier)
        let answerVerifier = try RequestParsing.requiredDigest(request, .burnlinkAnswerVerifier)
        let expiresIn = try expiresIn(request)
        let note = try await requestNote(request, context: context)
        let now = clock.now()
        let record = RequestRecord(
            id: .random(), fillVerifier: fillVerifier, answerVerifier: answerVerifier, note: note, createdAt: now,
            expiresAt: now.addingTimeInterval(TimeInterval(expiresIn)))
        try await store.createRequest(record)
        metrics.requestCreated()
        let body = CreateRequestResponse(id: record.id.encoded, expiresAt: record.expiresAt, publicURL: configuration.publicURL)
        return try body.response(status: .created, from: request, context: context)
    }

    /// The optional JSON body `{"note": ...}`: at most `API.maximumRequestBody` bytes, no
    /// other member, a note that `API.RequestNote` accepts.
    private func requestNote(_ request: Request, context: BurnlinkRequestContext) async throws -> String? {
        let body = request.body
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: API.maximumRequestBody)
        } catch {
            throw APIError(.badRequest, .badRequest, "the body must be at most \(API.maximumRequestBody) bytes of JSON")
        }
        guard buffer.readableBytes > 0 else { return nil }
        let object: [String: String?]
        do {
            object = try JSONDecoder().decode([String: String?].self, from: Data(buffer: buffer))
        } catch {
            throw APIError(.badRequest, .badRequest, #"the body must be a JSON object {"note": "..."}"#)
        }
        guard object.keys.allSatisfy({ $0 == "note" }) else {
            throw APIError(.badRequest, .badRequest, #"the body may hold only "note""#)
        }
        guard let note = object["note"] ?? nil else { return nil }
        if let problem = API.RequestNote.problem(note) { throw APIError(.badRequest, .badRequest, problem) }
        return note
    }

    // MARK: read a request (the filler)

    @Sendable func readRequest(_ request: Request, context: BurnlinkRequestContext) async throws -> Response {
        let client = try checkFailureBudget(request, context: context)
        let (_, summary) = try await openRequest(request, context: context, client: client)
        let body = RequestMetadataResponse(
            note: summary.note, expiresAt: summary.expiresAt, answered: summary.answered, maxSize: configuration.maxSize)
        return try body.response(from: request, context: context)
    }

    /// The request in the path, checked with the fill token; 404 (counted) when there is none.
    private func openRequest(
        _ request: Request, context: BurnlinkRequestContext, client: ClientKey
    ) async throws -> (SecretID, RequestSummary) {
        guard let id = RequestParsing.secretID(context), let verifier = RequestParsing.bearerVerifier(request),
            let summary = try await store.request(id: id, fillVerifier: verifier, now: clock.now())
        else {
            throw failed(client, .noSuchRequest)
        }
        return (id, summary)
    }

    // MARK: fill

    @Sendable func fill(_ request: Request, context: BurnlinkRequestContext) async throws -> Response {
        let client = RequestParsing.client(request, context: context, trustProxy: configuration.trustProxy)
        if let wait = createLimiter?.take(client) { throw APIError.rateLimited(retryAfter: wait) }
        if let wait = failureLimiter?.allows(client) { throw APIError.rateLimited(retryAfter: wait) }
        try beginUpload(for: client)
        // Held until this handler returns, however the upload ends.
        defer { endUpload(for: client) }

        let (id, summary) = try await openRequest(request, context: context, client: client)
        // Known early, so a losing filler is told before it uploads; decided at the commit.
        guard !summary.answered else { throw APIError.alreadyAnswered }
        let record = try newRecord(request)
        let sealedKey = try RequestParsing.sealedKey(request)
        let fill = RequestFill(
            requestID: id, fillVerifier: RequestParsing.bearerVerifier(request) ?? [], sealedKey: sealedKey, now: clock.now())
        let quota = try await checkDeclaredSize(request)
        do {
            _ = try await receiveBody(request.body, for: record, quota: quota, answering: fill, context: context)
        } catch StoreError.alreadyAnswered {
            throw APIError.alreadyAnswered
        } catch StoreError.noSuchRequest {
            throw failed(client, .noSuchRequest)
        }
        metrics.secretCreated()
        metrics.requestAnswered()
        notifier.notify(id)
        let body = CreateSecretResponse(
            id: record.id.encoded, expiresAt: record.expiresAt, maxViews: record.maxViews, publicURL: configuration.publicURL)
        return try body.response(status: .created, from: request, context: context)
    }

    // MARK: answer (the requester)

    @Sendable func answer(_ request: Request, context: BurnlinkRequestContext) async throws -> Response {
        let client = try checkFailureBudget(request, context: context)
        guard let id = RequestParsing.secretID(context), let verifier = RequestParsing.bearerVerifier(request) else {
            throw failed(client, .noSuchRequest)
        }
        let wait = try RequestParsing.wait(request)
        let read: @Sendable () async throws -> RequestAnswer? = { [store, clock] in
            try await store.requestAnswer(id: id, answerVerifier: verifier, now: clock.now())
        }
        let poll = ReceiptPoll(id: id, wait: wait, notifier: notifier, recheckInterval: store.receiptRecheckInterval)
        guard let (first, ticket) = try await poll.begin(read) else { throw failed(client, .noSuchRequest) }
        let current = try await poll.untilChanged(
            from: first, ticket: ticket, expiresAt: first.expiresAt, isOpen: { $0.state == .open }, recheck: { _ in nil },
            clock: clock, connection: context.channel, read: read)
        // An open request that expired while the poll waited is gone, like any other.
        guard let current else { throw APIError.noSuchRequest }
        return try current.response(from: request, context: context)
    }
}

extension RequestParsing {
    /// `Burnlink-Sealed-Key`: exactly the 80 bytes of a sealed box, in base64url.
    static func sealedKey(_ request: Request) throws(APIError) -> [UInt8] {
        let name = HTTPField.Name.burnlinkSealedKey
        guard let value = request.headers[name] else { throw .badHeader(name.rawName, "is required") }
        guard value.utf8.count == Base64URL.encodedLength(byteCount: SealedKey.byteCount),
            let bytes = Base64URL.decode(value, count: SealedKey.byteCount)
        else {
            throw .badHeader(name.rawName, "must be \(SealedKey.byteCount) bytes in base64url without padding")
        }
        return bytes
    }
}
