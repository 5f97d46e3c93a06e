import BurnlinkCore
import BurnlinkProtocol
import Foundation
import NIOCore
import ServiceLifecycle

/// What the server keeps about one secret when it is created. Tokens are never stored:
/// only their SHA-256 digests ("verifiers").
public struct SecretRecord: Sendable, Equatable {
    public var id: SecretID
    /// SHA-256 of the claim token T.
    public var claimVerifier: [UInt8]
    /// SHA-256 of the sender's receipt token R; nil when the sender asked for no receipt.
    public var receiptVerifier: [UInt8]?
    /// SHA-256 of the password proof Q; nil without a password.
    public var passwordVerifier: [UInt8]?
    /// Encoded Argon2id parameters (public); set exactly when `passwordVerifier` is.
    public var passwordKDF: String?
    /// Wrong passwords allowed before the secret is destroyed.
    public var passwordAttempts: Int
    public var createdAt: Date
    public var expiresAt: Date
    public var maxViews: Int

    public init(
        id: SecretID, claimVerifier: [UInt8], receiptVerifier: [UInt8]?, passwordVerifier: [UInt8]?,
        passwordKDF: String?, passwordAttempts: Int, createdAt: Date, expiresAt: Date, maxViews: Int
    ) {
        self.id = id
        self.claimVerifier = claimVerifier
        self.receiptVerifier = receiptVerifier
        self.passwordVerifier = passwordVerifier
        self.passwordKDF = passwordKDF
        self.passwordAttempts = passwordAttempts
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.maxViews = maxViews
    }
}

/// Public metadata of a readable secret: exactly what the API returns.
public typealias SecretMetadata = SecretMetadataResponse

/// A claim that won a view. The first chunk comes with the grant (for most secrets it is
/// the whole ciphertext, so a claim is one transaction); further chunks are read with
/// `SecretStore.chunk`, then `finishRead` must be called when `mustFinishRead` is set.
public struct ClaimGrant: Sendable {
    public var size: Int
    public var chunkCount: Int
    public var viewsLeft: Int
    public var firstChunk: ByteBuffer
    /// Set when more chunks remain to be read: the store counts this reader until
    /// `finishRead`, so that the last view's ciphertext is discarded only once no reader needs it.
    public var mustFinishRead: Bool

    public init(size: Int, chunkCount: Int, viewsLeft: Int, firstChunk: ByteBuffer, mustFinishRead: Bool) {
        self.size = size
        self.chunkCount = chunkCount
        self.viewsLeft = viewsLeft
        self.firstChunk = firstChunk
        self.mustFinishRead = mustFinishRead
    }
}

/// The claim session a granted claim opens (docs/http-api.md section 3.3.1): the server
/// keeps only the digest of the session secret S, and the session's deadline.
public struct ClaimSessionTerms: Sendable, Equatable {
    /// SHA-256 of the session secret S.
    public var verifier: [UInt8]
    public var deadline: Date

    public init(verifier: [UInt8], deadline: Date) {
        self.verifier = verifier
        self.deadline = deadline
    }
}

/// What fetching an open claim session's envelope again needs to know.
public struct SessionEnvelope: Sendable, Equatable {
    public var size: Int
    public var chunkCount: Int
    public var deadline: Date

    public init(size: Int, chunkCount: Int, deadline: Date) {
        self.size = size
        self.chunkCount = chunkCount
        self.deadline = deadline
    }
}

public enum SessionLookup: Sendable, Equatable {
    /// The session is open: its chunks can be read with `SecretStore.chunk` until it ends.
    case open(SessionEnvelope)
    /// No such session for this token, or it ended (confirmed, or past its deadline).
    case notFound
    /// The secret has a password and no proof came.
    case passwordRequired
    /// Wrong proof; nothing counted (the session holder proved the password at the claim).
    case wrongPassword(attemptsLeft: Int)
}

public enum ClaimResult: Sendable {
    case granted(ClaimGrant)
    /// Missing, expired, used up, revoked, burned, or a wrong claim token: one answer for all.
    case notFound
    /// The secret has a password and no proof came. Nothing consumed, no attempt counted.
    case passwordRequired
    /// Wrong proof. Nothing consumed; one attempt counted.
    case wrongPassword(attemptsLeft: Int)
    /// Wrong proof, and it was the last attempt allowed: the secret is destroyed.
    case passwordAttemptsExhausted
}

