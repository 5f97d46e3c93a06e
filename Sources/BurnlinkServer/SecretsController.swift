import BurnlinkCore
import BurnlinkProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle

/// The version 1 secrets API (docs/http-api.md). The server handles envelopes as opaque
/// bytes: it checks sizes and headers and never parses what it stores.
struct SecretsController: Sendable {
    let store: any SecretStore
    let configuration: ServerConfiguration
    let clock: any ServerClock
    let metrics: ServerMetrics
    let notifier: ReceiptNotifier
    let createLimiter: RateLimiter?
    let failureLimiter: RateLimiter?
    let uploadSlots: UploadSlots?

    func addRoutes(to router: Router<BurnlinkRequestContext>) {
        router.post(RouterPath(API.secretsPath), use: create)
        router.get(RouterPath(API.secretsPath + "/{id}"), use: metadata)
        router.post(RouterPath(API.secretsPath + "/{id}/claim"), use: claim)
        router.get(RouterPath(API.secretsPath + "/{id}/envelope"), use: envelopeAgain)
        router.post(RouterPath(API.secretsPath + "/{id}/confirm"), use: confirm)
        router.get(RouterPath(API.secretsPath + "/{id}/receipt"), use: receipt)
        router.delete(RouterPath(API.secretsPath + "/{id}"), use: revoke)
        router.post(RouterPath(API.requestsPath), use: createRequest)
        router.get(RouterPath(API.requestsPath + "/{id}"), use: readRequest)
        router.post(RouterPath(API.requestsPath + "/{id}/fill"), use: fill)
        router.get(RouterPath(API.requestsPath + "/{id}/answer"), use: answer)
    }

    // MARK: create

    @Sendable func create(_ request: Request, context: BurnlinkRequestContext) async throws -> Response {
        let client = RequestParsing.client(request, context: context, trustProxy: configuration.trustProxy)
        if let wait = createLimiter?.take(client) { throw APIError.rateLimited(retryAfter: wait) }
        try checkCreatorToken(request, client: client)
        try beginUpload(for: client)
        // Held until this handler returns, however the upload ends.
        defer { endUpload(for: client) }

        let record = try newRecord(request)
        let quota = try await checkDeclaredSize(request)
        let size = try await receiveBody(request.body, for: record, quota: quota, context: context)
        metrics.secretCreated()
        context.logger.debug("secret stored", metadata: ["size": "\(size)"])

        let body = CreateSecretResponse(
            id: record.id.encoded, expiresAt: record.expiresAt,
            maxViews: record.maxViews, publicURL: configuration.publicURL)
        return try body.response(status: .created, from: request, context: context)
    }

    /// An upload (a create or a fill) begins for `client`: refused past its cap of concurrent
    /// uploads, else it holds a slot and counts as in progress until `endUpload`.
    func beginUpload(for client: ClientKey) throws(APIError) {
        if let uploadSlots, !uploadSlots.acquire(client) { throw .tooManyUploads(limit: uploadSlots.limit) }
        metrics.uploadStarted()
    }

    func endUpload(for client: ClientKey) {
        uploadSlots?.release(client)
        metrics.uploadEnded()
    }

    /// Refuses a declared `Content-Length` over the size limit or past the storage quota;
    /// returns the quota check the streamed body is held to.
    func checkDeclaredSize(_ request: Request) async throws -> QuotaCheck? {
        let declared = request.headers[.contentLength].flatMap(Int.init)
        if let declared, declared > configuration.maxSize {
            throw APIError.tooLarge(limit: configuration.maxSize)
        }
        guard let limit = configuration.storageQuota else { return nil }
        let check = QuotaCheck(limit: limit, othersStored: try await store.storedBytes())
        if let declared, !check.allows(declared) { throw APIError.storageFull }
        return check
    }

    /// `Burnlink-Expires-In`, within the server's limits, or the default expiry.
    func expiresIn(_ request: Request) throws(APIError) -> Int {
        let maxExpiry = Int(configuration.maxExpiry)
        return try RequestParsing.integer(request, .burnlinkExpiresIn, in: Int(configuration.minExpiry)...maxExpiry)
            ?? min(Int(configuration.defaultExpiry), maxExpiry)
    }

