import AsyncHTTPClient
import BurnlinkCore
import BurnlinkProtocol
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where opened content goes. Nothing reaches a file's final name before the whole
/// envelope has verified.
public protocol PlaintextSink: Sendable {
    /// Called once, when chunk 0 has opened and the metadata is known, before any content.
    func begin(_ metadata: InnerMetadata) async throws(ClientError)
    func write(_ content: UnsafeRawBufferPointer) async throws(ClientError)
    /// The envelope verified completely: put the content in place.
    func commit() async throws(ClientError)
    /// After `commit`: make the content in place survive a crash of the machine, before the
    /// delivery is confirmed and the server deletes its copy.
    func sync() async throws(ClientError)
    /// Something failed: remove whatever was written, if it can be.
    func abandon() async
    /// Where the verified content was kept after `commit` failed to put it in place (the
    /// error's hint names it); nil when it was not.
    var savedElsewhere: String? { get }
    /// Opening the link again into the same place would be refused without `--force` (a
    /// file put in place under the name asked for).
    var reopeningNeedsForce: Bool { get }
}

extension PlaintextSink {
    public var savedElsewhere: String? { nil }
    public var reopeningNeedsForce: Bool { false }
}

/// What `SecretOpener.open` delivered.
public struct OpenedSecret: Sendable {
    public let metadata: InnerMetadata
    /// `.delivered` once the server took the confirm, `.unconfirmed` when it could not be
    /// told (the plaintext is in place all the same), `.sent` from a server without sessions.
    public let delivery: Delivery
}

/// What a link's metadata says, before anything is consumed.
public struct PeekedSecret: Sendable {
    public let link: Link
    public let metadata: SecretMetadataResponse

    public var passwordParameters: String? { metadata.passwordKDF }
}

/// Opens a link: metadata first (consumes nothing), then one claim whose envelope is
/// decrypted and verified as it streams in.
public struct SecretOpener: Sendable {
    let http: HTTPClient
    let insecure: Bool
    let trust: ServerTrust

    public init(http: HTTPClient = .burnlink, insecure: Bool = false, trust: ServerTrust = .system) {
        self.http = http
        self.insecure = insecure
        self.trust = trust
    }

    func api(for link: Link) throws(ClientError) -> APIClient {
        APIClient(endpoint: try ServerEndpoint(link.serverURL, insecure: insecure, trust: trust), http: http)
    }

    public static func parse(_ text: String) throws(ClientError) -> Link {
        do {
            return try Link(parsing: text.trimmingWhitespace())
        } catch {
            throw .usage("\(error)", hint: "a burnlink link looks like https://host/s/<id>#<key>; copy it whole")
        }
    }

    /// Metadata without consuming anything.
    public func peek(_ link: Link) async throws(ClientError) -> PeekedSecret {
        let metadata = try await api(for: link).metadata(id: link.id, claimToken: KeySchedule.claimToken(linkKey: link.key))
        return PeekedSecret(link: link, metadata: metadata)
    }

    /// Derives the password key for a peeked secret. The parameters come from the server,
    /// so they are checked against the caps before any work.
    public func passwordKey(for peeked: PeekedSecret, password: SecretBytes) throws(ClientError) -> SecretBytes {
        try passwordKey(parameters: peeked.metadata.passwordKDF, password: password)
    }

    /// Derives the password key from the encoded parameters (checked against the caps first).
    public func passwordKey(parameters: String?, password: SecretBytes) throws(ClientError) -> SecretBytes {
        guard let text = parameters else {
            throw .usage("this secret has no password")
        }
        guard KDFParameters.passwordByteRange.contains(password.count) else {
            throw .usage("a password must be 1 to \(KDFParameters.passwordByteRange.upperBound) bytes")
        }
        do {
            let parameters = try KDFParameters(encoded: text)
            return try parameters.deriveKey(password: password)
        } catch {
            throw .other(
                "refusing the server's password parameters: \(error)",
                hint: "the server asked for more work than a client allows; it may be hostile")
        }
    }

