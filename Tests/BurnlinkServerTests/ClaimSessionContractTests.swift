import BurnlinkCore
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import NIOCore
import Testing

@testable import BurnlinkServer

// The claim session part of the store contract (docs/http-api.md section 3.3.1), run
// against every backend like the rest of it.

/// A session secret as the server makes it, and its terms.
struct SessionSample {
    let secret = StoreSample.randomBytes(32)
    var verifier: [UInt8] { BurnlinkCrypto.SHA256.hash(secret) }

    func terms(deadline: Date) -> ClaimSessionTerms { ClaimSessionTerms(verifier: verifier, deadline: deadline) }
}

extension SecretStore {
    func claim(
        _ sample: StoreSample, session: SessionSample, deadline: Date, proof: [UInt8]? = nil,
        now: Date
    ) async throws -> ClaimResult {
        try await claim(
            id: sample.id, claimVerifier: sample.claimVerifier, passwordProofVerifier: proof,
            session: session.terms(deadline: deadline), now: now)
    }

    func session(
        _ sample: StoreSample, _ session: SessionSample, proof: [UInt8]? = nil,
        now: Date
    ) async throws -> SessionLookup {
        try await self.session(
            id: sample.id, claimVerifier: sample.claimVerifier, sessionVerifier: session.verifier,
            passwordProofVerifier: proof, now: now)
    }

    func confirm(_ sample: StoreSample, _ session: SessionSample, now: Date) async throws -> Bool {
        try await confirm(id: sample.id, claimVerifier: sample.claimVerifier, sessionVerifier: session.verifier, now: now)
    }

    /// Every byte of an open session's envelope, read again chunk by chunk as the envelope route does.
    func readAgain(_ sample: StoreSample, chunkCount: Int) async throws -> [UInt8] {
        var all: [UInt8] = []
        for index in 0..<max(chunkCount, 1) {
            all += try #require(try await chunk(id: sample.id, index: index)).readableBytesView
        }
        return all
    }
}

@Suite("Store contract: claim sessions")
struct ClaimSessionContractTests: StoreContractHelpers {
    @Test(
        "the claimer fetches again while its session is open; confirming ends it and frees the ciphertext",
        arguments: StoreBackend.all)
    func fetchAgainThenConfirm(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            for size in [1, 1024, mebibyte] {
                let sample = StoreSample(size: size)
                try await sample.store(in: store)
                let session = SessionSample()
                let grant = try #require(try await store.claim(sample, session: session, deadline: at(121), now: at(1)).grant)
                #expect(bytes(grant.firstChunk) == sample.ciphertext)
                #expect(!grant.mustFinishRead)
                // The view is spent: nobody else can claim, and the metadata is gone.
                #expect(ClaimOutcome(try await store.claim(sample, now: at(2))) == .notFound)
                #expect(try await store.metadata(sample, now: at(2)) == nil)
                // The claimer can read it again, as often as it likes.
                for _ in 0..<3 {
                    #expect(
                        try await store.session(sample, session, now: at(3))
                            == .open(SessionEnvelope(size: size, chunkCount: 1, deadline: at(121))))
                    #expect(try await store.readAgain(sample, chunkCount: 1) == sample.ciphertext)
                }
                #expect(try await store.storedBytes() == size)
                #expect(
                    try await store.receipt(sample, now: at(4))?.views
                        == [ReceiptView(viewedAt: at(1), delivery: .pending, confirmedAt: nil)])

