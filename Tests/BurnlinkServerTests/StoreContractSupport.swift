import BurnlinkCore
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import NIOCore
import Testing

@testable import BurnlinkServer

// The backends and fixtures of the store contract (StoreContractTests.swift,
// ClaimSessionContractTests.swift): every rule of `SecretStore`, run against every backend.
//
// Each backend's `open` returns a fresh, empty store and a cleanup; every test marked
// `arguments: StoreBackend.all` runs unchanged against each backend in `all`. PostgreSQL is
// in `all` when a test cluster is there (`make test` always starts one); otherwise
// `PostgresTests` reports the PostgreSQL run as skipped.

// MARK: - Backends

struct StoreBackend: Sendable, CustomTestStringConvertible {
    struct Opened: Sendable {
        var store: any SecretStore
        var cleanup: @Sendable () async -> Void
    }

    let name: String
    /// Opens a fresh, empty store for one test.
    let open: @Sendable () async throws -> Opened

    var testDescription: String { name }

    static let sqlite = StoreBackend(name: "sqlite") {
        // A directory that does not exist yet: the store must create it.
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("burnlink-store-\(UUID().uuidString)", isDirectory: true)
        let store = try SQLiteStore(path: directory.appendingPathComponent("burnlink.sqlite").path)
        return Opened(store: store) {
            try? store.close()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// A new database on the test cluster for each test, dropped afterwards.
    static let postgres = StoreBackend(name: "postgres") {
        let (store, cleanup) = try await TestPostgres.openStore()
        return Opened(store: store, cleanup: cleanup)
    }

    static let all: [StoreBackend] = TestPostgres.available ? [.sqlite, .postgres] : [.sqlite]

    func withStore(_ body: (any SecretStore) async throws -> Void) async throws {
        let opened = try await open()
        do {
            try await body(opened.store)
        } catch {
            await opened.cleanup()
            throw error
        }
        await opened.cleanup()
    }
}

// MARK: - Fixtures

/// A secret as a sender would make it: random verifiers, random ciphertext.
struct StoreSample: Sendable {
    var record: SecretRecord
    var ciphertext: [UInt8]
    var claimVerifier: [UInt8] { record.claimVerifier }
    var receiptVerifier: [UInt8] { record.receiptVerifier ?? [] }
    var passwordVerifier: [UInt8] { record.passwordVerifier ?? [] }
    var id: SecretID { record.id }
    var buffer: ByteBuffer { ByteBuffer(bytes: ciphertext) }

    static func randomBytes(_ count: Int) -> [UInt8] {
        BurnlinkTestSupport.randomBytes(count)
    }

    /// 2026-01-01T00:00:00.250Z: on a whole millisecond, not on a whole second.
    static let t0 = Date(timeIntervalSince1970: 1_767_225_600.250)

    init(
        size: Int = 1024, maxViews: Int = 1, lifetime: TimeInterval = 3600, password: Bool = false,
        attempts: Int = 5, receipt: Bool = true, createdAt: Date = StoreSample.t0
    ) {
        record = SecretRecord(
            id: .random(),
            claimVerifier: BurnlinkCrypto.SHA256.hash(StoreSample.randomBytes(32)),
            receiptVerifier: receipt ? BurnlinkCrypto.SHA256.hash(StoreSample.randomBytes(32)) : nil,
            passwordVerifier: password ? BurnlinkCrypto.SHA256.hash(StoreSample.randomBytes(32)) : nil,
            passwordKDF: password ? "argon2id$v=19$m=65536,t=3,p=1$\(Base64URL.encode(StoreSample.randomBytes(16)))" : nil,
            passwordAttempts: attempts,
            createdAt: createdAt,
            expiresAt: createdAt.addingTimeInterval(lifetime),
            maxViews: maxViews)
        ciphertext = StoreSample.randomBytes(size)
    }

    func store(in store: any SecretStore) async throws {
        try await store.create(record, ciphertext: buffer)
    }
}

/// `ClaimResult` reduced to what the tests compare.
enum ClaimOutcome: Hashable {
    case granted(viewsLeft: Int)
    case notFound, passwordRequired, exhausted
    case wrongPassword(Int)

    init(_ result: ClaimResult) {
        switch result {
        case .granted(let grant): self = .granted(viewsLeft: grant.viewsLeft)
        case .notFound: self = .notFound
        case .passwordRequired: self = .passwordRequired
        case .wrongPassword(let left): self = .wrongPassword(left)
        case .passwordAttemptsExhausted: self = .exhausted
        }
    }
}

extension ClaimResult {
    var grant: ClaimGrant? {
        if case .granted(let grant) = self { return grant }
        return nil
    }
}

extension SecretStore {
    func claim(_ sample: StoreSample, proof: [UInt8]? = nil, now: Date = StoreSample.t0.addingTimeInterval(1)) async throws
        -> ClaimResult
    {
        try await claim(id: sample.id, claimVerifier: sample.claimVerifier, passwordProofVerifier: proof, now: now)
    }

    func receipt(_ sample: StoreSample, now: Date = StoreSample.t0.addingTimeInterval(1)) async throws -> Receipt? {
        try await receipt(id: sample.id, receiptVerifier: sample.receiptVerifier, now: now)
    }

    func metadata(_ sample: StoreSample, now: Date = StoreSample.t0.addingTimeInterval(1)) async throws -> SecretMetadata? {
        try await metadata(id: sample.id, claimVerifier: sample.claimVerifier, now: now)
    }

    /// Uploads `chunks` through begin/append/commit.
    func upload(_ sample: StoreSample, chunks: [[UInt8]]) async throws {
        try await beginUpload(sample.record)
        for (index, chunk) in chunks.enumerated() {
            try await appendChunk(id: sample.id, index: index, bytes: ByteBuffer(bytes: chunk))
        }
        try await commitUpload(id: sample.id, size: chunks.reduce(0) { $0 + $1.count }, chunkCount: chunks.count)
    }

    /// Reads a granted multi-chunk secret to the end, as the server streams it.
    func readAll(_ sample: StoreSample, grant: ClaimGrant) async throws -> [UInt8] {
        var all = Array(grant.firstChunk.readableBytesView)
        for index in 1..<max(grant.chunkCount, 1) {
            let chunk = try #require(try await chunk(id: sample.id, index: index))
            all += chunk.readableBytesView
        }
        return all
    }
}

/// Helpers for the contract suites, as members so that their short names never clash with
/// other test files.
protocol StoreContractHelpers {}

extension StoreContractHelpers {
    var mebibyte: Int { 1 << 20 }

    /// `seconds` after `StoreSample.t0`.
    func at(_ seconds: TimeInterval) -> Date { StoreSample.t0.addingTimeInterval(seconds) }
    /// A verifier nobody holds.
    func wrong() -> [UInt8] { BurnlinkCrypto.SHA256.hash(StoreSample.randomBytes(32)) }
    func bytes(_ buffer: ByteBuffer?) -> [UInt8]? { buffer.map { Array($0.readableBytesView) } }

    /// Three chunks as an uploader cuts them: two full 1 MiB chunks and a shorter last one.
    func threeChunks() -> [[UInt8]] {
        [StoreSample.randomBytes(mebibyte), StoreSample.randomBytes(mebibyte), StoreSample.randomBytes(mebibyte - 12_345)]
    }
}
