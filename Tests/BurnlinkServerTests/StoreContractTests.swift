import BurnlinkCore
import BurnlinkProtocol
@testable import BurnlinkServer
import Foundation
import GRDB
import NIOCore
import Testing

// The store contract: every rule of `SecretStore`, run against every backend.
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
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < count {
                var word: UInt64 = generator.next()
                let length = min(8, count - offset)
                withUnsafeBytes(of: &word) { raw.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: length) }
                offset += length
            }
        }
        return bytes
    }

    /// 2026-01-01T00:00:00.250Z: on a whole millisecond, not on a whole second.
    static let t0 = Date(timeIntervalSince1970: 1_767_225_600.250)

    init(size: Int = 1024, maxViews: Int = 1, lifetime: TimeInterval = 3600, password: Bool = false,
         attempts: Int = 5, receipt: Bool = true, createdAt: Date = StoreSample.t0) {
        record = SecretRecord(
            id: .random(),
            claimVerifier: SHA256.hash(StoreSample.randomBytes(32)),
            receiptVerifier: receipt ? SHA256.hash(StoreSample.randomBytes(32)) : nil,
            passwordVerifier: password ? SHA256.hash(StoreSample.randomBytes(32)) : nil,
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
    func claim(_ sample: StoreSample, proof: [UInt8]? = nil, now: Date = StoreSample.t0.addingTimeInterval(1)) async throws -> ClaimResult {
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
    func wrong() -> [UInt8] { SHA256.hash(StoreSample.randomBytes(32)) }
    func bytes(_ buffer: ByteBuffer?) -> [UInt8]? { buffer.map { Array($0.readableBytesView) } }

    /// Three chunks as an uploader cuts them: two full 1 MiB chunks and a shorter last one.
    func threeChunks() -> [[UInt8]] {
        [StoreSample.randomBytes(mebibyte), StoreSample.randomBytes(mebibyte), StoreSample.randomBytes(mebibyte - 12_345)]
    }
}

// MARK: - The contract

@Suite("Store contract")
struct StoreContractTests: StoreContractHelpers {
    @Test("create, then metadata never changes state", arguments: StoreBackend.all)
    func metadataDoesNotConsume(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(size: 1024, maxViews: 2)
            try await sample.store(in: store)
            let expected = SecretMetadata(size: 1024, expiresAt: sample.record.expiresAt, viewsLeft: 2, passwordKDF: nil)
            #expect(try await store.metadata(sample) == expected)
            #expect(try await store.metadata(sample) == expected)
            #expect(ClaimOutcome(try await store.claim(sample)) == .granted(viewsLeft: 1))
            #expect(try await store.metadata(sample)?.viewsLeft == 1)
            #expect(ClaimOutcome(try await store.claim(sample)) == .granted(viewsLeft: 0))
            #expect(try await store.metadata(sample) == nil)
        }
    }

    @Test("a claim returns the exact bytes once; the second claim is not found", arguments: StoreBackend.all)
    func claimOnce(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            for size in [1, 1024, 64 * 1024 + 40, mebibyte] {
                let sample = StoreSample(size: size)
                try await sample.store(in: store)
                #expect(try await store.storedBytes() == size)
                let grant = try #require(try await store.claim(sample).grant)
                #expect(bytes(grant.firstChunk) == sample.ciphertext)
                #expect(grant.size == size)
                #expect(grant.chunkCount == 1)
                #expect(grant.viewsLeft == 0)
                #expect(!grant.mustFinishRead)
                #expect(ClaimOutcome(try await store.claim(sample)) == .notFound)
                #expect(try await store.metadata(sample) == nil)
                #expect(try await store.chunk(id: sample.id, index: 0) == nil)
                #expect(try await store.storedBytes() == 0)
            }
        }
    }

    @Test("a wrong claim verifier is not found and consumes nothing", arguments: StoreBackend.all)
    func wrongClaimVerifier(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample()
            try await sample.store(in: store)
            #expect(try await store.metadata(id: sample.id, claimVerifier: wrong(), now: at(1)) == nil)
            for verifier in [wrong(), [], Array(sample.claimVerifier.prefix(31)), sample.receiptVerifier] {
                let result = try await store.claim(id: sample.id, claimVerifier: verifier, passwordProofVerifier: nil, now: at(1))
                #expect(ClaimOutcome(result) == .notFound)
            }
            #expect(try await store.receipt(sample)?.state == .waiting)
            let grant = try #require(try await store.claim(sample).grant)
            #expect(bytes(grant.firstChunk) == sample.ciphertext)
        }
    }

    @Test("an unknown id is not found everywhere", arguments: StoreBackend.all)
    func unknownID(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample()
            #expect(try await store.metadata(sample) == nil)
            #expect(ClaimOutcome(try await store.claim(sample)) == .notFound)
            #expect(try await store.receipt(sample) == nil)
            #expect(try await store.revoke(id: sample.id, receiptVerifier: sample.receiptVerifier, now: at(1)) == false)
            #expect(try await store.chunk(id: sample.id, index: 0) == nil)
            try await store.finishRead(id: sample.id)
            try await store.abortUpload(id: sample.id)
            await #expect(throws: StoreError.noSuchUpload) {
                try await store.appendChunk(id: sample.id, index: 0, bytes: ByteBuffer(bytes: [1, 2, 3]))
            }
            await #expect(throws: StoreError.noSuchUpload) {
                try await store.commitUpload(id: sample.id, size: 3, chunkCount: 1)
            }
        }
    }

    @Test("expiry holds at read time, without a sweep", arguments: StoreBackend.all)
    func expiryAtReadTime(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(maxViews: 3, lifetime: 60)
            try await sample.store(in: store)
            #expect(try await store.metadata(sample, now: at(59.999)) != nil)
            #expect(try await store.receipt(sample, now: at(59.999))?.state == .waiting)
            #expect(try await store.metadata(sample, now: at(60)) == nil)
            #expect(ClaimOutcome(try await store.claim(sample, now: at(60))) == .notFound)
            #expect(ClaimOutcome(try await store.claim(sample, now: at(3600))) == .notFound)
            let receipt = try #require(try await store.receipt(sample, now: at(60)))
            #expect(receipt.state == .expired)
            #expect(receipt.endedAt == sample.record.expiresAt)
            #expect(receipt.viewsLeft == 3)
            #expect(try await store.revoke(id: sample.id, receiptVerifier: sample.receiptVerifier, now: at(61)) == false)
        }
    }

    @Test("max views N gives exactly N grants and a receipt with N view times", arguments: StoreBackend.all)
    func maxViews(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(size: 2048, maxViews: 4)
            try await sample.store(in: store)
            for view in 1...4 {
                let grant = try #require(try await store.claim(sample, now: at(Double(view))).grant)
                #expect(grant.viewsLeft == 4 - view)
                #expect(bytes(grant.firstChunk) == sample.ciphertext)
                #expect(!grant.mustFinishRead)
            }
            #expect(ClaimOutcome(try await store.claim(sample, now: at(5))) == .notFound)
            let receipt = try #require(try await store.receipt(sample, now: at(6)))
            #expect(receipt.state == .viewed)
            #expect(receipt.viewsLeft == 0)
            #expect(receipt.maxViews == 4)
            #expect(receipt.viewedAt == [at(1), at(2), at(3), at(4)])
            #expect(receipt.endedAt == at(4))
            #expect(try await store.storedBytes() == 0)
        }
    }

    @Test("receipt states and exact times", arguments: StoreBackend.all)
    func receiptStates(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(maxViews: 2, lifetime: 86_400)
            try await sample.store(in: store)
            let waiting = try #require(try await store.receipt(sample, now: at(1)))
            #expect(waiting == Receipt(state: .waiting, createdAt: StoreSample.t0, expiresAt: at(86_400), maxViews: 2,
                                       viewsLeft: 2, views: [], endedAt: nil))
            _ = try #require(try await store.claim(sample, now: at(10.125)).grant)
            let viewed = try #require(try await store.receipt(sample, now: at(11)))
            #expect(viewed.state == .viewed)
            #expect(viewed.viewsLeft == 1)
            #expect(viewed.viewedAt == [at(10.125)])
            #expect(viewed.endedAt == nil)
            // Viewed once and then expired: the receipt says expired, with the view kept.
            let expired = try #require(try await store.receipt(sample, now: at(86_400)))
            #expect(expired.state == .expired)
            #expect(expired.viewedAt == [at(10.125)])
            #expect(expired.endedAt == at(86_400))
        }
    }

    @Test("a receipt needs the receipt verifier; none exists without one", arguments: StoreBackend.all)
    func receiptVerifier(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample()
            try await sample.store(in: store)
            #expect(try await store.receipt(id: sample.id, receiptVerifier: wrong(), now: at(1)) == nil)
            #expect(try await store.receipt(id: sample.id, receiptVerifier: sample.claimVerifier, now: at(1)) == nil)
            #expect(try await store.receipt(id: sample.id, receiptVerifier: [], now: at(1)) == nil)
            #expect(try await store.receipt(sample) != nil)

            let silent = StoreSample(receipt: false)
            try await silent.store(in: store)
            for verifier in [[], wrong(), [UInt8](repeating: 0, count: 32)] {
                #expect(try await store.receipt(id: silent.id, receiptVerifier: verifier, now: at(1)) == nil)
                #expect(try await store.revoke(id: silent.id, receiptVerifier: verifier, now: at(1)) == false)
            }
            #expect(try await store.claim(silent).grant != nil)
        }
    }

    @Test("1,000 concurrent claims of a single-view secret: exactly one grant", arguments: StoreBackend.all)
    func concurrentClaimsSingleView(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await concurrentClaims(store, maxViews: 1, claims: 1000)
        }
    }

    @Test("1,000 concurrent claims of a three-view secret: exactly three grants", arguments: StoreBackend.all)
    func concurrentClaimsThreeViews(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await concurrentClaims(store, maxViews: 3, claims: 1000)
        }
    }

    func concurrentClaims(_ store: any SecretStore, maxViews: Int, claims: Int) async throws {
        let sample = StoreSample(size: 1024, maxViews: maxViews)
        try await sample.store(in: store)
        let outcomes = try await withThrowingTaskGroup(of: (ClaimOutcome, [UInt8]?).self) { group in
            for _ in 0..<claims {
                group.addTask {
                    let result = try await store.claim(sample)
                    return (ClaimOutcome(result), self.bytes(result.grant?.firstChunk))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let grants = outcomes.filter { if case .granted = $0.0 { true } else { false } }
        #expect(grants.count == maxViews)
        #expect(outcomes.filter { $0.0 == .notFound }.count == claims - maxViews)
        #expect(grants.allSatisfy { $0.1 == sample.ciphertext })
        #expect(Set(grants.map(\.0)) == Set((0..<maxViews).map { ClaimOutcome.granted(viewsLeft: $0) }))
        let receipt = try #require(try await store.receipt(sample, now: at(2)))
        #expect(receipt.state == .viewed)
        #expect(receipt.viewedAt.count == maxViews)
        #expect(try await store.storedBytes() == 0)
    }

    @Test("a password secret without a proof: password required, nothing counted", arguments: StoreBackend.all)
    func passwordRequired(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(password: true, attempts: 5)
            try await sample.store(in: store)
            #expect(try await store.metadata(sample)?.passwordKDF == sample.record.passwordKDF)
            for _ in 0..<10 {
                #expect(ClaimOutcome(try await store.claim(sample, proof: nil)) == .passwordRequired)
            }
            #expect(ClaimOutcome(try await store.claim(sample, proof: wrong())) == .wrongPassword(4))
            #expect(try await store.metadata(sample)?.viewsLeft == 1)
            // A wrong claim verifier never reaches the password check.
            let result = try await store.claim(id: sample.id, claimVerifier: wrong(), passwordProofVerifier: wrong(), now: at(1))
            #expect(ClaimOutcome(result) == .notFound)
            #expect(ClaimOutcome(try await store.claim(sample, proof: wrong())) == .wrongPassword(3))
        }
    }

    @Test("wrong proofs count down; a right proof after them works", arguments: StoreBackend.all)
    func wrongThenRightPassword(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(password: true, attempts: 5)
            try await sample.store(in: store)
            for left in [4, 3, 2, 1] {
                #expect(ClaimOutcome(try await store.claim(sample, proof: wrong())) == .wrongPassword(left))
                #expect(try await store.receipt(sample)?.state == .waiting)
            }
            let grant = try #require(try await store.claim(sample, proof: sample.passwordVerifier).grant)
            #expect(bytes(grant.firstChunk) == sample.ciphertext)
            #expect(try await store.receipt(sample)?.state == .viewed)
        }
    }

    @Test("the last wrong proof destroys the secret", arguments: StoreBackend.all)
    func passwordBurn(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(maxViews: 3, password: true, attempts: 3)
            try await sample.store(in: store)
            #expect(ClaimOutcome(try await store.claim(sample, proof: wrong(), now: at(1))) == .wrongPassword(2))
            #expect(ClaimOutcome(try await store.claim(sample, proof: wrong(), now: at(2))) == .wrongPassword(1))
            #expect(ClaimOutcome(try await store.claim(sample, proof: wrong(), now: at(3))) == .exhausted)
            #expect(ClaimOutcome(try await store.claim(sample, proof: sample.passwordVerifier, now: at(4))) == .notFound)
            #expect(ClaimOutcome(try await store.claim(sample, proof: wrong(), now: at(4))) == .notFound)
            #expect(try await store.metadata(sample, now: at(4)) == nil)
            let receipt = try #require(try await store.receipt(sample, now: at(5)))
            #expect(receipt.state == .burned)
            #expect(receipt.endedAt == at(3))
            #expect(receipt.viewedAt.isEmpty)
            #expect(try await store.storedBytes() == 0)
            #expect(try await store.revoke(id: sample.id, receiptVerifier: sample.receiptVerifier, now: at(6)) == false)
        }
    }

    @Test("concurrent wrong proofs are counted exactly", arguments: StoreBackend.all)
    func concurrentWrongPasswords(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(password: true, attempts: 5)
            try await sample.store(in: store)
            let outcomes = try await withThrowingTaskGroup(of: ClaimOutcome.self) { group in
                for _ in 0..<200 {
                    group.addTask { ClaimOutcome(try await store.claim(sample, proof: self.wrong())) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { if case .wrongPassword = $0 { true } else { false } }.count == 4)
            #expect(Set(outcomes.compactMap { if case .wrongPassword(let n) = $0 { n } else { nil } }) == [1, 2, 3, 4])
            #expect(outcomes.filter { $0 == .exhausted }.count == 1)
            #expect(outcomes.filter { $0 == .notFound }.count == 195)
            #expect(try await store.receipt(sample)?.state == .burned)
        }
    }

    @Test("revoke", arguments: StoreBackend.all)
    func revoke(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(maxViews: 2)
            try await sample.store(in: store)
            #expect(try await store.revoke(id: sample.id, receiptVerifier: wrong(), now: at(1)) == false)
            #expect(try await store.revoke(id: sample.id, receiptVerifier: sample.claimVerifier, now: at(1)) == false)
            #expect(try await store.metadata(sample) != nil)
            #expect(try await store.revoke(id: sample.id, receiptVerifier: sample.receiptVerifier, now: at(2)) == true)
            #expect(ClaimOutcome(try await store.claim(sample, now: at(3))) == .notFound)
            #expect(try await store.metadata(sample, now: at(3)) == nil)
            let receipt = try #require(try await store.receipt(sample, now: at(3)))
            #expect(receipt.state == .revoked)
            #expect(receipt.endedAt == at(2))
            #expect(try await store.revoke(id: sample.id, receiptVerifier: sample.receiptVerifier, now: at(4)) == false)
            #expect(try await store.storedBytes() == 0)

            // A used-up secret cannot be revoked.
            let used = StoreSample()
            try await used.store(in: store)
            _ = try #require(try await store.claim(used).grant)
            #expect(try await store.revoke(id: used.id, receiptVerifier: used.receiptVerifier, now: at(2)) == false)
            #expect(try await store.receipt(used)?.state == .viewed)
        }
    }

    @Test("multi-chunk upload: invisible until committed, then read back byte-exact", arguments: StoreBackend.all)
    func multiChunkUpload(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let chunks = threeChunks()
            let total = chunks.reduce(0) { $0 + $1.count }
            let sample = StoreSample(size: 0)
            try await store.beginUpload(sample.record)
            for (index, chunk) in chunks.enumerated() {
                try await store.appendChunk(id: sample.id, index: index, bytes: ByteBuffer(bytes: chunk))
                #expect(try await store.metadata(sample) == nil)
                #expect(ClaimOutcome(try await store.claim(sample)) == .notFound)
                #expect(try await store.receipt(sample) == nil)
                #expect(try await store.revoke(id: sample.id, receiptVerifier: sample.receiptVerifier, now: at(1)) == false)
                #expect(try await store.chunk(id: sample.id, index: index) == nil)
            }
            try await store.commitUpload(id: sample.id, size: total, chunkCount: 3)
            #expect(try await store.storedBytes() == total)
            #expect(try await store.metadata(sample)?.size == total)
            #expect(try await store.receipt(sample)?.state == .waiting)

            let grant = try #require(try await store.claim(sample).grant)
            #expect(grant.size == total)
            #expect(grant.chunkCount == 3)
            #expect(grant.mustFinishRead)
            #expect(bytes(grant.firstChunk) == chunks[0])
            #expect(bytes(try await store.chunk(id: sample.id, index: 1)) == chunks[1])
            #expect(bytes(try await store.chunk(id: sample.id, index: 2)) == chunks[2])
            #expect(try await store.chunk(id: sample.id, index: 3) == nil)
            #expect(try await store.readAll(sample, grant: grant) == chunks.flatMap { $0 })
            #expect(ClaimOutcome(try await store.claim(sample)) == .notFound)
            try await store.finishRead(id: sample.id)
            #expect(try await store.chunk(id: sample.id, index: 1) == nil)
            #expect(try await store.storedBytes() == 0)
            #expect(try await store.receipt(sample)?.state == .viewed)
        }
    }

    @Test("a multi-view secret's ciphertext stays while another reader is active", arguments: StoreBackend.all)
    func concurrentReaders(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let chunks = threeChunks()
            let sample = StoreSample(maxViews: 2)
            try await store.upload(sample, chunks: chunks)
            let first = try #require(try await store.claim(sample, now: at(1)).grant)
            let last = try #require(try await store.claim(sample, now: at(2)).grant)
            #expect(first.viewsLeft == 1 && last.viewsLeft == 0)
            #expect(try await store.metadata(sample, now: at(3)) == nil)
            // The last viewer finishes first: the first reader still needs the ciphertext.
            #expect(try await store.readAll(sample, grant: last) == chunks.flatMap { $0 })
            try await store.finishRead(id: sample.id)
            #expect(try await store.readAll(sample, grant: first) == chunks.flatMap { $0 })
            // A sweep must not take it from the reader either.
            _ = try await store.sweep(now: at(4), receiptRetention: 0)
            #expect(bytes(try await store.chunk(id: sample.id, index: 2)) == chunks[2])
            try await store.finishRead(id: sample.id)
            #expect(try await store.chunk(id: sample.id, index: 2) == nil)
            #expect(try await store.storedBytes() == 0)
            #expect(try await store.receipt(sample, now: at(5))?.viewedAt == [at(1), at(2)])
        }
    }

    @Test("a revoke during a multi-chunk read lets the reader finish", arguments: StoreBackend.all)
    func revokeDuringRead(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let chunks = threeChunks()
            let sample = StoreSample(maxViews: 5)
            try await store.upload(sample, chunks: chunks)
            let grant = try #require(try await store.claim(sample, now: at(1)).grant)
            #expect(try await store.revoke(id: sample.id, receiptVerifier: sample.receiptVerifier, now: at(2)) == true)
            #expect(ClaimOutcome(try await store.claim(sample, now: at(3))) == .notFound)
            #expect(try await store.readAll(sample, grant: grant) == chunks.flatMap { $0 })
            try await store.finishRead(id: sample.id)
            #expect(try await store.chunk(id: sample.id, index: 1) == nil)
            #expect(try await store.storedBytes() == 0)
            #expect(try await store.receipt(sample, now: at(4))?.state == .revoked)
        }
    }

    @Test("a secret that expires during a multi-chunk read: the reader finishes, then it is gone", arguments: StoreBackend.all)
    func expiryDuringRead(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let chunks = threeChunks()
            let sample = StoreSample(maxViews: 3, lifetime: 60)
            try await store.upload(sample, chunks: chunks)
            let grant = try #require(try await store.claim(sample, now: at(59)).grant)
            let report = try await store.sweep(now: at(120), receiptRetention: 0)
            #expect(report == SweepReport(expired: 1, orphanedChunks: 0, receiptsRemoved: 0))
            #expect(try await store.readAll(sample, grant: grant) == chunks.flatMap { $0 })
            try await store.finishRead(id: sample.id)
            #expect(try await store.chunk(id: sample.id, index: 1) == nil)
            #expect(try await store.storedBytes() == 0)
            #expect(try await store.receipt(sample, now: at(121))?.state == .expired)
            // Now nothing holds it back: the tombstone goes with a zero retention.
            #expect(try await store.sweep(now: at(122), receiptRetention: 0).receiptsRemoved == 1)
            #expect(try await store.receipt(sample, now: at(123)) == nil)
        }
    }

    /// Over 8 MiB the SQLite store frees ciphertext in steps after the ending operation;
    /// whichever way such a secret ends, every chunk and every counted byte must go.
    /// SQLite only: PostgreSQL frees any size in the ending statement, which the other
    /// tests cover, and 50 MiB more through it only slows the suites running beside this.
    @Test("a ciphertext over 8 MiB is freed entirely, however its secret ends", arguments: [StoreBackend.sqlite])
    func largeCiphertextFreed(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let chunks = (0..<9).map { _ in StoreSample.randomBytes(mebibyte) } + [StoreSample.randomBytes(777)]
            let size = chunks.reduce(0) { $0 + $1.count }
            let small = StoreSample(size: 3000, maxViews: 2)
            try await small.store(in: store)

            func expectOnlySmallStored(_ sample: StoreSample, _ how: String) async throws {
                for index in [0, 1, 8, 9] {
                    #expect(try await store.chunk(id: sample.id, index: index) == nil, "\(how): chunk \(index) left")
                }
                #expect(try await store.storedBytes() == small.ciphertext.count, "\(how)")
            }

            // Read to the end by its only reader.
            let read = StoreSample(size: 0)
            try await store.upload(read, chunks: chunks)
            #expect(try await store.storedBytes() == small.ciphertext.count + size)
            let grant = try #require(try await store.claim(read).grant)
            #expect(try await store.readAll(read, grant: grant) == chunks.flatMap { $0 })
            try await store.finishRead(id: read.id)
            try await expectOnlySmallStored(read, "read")

            // Revoked by the sender.
            let revoked = StoreSample(size: 0)
            try await store.upload(revoked, chunks: chunks)
            #expect(try await store.revoke(id: revoked.id, receiptVerifier: revoked.receiptVerifier, now: at(1)))
            try await expectOnlySmallStored(revoked, "revoked")

            // Burned by wrong passwords.
            let burned = StoreSample(size: 0, password: true, attempts: 1)
            try await store.upload(burned, chunks: chunks)
            #expect(ClaimOutcome(try await store.claim(burned, proof: wrong())) == .exhausted)
            try await expectOnlySmallStored(burned, "burned")

            // Expired, then swept.
            let expired = StoreSample(size: 0, lifetime: 60)
            try await store.upload(expired, chunks: chunks)
            #expect(try await store.sweep(now: at(120), receiptRetention: 86_400).expired == 1)
            try await expectOnlySmallStored(expired, "expired")

            // An upload abandoned before its commit.
            let aborted = StoreSample(size: 0)
            try await store.beginUpload(aborted.record)
            for (index, chunk) in chunks.enumerated() {
                try await store.appendChunk(id: aborted.id, index: index, bytes: ByteBuffer(bytes: chunk))
            }
            try await store.abortUpload(id: aborted.id)
            try await expectOnlySmallStored(aborted, "aborted")
            try await store.beginUpload(aborted.record)  // its id is free again
            try await store.abortUpload(id: aborted.id)

            // The receipts still tell what happened, and the small secret is untouched.
            #expect(try await store.receipt(read, now: at(2))?.state == .viewed)
            #expect(try await store.receipt(revoked, now: at(2))?.state == .revoked)
            #expect(try await store.receipt(burned, now: at(2))?.state == .burned)
            #expect(try await store.receipt(expired, now: at(121))?.state == .expired)
            #expect(bytes(try #require(try await store.claim(small).grant).firstChunk) == small.ciphertext)
        }
    }

    @Test("a reader that never finishes does not keep the ciphertext forever", arguments: StoreBackend.all)
    func abandonedReader(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(lifetime: 3600)
            try await store.upload(sample, chunks: threeChunks())
            let grant = try #require(try await store.claim(sample, now: at(1)).grant)
            #expect(grant.mustFinishRead && grant.viewsLeft == 0)
            #expect(try await store.sweep(now: at(2), receiptRetention: 7 * 86_400) == SweepReport())
            #expect(try await store.chunk(id: sample.id, index: 1) != nil)
            let report = try await store.sweep(now: at(2 * 86_400), receiptRetention: 7 * 86_400)
            #expect(report == SweepReport(expired: 0, orphanedChunks: 3, receiptsRemoved: 0))
            #expect(try await store.chunk(id: sample.id, index: 1) == nil)
            #expect(try await store.storedBytes() == 0)
            #expect(try await store.receipt(sample, now: at(2 * 86_400))?.state == .viewed)
            try await store.finishRead(id: sample.id)  // late: harmless
        }
    }

    @Test("abortUpload leaves nothing behind", arguments: StoreBackend.all)
    func abortUpload(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample()
            try await store.beginUpload(sample.record)
            try await store.appendChunk(id: sample.id, index: 0, bytes: ByteBuffer(bytes: StoreSample.randomBytes(mebibyte)))
            try await store.appendChunk(id: sample.id, index: 1, bytes: ByteBuffer(bytes: StoreSample.randomBytes(1000)))
            #expect(try await store.storedBytes() == mebibyte + 1000)
            try await store.abortUpload(id: sample.id)
            #expect(try await store.storedBytes() == 0)
            #expect(try await store.metadata(sample) == nil)
            #expect(try await store.receipt(sample) == nil)
            await #expect(throws: StoreError.noSuchUpload) {
                try await store.appendChunk(id: sample.id, index: 2, bytes: ByteBuffer(bytes: [1]))
            }
            await #expect(throws: StoreError.noSuchUpload) {
                try await store.commitUpload(id: sample.id, size: mebibyte + 1000, chunkCount: 2)
            }
            try await store.abortUpload(id: sample.id)  // twice: harmless
            // The id is free again.
            try await store.upload(sample, chunks: [StoreSample.randomBytes(10)])
            #expect(try await store.metadata(sample)?.size == 10)
        }
    }

    @Test("a committed secret is no longer an upload", arguments: StoreBackend.all)
    func committedIsNotAnUpload(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample()
            let chunks = [StoreSample.randomBytes(100), StoreSample.randomBytes(50)]
            try await store.upload(sample, chunks: chunks)
            await #expect(throws: StoreError.noSuchUpload) {
                try await store.appendChunk(id: sample.id, index: 2, bytes: ByteBuffer(bytes: [1]))
            }
            await #expect(throws: StoreError.noSuchUpload) {
                try await store.commitUpload(id: sample.id, size: 150, chunkCount: 2)
            }
            try await store.abortUpload(id: sample.id)  // not an upload: untouched
            let grant = try #require(try await store.claim(sample).grant)
            #expect(try await store.readAll(sample, grant: grant) == chunks.flatMap { $0 })
            try await store.finishRead(id: sample.id)
        }
    }

    @Test("a duplicate id is refused, and the original is untouched", arguments: StoreBackend.all)
    func duplicateID(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample()
            try await sample.store(in: store)
            var twin = StoreSample()
            twin.record.id = sample.id
            await #expect(throws: StoreError.duplicateID) { try await twin.store(in: store) }
            await #expect(throws: StoreError.duplicateID) { try await store.beginUpload(twin.record) }
            #expect(try await store.storedBytes() == sample.ciphertext.count)
            let grant = try #require(try await store.claim(sample).grant)
            #expect(bytes(grant.firstChunk) == sample.ciphertext)

            let upload = StoreSample()
            try await store.beginUpload(upload.record)
            await #expect(throws: StoreError.duplicateID) { try await store.beginUpload(upload.record) }
            await #expect(throws: StoreError.duplicateID) { try await upload.store(in: store) }
        }
    }

    @Test("concurrent creates: each stands alone, a duplicate fails alone", arguments: StoreBackend.all)
    func concurrentCreates(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var samples = (0..<300).map { _ in StoreSample(size: 1024) }
            samples[150].record.id = samples[10].id  // one clash somewhere in the crowd
            let results = await withTaskGroup(of: (Int, StoreError?).self) { group in
                for (index, sample) in samples.enumerated() {
                    group.addTask {
                        do {
                            try await sample.store(in: store)
                            return (index, nil)
                        } catch {
                            return (index, error as? StoreError ?? .unavailable("\(error)"))
                        }
                    }
                }
                return await group.reduce(into: [Int: StoreError?]()) { $0[$1.0] = $1.1 }
            }
            let failures = results.compactMap { index, error in error.map { (index, $0) } }
            #expect(failures.count == 1)
            let (loser, error) = try #require(failures.first)
            #expect(error == .duplicateID)
            #expect(loser == 10 || loser == 150)
            #expect(try await store.storedBytes() == 299 * 1024)
            for (index, sample) in samples.enumerated() where index != loser {
                let grant = try #require(try await store.claim(sample).grant, "secret \(index)")
                #expect(bytes(grant.firstChunk) == sample.ciphertext)
            }
            #expect(try await store.storedBytes() == 0)
        }
    }

    @Test("sweep removes expired ciphertext, keeps receipts until their retention", arguments: StoreBackend.all)
    func sweepExpiredAndTombstones(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let day: TimeInterval = 86_400
            let shortLived = StoreSample(size: 4096, maxViews: 2, lifetime: 60)
            let longLived = StoreSample(size: 2048, lifetime: 7200)
            let read = StoreSample(size: 1024, lifetime: 7200)
            let large = StoreSample(lifetime: 60)
            for sample in [shortLived, longLived, read] { try await sample.store(in: store) }
            try await store.upload(large, chunks: threeChunks())
            let largeSize = try #require(try await store.metadata(large)?.size)
            _ = try #require(try await store.claim(read, now: at(10)).grant)
            #expect(try await store.storedBytes() == 4096 + 2048 + largeSize)

            #expect(try await store.sweep(now: at(30), receiptRetention: day) == SweepReport())
            #expect(try await store.storedBytes() == 4096 + 2048 + largeSize)

            let report = try await store.sweep(now: at(120), receiptRetention: day)
            #expect(report == SweepReport(expired: 2, orphanedChunks: 0, receiptsRemoved: 0))
            #expect(try await store.storedBytes() == 2048)
            let receipt = try #require(try await store.receipt(shortLived, now: at(121)))
            #expect(receipt.state == .expired)
            #expect(receipt.endedAt == at(60))
            #expect(try await store.receipt(large, now: at(121))?.state == .expired)
            #expect(try await store.metadata(longLived, now: at(121)) != nil)

            // The read secret ended at 10 s, the expired ones at 60 s.
            // That sweep also expires the long-lived one (its time ran out at 7,200 s).
            let first = try await store.sweep(now: at(10 + day + 1), receiptRetention: day)
            #expect(first == SweepReport(expired: 1, orphanedChunks: 0, receiptsRemoved: 1))
            #expect(try await store.receipt(read, now: at(10 + day + 1)) == nil)
            #expect(try await store.receipt(shortLived, now: at(10 + day + 1))?.state == .expired)

            let second = try await store.sweep(now: at(60 + day + 1), receiptRetention: day)
            #expect(second == SweepReport(expired: 0, orphanedChunks: 0, receiptsRemoved: 2))
            #expect(try await store.receipt(shortLived, now: at(60 + day + 1)) == nil)
            #expect(try await store.receipt(large, now: at(60 + day + 1)) == nil)
            // The long-lived one ended at 7,200 s: its receipt stays.
            #expect(try await store.receipt(longLived, now: at(60 + day + 1))?.state == .expired)
            #expect(try await store.storedBytes() == 0)
        }
    }

    @Test("sweep removes uploads that never completed", arguments: StoreBackend.all)
    func sweepStaleUploads(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(lifetime: 86_400)
            try await store.beginUpload(sample.record)
            try await store.appendChunk(id: sample.id, index: 0, bytes: ByteBuffer(bytes: StoreSample.randomBytes(mebibyte)))
            try await store.appendChunk(id: sample.id, index: 1, bytes: ByteBuffer(bytes: StoreSample.randomBytes(5)))
            #expect(try await store.sweep(now: at(600), receiptRetention: 86_400) == SweepReport())
            #expect(try await store.storedBytes() == mebibyte + 5)
            let report = try await store.sweep(now: at(3 * 3600), receiptRetention: 86_400)
            #expect(report == SweepReport(expired: 0, orphanedChunks: 2, receiptsRemoved: 0))
            #expect(try await store.storedBytes() == 0)
            await #expect(throws: StoreError.noSuchUpload) {
                try await store.appendChunk(id: sample.id, index: 2, bytes: ByteBuffer(bytes: [1]))
            }
        }
    }

    @Test("timestamps round-trip exactly to the millisecond", arguments: StoreBackend.all)
    func timestamps(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let created = Date(timeIntervalSince1970: 1_799_999_999.999)
            var sample = StoreSample(maxViews: 2, createdAt: created)
            sample.record.expiresAt = Date(timeIntervalSince1970: 1_800_604_799.001)
            try await sample.store(in: store)
            let viewed = Date(timeIntervalSince1970: 1_800_000_000.007)
            _ = try #require(try await store.claim(sample, now: viewed).grant)
            let receipt = try #require(try await store.receipt(sample, now: viewed))
            #expect(receipt.createdAt == created)
            #expect(receipt.expiresAt == sample.record.expiresAt)
            #expect(receipt.viewedAt == [viewed])
            #expect(try await store.metadata(sample, now: viewed)?.expiresAt == sample.record.expiresAt)
        }
    }
}