    func newRecord(_ request: Request) throws(APIError) -> SecretRecord {
        let claimVerifier = try RequestParsing.requiredDigest(request, .burnlinkClaimVerifier)
        let receiptVerifier = try RequestParsing.digest(request, .burnlinkReceiptVerifier)
        let passwordVerifier = try RequestParsing.digest(request, .burnlinkPasswordVerifier)
        let kdfText = request.headers[.burnlinkPasswordKDF]
        switch (passwordVerifier, kdfText) {
        case (nil, nil): break
        case (.some, nil): throw .badHeader(API.Header.passwordKDF, "is required with \(API.Header.passwordVerifier)")
        case (nil, .some): throw .badHeader(API.Header.passwordVerifier, "is required with \(API.Header.passwordKDF)")
        case (.some, .some(let text)):
            do {
                _ = try KDFParameters(encoded: text)
            } catch {
                throw .badHeader(API.Header.passwordKDF, "\(error)")
            }
        }
        let expiresIn = try expiresIn(request)
        let maxViews = try RequestParsing.integer(request, .burnlinkMaxViews, in: API.maxViewsRange) ?? 1
        let now = clock.now()
        return SecretRecord(
            id: .random(), claimVerifier: claimVerifier, receiptVerifier: receiptVerifier,
            passwordVerifier: passwordVerifier, passwordKDF: kdfText, passwordAttempts: configuration.passwordAttempts,
            createdAt: now, expiresAt: now.addingTimeInterval(TimeInterval(expiresIn)), maxViews: maxViews)
    }

    /// Streams the body into the store in chunk-sized rows and returns its size. A body
    /// that fits one chunk is stored in one transaction; a larger one is staged and made
    /// readable at once at the end. Over the limit, empty, or cut off: nothing remains.
    /// An answer to a request (`answering`) is always staged, and its commit decides the fill.
    func receiveBody(
        _ body: RequestBody, for record: SecretRecord, quota: QuotaCheck?, answering: RequestFill? = nil,
        context: BurnlinkRequestContext
    ) async throws -> Int {
        // One staged chunk may be written (a child task of `writes`) while the next one
        // arrives, so the network and the database work side by side; chunks still reach
        // the store in order.
        try await withThrowingTaskGroup(of: Void.self) { writes in
            try await receiveBody(body, for: record, quota: quota, answering: answering, context: context, writes: &writes)
        }
    }

    private func receiveBody(
        _ body: RequestBody, for record: SecretRecord, quota: QuotaCheck?, answering: RequestFill?,
        context: BurnlinkRequestContext, writes: inout ThrowingTaskGroup<Void, any Error>
    ) async throws -> Int {
        let chunkSize = StoreLimits.chunkSize
        var pending = ByteBuffer()
        var size = 0
        var chunksWritten = 0
        var uploadStarted = false
        var quota = quota
        do {
            for try await var piece in body {
                size += piece.readableBytes
                guard size <= configuration.maxSize else { throw APIError.tooLarge(limit: configuration.maxSize) }
                guard quota?.allows(size) ?? true else { throw APIError.storageFull }
                while piece.readableBytes > 0 {
                    if pending.readableBytes == chunkSize {
                        // More bytes follow, so this full chunk is not the whole body: stage it.
                        if !uploadStarted {
                            try await store.beginUpload(record)
                            uploadStarted = true
                        }
                        try await writes.next()
                        let (store, id, index, chunk) = (store, record.id, chunksWritten, pending)
                        writes.addTask { try await store.appendChunk(id: id, index: index, bytes: chunk) }
                        chunksWritten += 1
                        pending = ByteBuffer()
                        if quota != nil {
                            // Others' uploads grow too: re-read at every staged chunk, counting
                            // what this upload staged as its own (so its last chunk must be in).
                            try await writes.next()
                            quota?.othersStored = try await store.storedBytes() - chunksWritten * chunkSize
                            guard quota?.allows(size) ?? true else { throw APIError.storageFull }
                        }
                    }
                    var slice = piece.readSlice(length: min(chunkSize - pending.readableBytes, piece.readableBytes))!
                    pending.writeBuffer(&slice)
                }
            }
            guard size > 0 else { throw APIError(.badRequest, .badRequest, "the body is empty: send the envelope bytes") }
            if !uploadStarted, answering == nil {
                try await store.create(record, ciphertext: pending)
            } else {
                if !uploadStarted {
                    try await store.beginUpload(record)
                    uploadStarted = true
                }
                try await writes.next()
                try await store.appendChunk(id: record.id, index: chunksWritten, bytes: pending)
                var fill = answering
                fill?.now = clock.now()
                try await store.commitUpload(id: record.id, size: size, chunkCount: chunksWritten + 1, answering: fill)
            }
        } catch {
            // Too large, client gone, storage failure: leave nothing of this upload behind
            // (once the chunk being written, if any, is done, so the abort comes last).
            while true {
                do {
                    guard try await writes.next() != nil else { break }
                } catch {
                    continue
                }
            }
            if uploadStarted { try? await store.abortUpload(id: record.id) }
            if case StoreError.storageFull(let detail) = error {
                // The sender's to know, as for the quota: 507. (Elsewhere a full disk is 503.)
                context.logger.error("storage full", metadata: ["error": "\(detail)"])
                throw APIError.diskFull
            }
            if error is APIError || error is StoreError { throw error }
            // The body stream failed: the client hung up, or stalled until the idle timeout
            // closed the connection. Routine for a public server, so not an error line.
            context.logger.debug("upload cut off", metadata: ["received": "\(size)"])
            throw APIError(.badRequest, .badRequest, "the request body ended early")
        }
        return size
    }