    /// Uses one view and streams the verified content into `sink`.
    ///
    /// The claim is recorded in `sessions` before it is sent; if that record cannot be
    /// written, nothing is claimed. When the server opens a claim session, a
    /// download cut short is resumed from the byte where it stopped (within the session's
    /// window, a few times), and once `sink` has committed the delivery is confirmed and
    /// the record removed. A failure that leaves the session open is thrown as `.held`,
    /// so the user learns that running the same command again resumes.
    @discardableResult
    public func open(
        _ link: Link, passwordKey: SecretBytes?, into sink: some PlaintextSink,
        sessions: ClaimSessionStore? = nil, passwordKDF: String? = nil, size: Int? = nil,
        progress: (@Sendable (Int) -> Void)? = nil
    ) async throws(ClientError) -> OpenedSecret {
        let api = try api(for: link)
        let claimToken = KeySchedule.claimToken(linkKey: link.key)
        let proof = passwordKey.map { KeySchedule.passwordProof(linkKey: link.key, passwordKey: $0) }
        // The session secret is chosen here and recorded before the claim is sent, so that
        // even a claim whose answer is lost can be resumed (by this run, or a re-run).
        let chosen = SecretBytes.random(count: 32)
        var saved = SavedClaimSession(
            server: link.serverURL, id: link.id.encoded, session: chosen.base64URL,
            deadline: Date().addingTimeInterval(TimeInterval(API.maximumClaimWindow)),
            passwordKDF: passwordKDF, size: size, granted: false)
        // Without its record, any failure after the claim (a cut, a full disk, Ctrl-C) would
        // lose the secret for good: nothing is claimed unless the record is written whole.
        let record: ClaimSessionRecord?
        do {
            record = try sessions?.create(saved)
        } catch {
            throw .other(
                "nothing was claimed: \(error.message)",
                hint: error.hint ?? "free space there, or set XDG_STATE_HOME to a writable directory")
        }
        Interruption.saying(record?.isRecorded == true ? Self.interruptedMessage(until: nil) : nil)
        defer { Interruption.saying(nil) }
        let claimed: (size: Int?, session: (secret: SecretBytes, window: Int)?, body: HTTPClientResponse.Body)
        do {
            claimed = try await api.claim(id: link.id, claimToken: claimToken, passwordProof: proof, session: chosen)
        } catch let failure where Self.answerMayBeLost(failure) {
            // The answer never arrived, or came from something between (a proxy's 502 or
            // 504) rather than from the claim: it may or may not have been granted. Only the
            // session can tell, and only this client holds it.
            do {
                return try await receive(
                    nil, link: link, api: api, claimToken: claimToken, proof: proof,
                    passwordKey: passwordKey,
                    session: OpenSession(secret: chosen, saved: saved, record: record),
                    into: sink, progress: progress)
            } catch .gone {
                throw .network(
                    "\(failure.message); the server holds no claim for this run, so nothing was used",
                    hint: failure.hint ?? "run the same command again")
            }
        } catch .unreachable(let message, let hint) {
            // No connection could be made: almost surely the claim never left, so there is
            // nothing to wait for now. The record stays all the same (an open connection that
            // broke with such an error may have carried the claim): the next run asks the
            // server for this session before it claims again.
            throw .unreachable(message, hint: hint)
        } catch {
            record?.remove()
            throw error
        }
        var session: OpenSession?
        if let opened = claimed.session {
            saved.session = opened.secret.base64URL
            saved.deadline = Date().addingTimeInterval(TimeInterval(opened.window))
            saved.size = claimed.size ?? size
            saved.granted = true
            record?.update(saved)
            session = OpenSession(secret: opened.secret, saved: saved, record: record)
            Interruption.saying(record?.isRecorded == true ? Self.interruptedMessage(until: saved.deadline) : nil)
        } else {
            // A server that opens no sessions: this claim is the only fetch there is.
            record?.remove()
            Interruption.saying("\nburnlink: interrupted after the secret was claimed: it is gone\n")
        }
        return try await receive(
            claimed.body, link: link, api: api, claimToken: claimToken, proof: proof,
            passwordKey: passwordKey, session: session, into: sink, progress: progress)
    }