                #expect(try await store.confirm(sample, session, now: at(5)) == true)
                #expect(try await store.session(sample, session, now: at(6)) == .notFound)
                #expect(try await store.chunk(id: sample.id, index: 0) == nil)
                #expect(try await store.storedBytes() == 0)
                let receipt = try #require(try await store.receipt(sample, now: at(6)))
                #expect(receipt.state == .viewed)
                #expect(receipt.views == [ReceiptView(viewedAt: at(1), delivery: .delivered, confirmedAt: at(5))])
                #expect(receipt.delivered)
                // A repeat of the confirm (its answer was lost) is still a yes.
                #expect(try await store.confirm(sample, session, now: at(7)) == true)
            }
        }
    }

    @Test("a multi-chunk secret in a session: read again from any chunk, freed at the confirm", arguments: StoreBackend.all)
    func multiChunkSession(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let chunks = threeChunks()
            let sample = StoreSample()
            try await store.upload(sample, chunks: chunks)
            let session = SessionSample()
            let grant = try #require(try await store.claim(sample, session: session, deadline: at(121), now: at(1)).grant)
            #expect(!grant.mustFinishRead)
            #expect(try await store.readAll(sample, grant: grant) == chunks.flatMap { $0 })
            // A sweep during the session takes nothing from it.
            _ = try await store.sweep(now: at(2), receiptRetention: 0)
            #expect(bytes(try await store.chunk(id: sample.id, index: 2)) == chunks[2])
            #expect(bytes(try await store.chunk(id: sample.id, index: 1)) == chunks[1])
            #expect(try await store.readAgain(sample, chunkCount: 3) == chunks.flatMap { $0 })
            #expect(try await store.confirm(sample, session, now: at(3)))
            // A large ciphertext is freed after the confirm is answered, in steps.
            #expect(try await eventually { try await store.storedBytes() == 0 })
            #expect(try await store.chunk(id: sample.id, index: 1) == nil)
        }
    }

    @Test(
        "a session past its deadline: unreadable at once, unconfirmed in the receipt, freed by the sweep",
        arguments: StoreBackend.all)
    func sessionLapses(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let chunks = threeChunks()
            let small = StoreSample(size: 2048)
            let large = StoreSample()
            try await small.store(in: store)
            try await store.upload(large, chunks: chunks)
            let (smallSession, largeSession) = (SessionSample(), SessionSample())
            _ = try #require(try await store.claim(small, session: smallSession, deadline: at(61), now: at(1)).grant)
            _ = try #require(try await store.claim(large, session: largeSession, deadline: at(61), now: at(1)).grant)

            // At the deadline, before any sweep: no more reading, no confirm, and the receipt knows.
            #expect(try await store.session(small, smallSession, now: at(61)) == .notFound)
            #expect(try await store.confirm(small, smallSession, now: at(61)) == false)
            #expect(try await store.receipt(small, now: at(61))?.views.map(\.delivery) == [.unconfirmed])

            let report = try await store.sweep(now: at(62), receiptRetention: 86_400)
            #expect(report.unconfirmed == 2)
            #expect(try await store.chunk(id: small.id, index: 0) == nil)
            #expect(try await store.chunk(id: large.id, index: 1) == nil)
            #expect(try await store.storedBytes() == 0)
            #expect(try await store.confirm(large, largeSession, now: at(62)) == false)
            let receipt = try #require(try await store.receipt(large, now: at(63)))
            #expect(receipt.views == [ReceiptView(viewedAt: at(1), delivery: .unconfirmed, confirmedAt: nil)])
            #expect(!receipt.delivered && !receipt.deliveryPending)
            // A second sweep finds nothing more to end.
            #expect(try await store.sweep(now: at(64), receiptRetention: 86_400).unconfirmed == 0)
        }
    }

    @Test("only the session's own secret and the claim token open it", arguments: StoreBackend.all)
    func wrongCredentials(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample()
            let other = StoreSample()
            try await sample.store(in: store)
            try await other.store(in: store)
            let session = SessionSample()
            let otherSession = SessionSample()
            _ = try #require(try await store.claim(sample, session: session, deadline: at(121), now: at(1)).grant)
            _ = try #require(try await store.claim(other, session: otherSession, deadline: at(121), now: at(1)).grant)
            #expect(try await store.session(sample, SessionSample(), now: at(2)) == .notFound)
            #expect(try await store.session(sample, otherSession, now: at(2)) == .notFound)
            #expect(
                try await store.session(
                    id: sample.id, claimVerifier: wrong(), sessionVerifier: session.verifier,
                    passwordProofVerifier: nil, now: at(2)) == .notFound)
            #expect(
                try await store.session(
                    id: .random(), claimVerifier: sample.claimVerifier,
                    sessionVerifier: session.verifier, passwordProofVerifier: nil, now: at(2)) == .notFound)
            #expect(try await store.confirm(sample, otherSession, now: at(2)) == false)
            #expect(
                try await store.confirm(
                    id: sample.id, claimVerifier: wrong(), sessionVerifier: session.verifier,
                    now: at(2)) == false)
            // None of that touched the real session.
            #expect(try await store.confirm(sample, session, now: at(3)))
        }
    }

    @Test("a password secret: reading again needs the proof, and a wrong one counts nothing", arguments: StoreBackend.all)
    func passwordOnResume(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(password: true, attempts: 3)
            try await sample.store(in: store)
            let session = SessionSample()
            _ = try #require(
                try await store.claim(
                    sample, session: session, deadline: at(121), proof: sample.passwordVerifier,
                    now: at(1)
                ).grant)
            #expect(try await store.session(sample, session, now: at(2)) == .passwordRequired)
            for _ in 0..<5 {
                #expect(try await store.session(sample, session, proof: wrong(), now: at(2)) == .wrongPassword(attemptsLeft: 3))
            }
            if case .open = try await store.session(sample, session, proof: sample.passwordVerifier, now: at(3)) {
            } else {
                Issue.record("the right proof must open the session")
            }
        }
    }

    @Test("a multi-view secret: one session per view, each confirmed on its own", arguments: StoreBackend.all)
    func sessionPerView(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample(maxViews: 2)
            try await sample.store(in: store)
            let first = SessionSample()
            let second = SessionSample()
            _ = try #require(try await store.claim(sample, session: first, deadline: at(101), now: at(1)).grant)
            _ = try #require(try await store.claim(sample, session: second, deadline: at(102), now: at(2)).grant)
            #expect(try await store.confirm(sample, second, now: at(3)))
            // The first still holds the ciphertext although the secret has ended.
            #expect(try await store.readAgain(sample, chunkCount: 1) == sample.ciphertext)
            #expect(try await store.storedBytes() == sample.ciphertext.count)
            _ = try await store.sweep(now: at(200), receiptRetention: 86_400)
            #expect(try await store.storedBytes() == 0)
            #expect(try await store.receipt(sample, now: at(201))?.views.map(\.delivery) == [.unconfirmed, .delivered])
        }
    }

    @Test("expiry and revocation during a session: the session still delivers, then it is gone", arguments: StoreBackend.all)
    func endsDuringSession(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let expiring = StoreSample(maxViews: 2, lifetime: 60)
            let revoked = StoreSample(maxViews: 2)
            try await expiring.store(in: store)
            try await revoked.store(in: store)
            let (one, two) = (SessionSample(), SessionSample())
            _ = try #require(try await store.claim(expiring, session: one, deadline: at(100), now: at(50)).grant)
            _ = try #require(try await store.claim(revoked, session: two, deadline: at(100), now: at(50)).grant)
            #expect(try await store.revoke(id: revoked.id, receiptVerifier: revoked.receiptVerifier, now: at(51)))
            _ = try await store.sweep(now: at(70), receiptRetention: 86_400)
            #expect(try await store.readAgain(expiring, chunkCount: 1) == expiring.ciphertext)
            #expect(try await store.readAgain(revoked, chunkCount: 1) == revoked.ciphertext)
            #expect(try await store.confirm(expiring, one, now: at(71)))
            #expect(try await store.confirm(revoked, two, now: at(71)))
            #expect(try await store.storedBytes() == 0)
            #expect(try await store.receipt(expiring, now: at(72))?.state == .expired)
            #expect(try await store.receipt(revoked, now: at(72))?.state == .revoked)
        }
    }

    @Test("1,000 concurrent claims with sessions: exactly one session opens", arguments: StoreBackend.all)
    func concurrentClaimsOpenOneSession(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let sample = StoreSample()
            try await sample.store(in: store)
            let sessions = (0..<1000).map { _ in SessionSample() }
            let winners = try await withThrowingTaskGroup(of: Int?.self) { group in
                for (index, session) in sessions.enumerated() {
                    group.addTask {
                        try await store.claim(sample, session: session, deadline: at(121), now: at(1)).grant == nil ? nil : index
                    }
                }
                var winners: [Int] = []
                for try await winner in group { if let winner { winners.append(winner) } }
                return winners
            }
            let winner = try #require(winners.count == 1 ? winners.first : nil)
            for (index, session) in sessions.enumerated() where index % 97 == 0 || index == winner {
                let lookup = try await store.session(sample, session, now: at(2))
                #expect((lookup != .notFound) == (index == winner))
            }
            #expect(try await store.receipt(sample, now: at(3))?.views.count == 1)
        }
    }
}