    /// With creator tokens configured, a create needs one of them as its bearer token.
    /// A wrong token counts as a failure for the client, like any other guess.
    func checkCreatorToken(_ request: Request, client: ClientKey) throws(APIError) {
        guard let tokens = configuration.creatorTokens else { return }
        guard let value = request.headers[.authorization] else { throw APIError.creatorTokenRequired(presented: false) }
        guard let token = API.HeaderValue.bearerCreatorToken(value), tokens.admits(token: token) else {
            throw failed(client, APIError.creatorTokenRequired(presented: true))
        }
    }

    // MARK: metadata

    @Sendable func metadata(_ request: Request, context: BurnlinkRequestContext) async throws -> Response {
        let client = try checkFailureBudget(request, context: context)
        guard let id = RequestParsing.secretID(context) else { throw failed(client, .notFound) }
        guard let verifier = RequestParsing.bearerVerifier(request),
            let metadata = try await store.metadata(id: id, claimVerifier: verifier, now: clock.now())
        else {
            throw failed(client, .notFound)
        }
        return try metadata.response(from: request, context: context)
    }

    // MARK: claim

    @Sendable func claim(_ request: Request, context: BurnlinkRequestContext) async throws -> Response {
        let client = try checkFailureBudget(request, context: context)
        guard let id = RequestParsing.secretID(context) else { throw failed(client, .notFound) }
        guard let verifier = RequestParsing.bearerVerifier(request) else { throw failed(client, .notFound) }
        let proof = try RequestParsing.digest(request, .burnlinkPasswordProof)
        // A client may choose the session secret itself, so that it can resume even when
        // the answer to its claim is lost; otherwise the server makes one. Either way it is
        // known before the decision, so the store records its digest in the same step.
        let chosen = try RequestParsing.digest(request, .burnlinkClaimSession)
        let now = clock.now()
        let session =
            configuration.claimWindow > 0 ? chosen.map { SecretBytes(copying: $0) } ?? SecretBytes.random(count: 32) : nil
        let terms = session.map {
            ClaimSessionTerms(
                verifier: BurnlinkCrypto.SHA256.hash($0), deadline: now.addingTimeInterval(configuration.claimWindow))
        }
        let result = try await store.claim(
            id: id, claimVerifier: verifier,
            passwordProofVerifier: proof.map { BurnlinkCrypto.SHA256.hash($0) }, session: terms, now: now)
        switch result {
        case .notFound:
            throw failed(client, .notFound)
        case .passwordRequired:
            throw APIError.passwordRequired
        case .wrongPassword(let attemptsLeft):
            notifier.notify(id)
            throw failed(client, .wrongPassword(attemptsLeft: attemptsLeft))
        case .passwordAttemptsExhausted:
            metrics.secretBurned()
            notifier.notify(id)
            throw failed(
                client,
                APIError(
                    .forbidden, .passwordAttemptsExhausted,
                    "too many wrong passwords: the secret has been destroyed", attemptsLeft: 0))
        case .granted(let grant):
            metrics.secretClaimed()
            notifier.notify(id)
            var headers = HTTPFields()
            headers[.burnlinkViewsLeft] = String(grant.viewsLeft)
            if let session {
                headers[.burnlinkClaimSession] = session.base64URL
                headers[.burnlinkClaimWindow] = String(Int(configuration.claimWindow.rounded(.up)))
            }
            return envelopeResponse(
                id: id, size: grant.size, chunkCount: grant.chunkCount, firstChunk: grant.firstChunk,
                mustFinishRead: grant.mustFinishRead, headers: headers, connection: context.channel.eventLoop)
        }
    }