    /// Whether a claim that failed so may have been granted all the same: the connection
    /// broke after it was made, or a server error (a proxy's timeout) stood in for the answer.
    static func answerMayBeLost(_ failure: ClientError) -> Bool {
        switch failure {
        case .network: true
        case .server(let status, _, _): status >= 500
        default: false
        }
    }

    /// `deadline` is nil while the claim's answer has not come: whether the server granted
    /// it (and holds the secret) is not known then, and the hint does not pretend to know.
    static func interruptedMessage(until deadline: Date?) -> String {
        let held =
            deadline.map { "the secret is held for you until \(ClientError.clock($0))" }
            ?? "if the claim reached the server, the secret is held for you"
        return """

            burnlink: interrupted; nothing of the secret was kept here
            hint: \(held); run the same command again

            """
    }

    /// Interrupted between writing the secret out and confirming its delivery: it was kept,
    /// and the server still holds it (the sender's receipt cannot say "delivered"). The
    /// time it is held until is known only once the claim's answer came.
    static func interruptedAfterWriting(_ session: OpenSession, reopeningNeedsForce: Bool) -> String {
        let until = session.saved.granted ? " until \(ClientError.clock(session.saved.deadline))" : ""
        let force = reopeningNeedsForce ? " (--force to replace the file)" : ""
        let again =
            session.record?.isRecorded == true
            ? "hint: the server still holds it\(until); opening the link again fetches it again\(force)\n"
            : ""
        return "\nburnlink: interrupted after the secret was written out, before its delivery was confirmed\n" + again
    }

    /// Opens a claim session recorded by an earlier run: the envelope is fetched again from
    /// its start (the earlier run's partial output was removed), no view is used.
    @discardableResult
    public func resume(
        _ link: Link, record: ClaimSessionRecord, passwordKey: SecretBytes?, into sink: some PlaintextSink,
        progress: (@Sendable (Int) -> Void)? = nil
    ) async throws(ClientError) -> OpenedSecret {
        let saved = record.session
        guard let secret = saved.secret else {
            record.remove()
            throw .other("the recorded claim session is damaged", hint: "it was removed; run the command again")
        }
        let api = try api(for: link)
        let claimToken = KeySchedule.claimToken(linkKey: link.key)
        let proof = passwordKey.map { KeySchedule.passwordProof(linkKey: link.key, passwordKey: $0) }
        let session = OpenSession(secret: secret, saved: saved, record: record)
        Interruption.saying(Self.interruptedMessage(until: saved.granted ? saved.deadline : nil))
        defer { Interruption.saying(nil) }
        return try await receive(
            nil, link: link, api: api, claimToken: claimToken, proof: proof,
            passwordKey: passwordKey, session: session, into: sink, progress: progress)
    }

    /// A claim session this process holds.
    struct OpenSession {
        let secret: SecretBytes
        let saved: SavedClaimSession
        /// Where a re-run finds it; nil when it could not be recorded.
        let record: ClaimSessionRecord?
        var isOpen: Bool { Date() < saved.deadline }
    }

