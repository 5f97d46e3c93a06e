import BurnlinkCore
import BurnlinkProtocol

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A request just made: its link (to hand to the filler) and what opens the answer.
public struct MadeRequest: Sendable {
    public let link: RequestLink
    public let keys: RequestKeyPair
    public let expiresAt: Date
    public let note: String?

    /// What `PendingRequests` keeps.
    public var saved: SavedRequest {
        SavedRequest(
            link: link.formatted, secretKey: keys.secretKey.base64URL, note: note, createdAt: Date(), expiresAt: expiresAt)
    }
}

/// The requester's side of a request (docs/format.md section 6): makes the key pair and
/// the request, waits for the answer, and turns it into the link of the answer's secret,
/// which exists only on this machine.
public struct SecretRequester: Sendable {
    let api: APIClient

    public init(api: APIClient) {
        self.api = api
    }

    public func create(note: String?, expiresIn: Int?, creatorToken: String?) async throws(ClientError) -> MadeRequest {
        if let note, let problem = API.RequestNote.problem(note) { throw .usage("--note: \(problem)") }
        let keys = RequestKeyPair.generate()
        let fillToken = RequestKeys.fillToken(publicKey: keys.publicKey)
        let response = try await api.createRequest(
            fillVerifier: KeySchedule.verifier(of: fillToken), answerVerifier: KeySchedule.verifier(of: keys.answerToken),
            expiresIn: expiresIn, note: note, creatorToken: creatorToken)
        guard let id = SecretID(encoded: response.id) else {
            throw .network("the server returned an invalid request id", hint: "is --server a burnlink server?")
        }
        let base = response.publicURL ?? api.endpoint.baseURL
        let text = "\(base)/r/\(id.encoded)#\(Base64URL.encode(keys.publicKey))"
        guard let link = try? RequestLink(parsing: text) else {
            throw .network(
                "the server's public URL '\(TerminalEscaper.escaped(base))' does not make a valid link",
                hint: "the server's operator must fix its --public-url (https://host[:port], nothing after it)")
        }
        return MadeRequest(link: link, keys: keys, expiresAt: response.expiresAt, note: note)
    }

    /// Waits for the answer until `deadline` (nil: as long as the request can be answered)
    /// and returns the answer's link, built from the opened sealed key. `.noAnswerYet` when
    /// the deadline passes first; `.requestGone` when the request expired unanswered.
    public func answer(
        to link: RequestLink, keys: RequestKeyPair, deadline: ContinuousClock.Instant?,
        waiting: (@Sendable (RequestAnswerResponse) -> Void)? = nil
    ) async throws(ClientError) -> Link {
        let token = keys.answerToken
        var reported = false
        while true {
            let remaining = deadline.map { ContinuousClock.now.duration(to: $0).components.seconds } ?? Int64.max
            let wait = Int(max(0, min(remaining, Int64(APIClient.longPollSeconds))))
            let asked = ContinuousClock.now
            let answer = try await api.requestAnswer(id: link.id, answerToken: token, wait: wait)
            if answer.state == .answered { return try secretLink(answer, request: link, keys: keys) }
            if !reported {
                waiting?(answer)
                reported = true
            }
            if let deadline, ContinuousClock.now >= deadline { throw .noAnswerYet(requestExpires: answer.expiresAt) }
            // A server that does not hold the poll (one shutting down, or not burnlink): not
            // more than one poll a second.
            if asked.duration(to: .now) < .seconds(1) { try? await Task.sleep(for: .seconds(1)) }
            if Task.isCancelled { throw .other("cancelled") }
        }
    }

    private func secretLink(_ answer: RequestAnswerResponse, request: RequestLink, keys: RequestKeyPair)
        throws(ClientError) -> Link
    {
        guard let secretID = answer.secretID.flatMap({ SecretID(encoded: $0) }),
            let sealed = answer.sealedKey.flatMap({ Base64URL.decode($0, count: SealedKey.byteCount) })
        else {
            throw .network("the server's answer to the request is malformed", hint: "is --server a burnlink server?")
        }
        do {
            let key = try SealedKey.open(sealed, with: keys)
            return try Link(scheme: request.scheme, host: request.host, port: request.port, id: secretID, key: key)
        } catch {
            throw .integrity(error)
        }
    }
}