@Suite("Store contract: claim sessions in the SQLite file")
struct ClaimSessionSQLiteTests: StoreContractHelpers {
    @Test("an open session survives closing and reopening the store, and still holds its ciphertext")
    func sessionSurvivesReopen() async throws {
        let (directory, path) = StoreContractSQLiteTests.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let small = StoreSample()
        let large = StoreSample()
        let chunks = threeChunks()
        let (smallSession, largeSession) = (SessionSample(), SessionSample())
        do {
            let store = try SQLiteStore(path: path)
            try await small.store(in: store)
            try await store.upload(large, chunks: chunks)
            _ = try #require(try await store.claim(small, session: smallSession, deadline: at(121), now: at(1)).grant)
            _ = try #require(try await store.claim(large, session: largeSession, deadline: at(121), now: at(1)).grant)
            try store.close()
        }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(try await store.readAgain(small, chunkCount: 1) == small.ciphertext)
        #expect(try await store.readAgain(large, chunkCount: 3) == chunks.flatMap { $0 })
        #expect(try await store.confirm(small, smallSession, now: at(2)))
        #expect(try await store.confirm(large, largeSession, now: at(2)))
        #expect(try await eventually { try await store.storedBytes() == 0 })
    }

    @Test("shutting down right after a confirm stops the freeing it started and closes; the next open frees the rest")
    func shutDownAfterConfirm() async throws {
        let (directory, path) = StoreContractSQLiteTests.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let large = StoreSample()
        let session = SessionSample()
        do {
            let store = try SQLiteStore(path: path)
            try await store.upload(large, chunks: threeChunks() + threeChunks())
            _ = try #require(try await store.claim(large, session: session, deadline: at(121), now: at(1)).grant)
            #expect(try await store.confirm(large, session, now: at(2)))
            // The confirm was answered; its ciphertext is being freed in paced steps.
            try await store.shutDown()
            #expect(store.backgroundWork.count == 0)
            await #expect(throws: StoreError.self) { try await store.storedBytes() }
        }
        // The writer lock was released, so the file opens at once; what the stopped freeing
        // left is gone, and the receipt still tells that the secret was delivered.
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        #expect(try await store.storedBytes() == 0)
        #expect(try await store.chunk(id: large.id, index: 4) == nil)
        #expect(try await store.receipt(large, now: at(3))?.views.map(\.delivery) == [.delivered])
    }
}
