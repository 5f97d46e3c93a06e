import BurnlinkCore
import Foundation
import NIOCore
import PostgresNIO
import Testing

@testable import BurnlinkServer

// The PostgreSQL sweep ends, frees and removes each batch of rows in one statement (a
// ciphertext larger than one chunk is freed by a statement of its own). What that must
// keep, over several batches: every row handled once, the chunk rows and the
// running total exact, a ciphertext a reader holds kept until the reader lets go or its
// lease runs out, and no view left behind a removed secret. Counted in the tables
// themselves, not only through the store's answers.

@Suite("PostgreSQL sweep", .enabled(if: TestPostgres.available, TestPostgres.skipReason))
struct PostgresSweepTests: StoreContractHelpers {
    /// Rows of `table` in the store's database.
    static func rows(in table: String, of store: PostgresStore) async throws -> Int {
        try await store.perform { connection in
            try await connection.firstRow(PostgresQuery(unsafeSQL: "SELECT count(*) AS n FROM \(table)"), logger: store.logger)?
                .value("n", as: Int.self) ?? -1
        }
    }

    @Test(
        "three batches of expired secrets: each ended once, unread chunks freed (small and large), a held one kept; then every row removed"
    )
    func sweepsSeveralBatches() async throws {
        try await PostgresGroupCreateTests.withStore { store in
            let batch = StoreLimits.sweepBatch
            let expiring = (0..<(2 * batch + 88)).map { StoreSample(size: 1 + $0 % 3000, maxViews: 2, lifetime: 60) }
            for outcome in await PostgresGroupCreateTests.createConcurrently(expiring, in: store) { try outcome.get() }
            for sample in expiring.prefix(50) { _ = try #require(try await store.claim(sample, now: at(10)).grant) }
            // A three-chunk secret being read when it expires: its ciphertext stays for the reader.
            let held = StoreSample(maxViews: 2, lifetime: 60)
            let chunks = threeChunks()
            try await store.upload(held, chunks: chunks)
            let grant = try #require(try await store.claim(held, now: at(20)).grant)
            #expect(grant.chunkCount == 3)
            let heldBytes = chunks.reduce(0) { $0 + $1.count }
            // A three-chunk secret nobody reads: freed by a statement of its own.
            let unread = StoreSample(lifetime: 60)
            try await store.upload(unread, chunks: threeChunks())
            let kept = StoreSample(size: 777, lifetime: 7200)
            try await kept.store(in: store)

            #expect(try await Self.rows(in: "secret_view", of: store) == 51)
            let report = try await store.sweep(now: at(120), receiptRetention: 86_400)
            #expect(report == SweepReport(expired: expiring.count + 2, orphanedChunks: 0, receiptsRemoved: 0))
            #expect(try await store.storedBytes() == heldBytes + 777)
            #expect(try await Self.rows(in: "secret_chunk", of: store) == 3 + 1)
            #expect(try await store.readAll(held, grant: grant) == chunks.flatMap { $0 })
            for sample in expiring.prefix(3) { #expect(try await store.receipt(sample, now: at(121))?.state == .expired) }
            #expect(try await store.sweep(now: at(121), receiptRetention: 86_400) == SweepReport())

            // The reader never finishes: its lease runs out and the next sweep frees the chunks
            // (and expires the long-lived one).
            let lapsed = try await store.sweep(now: at(2 * 86_400), receiptRetention: 7 * 86_400)
            #expect(lapsed == SweepReport(expired: 1, orphanedChunks: 3, receiptsRemoved: 0))
            #expect(try await store.storedBytes() == 0)
            #expect(try await Self.rows(in: "secret_chunk", of: store) == 0)

            // Past the retention every tombstone goes, and every view with it.
            let removed = try await store.sweep(now: at(30 * 86_400), receiptRetention: 86_400)
            #expect(removed.receiptsRemoved == expiring.count + 3)
            #expect(try await Self.rows(in: "secret", of: store) == 0)
            #expect(try await Self.rows(in: "secret_view", of: store) == 0)
        }
    }
}
