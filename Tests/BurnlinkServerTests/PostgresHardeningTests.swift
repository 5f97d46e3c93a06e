import BurnlinkCore
import BurnlinkProtocol
import Foundation
import Logging
import Testing

@testable import BurnlinkServer

// Two findings of the review (issue 16): a claim whose statement commits after the
// operation's deadline must not answer 503 with a view spent, and a connection to a database
// on another host without verified TLS must be pointed out at start.

@Suite("PostgreSQL transport warning")
struct PostgresTransportWarningTests {
    @Test(
        "no warning for a database on this machine, whatever the sslmode",
        arguments: [
            "postgres://burnlink@localhost/burnlink?sslmode=disable",
            "postgres://burnlink@LOCALHOST/burnlink?sslmode=prefer",
            "postgres://burnlink@127.0.0.1/burnlink",
            "postgres://burnlink@127.8.9.10:5433/burnlink?sslmode=require",
            "postgres://burnlink@[::1]/burnlink?sslmode=allow",
            "postgres://burnlink@/burnlink?host=/run/postgresql",
            "postgres://burnlink@%2Frun%2Fpostgresql/burnlink?sslmode=disable",
        ])
    func local(text: String) throws {
        #expect(try PostgresURL(text, environment: [:]).transportWarning == nil)
    }

    @Test(
        "a database on another host without verified TLS is warned about",
        arguments: [
            ("postgres://burnlink@db.example.com/burnlink", "prefer"),
            ("postgres://burnlink@db.example.com/burnlink?sslmode=prefer", "prefer"),
            ("postgres://burnlink@db.example.com/burnlink?sslmode=allow", "allow"),
            ("postgres://burnlink@10.1.2.3/burnlink?sslmode=disable", "disable"),
            ("postgres://burnlink@[2001:db8::5]/burnlink?sslmode=require", "require"),
            // Names that only look local are resolved elsewhere.
            ("postgres://burnlink@127.example.com/burnlink?sslmode=require", "require"),
            ("postgres://burnlink@localhost.example.com/burnlink?sslmode=disable", "disable"),
            ("postgres://burnlink@127.0.0.1.example.com/burnlink", "prefer"),
        ])
    func remoteUnverified(text: String, mode: String) throws {
        let warning = try #require(try PostgresURL(text, environment: [:]).transportWarning)
        #expect(warning.contains("sslmode=\(mode)"))
        #expect(warning.contains("verify-full"))
    }

    @Test("no warning once the server's certificate is verified", arguments: ["verify-full", "verify-ca"])
    func remoteVerified(mode: String) throws {
        let url = try PostgresURL("postgres://burnlink@db.example.com/burnlink?sslmode=\(mode)", environment: [:])
        #expect(url.transportWarning == nil)
    }
}

@Suite("PostgreSQL deadline", .serialized, .enabled(if: TestPostgres.available, TestPostgres.skipReason))
struct PostgresDeadlineTests: StoreContractHelpers {
    /// Another replica's slow transaction holds the secret's row past the operation timeout.
    /// Whatever the claim answers must be true: a 503 only when no view was spent (and the
    /// secret is still there to claim), a grant when one was.
    @Test("a claim held up by a row lock past the deadline never answers 503 with a view spent")
    func claimPastDeadline() async throws {
        // The schema and the secret through a store with the generous test deadline; the claim
        // through a second store on the same database whose deadline is 1 s.
        let (setup, cleanup) = try await TestPostgres.openStore()
        let databaseURL = TestPostgres.databaseURL(setup.url.database)
        var quiet = Logger(label: "burnlink-postgres-test")
        quiet.logLevel = .error
        let store = try PostgresStore(
            url: PostgresURL(databaseURL), logger: quiet, operationTimeout: .seconds(1),
            maximumConnections: TestPostgres.storeConnections)
        let running = Task { try await store.run() }
        defer { running.cancel() }
        do {
            let sample = StoreSample()
            try await sample.store(in: setup)
            // A connection open before the clock matters: opening one on a loaded machine can
            // itself take a second.
            #expect(await eventually { (try? await store.storedBytes()) != nil })
            let id = sample.id.bytes.map { String(format: "%02x", $0) }.joined()
            let locker = Task {
                try await TestPostgres.psql(
                    databaseURL,
                    """
                    BEGIN; SELECT 1 FROM secret WHERE id = decode('\(id)', 'hex') FOR UPDATE; SELECT pg_sleep(4); COMMIT;
                    """)
            }
            // The row is locked once the locker sleeps.
            #expect(
                try await eventually {
                    try await TestPostgres.psql(databaseURL, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")
                        == "1"
                })

            let started = ContinuousClock.now
            var answer: ClaimResult?
            var failure: (any Error)?
            do { answer = try await store.claim(sample, now: at(1)) } catch { failure = error }
            let waited = ContinuousClock.now - started
            _ = try await locker.value

            let views = try #require(try await setup.receipt(sample, now: at(2))).views
            if let answer {
                #expect(answer.grant != nil)
                #expect(views.count == 1)
            } else if case .unavailable? = failure as? StoreError {
                #expect(views.isEmpty, "the claim answered 503 but spent the view")
                #expect(ClaimOutcome(try await setup.claim(sample, now: at(3))) == .granted(viewsLeft: 0))
            } else {
                Issue.record("unexpected failure: \(String(describing: failure))")
            }
            // The database itself ends a statement that waits too long: the wait is bounded.
            #expect(waited < .seconds(3), "waited \(waited) with a deadline of 1 s")
        } catch {
            await cleanup()
            throw error
        }
        await cleanup()
    }
}
