import AsyncHTTPClient
import BurnlinkCore
import BurnlinkProtocol
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore

/// Where opened content goes. Nothing reaches a file's final name before the whole
/// envelope has verified.
public protocol PlaintextSink: Sendable {
    /// Called once, when chunk 0 has opened and the metadata is known, before any content.
    func begin(_ metadata: InnerMetadata) async throws(ClientError)
    func write(_ content: UnsafeRawBufferPointer) async throws(ClientError)
    /// The envelope verified completely.
    func commit() async throws(ClientError)
    /// Something failed: remove whatever was written, if it can be.
    func abandon() async
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

    public init(http: HTTPClient = .burnlink, insecure: Bool = false) {
        self.http = http
        self.insecure = insecure
    }

    func api(for link: Link) throws(ClientError) -> APIClient {
        APIClient(endpoint: try ServerEndpoint(link.serverURL, insecure: insecure), http: http)
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
        guard let text = peeked.metadata.passwordKDF else {
            throw .usage("this secret has no password")
        }
        do {
            let parameters = try KDFParameters(encoded: text)
            return try parameters.deriveKey(password: password)
        } catch {
            throw .other("refusing the server's password parameters: \(error)",
                         hint: "the server asked for more work than a client allows; it may be hostile")
        }
    }

    /// Uses one view and streams the verified content into `sink`. Returns the metadata.
    @discardableResult
    public func open(_ link: Link, passwordKey: SecretBytes?, into sink: some PlaintextSink,
                     progress: (@Sendable (Int) -> Void)? = nil) async throws(ClientError) -> InnerMetadata {
        let claimToken = KeySchedule.claimToken(linkKey: link.key)
        let proof = passwordKey.map { KeySchedule.passwordProof(linkKey: link.key, passwordKey: $0) }
        let (_, body) = try await api(for: link).claim(id: link.id, claimToken: claimToken, passwordProof: proof)

        let opener = EnvelopeOpener(linkKey: link.key, passwordKey: passwordKey)
        // Verified plaintext collects here and goes to the sink in pieces of at least
        // `deliverySize`: network reads are small, and each sink write is a hand-off to
        // another thread.
        let output = PlaintextBuffer()
        var pending = 0
        var started = false
        var received = 0
        do {
            for try await piece in body {
                received += piece.readableBytes
                let target = output.reserve(pending + opener.maximumUpdateOutput(inputCount: piece.readableBytes),
                                            keeping: pending)
                let count = try piece.withUnsafeReadableBytes {
                    try opener.update($0, into: UnsafeMutableRawBufferPointer(rebasing: target[pending...]))
                }
                pending += count
                if pending >= Self.deliverySize {
                    try await deliver(UnsafeRawBufferPointer(rebasing: target.prefix(pending)), opener: opener, sink: sink, started: &started)
                    pending = 0
                }
                progress?(received)
            }
            let target = output.reserve(pending + opener.maximumFinishOutput, keeping: pending)
            pending += try opener.finish(into: UnsafeMutableRawBufferPointer(rebasing: target[pending...]))
            try await deliver(UnsafeRawBufferPointer(rebasing: target.prefix(pending)), opener: opener, sink: sink, started: &started)
            try await sink.commit()
            return opener.metadata!
        } catch let error as BurnlinkError {
            await sink.abandon()
            throw .integrity(error)
        } catch let error as ClientError {
            await sink.abandon()
            throw error
        } catch {
            await sink.abandon()
            // The body stream broke off: what arrived cannot be trusted as complete.
            throw .integrity(.truncated)
        }
    }

    static let deliverySize = 1 << 20

    private func deliver(_ content: UnsafeRawBufferPointer, opener: EnvelopeOpener, sink: some PlaintextSink,
                         started: inout Bool) async throws(ClientError) {
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