/// The sender's view of a secret, kept as a tombstone after the ciphertext is gone:
/// exactly what the API returns.
public typealias Receipt = ReceiptResponse

/// What one sweep removed.
public struct SweepReport: Sendable, Equatable {
    /// Secrets whose time ran out and whose ciphertext was removed now.
    public var expired: Int
    /// Ciphertext chunks removed that no readable secret owned (crashed uploads, used-up
    /// secrets whose reader never finished).
    public var orphanedChunks: Int
    /// Receipts (tombstones) removed after their retention.
    public var receiptsRemoved: Int
    /// Claim sessions found past their deadline without a confirm, now ended.
    public var unconfirmed: Int
    /// Requests past their expiry, removed.
    public var requestsRemoved: Int

    public init(
        expired: Int = 0, orphanedChunks: Int = 0, receiptsRemoved: Int = 0, unconfirmed: Int = 0, requestsRemoved: Int = 0
    ) {
        self.expired = expired
        self.orphanedChunks = orphanedChunks
        self.receiptsRemoved = receiptsRemoved
        self.unconfirmed = unconfirmed
        self.requestsRemoved = requestsRemoved
    }
}

public enum StoreError: Error, Equatable, Sendable {
    /// A secret with this id already exists (a 128-bit collision, or a retried upload).
    case duplicateID
    /// The upload being appended to or committed does not exist (aborted or swept).
    case noSuchUpload
    /// The database cannot be reached or answered with an error.
    case unavailable(String)
    /// The disk the store writes to is full (ENOSPC, a user quota, SQLite's "database or
    /// disk is full"): nothing of the operation was kept.
    case storageFull(String)
    /// A fill lost: the request was answered already (by another fill).
    case alreadyAnswered
    /// A fill's request is gone: it never existed, expired, or the fill verifier is wrong.
    case noSuchRequest
}

/// Storage of secrets: opaque ciphertext in chunk rows plus public metadata.
///
/// Every rule of the HTTP contract that concerns state lives here, so each backend is
/// held to it by the same contract test suite:
/// - a create is atomic: a secret is either wholly readable or absent;
/// - a claim is decided atomically (token, expiry, views left, password) and wins at
///   most `maxViews` times in total, under any concurrency;
/// - expiry holds at read time, whether or not the sweeper has run;
/// - token checks compare digests in constant time.
public protocol SecretStore: Service {
    /// Readies the store before the server accepts requests (schema migrations); safe when
    /// several processes do it at once. Needs `run()` to be running. Default: nothing to do.
    func prepare() async throws
    /// Ids whose receipt changed in any process sharing the store (this one included), for
    /// a store several processes share; nil for one only this process writes. A single
    /// consumer; best effort: a change may go unreported while the connection is down, so
    /// waiters also re-read every `receiptRecheckInterval`.
    var receiptChanges: AsyncStream<SecretID>? { get }
    /// How often a receipt long-poll re-reads on its own, for changes whose report was
    /// lost; nil when every change is seen in this process.
    var receiptRecheckInterval: Duration? { get }
    /// Releases what the store holds once the server has stopped (after `run()` returned).
    /// Default: nothing to release (a pool that `run()` owns is gone with it).
    func shutDown() async throws

    /// Stores a secret whose whole ciphertext is in hand (at most `chunkSize` bytes).
    func create(_ record: SecretRecord, ciphertext: ByteBuffer) async throws
    /// Starts a large upload: chunks are written as they arrive and stay invisible until
    /// `commitUpload`.
    func beginUpload(_ record: SecretRecord) async throws
    /// Appends chunk `index` (0-based, in order) to an upload. Throws `.noSuchUpload` when
    /// there is no upload in progress under this id (never begun, aborted, swept, committed).
    func appendChunk(id: SecretID, index: Int, bytes: ByteBuffer) async throws
    /// Makes an upload readable, atomically. `size` and `chunkCount` must be what was
    /// appended; `.noSuchUpload` when there is no upload in progress under this id.
    /// With `answering`, the same atomic step answers that request, and the upload stays
    /// uncommitted (`.alreadyAnswered`, `.noSuchRequest`) unless the request is still open.
    func commitUpload(id: SecretID, size: Int, chunkCount: Int, answering: RequestFill?) async throws
    /// Removes an upload that will not complete (client gone, too large), with every chunk
    /// appended so far. Does nothing when there is no such upload.
    func abortUpload(id: SecretID) async throws

