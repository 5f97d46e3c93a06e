import BurnlinkCore
import Foundation
import NIOCore
import Testing

@testable import BurnlinkServer

// One-chunk creates on PostgreSQL are grouped into one statement (`PostgresGroupCreate`).
// What grouping must not change: every create stored whole with every field as sent, one
// answer each, a duplicate refused as alone, and one create the database refuses failing
// alone.

@Suite("PostgreSQL group create", .enabled(if: TestPostgres.available, TestPostgres.skipReason))
struct PostgresGroupCreateTests: StoreContractHelpers {
    /// Samples of every shape a create can take: sizes down to 0, with and without a
    /// receipt or password, several views.
    static func mixedSamples(_ count: Int) -> [StoreSample] {
        (0..<count).map { index in
            StoreSample(
                size: [0, 1, 1024, 4096, 70_000][index % 5], maxViews: 1 + index % 3, lifetime: 3600 + Double(index),
                password: index % 4 == 1, attempts: 2 + index % 4, receipt: index % 3 != 2)
        }
    }

    /// A running, migrated store on a fresh database, dropped afterwards.
    static func withStore(_ body: (PostgresStore) async throws -> Void) async throws {
        try await StoreBackend.postgres.withStore { store in
            try await body(try #require(store as? PostgresStore))
        }
    }

    /// Creates all samples at once; the outcome of each, in order.
    static func createConcurrently(_ samples: [StoreSample], in store: PostgresStore) async -> [Result<Void, any Error>] {
        await withTaskGroup(of: (Int, Result<Void, any Error>).self) { group in
            for (index, sample) in samples.enumerated() {
                group.addTask {
                    do {
                        try await sample.store(in: store)
                        return (index, .success(()))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var outcomes = [Result<Void, any Error>?](repeating: nil, count: samples.count)
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes.map { $0! }
        }
    }

    @Test("concurrent creates share statements; each is stored whole with every field, and counted")
    func concurrentCreatesAreGrouped() async throws {
        try await Self.withStore { store in
            let samples = Self.mixedSamples(120)
            for outcome in await Self.createConcurrently(samples, in: store) { try outcome.get() }

            let statistics = await store.groupCreate.statistics
            #expect(statistics.creates == samples.count)
            #expect(statistics.largestBatch > 1, "120 concurrent creates never shared a statement")
            #expect(statistics.batches < samples.count)

            #expect(try await store.storedBytes() == samples.reduce(0) { $0 + $1.ciphertext.count })
            for sample in samples {
                let metadata = try #require(try await store.metadata(sample))
                #expect(metadata.size == sample.ciphertext.count)
                #expect(metadata.viewsLeft == sample.record.maxViews)
                #expect(metadata.expiresAt == sample.record.expiresAt)
                #expect(metadata.passwordKDF == sample.record.passwordKDF)
                let receipt = try await store.receipt(sample)
                #expect((receipt != nil) == (sample.record.receiptVerifier != nil))
                if sample.record.passwordVerifier != nil {
                    #expect(ClaimOutcome(try await store.claim(sample)) == .passwordRequired)
                    let grant = try #require(try await store.claim(sample, proof: sample.passwordVerifier).grant)
                    #expect(bytes(grant.firstChunk) == sample.ciphertext)
                } else {
                    let grant = try #require(try await store.claim(sample).grant)
                    #expect(bytes(grant.firstChunk) == sample.ciphertext)
                }
            }
        }
    }

    @Test("the same id twice among concurrent creates: one is stored, the other refused as a duplicate")
    func duplicateAmongConcurrentCreates() async throws {
        try await Self.withStore { store in
            var samples = Self.mixedSamples(40)
            var twin = StoreSample()
            twin.record.id = samples[20].id
            samples.append(twin)
            let outcomes = await Self.createConcurrently(samples, in: store)

            let failures = outcomes.enumerated().compactMap { index, outcome -> (Int, any Error)? in
                if case .failure(let error) = outcome { return (index, error) }
                return nil
            }
            try #require(failures.count == 1)
            #expect([20, samples.count - 1].contains(failures[0].0))
            #expect(failures[0].1 as? StoreError == .duplicateID)
            let stored = failures[0].0 == 20 ? twin : samples[20]
            #expect(bytes(try #require(try await store.claim(stored).grant).firstChunk) == stored.ciphertext)
        }
    }

    @Test("a create the database refuses fails alone; the creates grouped with it are stored")
    func refusedCreateFailsAlone() async throws {
        try await Self.withStore { store in
            var samples = Self.mixedSamples(60)
            // The schema requires at least one view; the server never sends 0, the database says no.
            samples[30].record.maxViews = 0
            let outcomes = await Self.createConcurrently(samples, in: store)

            for (index, outcome) in outcomes.enumerated() where index != 30 { try outcome.get() }
            #expect(throws: StoreError.self) { try outcomes[30].get() }
            #expect(await store.groupCreate.statistics.largestBatch > 1)
            let storedSize = samples.enumerated().reduce(0) { $0 + ($1.offset == 30 ? 0 : $1.element.ciphertext.count) }
            #expect(try await store.storedBytes() == storedSize)
            #expect(ClaimOutcome(try await store.claim(samples[30])) == .notFound)
        }
    }

    @Test("a lone create whose id a leftover chunk row holds is refused as a duplicate, not as unavailable")
    func leftoverChunkIsDuplicate() async throws {
        try await Self.withStore { store in
            let sample = StoreSample()
            // What a replica killed mid-upload can leave until the next start's clean-up.
            try await store.perform { connection in
                try await connection.query(
                    "INSERT INTO secret_chunk (secret_id, idx, data) VALUES (\(PostgresStore.key(sample.id)), 0, \(sample.buffer))",
                    logger: store.logger)
            }
            await #expect(throws: StoreError.duplicateID) { try await sample.store(in: store) }
            #expect(try await store.storedBytes() == 0)
        }
    }

    @Test("large creates are grouped only up to 4 MiB of ciphertext per statement")
    func batchesAreBoundedInBytes() async throws {
        try await Self.withStore { store in
            let samples = (0..<12).map { _ in StoreSample(size: 900 << 10) }
            for outcome in await Self.createConcurrently(samples, in: store) { try outcome.get() }
            let statistics = await store.groupCreate.statistics
            #expect(statistics.creates == 12)
            #expect(statistics.largestBatch <= 4)
            for sample in samples {
                #expect(bytes(try #require(try await store.claim(sample).grant).firstChunk) == sample.ciphertext)
            }
        }
    }
}
