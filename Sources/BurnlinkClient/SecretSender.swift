import AsyncAlgorithms
import AsyncHTTPClient
import BurnlinkCore
import BurnlinkProtocol
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What to send and how.
public struct SendOptions: Sendable {
    public var metadata: InnerMetadata
    /// Seconds; nil lets the server choose its default.
    public var expiresIn: Int?
    public var views = 1
    /// N independent links: each its own key, envelope and server-side secret.
    public var recipients = 1
    public var allowEmpty = false
    /// The password's bytes (NFC UTF-8) and the KDF parameters to derive `P` with.
    public var password: (bytes: SecretBytes, parameters: KDFParameters)?
    /// The operator-issued token a server may require for creates (docs/http-api.md).
    public var creatorToken: String?
    /// Answer this request instead of making a link: the link key is sealed to its public
    /// key, and only its requester can open the secret (one recipient).
    public var answering: RequestLink?

    public init(metadata: InnerMetadata) {
        self.metadata = metadata
    }
}

/// One link handed out (or one request answered): what the recipient gets and what the
/// sender keeps.
public struct SentSecret: Sendable {
    /// The full link, key included: print it, never log it. Nil for an answer to a request,
    /// which has no link outside the requester's machine.
    public let link: String?
    public let receipt: SenderReceipt
    public let expiresAt: Date
    public let maxViews: Int
}

/// Encrypts a stream once per recipient and uploads each envelope as it is produced:
/// one read of the input, constant memory, whatever its size.
public struct SecretSender: Sendable {
    let api: APIClient

    public init(api: APIClient) {
        self.api = api
    }

    /// `contentSize` is the input's size when known (a regular file), so uploads carry a
    /// Content-Length and an oversized secret is refused before it is sent.
    public func send(
        _ input: PlaintextReader, contentSize: Int?, options: SendOptions,
        progress: (@Sendable (Int) -> Void)? = nil
    ) async throws(ClientError) -> [SentSecret] {
        precondition(options.recipients >= 1)
        if options.answering != nil, options.recipients != 1 { throw .usage("a request takes one answer: one recipient") }
        let first = try await input.next()
        if first.isEmpty && !options.allowEmpty {
            throw .usage("the secret is empty", hint: "pipe or name what to send; --allow-empty sends an empty secret on purpose")
        }

        let passwordKey: SecretBytes?
        if let password = options.password {
            do {
                passwordKey = try password.parameters.deriveKey(password: password.bytes)
            } catch {
                throw .usage("\(error)")
            }
        } else {
            passwordKey = nil
        }
        let recipients = (0..<options.recipients).map { _ in Recipient(passwordKey: passwordKey, metadata: options.metadata) }

        // A small input already read to its end is sealed at once and sent with its
        // length in one write; anything else streams, piece by piece, to every recipient.
        let bodies: [HTTPClientRequest.Body]
        let streams = !(input.reachedEnd && first.count <= Self.wholeUploadLimit)
        if streams {
            let length: HTTPClientRequest.Body.Length =
                contentSize.map {
                    .known(Int64(Envelope.sealedCount(contentCount: $0, metadata: options.metadata)))
                } ?? .unknown
            bodies = recipients.map { .stream($0.channel, length: length) }
        } else {
            bodies = recipients.map { .bytes($0.sealedWhole(first)) }
            progress?(first.count)
        }

        // For an answer: the request and the link key sealed to it.
        var answerings: [(RequestLink, [UInt8])?] = []
        for recipient in recipients {
            answerings.append(
                try options.answering.map { (request) throws(ClientError) in
                    (request, try sealedKey(recipient, to: request))
                })
        }

        do {
            return try await withThrowingTaskGroup(of: Outcome.self) { group in
                for (index, recipient) in recipients.enumerated() {
                    let headers = createHeaders(recipient, options: options)
                    let body = bodies[index]
                    let answering = answerings[index]
                    group.addTask {
                        guard let (request, sealed) = answering else {
                            return .created(index, try await api.create(headers: headers, body: body))
                        }
                        let response = try await api.fill(
                            id: request.id, fillToken: request.fillToken, sealedKey: sealed, headers: headers, body: body)
                        return .created(index, response)
                    }
                }
                if streams {
                    group.addTask {
                        try await Self.produce(input: input, recipients: recipients, progress: progress)
                        return .produced
                    }
                }
                var created: [Int: CreateSecretResponse] = [:]
                for try await outcome in group {
                    if case .created(let index, let response) = outcome { created[index] = response }
                }
                var sent: [SentSecret] = []
                for index in recipients.indices {
                    do {
                        sent.append(try sentSecret(recipients[index], created[index]!, options: options))
                    } catch {
                        // Stored, but with no link anyone could use: destroy them all now.
                        await revoke(recipients.indices.map { (recipients[$0], created[$0]!) })
                        throw error
                    }
                }
                return sent
            }
        } catch let error as ClientError {
            throw error
        } catch {
            throw .other("sending failed: \(error)")
        }
    }

    /// What a request asks for, before answering it (nothing is stored).
    public func inspect(_ request: RequestLink) async throws(ClientError) -> RequestMetadataResponse {
        try await api.requestMetadata(id: request.id, fillToken: request.fillToken)
    }

