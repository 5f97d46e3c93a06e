import AsyncHTTPClient
import BurnlinkCore
import BurnlinkProtocol
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The request routes (docs/http-api.md sections 3.9 to 3.12). A 404 here is the request's
/// own "gone", and a 409 says another fill won.
extension APIClient {
    public func createRequest(
        fillVerifier: [UInt8], answerVerifier: [UInt8], expiresIn: Int?, note: String?, creatorToken: String?
    ) async throws(ClientError) -> CreateRequestResponse {
        var request = HTTPClientRequest(url: endpoint.baseURL + API.requestsPath)
        request.method = .POST
        request.headers.add(name: API.RequestHeader.fillVerifier, value: Base64URL.encode(fillVerifier))
        request.headers.add(name: API.RequestHeader.answerVerifier, value: Base64URL.encode(answerVerifier))
        if let expiresIn { request.headers.add(name: API.Header.expiresIn, value: String(expiresIn)) }
        if let creatorToken { request.headers.add(name: "Authorization", value: "Bearer \(creatorToken)") }
        if let note {
            request.headers.add(name: "Content-Type", value: "application/json")
            do {
                request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(CreateRequestBody(note: note))))
            } catch {
                throw .other("cannot encode the note: \(error)")
            }
        }
        let response = try await send(request)
        guard response.status == .created else { throw await failure(response) }
        return try await decode(CreateRequestResponse.self, response)
    }

    /// What the filler sees.
    public func requestMetadata(id: SecretID, fillToken: SecretBytes) async throws(ClientError) -> RequestMetadataResponse {
        var request = HTTPClientRequest(url: endpoint.baseURL + API.requestPath(id.encoded))
        request.headers.add(name: "Authorization", value: "Bearer \(fillToken.base64URL)")
        let response = try await send(request)
        guard response.status == .ok else { throw await requestFailure(response) }
        return try await decode(RequestMetadataResponse.self, response)
    }

    /// Uploads an answer to a request: `headers` are a create's, the fill token and the
    /// sealed key are added here.
    public func fill(
        id: SecretID, fillToken: SecretBytes, sealedKey: [UInt8], headers: [(String, String)], body: HTTPClientRequest.Body
    ) async throws(ClientError) -> CreateSecretResponse {
        var request = HTTPClientRequest(url: endpoint.baseURL + API.fillPath(id.encoded))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        for (name, value) in headers where name != "Authorization" { request.headers.add(name: name, value: value) }
        request.headers.add(name: "Authorization", value: "Bearer \(fillToken.base64URL)")
        request.headers.add(name: API.RequestHeader.sealedKey, value: Base64URL.encode(sealedKey))
        request.body = body
        let response = try await send(request)
        guard response.status == .created else { throw await requestFailure(response) }
        return try await decode(CreateSecretResponse.self, response)
    }

    /// The requester's view; with `wait`, a long-poll until the answer arrives.
    public func requestAnswer(id: SecretID, answerToken: SecretBytes, wait: Int = 0) async throws(ClientError)
        -> RequestAnswerResponse
    {
        let query = wait > 0 ? "?wait=\(min(wait, API.maximumReceiptWait, Self.longPollSeconds))" : ""
        var request = HTTPClientRequest(url: endpoint.baseURL + API.answerPath(id.encoded) + query)
        request.headers.add(name: "Authorization", value: "Bearer \(answerToken.base64URL)")
        let response = try await send(request)
        guard response.status == .ok else { throw await requestFailure(response) }
        return try await decode(RequestAnswerResponse.self, response)
    }

    private func requestFailure(_ response: HTTPClientResponse) async -> ClientError {
        // Losing a request is not undone: only the server's own "no such request" says so.
        switch await failure(response, strictNotFound: true) {
        case .gone: .requestGone
        case .server(409, ErrorCode.alreadyAnswered.rawValue, _): .alreadyAnswered
        case let other: other
        }
    }
}