    /// Streams the envelope from byte `offset` (200 from the start, else 206): chunk by
    /// chunk from the store, so memory stays flat whatever the size. A claim's first chunk
    /// came with its grant. `connection` is the event loop of the client's connection.
    func envelopeResponse(
        id: SecretID, size: Int, chunkCount: Int, firstChunk: ByteBuffer?, offset: Int = 0,
        mustFinishRead: Bool, headers extra: HTTPFields, connection: any EventLoop
    ) -> Response {
        var headers = extra
        headers[.contentType] = "application/octet-stream"
        if offset > 0 { headers[.contentRange] = "bytes \(offset)-\(size - 1)/\(size)" }
        let store = self.store
        let chunkSize = StoreLimits.chunkSize
        let body = ResponseBody(contentLength: size - offset) { writer in
            do {
                let lastIndex = max(1, chunkCount) - 1
                for index in (offset / chunkSize)...lastIndex {
                    var chunk: ByteBuffer
                    if index == 0, let firstChunk {
                        chunk = firstChunk
                    } else {
                        guard let stored = try await store.chunk(id: id, index: index) else {
                            throw StoreError.unavailable("chunk missing during a read")
                        }
                        chunk = stored
                    }
                    if index == offset / chunkSize {
                        chunk.moveReaderIndex(forwardBy: min(offset % chunkSize, chunk.readableBytes))
                    }
                    try await writer.write(chunk)
                    // The write was handed to the connection's event loop, and only there does
                    // NIO mark a connection with a full buffer unwritable (which holds the next
                    // write). On a busy loop every chunk could be handed over before that: a
                    // slow reader would pin the whole envelope in memory, and the request would
                    // count as done long before its bytes left. Waiting for the loop to reach
                    // the write keeps it to about one chunk ahead.
                    if index < lastIndex { try await connection.submit {}.get() }
                }
                try await writer.finish(nil)
            } catch {
                if mustFinishRead { try? await store.finishRead(id: id) }
                throw error
            }
            // The reader has every byte; now the ciphertext goes (for a large secret this
            // takes a while, and the response need not wait for it). Should it fail, the
            // sweeper removes the ciphertext once the reader's lease runs out.
            if mustFinishRead { try? await store.finishRead(id: id) }
        }
        return Response(status: offset > 0 ? .partialContent : .ok, headers: headers, body: body)
    }

    // MARK: receipt and revoke

    @Sendable func receipt(_ request: Request, context: BurnlinkRequestContext) async throws -> Response {
        let client = try checkFailureBudget(request, context: context)
        guard let id = RequestParsing.secretID(context) else { throw failed(client, .notFound) }
        guard let verifier = RequestParsing.bearerVerifier(request) else { throw failed(client, .notFound) }
        let wait = try RequestParsing.wait(request)
        let read: @Sendable () async throws -> Receipt? = { [store, clock] in
            try await store.receipt(id: id, receiptVerifier: verifier, now: clock.now())
        }
        let poll = ReceiptPoll(id: id, wait: wait, notifier: notifier, recheckInterval: store.receiptRecheckInterval)
        guard let (first, ticket) = try await poll.begin(read) else { throw failed(client, .notFound) }
        // A receipt that can still change: the secret can be read, or a view's delivery is
        // pending. An open claim session ends unconfirmed at its deadline with no event to
        // wake anyone: re-read every second while one is pending.
        let current = try await poll.untilChanged(
            from: first, ticket: ticket, expiresAt: first.expiresAt,
            isOpen: { $0.deliveryPending || ($0.viewsLeft > 0 && ($0.state == .waiting || $0.state == .viewed)) },
            recheck: { $0.deliveryPending ? .seconds(1) : nil }, clock: clock, connection: context.channel,
            read: read)
        return try (current ?? first).response(from: request, context: context)
    }

    @Sendable func revoke(_ request: Request, context: BurnlinkRequestContext) async throws -> Response {
        let client = try checkFailureBudget(request, context: context)
        guard let id = RequestParsing.secretID(context) else { throw failed(client, .notFound) }
        guard let verifier = RequestParsing.bearerVerifier(request),
            try await store.revoke(id: id, receiptVerifier: verifier, now: clock.now())
        else {
            throw failed(client, .notFound)
        }
        metrics.secretRevoked()
        notifier.notify(id)
        return Response(status: .noContent)
    }

    // MARK: helpers

    /// Refuses a client that has used up its budget of failed lookups; returns its address.
    func checkFailureBudget(_ request: Request, context: BurnlinkRequestContext) throws(APIError) -> ClientKey {
        let client = RequestParsing.client(request, context: context, trustProxy: configuration.trustProxy)
        if let wait = failureLimiter?.allows(client) { throw .rateLimited(retryAfter: wait) }
        return client
    }

    /// Counts a failed lookup against the client and returns the error to throw.
    func failed(_ client: ClientKey, _ error: APIError) -> APIError {
        _ = failureLimiter?.take(client)
        return error
    }

}

/// The storage quota as one upload sees it: what everything else holds, and the limit.
/// Concurrent uploads each see the others' staged chunks, so together they can pass the
/// limit by at most the unstaged part of each (under one chunk apiece).
struct QuotaCheck {
    let limit: Int
    var othersStored: Int

    func allows(_ size: Int) -> Bool {
        let (total, overflow) = othersStored.addingReportingOverflow(size)
        return !overflow && total <= limit
    }
}
