import BurnlinkCore
import BurnlinkProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The claim session routes (docs/http-api.md sections 3.3.2 and 3.3.3): only the client
/// whose claim was granted, holding the claim token and the session secret, may fetch the
/// envelope again and confirm its delivery.
extension SecretsController {
    @Sendable func envelopeAgain(_ request: Request, context: BurnlinkRequestContext) async throws -> Response {
        let client = try checkFailureBudget(request, context: context)
        let (id, verifier, sessionVerifier) = try sessionCredentials(request, context: context, client: client)
        let proof = try RequestParsing.digest(request, .burnlinkPasswordProof)
        var offset = 0
        if let range = request.headers[.range] {
            guard let start = API.HeaderValue.rangeStart(range) else {
                throw APIError(.badRequest, .badRequest, "header Range: only bytes=N- is supported")
            }
            offset = start
        }
        let now = clock.now()
        let lookup = try await store.session(
            id: id, claimVerifier: verifier, sessionVerifier: sessionVerifier,
            passwordProofVerifier: proof.map { BurnlinkCrypto.SHA256.hash($0) }, now: now)
        switch lookup {
        case .notFound:
            throw failed(client, .notFound)
        case .passwordRequired:
            throw APIError.passwordRequired
        case .wrongPassword(let attemptsLeft):
            throw failed(client, .wrongPassword(attemptsLeft: attemptsLeft))
        case .open(let envelope):
            guard offset < envelope.size else {
                throw APIError(
                    .rangeNotSatisfiable, .rangeNotSatisfiable,
                    "the range starts at or past the end of the envelope (\(envelope.size) bytes)",
                    headers: [.contentRange: "bytes */\(envelope.size)"])
            }
            var headers = HTTPFields()
            let left = max(1, Int(envelope.deadline.timeIntervalSince(now).rounded(.up)))
            headers[.burnlinkClaimWindow] = String(left)
            return envelopeResponse(
                id: id, size: envelope.size, chunkCount: envelope.chunkCount, firstChunk: nil,
                offset: offset, mustFinishRead: false, headers: headers, connection: context.channel.eventLoop)
        }
    }

    @Sendable func confirm(_ request: Request, context: BurnlinkRequestContext) async throws -> Response {
        let client = try checkFailureBudget(request, context: context)
        let (id, verifier, sessionVerifier) = try sessionCredentials(request, context: context, client: client)
        guard
            try await store.confirm(
                id: id, claimVerifier: verifier, sessionVerifier: sessionVerifier,
                now: clock.now())
        else {
            throw failed(client, .notFound)
        }
        metrics.deliveryConfirmed()
        notifier.notify(id)
        return Response(status: .noContent)
    }

    /// The id, the claim token's verifier and the session secret's: anything missing or
    /// malformed is answered like a wrong token.
    private func sessionCredentials(
        _ request: Request, context: BurnlinkRequestContext,
        client: ClientKey
    ) throws(APIError) -> (SecretID, [UInt8], [UInt8]) {
        guard let id = RequestParsing.secretID(context),
            let verifier = RequestParsing.bearerVerifier(request),
            let session = request.headers[.burnlinkClaimSession].flatMap(API.HeaderValue.digest)
        else {
            throw failed(client, .notFound)
        }
        return (id, verifier, BurnlinkCrypto.SHA256.hash(session))
    }
}