// MARK: - SQLite only

@Suite("Store contract: SQLite file")
struct StoreContractSQLiteTests: StoreContractHelpers {
    /// A fresh directory (not created) and the database path inside it.
    static func location() -> (directory: URL, path: String) {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("burnlink-sqlite-\(UUID().uuidString)", isDirectory: true)
        return (directory, directory.appendingPathComponent("nested/burnlink.sqlite").path)
    }

    @Test("a checkpointer that waits for quiet runs no copy-back while a long operation is in progress")
    func checkpointerWaitsOutLongOperations() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("nested"), withIntermediateDirectories: true)
        let writer = try DatabasePool(path: path)
        try await writer.write { db in try db.execute(sql: "CREATE TABLE t (x BLOB)") }
        let checkpointer = try SQLiteCheckpointer(path: path, label: "test-checkpoint", interval: .milliseconds(10),
                                                  waitForQuiet: .milliseconds(100))
        defer { try? checkpointer.close() }

        // An operation four times longer than the quiet period: no pass may begin beside it.
        let (before, after) = try await checkpointer.during {
            // A pass that began before the operation (a slow set-up) may still be finishing.
            try await Task.sleep(for: .milliseconds(100))
            let before = checkpointer.checkpointsRun
            try await writer.write { db in try db.execute(sql: "INSERT INTO t VALUES (zeroblob(100000))") }
            try await Task.sleep(for: .milliseconds(400))
            return (before, checkpointer.checkpointsRun)
        }
        #expect(after == before)

        // Once quiet for the period, passes resume.
        try await Task.sleep(for: .milliseconds(400))
        #expect(checkpointer.checkpointsRun > after)
        try writer.close()
    }

    @Test("data survives closing and reopening the file")
    func survivesReopen() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let small = StoreSample(maxViews: 2)
        let large = StoreSample()
        let chunks = threeChunks()
        let read = StoreSample()
        do {
            let store = try SQLiteStore(path: path)
            try await small.store(in: store)
            try await store.upload(large, chunks: chunks)
            try await read.store(in: store)
            _ = try #require(try await store.claim(small, now: at(5)).grant)
            _ = try #require(try await store.claim(read, now: at(6)).grant)
            try store.close()
        }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(try await store.storedBytes() == small.ciphertext.count + chunks.reduce(0) { $0 + $1.count })
        #expect(try await store.receipt(small, now: at(7))?.viewedAt == [at(5)])
        #expect(bytes(try #require(try await store.claim(small, now: at(7)).grant).firstChunk) == small.ciphertext)
        let grant = try #require(try await store.claim(large, now: at(7)).grant)
        #expect(try await store.readAll(large, grant: grant) == chunks.flatMap { $0 })
        try await store.finishRead(id: large.id)
        #expect(ClaimOutcome(try await store.claim(read, now: at(7))) == .notFound)
        #expect(try await store.receipt(read, now: at(7))?.state == .viewed)
        #expect(try await store.storedBytes() == 0)
    }

    @Test("a database made by the first schema (chunks keyed by id) opens with every secret intact")
    func migratesFromFirstSchema() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let small = StoreSample(maxViews: 2)
        let large = StoreSample()
        let chunks = threeChunks()
        do {
            // The "v1" layout, written the way the first release wrote it.
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v1")
            try await queue.write { db in
                for (sample, parts, count) in [(small, [small.ciphertext], 1), (large, chunks, 3)] {
                    let size = parts.reduce(0) { $0 + $1.count }
                    try db.execute(sql: """
                        INSERT INTO secret (id, state, claim_verifier, receipt_verifier, password_attempts_left,
                                            created_at, expires_at, max_views, views_left, size, chunk_count, stored_bytes)
                        VALUES (?, 'active', ?, ?, 5, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [Data(sample.id.bytes), Data(sample.claimVerifier), Data(sample.receiptVerifier),
                                         SQLiteStore.milliseconds(sample.record.createdAt),
                                         SQLiteStore.milliseconds(sample.record.expiresAt),
                                         sample.record.maxViews, sample.record.maxViews, size, count, size])
                    for (index, part) in parts.enumerated() {
                        try db.execute(sql: "INSERT INTO secret_chunk (secret_id, idx, data) VALUES (?, ?, ?)",
                                       arguments: [Data(sample.id.bytes), index, Data(part)])
                    }
                }
                try db.execute(sql: "UPDATE store_stats SET stored_bytes = ?",
                               arguments: [small.ciphertext.count + chunks.reduce(0) { $0 + $1.count }])
            }
            try queue.close()
        }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(bytes(try #require(try await store.claim(small, now: at(5)).grant).firstChunk) == small.ciphertext)
        let grant = try #require(try await store.claim(large, now: at(5)).grant)
        #expect(try await store.readAll(large, grant: grant) == chunks.flatMap { $0 })
        try await store.finishRead(id: large.id)
        #expect(try await store.storedBytes() == small.ciphertext.count)
        // New secrets take sequence numbers after the migrated ones; nothing collides.
        let fresh = StoreSample()
        try await fresh.store(in: store)
        #expect(bytes(try #require(try await store.claim(fresh, now: at(6)).grant).firstChunk) == fresh.ciphertext)
    }

    @Test("an upload left uncommitted, or a read left unfinished, at close is gone after reopen")
    func recoveryOnOpen() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let upload = StoreSample()
        let reading = StoreSample()
        let kept = StoreSample()
        do {
            let store = try SQLiteStore(path: path)
            try await store.beginUpload(upload.record)
            try await store.appendChunk(id: upload.id, index: 0, bytes: ByteBuffer(bytes: StoreSample.randomBytes(mebibyte)))
            try await store.appendChunk(id: upload.id, index: 1, bytes: ByteBuffer(bytes: StoreSample.randomBytes(mebibyte)))
            try await store.upload(reading, chunks: threeChunks())
            let grant = try #require(try await store.claim(reading).grant)
            #expect(grant.mustFinishRead && grant.viewsLeft == 0)
            try await kept.store(in: store)
            try store.close()
        }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(try await store.storedBytes() == kept.ciphertext.count)
        #expect(try await store.metadata(upload) == nil)
        #expect(try await store.chunk(id: reading.id, index: 1) == nil)
        await #expect(throws: StoreError.noSuchUpload) {
            try await store.commitUpload(id: upload.id, size: 2 * mebibyte, chunkCount: 2)
        }
        // Nothing of either is left in the file.
        let queue = try DatabaseQueue(path: path)
        let chunkRows = try await queue.read { db in
            // Every chunk row left must belong to a secret row that still exists.
            try Int.fetchOne(db, sql: """
                SELECT count(*) FROM secret_chunk WHERE NOT EXISTS (SELECT 1 FROM secret WHERE seq = key >> 24)
                   OR key >> 24 IN (SELECT seq FROM secret WHERE id IN (?, ?))
                """, arguments: [Data(upload.id.bytes), Data(reading.id.bytes)])
        }
        #expect(chunkRows == 0)
        try queue.close()
        #expect(try await Self.chunkFileIDs(path).isEmpty)
        // The upload's id is free again.
        try await store.beginUpload(upload.record)
        try await store.abortUpload(id: upload.id)
        #expect(bytes(try #require(try await store.claim(kept).grant).firstChunk) == kept.ciphertext)
    }

    @Test("every connection is WAL, synchronous=FULL, secure_delete=ON; the file is private")
    func connectionSettings() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let settings = try await store.connectionSettings()
        #expect(settings.journalMode == "wal")
        #expect(settings.synchronous == 2)
        #expect(settings.secureDelete == 1)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let chunkFile = try await store.chunkFileSettings()
        #expect(chunkFile.pageSize == 65_536)
        #expect(chunkFile.journalMode == "wal")
        // NORMAL: chunk appends are synced together, once, before their upload commits.
        #expect(chunkFile.synchronous == 1)
        #expect(chunkFile.secureDelete == 1)
        let chunkFileAttributes = try FileManager.default.attributesOfItem(atPath: path + "-chunks")
        #expect((chunkFileAttributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    /// The secret ids that have rows in the chunk file beside `path`.
    static func chunkFileIDs(_ path: String) async throws -> [Data] {
        let queue = try DatabaseQueue(path: path + "-chunks")
        defer { try? queue.close() }
        return try await queue.read { db in try Data.fetchAll(db, sql: "SELECT DISTINCT secret_id FROM chunk") }
    }

    @Test("a multi-chunk upload is kept in the chunk file, and leaves it once read")
    func uploadsUseTheChunkFile() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let small = StoreSample()
        let large = StoreSample()
        let chunks = threeChunks()
        try await small.store(in: store)
        #expect(!FileManager.default.fileExists(atPath: path + "-chunks"), "made only for the first large secret")
        try await store.beginUpload(large.record)
        for (index, chunk) in chunks.enumerated() {
            try await store.appendChunk(id: large.id, index: index, bytes: ByteBuffer(bytes: chunk))
        }
        let syncs = try DatabaseQueue(path: path + "-chunks")
        let syncsBefore = try await syncs.read { db in try Int.fetchOne(db, sql: "SELECT commits FROM sync_mark") }
        try await store.commitUpload(id: large.id, size: chunks.reduce(0) { $0 + $1.count }, chunkCount: chunks.count)
        let syncsAfter = try await syncs.read { db in try Int.fetchOne(db, sql: "SELECT commits FROM sync_mark") }
        try syncs.close()
        #expect(syncsAfter == syncsBefore.map { $0 + 1 }, "one synced commit in the chunk file before the upload commits")
        #expect(try await Self.chunkFileIDs(path) == [Data(large.id.bytes)])
        let mainRows = try await DatabaseQueue(path: path).read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM secret_chunk") ?? -1
        }
        #expect(mainRows == 1, "only the small secret's chunk belongs in the main file")

        let grant = try #require(try await store.claim(large).grant)
        #expect(grant.mustFinishRead)
        #expect(try await store.readAll(large, grant: grant) == chunks.flatMap { $0 })
        try await store.finishRead(id: large.id)
        #expect(try await Self.chunkFileIDs(path).isEmpty)
        #expect(try await store.storedBytes() == small.ciphertext.count)
    }

    @Test("an upload of one chunk from the chunk file: the first chunk comes with the grant, then it is freed")
    func singleChunkUpload() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let sample = StoreSample(size: 5000)
        try await store.upload(sample, chunks: [sample.ciphertext])
        let grant = try #require(try await store.claim(sample).grant)
        #expect(bytes(grant.firstChunk) == sample.ciphertext)
        #expect(grant.mustFinishRead, "counted as a reader, so that only its finishRead frees the chunks")
        #expect(ClaimOutcome(try await store.claim(sample)) == .notFound)
        try await store.finishRead(id: sample.id)
        #expect(try await Self.chunkFileIDs(path).isEmpty)
        #expect(try await store.storedBytes() == 0)
    }

    @Test("a claim that cannot read chunk 0 from the chunk file spends no view")
    func claimWithoutFirstChunk() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let sample = StoreSample(maxViews: 2)
        try await store.upload(sample, chunks: threeChunks())
        let queue = try DatabaseQueue(path: path + "-chunks")
        try await queue.write { db in
            try db.execute(sql: "DELETE FROM chunk WHERE secret_id = ? AND idx = 0", arguments: [Data(sample.id.bytes)])
        }
        try queue.close()
        #expect(ClaimOutcome(try await store.claim(sample)) == .notFound)
        let receipt = try #require(try await store.receipt(sample))
        #expect(receipt.state == .waiting && receipt.viewsLeft == 2)
    }

    @Test("chunks in the chunk file without a readable secret are removed by the sweep and at open")
    func chunkFileOrphans() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let kept = StoreSample()
        let chunks = threeChunks()
        let orphan = Data(SecretID.random().bytes)
        func plantOrphan() async throws {
            let queue = try DatabaseQueue(path: path + "-chunks")
            try await queue.write { db in
                try db.execute(sql: "INSERT INTO chunk (secret_id, idx, data) VALUES (?, 0, ?), (?, 1, ?)",
                               arguments: [orphan, Data(count: 1000), orphan, Data(count: 2000)])
            }
            try queue.close()
        }
        do {
            let store = try SQLiteStore(path: path)
            try await store.upload(kept, chunks: chunks)
            try await plantOrphan()
            let report = try await store.sweep(now: at(1), receiptRetention: 3600)
            #expect(report.orphanedChunks == 2)
            #expect(try await Self.chunkFileIDs(path) == [Data(kept.id.bytes)])
            #expect(try await store.storedBytes() == chunks.reduce(0) { $0 + $1.count }, "an orphan was never counted")
            try await plantOrphan()
            try store.close()
        }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(try await Self.chunkFileIDs(path) == [Data(kept.id.bytes)])
        let grant = try #require(try await store.claim(kept).grant)
        #expect(try await store.readAll(kept, grant: grant) == chunks.flatMap { $0 })
    }

    @Test("a chunk the chunk file refuses is not counted: the upload stays as it was")
    func refusedChunkIsNotCounted() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let sample = StoreSample()
        let first = StoreSample.randomBytes(mebibyte)
        try await store.beginUpload(sample.record)
        try await store.appendChunk(id: sample.id, index: 0, bytes: ByteBuffer(bytes: first))
        // A row already in the way makes the chunk file refuse chunk 1.
        let queue = try DatabaseQueue(path: path + "-chunks")
        try await queue.write { db in
            try db.execute(sql: "INSERT INTO chunk (secret_id, idx, data) VALUES (?, 1, x'00')",
                           arguments: [Data(sample.id.bytes)])
        }
        await #expect(throws: StoreError.self) {
            try await store.appendChunk(id: sample.id, index: 1, bytes: ByteBuffer(bytes: StoreSample.randomBytes(1000)))
        }
        #expect(try await store.storedBytes() == mebibyte)
        try await queue.write { db in
            try db.execute(sql: "DELETE FROM chunk WHERE secret_id = ? AND idx = 1", arguments: [Data(sample.id.bytes)])
        }
        try queue.close()
        try await store.commitUpload(id: sample.id, size: mebibyte, chunkCount: 1)
        let grant = try #require(try await store.claim(sample).grant)
        #expect(bytes(grant.firstChunk) == first)
    }

    @Test("an append to an upload that ended meanwhile leaves no chunk in the chunk file")
    func appendAfterAbort() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let sample = StoreSample()
        try await store.beginUpload(sample.record)
        try await store.appendChunk(id: sample.id, index: 0, bytes: ByteBuffer(bytes: StoreSample.randomBytes(mebibyte)))
        try await store.abortUpload(id: sample.id)
        await #expect(throws: StoreError.noSuchUpload) {
            try await store.appendChunk(id: sample.id, index: 1, bytes: ByteBuffer(bytes: StoreSample.randomBytes(1000)))
        }
        #expect(try await Self.chunkFileIDs(path).isEmpty)
        #expect(try await store.storedBytes() == 0)
    }

    @Test("concurrent writes share transactions")
    func groupCommit() async throws {
        let (directory, path) = Self.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let samples = (0..<400).map { _ in StoreSample(size: 1024) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sample in samples {
                group.addTask { try await sample.store(in: store) }
            }
            try await group.waitForAll()
        }
        let statistics = await store.groupCommitStatistics()
        #expect(statistics.operations == 400)
        #expect(statistics.batches < statistics.operations)
        #expect(statistics.largestBatch > 1)
        #expect(try await store.storedBytes() == 400 * 1024)
    }
}
