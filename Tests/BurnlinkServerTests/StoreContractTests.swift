import BurnlinkCore
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import NIOCore
import Testing

@testable import BurnlinkServer

// The store contract: every rule of `SecretStore`, run against every backend (see
// StoreContractSupport.swift). What only the SQLite store promises is in SQLiteStoreTests.swift.

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
            #expect(
                waiting
                    == Receipt(
                        state: .waiting, createdAt: StoreSample.t0, expiresAt: at(86_400), maxViews: 2,
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