    /// Public metadata, or nil when the secret is not readable or the verifier is wrong.
    /// Never changes state.
    func metadata(id: SecretID, claimVerifier: [UInt8], now: Date) async throws -> SecretMetadata?
    /// Decides one claim atomically. With `session`, a granted claim opens a claim session:
    /// the view is recorded `pending`, and the ciphertext is kept (whatever the views left)
    /// until `confirm` or the deadline; the grant then never sets `mustFinishRead`. Without
    /// it the view is recorded `sent`, and the last view's ciphertext goes with the read.
    func claim(
        id: SecretID, claimVerifier: [UInt8], passwordProofVerifier: [UInt8]?,
        session: ClaimSessionTerms?, now: Date
    ) async throws -> ClaimResult
    /// An open claim session of this secret whose verifier is `sessionVerifier`, checked
    /// with the claim token (and the password proof, without counting a wrong one).
    /// Never changes state.
    func session(
        id: SecretID, claimVerifier: [UInt8], sessionVerifier: [UInt8], passwordProofVerifier: [UInt8]?,
        now: Date
    ) async throws -> SessionLookup
    /// Ends an open claim session as delivered; true also when it was confirmed already.
    /// False for anything else (wrong token or session, past its deadline).
    func confirm(id: SecretID, claimVerifier: [UInt8], sessionVerifier: [UInt8], now: Date) async throws -> Bool
    /// Chunk `index` of a secret whose ciphertext a reader holds, or nil when it is gone:
    /// between a grant with `mustFinishRead` and its `finishRead`, or while a claim session
    /// is open. A single-chunk secret claimed without a session comes whole with its grant.
    func chunk(id: SecretID, index: Int) async throws -> ByteBuffer?
    /// Ends a multi-chunk read; discards the ciphertext if the views are used up and no
    /// other reader needs it. Call it exactly once per grant with `mustFinishRead`, also when
    /// the read failed; a reader that never calls it is forgotten by `sweep` after a lease.
    func finishRead(id: SecretID) async throws

    /// The receipt, or nil when there is none or the verifier is wrong.
    func receipt(id: SecretID, receiptVerifier: [UInt8], now: Date) async throws -> Receipt?
    /// Destroys a secret early; false when there is nothing to revoke or the verifier is wrong.
    func revoke(id: SecretID, receiptVerifier: [UInt8], now: Date) async throws -> Bool

    /// Stores a request; `.duplicateID` when its id is taken.
    func createRequest(_ record: RequestRecord) async throws
    /// A request as its filler sees it, or nil when it does not exist (expired included) or
    /// the verifier is wrong. Never changes state.
    func request(id: SecretID, fillVerifier: [UInt8], now: Date) async throws -> RequestSummary?
    /// A request as its requester sees it, or nil when it does not exist or the verifier is
    /// wrong. Never changes state.
    func requestAnswer(id: SecretID, answerVerifier: [UInt8], now: Date) async throws -> RequestAnswer?

    /// Ends claim sessions past their deadline (unconfirmed), removes expired ciphertext,
    /// orphaned chunks, receipts older than `receiptRetention` after they ended, and
    /// requests past their expiry.
    func sweep(now: Date, receiptRetention: TimeInterval) async throws -> SweepReport
    /// Ciphertext bytes held by readable secrets (for metrics and quotas), including uploads
    /// in progress and ciphertext still held for a reader that has not finished. Cheap: no
    /// ciphertext is read to answer it.
    func storedBytes() async throws -> Int
}

public enum StoreLimits {
    /// Ciphertext chunk row size: large enough that most secrets are one row, small enough
    /// that memory stays flat for a 100 MiB upload.
    public static let chunkSize = 1 << 20
}

extension SecretStore {
    public func prepare() async throws {}
    public var receiptChanges: AsyncStream<SecretID>? { nil }
    public var receiptRecheckInterval: Duration? { nil }
    public func shutDown() async throws {}

    /// Makes an upload readable that answers no request.
    public func commitUpload(id: SecretID, size: Int, chunkCount: Int) async throws {
        try await commitUpload(id: id, size: size, chunkCount: chunkCount, answering: nil)
    }

    /// A claim that opens no session (a server with claim window 0).
    public func claim(
        id: SecretID, claimVerifier: [UInt8], passwordProofVerifier: [UInt8]?,
        now: Date
    ) async throws -> ClaimResult {
        try await claim(
            id: id, claimVerifier: claimVerifier, passwordProofVerifier: passwordProofVerifier,
            session: nil, now: now)
    }
}