    private func sealedKey(_ recipient: Recipient, to request: RequestLink) throws(ClientError) -> [UInt8] {
        do {
            return try SealedKey.seal(recipient.linkKey, to: request.publicKey)
        } catch {
            throw .usage("the request link's key cannot be sealed to (\(error))", hint: "ask the requester for the link again")
        }
    }

    /// The largest input sent as one sealed body (per recipient, held in memory at once).
    static let wholeUploadLimit = Envelope.chunkSize

    private enum Outcome: Sendable {
        case created(Int, CreateSecretResponse)
        case produced
    }

    /// Reads the input once and feeds every recipient's sealer; each `send` waits until
    /// that upload has taken the piece, so memory stays at a piece per recipient.
    private static func produce(
        input: PlaintextReader, recipients: [Recipient],
        progress: (@Sendable (Int) -> Void)?
    ) async throws {
        var piece = input.lastPiece  // the first piece, already read
        var total = 0
        while !piece.isEmpty {
            for recipient in recipients {
                var sealed = ByteBuffer()
                recipient.seal(piece, into: &sealed)
                if sealed.readableBytes > 0 { await recipient.channel.send(sealed) }
            }
            total += piece.count
            progress?(total)
            piece = try await input.next()
        }
        for recipient in recipients {
            var sealed = ByteBuffer()
            recipient.sealEnd(into: &sealed)
            await recipient.channel.send(sealed)
            recipient.channel.finish()
        }
    }

    private func createHeaders(_ recipient: Recipient, options: SendOptions) -> [(String, String)] {
        var headers = [
            (
                API.Header.claimVerifier,
                Base64URL.encode(KeySchedule.verifier(of: KeySchedule.claimToken(linkKey: recipient.linkKey)))
            ),
            (API.Header.receiptVerifier, Base64URL.encode(KeySchedule.verifier(of: recipient.receiptToken))),
            (API.Header.maxViews, String(options.views)),
        ]
        if let expiresIn = options.expiresIn { headers.append((API.Header.expiresIn, String(expiresIn))) }
        if let token = options.creatorToken { headers.append(("Authorization", "Bearer \(token)")) }
        if let passwordKey = recipient.passwordKey, let parameters = options.password?.parameters {
            let proof = KeySchedule.passwordProof(linkKey: recipient.linkKey, passwordKey: passwordKey)
            headers.append((API.Header.passwordVerifier, Base64URL.encode(KeySchedule.verifier(of: proof))))
            headers.append((API.Header.passwordKDF, parameters.encoded))
        }
        return headers
    }

    private func sentSecret(_ recipient: Recipient, _ response: CreateSecretResponse, options: SendOptions)
        throws(ClientError) -> SentSecret
    {
        guard let id = SecretID(encoded: response.id) else {
            throw .network("the server returned an invalid secret id", hint: "is --server a burnlink server?")
        }
        let receipt = SenderReceipt(server: api.endpoint.baseURL, id: id, token: recipient.receiptToken)
        if options.answering != nil {
            return SentSecret(link: nil, receipt: receipt, expiresAt: response.expiresAt, maxViews: response.maxViews)
        }
        let base = response.publicURL ?? api.endpoint.baseURL
        let link = "\(base)/s/\(id.encoded)#\(recipient.linkKey.base64URL)"
        // The server chooses the link's origin (its public URL): a link that `open` would
        // refuse is never handed out.
        do {
            _ = try Link(parsing: link)
        } catch {
            throw .network(
                "the server's public URL '\(TerminalEscaper.escaped(base))' does not make a valid link (\(error)); the secret was revoked",
                hint: "the server's operator must fix its --public-url (https://host[:port], nothing after it)")
        }
        return SentSecret(link: link, receipt: receipt, expiresAt: response.expiresAt, maxViews: response.maxViews)
    }

    /// Best effort: revokes what was created, for secrets whose link cannot be handed out.
    private func revoke(_ created: [(Recipient, CreateSecretResponse)]) async {
        for (recipient, response) in created {
            guard let id = SecretID(encoded: response.id) else { continue }
            try? await api.revoke(SenderReceipt(server: api.endpoint.baseURL, id: id, token: recipient.receiptToken))
        }
    }
}

/// One recipient's keys, sealer and upload stream.
private final class Recipient: @unchecked Sendable {
    let linkKey = KeySchedule.newLinkKey()
    let receiptToken = KeySchedule.newReceiptToken()
    let passwordKey: SecretBytes?
    let sealer: EnvelopeSealer
    let channel = AsyncChannel<ByteBuffer>()

    init(passwordKey: SecretBytes?, metadata: InnerMetadata) {
        self.passwordKey = passwordKey
        sealer = EnvelopeSealer(linkKey: linkKey, passwordKey: passwordKey, metadata: metadata)
    }

    /// Seals what it can of `plaintext` straight into `buffer` (no intermediate copy).
    func seal(_ plaintext: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: sealer.maximumUpdateOutput(inputCount: plaintext.count)) {
            sealer.update(plaintext, into: $0)
        }
    }

    /// Seals the final chunk into `buffer`.
    func sealEnd(into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: sealer.maximumFinishOutput) {
            sealer.finish(into: $0)
        }
    }

    /// The whole envelope of `plaintext`, which must be all of the input.
    func sealedWhole(_ plaintext: UnsafeRawBufferPointer) -> ByteBuffer {
        var buffer = ByteBuffer()
        seal(plaintext, into: &buffer)
        sealEnd(into: &buffer)
        return buffer
    }
}