    /// Decrypts `first` (nil: the session's envelope, fetched now) into `sink`, resuming a
    /// cut download within the session, then commits and confirms.
    private func receive(
        _ first: HTTPClientResponse.Body?, link: Link, api: APIClient, claimToken: SecretBytes,
        proof: SecretBytes?, passwordKey: SecretBytes?, session: OpenSession?,
        into sink: some PlaintextSink,
        progress: (@Sendable (Int) -> Void)?
    ) async throws(ClientError) -> OpenedSecret {
        let opener = EnvelopeOpener(linkKey: link.key, passwordKey: passwordKey)
        let state = ReceiveState()
        var body: HTTPClientResponse.Body? = first
        // Resumes in a row that brought no new byte: a network that keeps making progress is
        // followed for as long as the session lasts, a dead one is given up on quickly.
        var fruitless = 0
        var receivedAtLastCut = 0
        do {
            while true {
                do {
                    if body == nil, let session {
                        body = try await fetchAgain(
                            api: api, link: link, claimToken: claimToken, session: session,
                            proof: proof, from: state.received)
                    }
                    try await consume(body!, opener: opener, state: state, sink: sink, progress: progress)
                    break
                } catch let cut as StreamCut {
                    // Only the network's fault is retried here: decrypting and writing failures are
                    // not (a bad byte fails the same way twice, a full disk stays full).
                    body = nil
                    fruitless = state.received > receivedAtLastCut ? 0 : fruitless + 1
                    receivedAtLastCut = state.received
                    guard let session, session.isOpen, fruitless < Self.fruitlessResumes else { throw cut.error }
                    try? await Task.sleep(for: .milliseconds(100 << min(fruitless, 5)))
                }
            }
            let target = state.output.reserve(state.pending + opener.maximumFinishOutput, keeping: state.pending)
            state.pending += try opener.finish(into: UnsafeMutableRawBufferPointer(rebasing: target[state.pending...]))
            try await deliver(
                UnsafeRawBufferPointer(rebasing: target.prefix(state.pending)), opener: opener, sink: sink,
                started: &state.started)
            try await sink.commit()
            if let session {
                Interruption.saying(Self.interruptedAfterWriting(session, reopeningNeedsForce: sink.reopeningNeedsForce))
            }
            try await sink.sync()
        } catch {
            await sink.abandon()
            // Verified and kept whole beside its target: delivered, though not where asked.
            if sink.savedElsewhere != nil, let session {
                _ = await confirm(api: api, link: link, claimToken: claimToken, session: session)
                session.record?.remove()
                throw Self.clientError(error)
            }
            throw Self.held(Self.clientError(error), session: session)
        }
        guard let session else { return OpenedSecret(metadata: opener.metadata!, delivery: .sent) }
        let confirmed = await confirm(api: api, link: link, claimToken: claimToken, session: session)
        session.record?.remove()
        return OpenedSecret(metadata: opener.metadata!, delivery: confirmed ? .delivered : .unconfirmed)
    }

    /// Resumes in a row without progress before a run gives up (about 6 s of back-off);
    /// the session stays open for a re-run.
    static let fruitlessResumes = 6

    /// The envelope of an open session from `offset`; a failure the network or a busy server
    /// may have caused is a `StreamCut`, to be tried again.
    private func fetchAgain(
        api: APIClient, link: Link, claimToken: SecretBytes, session: OpenSession,
        proof: SecretBytes?, from offset: Int
    ) async throws -> HTTPClientResponse.Body {
        do {
            return try await api.envelope(
                id: link.id, claimToken: claimToken, session: session.secret,
                passwordProof: proof, from: offset)
        } catch .network(let message, let hint) {
            throw StreamCut(error: .network(message, hint: hint))
        } catch .unreachable(let message, let hint) where session.saved.granted {
            // A granted session waits out a server restart; a claim that may never have been
            // made is not worth waiting for (the record stays for a later run).
            throw StreamCut(error: .unreachable(message, hint: hint))
        } catch .server(let status, let code, let message) where status >= 500 {
            throw StreamCut(error: .server(status: status, code: code, message: message))
        }
    }

    /// A download that stopped part-way through the network's fault, not the data's.
    struct StreamCut: Error {
        let error: ClientError
    }

