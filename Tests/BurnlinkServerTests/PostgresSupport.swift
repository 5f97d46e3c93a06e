import BurnlinkTestSupport
import Foundation
import Logging
import Testing

@testable import BurnlinkServer

/// The throwaway PostgreSQL cluster that `Tests/support/with-postgres.sh` starts (and
/// `make test` always runs the tests under). Without it, PostgreSQL tests are skipped, and
/// say so in the test report.
enum TestPostgres {
    static let environment = ProcessInfo.processInfo.environment
    /// The cluster's maintenance database URL, or nil without a cluster.
    static let url: String? = environment["BURNLINK_TEST_POSTGRES_URL"]
    /// `stop`, `start`, `restart` for fault tests.
    static let control: String? = environment["BURNLINK_TEST_POSTGRES_CTL"]
    static var available: Bool { url != nil }
    static let skipReason: Comment =
        "PostgreSQL tests skipped: no BURNLINK_TEST_POSTGRES_URL. Run them with `make test` or Tests/support/with-postgres.sh swift test"

    /// A new, empty database on the cluster; returns its URL.
    static func createDatabase() async throws -> String {
        guard let url else { throw TestFailure("\(skipReason)") }
        let name = "burnlink_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        try await psql(url, "CREATE DATABASE \(name)")
        return databaseURL(name)
    }

    static func dropDatabase(_ databaseURL: String) async {
        guard let url, let name = try? PostgresURL(databaseURL).database else { return }
        _ = try? await psql(url, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    static func databaseURL(_ name: String) -> String {
        var components = URLComponents(string: url ?? "")!
        components.path = "/\(name)"
        return components.string!
    }

    /// Runs one SQL command with `psql`; returns its unaligned output.
    @discardableResult
    static func psql(_ url: String, _ sql: String) async throws -> String {
        try await run("/usr/bin/psql", [url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
    }

    static func control(_ action: String) async throws {
        guard let control else { throw TestFailure("no BURNLINK_TEST_POSTGRES_CTL") }
        try await run(control, [action])
    }

    /// Runs a helper program to its end; its output, trimmed. Fails unless it exits 0.
    @discardableResult
    private static func run(_ executable: String, _ arguments: [String]) async throws -> String {
        let finished = try await ChildProcess.run(executable, arguments)
        guard finished.status == 0 else {
            throw TestFailure("\(executable) \(arguments.last ?? "") failed: \(finished.err)")
        }
        return finished.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Connections a test store opens at most: the receipt listener and three for operations.
    /// The suite opens dozens of stores at once; with the production pool (4 kept open, up to
    /// 20) they held up to 298 of the cluster's 300 connections, and a test's own `psql` was
    /// refused ("too many clients"). The replica tests run real servers with the real pool.
    static let storeConnections = 4

    /// A store on a fresh database, running (pool and listener) and migrated. Its deadline is
    /// generous: the whole suite runs in parallel on two cores, and a slow answer is not
    /// what these tests are about (`unreachableDatabase` tests the deadline).
    static func openStore(operationTimeout: Duration = .seconds(30)) async throws -> (
        PostgresStore, cleanup: @Sendable () async -> Void
    ) {
        let databaseURL = try await createDatabase()
        var logger = Logger(label: "burnlink-postgres-test")
        logger.logLevel = .error
        let store = try PostgresStore(
            url: PostgresURL(databaseURL), logger: logger, operationTimeout: operationTimeout,
            maximumConnections: storeConnections)
        let running = Task { try await store.run() }
        do {
            try await store.prepare()
        } catch {
            running.cancel()
            await dropDatabase(databaseURL)
            throw error
        }
        return (
            store,
            {
                running.cancel()
                _ = await running.result
                await dropDatabase(databaseURL)
            }
        )
    }
}