    final class ReceiveState: @unchecked Sendable {
        /// Verified plaintext collects here and goes to the sink in pieces of at least
        /// `deliverySize`: network reads are small, and each sink write is a hand-off to
        /// another thread.
        let output = PlaintextBuffer()
        var pending = 0
        var started = false
        /// Envelope bytes taken in so far: where a resumed download starts.
        var received = 0
    }

    private func consume(
        _ body: HTTPClientResponse.Body, opener: EnvelopeOpener, state: ReceiveState,
        sink: some PlaintextSink, progress: (@Sendable (Int) -> Void)?
    ) async throws {
        var iterator = body.makeAsyncIterator()
        while true {
            let next: ByteBuffer?
            do {
                next = try await iterator.next()
            } catch {
                throw StreamCut(error: .integrity(.truncated))
            }
            guard let piece = next else { return }
            state.received += piece.readableBytes
            let target = state.output.reserve(
                state.pending + opener.maximumUpdateOutput(inputCount: piece.readableBytes),
                keeping: state.pending)
            let pending = state.pending
            let count = try piece.withUnsafeReadableBytes { (sealed) throws(BurnlinkError) -> Int in
                try opener.update(sealed, into: UnsafeMutableRawBufferPointer(rebasing: target[pending...]))
            }
            state.pending += count
            if state.pending >= Self.deliverySize {
                try await deliver(
                    UnsafeRawBufferPointer(rebasing: target.prefix(state.pending)), opener: opener,
                    sink: sink, started: &state.started)
                state.pending = 0
            }
            progress?(state.received)
        }
    }

    /// The confirm, retried a few times: losing it costs the sender a true receipt, not the
    /// recipient anything (the plaintext is already in place).
    private func confirm(api: APIClient, link: Link, claimToken: SecretBytes, session: OpenSession) async -> Bool {
        for attempt in 0..<3 {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(250 << attempt)) }
            do {
                try await api.confirm(id: link.id, claimToken: claimToken, session: session.secret)
                return true
            } catch .network, .unreachable, .server {
                continue
            } catch {
                return false
            }
        }
        return false
    }

    private static func clientError(_ error: any Error) -> ClientError {
        switch error {
        case let error as ClientError: error
        case let error as BurnlinkError: .integrity(error)
        case let cut as StreamCut: cut.error
        default: .integrity(.truncated)
        }
    }

    /// A failure while the session is still open: the secret waits for a re-run.
    private static func held(_ error: ClientError, session: OpenSession?) -> ClientError {
        if case .gone = error { session?.record?.remove() }  // the session ended meanwhile
        guard let session, session.isOpen, session.record?.isRecorded == true else { return error }
        if case .unreachable = error, !session.saved.granted { return error }  // nothing known to be held
        switch error {
        case .gone, .wrongPassword, .passwordAttemptsExhausted, .usage: return error
        default: return .held(error, until: session.saved.deadline)
        }
    }

    static let deliverySize = 1 << 20

    private func deliver(
        _ content: UnsafeRawBufferPointer, opener: EnvelopeOpener, sink: some PlaintextSink,
        started: inout Bool
    ) async throws(ClientError) {
        if !started, let metadata = opener.metadata {
            try await sink.begin(metadata)
            started = true
        }
        if !content.isEmpty { try await sink.write(content) }
    }
}

/// A growable buffer for decrypted content, wiped whenever it is released.
final class PlaintextBuffer: @unchecked Sendable {
    private var storage = UnsafeMutableRawBufferPointer.allocate(byteCount: Envelope.chunkSize, alignment: 16)

    /// A buffer of at least `count` bytes whose first `keeping` bytes are those of the
    /// previous one.
    func reserve(_ count: Int, keeping: Int = 0) -> UnsafeMutableRawBufferPointer {
        if storage.count < count {
            let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, storage.count * 2), alignment: 16)
            if keeping > 0 {
                larger.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage.prefix(keeping)))
            }
            release()
            storage = larger
        }
        return storage
    }

    private func release() {
        SecureMemory.wipe(storage)
        storage.deallocate()
    }

    deinit { release() }
}
