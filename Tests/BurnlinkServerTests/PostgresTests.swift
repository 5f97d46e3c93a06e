import AsyncHTTPClient
import BurnlinkCore
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing

@testable import BurnlinkServer

@Suite("PostgreSQL URL")
struct PostgresURLTests {
    @Test("a full URL: user, password, host, port, database, sslmode")
    func fullURL() throws {
        let url = try PostgresURL(
            "postgres://burn%40ops:p%3Ass@db.internal:6432/secrets?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            environment: [:])
        #expect(url.username == "burn@ops")
        #expect(url.password == "p:ss")
        #expect(url.host == "db.internal")
        #expect(url.port == 6432)
        #expect(url.database == "secrets")
        #expect(url.sslMode == .verifyFull)
        #expect(url.sslRootCertificate == "/etc/ca.pem")
        #expect(!url.redacted.contains("p:ss") && !url.redacted.contains("p%3Ass"), "the redacted form never shows the password")
    }

    @Test("defaults as libpq: port 5432, database named after the user, sslmode prefer, PGPASSWORD")
    func defaults() throws {
        let url = try PostgresURL("postgresql://burnlink@localhost", environment: ["PGPASSWORD": "from-env"])
        #expect(url.port == 5432)
        #expect(url.database == "burnlink")
        #expect(url.sslMode == .prefer)
        #expect(url.password == "from-env")
        #expect(try PostgresURL("postgres://u:inurl@h/db", environment: ["PGPASSWORD": "env"]).password == "inurl")
    }

    @Test("a Unix socket directory through host=")
    func unixSocket() throws {
        let url = try PostgresURL("postgres://burnlink@/db?host=/var/run/postgresql", environment: [:])
        #expect(url.unixSocketDirectory == "/var/run/postgresql")
        #expect(throws: PostgresURL.Invalid.self) {
            try PostgresURL("postgres://burnlink@/db?host=/var/run/postgresql&sslmode=require", environment: [:])
        }
    }

    @Test(
        "refusals name the problem",
        arguments: [
            ("mysql://u@h/db", "expected postgres://"),
            ("postgres://h/db", "no user"),
            ("postgres://u@h/db?sslmode=sometimes", "sslmode must be one of"),
            ("postgres://u@h/db?sslcert=/x", "unsupported query parameter 'sslcert'"),
            ("postgres://u@h/db?connect_timeout=0", "connect_timeout"),
            ("postgres://u@h:0/db", "port"),
            ("postgres://u@h/db/extra", "single database name"),
        ])
    func refusals(text: String, problem: String) {
        do {
            _ = try PostgresURL(text, environment: [:])
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.contains(problem), "\(error.description)")
        }
    }
}

/// Against the throwaway cluster of `Tests/support/with-postgres.sh`.
@Suite("PostgreSQL store", .serialized)
struct PostgresTests {
    @Test(
        "PostgreSQL is there when the suite runs under make test", .disabled(if: TestPostgres.available, TestPostgres.skipReason))
    func clusterMissing() {
        // Runs only without a cluster: fails under `make test` (which always starts one and
        // sets BURNLINK_REQUIRE_POSTGRES), so a broken cluster start cannot pass silently.
        #expect(
            ProcessInfo.processInfo.environment["BURNLINK_REQUIRE_POSTGRES"] == nil,
            "make test must run the PostgreSQL tests, but no cluster was found")
    }

    @Test(
        "migrations run once when several replicas start at the same moment",
        .enabled(if: TestPostgres.available, TestPostgres.skipReason))
    func concurrentMigrations() async throws {
        let databaseURL = try await TestPostgres.createDatabase()
        var quiet = Logger(label: "burnlink-postgres-test")
        quiet.logLevel = .error
        // The test stores' long deadline (see `TestPostgres.openStore`): four stores migrating
        // one after another under the advisory lock, on a machine busy with the rest of the
        // suite, can take longer than the production 5 s.
        let stores = try (0..<4).map { _ in
            try PostgresStore(
                url: PostgresURL(databaseURL), logger: quiet, operationTimeout: .seconds(30),
                maximumConnections: TestPostgres.storeConnections)
        }
        let runners = stores.map { store in Task { try await store.run() } }
        defer { runners.forEach { $0.cancel() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores { group.addTask { try await store.prepare() } }
            for try await _ in group {}
        }
        #expect(
            try await TestPostgres.psql(databaseURL, "SELECT count(*) FROM burnlink_migration")
                == "\(PostgresSchema.migrations.count)")
        #expect(try await TestPostgres.psql(databaseURL, "SELECT count(*) FROM store_stats") == "\(PostgresSchema.statSlots)")
        for store in stores { #expect(try await store.storedBytes() == 0) }
        await TestPostgres.dropDatabase(databaseURL)
    }

    @Test(
        "an unreachable database fails operations with .unavailable in bounded time, not a hang",
        .enabled(if: TestPostgres.available, TestPostgres.skipReason))
    func unreachableDatabase() async throws {
        // A port nothing listens on.
        let url = try PostgresURL("postgres://burnlink@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=1")
        var quiet = Logger(label: "burnlink-postgres-test")
        quiet.logLevel = .critical
        let store = try PostgresStore(url: url, logger: quiet, operationTimeout: .seconds(2))
        let running = Task { try await store.run() }
        defer { running.cancel() }
        let started = ContinuousClock.now
        await #expect(throws: StoreError.self) { try await store.storedBytes() }
        #expect(started.duration(to: .now) < .seconds(5))
    }

    @Test(
        "a statement sent after the database closed its connection ends in .unavailable, not a wait forever",
        .enabled(if: TestPostgres.available, TestPostgres.skipReason))
    func statementAfterClose() async throws {
        let (store, cleanup) = try await TestPostgres.openStore()
        let quiet = Logger(label: "burnlink-postgres-test", factory: { _ in SwiftLogNoOpLogHandler() })
        // In a task of its own: were the operation to wait forever, the test fails instead.
        let operation = Task {
            try await store.perform { connection in
                let pid = try await connection.query("SELECT pg_backend_pid()", logger: quiet).collect()
                    .first?.decode(Int32.self)
                // The database ends this session, as a restart does (from another connection).
                _ = try await store.perform { other in
                    try await other.query("SELECT pg_terminate_backend(\(pid))", logger: quiet).collect()
                }
                // Once the channel has closed, postgres-nio drops what is written to it: a
                // transaction's ROLLBACK after the failure would be such a statement.
                try await connection.closeFuture.get()
                _ = try await connection.query("SELECT 1", logger: quiet).collect()
            }
        }
        let answered = Flag()
        Task {
            _ = await operation.result
            answered.set()
        }
        // The answer comes a grace (5 s) after the close, not never.
        #expect(await eventually(within: .seconds(30)) { answered.isSet })
        if answered.isSet {
            await #expect(throws: StoreError.unavailable("the database closed the connection")) {
                try await operation.value
            }
        }
        // The pool goes on with other connections.
        #expect(try await store.storedBytes() == 0)
        await cleanup()
    }
}

/// Several real `burnlink-server` processes on one PostgreSQL database.
@Suite("PostgreSQL replicas", .serialized, .enabled(if: TestPostgres.available, TestPostgres.skipReason))
struct PostgresReplicaTests {
    let client = HTTPClient.shared

    func create(_ server: LaunchedServer, _ sender: TestSender, body: [UInt8], maxViews: Int = 1) async throws -> String {
        let response = try await sendRequest(
            client, .POST, server.baseURL + API.secretsPath,
            headers: sender.createHeaderList(maxViews: maxViews), body: body)
        guard response.status == 201 else { throw TestFailure("create answered \(response.status)") }
        return try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(response.body)).id
    }

    @Test("64 concurrent claims spread over two replicas: exactly max-views succeed, 20 rounds each")
    func concurrentClaimsAcrossReplicas() async throws {
        let databaseURL = try await TestPostgres.createDatabase()
        let replicas = [
            try await LaunchedServer(arguments: ["--database", databaseURL]),
            try await LaunchedServer(arguments: ["--database", databaseURL]),
        ]
        for maxViews in [1, 3] {
            for round in 0..<20 {
                let sender = TestSender()
                let secret = randomBytes(1000 + round)
                let id = try await create(replicas[round % 2], sender, body: secret, maxViews: maxViews)
                let results = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                    for attempt in 0..<64 {
                        let replica = replicas[attempt % 2]
                        group.addTask {
                            let response = try await sendRequest(
                                client, .POST, replica.baseURL + API.claimPath(id),
                                headers: sender.claimHeaderList)
                            return (response.status, response.body)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let wins = results.filter { $0.0 == 200 }
                #expect(wins.count == maxViews, "round \(round), max views \(maxViews)")
                #expect(wins.allSatisfy { $0.1 == secret })
                #expect(results.allSatisfy { $0.0 == 200 || $0.0 == 404 })
            }
        }
        for replica in replicas { #expect(await replica.stop() == 0) }
        await TestPostgres.dropDatabase(databaseURL)
    }

    @Test("the first start on a fresh database logs no error: the first sweep waits until the schema is there")
    func firstSweepAfterTheSchema() async throws {
        let databaseURL = try await TestPostgres.createDatabase()
        let server = try await LaunchedServer(arguments: ["--database", databaseURL])
        var sweeps = 0.0
        let deadline = ContinuousClock.now + .seconds(15)
        while sweeps < 1, ContinuousClock.now < deadline {
            let metrics = try await sendRequest(client, .GET, server.baseURL + "/metrics")
            sweeps = metricValue("burnlink_sweep_duration_seconds_count", in: String(decoding: metrics.body, as: UTF8.self)) ?? 0
            if sweeps < 1 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(sweeps >= 1, "no sweep finished")
        #expect(await server.stop() == 0)
        let errors = server.log.split(separator: "\n").filter { $0.contains(" error ") || $0.contains("sweep failed") }
        #expect(errors.isEmpty, "\(errors)")
        await TestPostgres.dropDatabase(databaseURL)
    }

    @Test("a receipt long-poll on one replica is released by a claim on the other")
    func receiptWaitAcrossReplicas() async throws {
        let databaseURL = try await TestPostgres.createDatabase()
        let a = try await LaunchedServer(arguments: ["--database", databaseURL])
        let b = try await LaunchedServer(arguments: ["--database", databaseURL])
        let sender = TestSender()
        let id = try await create(a, sender, body: randomBytes(100))

        let started = ContinuousClock.now
        async let waited = sendRequest(
            client, .GET, a.baseURL + API.receiptPath(id) + "?wait=30",
            headers: sender.receiptHeaderList)
        try await Task.sleep(for: .milliseconds(500))
        let claimed = try await sendRequest(client, .POST, b.baseURL + API.claimPath(id), headers: sender.claimHeaderList)
        #expect(claimed.status == 200)
        let receipt = try await waited
        let elapsed = started.duration(to: .now)
        #expect(receipt.status == 200)
        let decoded = try APIJSON.decoder().decode(ReceiptResponse.self, from: Data(receipt.body))
        #expect(decoded.state == .viewed)
        // Released by the notification. The poll began after `started`, so a release by the
        // 5 s re-read comes 5 s or more after it: 4.5 s tells the two apart and leaves the
        // claim room to be slow on a loaded machine.
        #expect(elapsed < .milliseconds(4_500), "waited \(elapsed)")
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
        await TestPostgres.dropDatabase(databaseURL)
    }

    @Test(
        "a claim on one replica is fetched again from an offset and confirmed on the other; a receipt long-poll on the first wakes at the confirm"
    )
    func claimSessionAcrossReplicas() async throws {
        let databaseURL = try await TestPostgres.createDatabase()
        let a = try await LaunchedServer(arguments: ["--database", databaseURL])
        let b = try await LaunchedServer(arguments: ["--database", databaseURL])
        let sender = TestSender()
        let secret = randomBytes(3 * StoreLimits.chunkSize + 777)
        let id = try await create(a, sender, body: secret)
        let session = Base64URL.encode(randomBytes(32))
        let withSession = sender.claimHeaderList + [(API.Header.claimSession, session)]

        let claimed = try await sendRequest(client, .POST, a.baseURL + API.claimPath(id), headers: withSession)
        #expect(claimed.status == 200 && claimed.body == secret)
        let offset = StoreLimits.chunkSize + 12_345
        let again = try await sendRequest(
            client, .GET, b.baseURL + API.envelopePath(id),
            headers: withSession + [("Range", "bytes=\(offset)-")])
        #expect(again.status == 206)
        #expect(again.body == Array(secret[offset...]))
        // Without the session, or with another one, the other replica knows nothing.
        let stranger = sender.claimHeaderList + [(API.Header.claimSession, Base64URL.encode(randomBytes(32)))]
        #expect(try await sendRequest(client, .GET, b.baseURL + API.envelopePath(id), headers: stranger).status == 404)

        async let waited = sendRequest(
            client, .GET, a.baseURL + API.receiptPath(id) + "?wait=30",
            headers: sender.receiptHeaderList)
        try await Task.sleep(for: .milliseconds(500))
        let started = ContinuousClock.now
        #expect(try await sendRequest(client, .POST, b.baseURL + API.confirmPath(id), headers: withSession).status == 204)
        let receipt = try APIJSON.decoder().decode(ReceiptResponse.self, from: Data(try await waited.body))
        #expect(receipt.views.map(\.delivery) == [.delivered])
        #expect(started.duration(to: .now) < .seconds(3), "the confirm on B must wake the poll on A")
        #expect(try await sendRequest(client, .GET, a.baseURL + API.envelopePath(id), headers: withSession).status == 404)
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
        await TestPostgres.dropDatabase(databaseURL)
    }

    @Test("burnlink status --wait held on one replica returns when burnlink open claims on the other")
    func cliStatusWaitAcrossReplicas() async throws {
        let databaseURL = try await TestPostgres.createDatabase()
        let a = try await LaunchedServer(arguments: ["--database", databaseURL])
        let b = try await LaunchedServer(arguments: ["--database", databaseURL])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("burnlink-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let receiptFile = directory.appendingPathComponent("receipt").path

        let sent = try await CLIProcess.run(
            ["send", "-q", "--server", a.baseURL, "--receipt-file", receiptFile],
            input: "across replicas\n")
        #expect(sent.status == 0)
        let link = sent.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(link.hasPrefix(a.baseURL + "/s/"))

        let waiting = try CLIProcess.start(["status", "-q", "--wait", "--timeout", "30", "--receipt-file", receiptFile])
        try await Task.sleep(for: .milliseconds(700))
        #expect(waiting.isRunning, "status --wait returns only once something happens")
        // The same secret through the other replica: only the address in the link changes.
        let opened = try await CLIProcess.run(
            ["open", "-q", "--yes"],
            input: link.replacingOccurrences(of: a.baseURL, with: b.baseURL) + "\n")
        #expect(opened.status == 0)
        #expect(opened.out == "across replicas\n")
        let started = ContinuousClock.now
        let result = await waiting.finish()
        #expect(result.status == 0, "exit 0: viewed (\(result.err))")
        #expect(result.out.contains("viewed"))
        #expect(started.duration(to: .now) < .seconds(3), "released by the claim, not by the 5 s re-read")
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
        await TestPostgres.dropDatabase(databaseURL)
    }

    @Test(
        "kill -9 one replica amid creates and claims: every confirmed create claimable exactly once on the other, no secret revealed twice"
    )
    func killOneReplica() async throws {
        let databaseURL = try await TestPostgres.createDatabase()
        let victim = try await LaunchedServer(arguments: ["--database", databaseURL])
        let survivor = try await LaunchedServer(arguments: ["--database", databaseURL])

        // Secrets to claim through the victim while it dies, made beforehand on the survivor.
        struct Secret: Sendable {
            let id: String
            let sender: TestSender
            let body: [UInt8]
        }
        var targets: [Secret] = []
        for _ in 0..<300 {
            let sender = TestSender()
            let body = randomBytes(512)
            targets.append(Secret(id: try await create(survivor, sender, body: body), sender: sender, body: body))
        }
        enum Outcome: Sendable { case claimed, lost }
        let victimTargets = targets

        // Creates stream into the victim (some large enough to be multi-chunk uploads) while
        // two other tasks claim the targets through it; the kill lands in the middle.
        var confirmed: [Secret] = []
        var outcomes: [String: Outcome] = [:]
        try await withThrowingTaskGroup(of: ([Secret], [String: Outcome]).self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var mine: [Secret] = []
                    for index in 0..<400 {
                        let sender = TestSender()
                        let body = randomBytes(worker == 0 && index % 5 == 0 ? (3 << 20) : 1024)
                        guard
                            let response = try? await sendRequest(
                                client, .POST, victim.baseURL + API.secretsPath,
                                headers: sender.createHeaderList(), body: body)
                        else {
                            break  // the victim is gone
                        }
                        if response.status == 201 {
                            let id = try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(response.body)).id
                            mine.append(Secret(id: id, sender: sender, body: body))
                        }
                    }
                    return (mine, [:])
                }
            }
            for claimer in 0..<2 {
                group.addTask {
                    var seen: [String: Outcome] = [:]
                    for target in victimTargets[(claimer * 150)..<((claimer + 1) * 150)] {
                        guard
                            let response = try? await sendRequest(
                                client, .POST, victim.baseURL + API.claimPath(target.id),
                                headers: target.sender.claimHeaderList)
                        else {
                            seen[target.id] = .lost  // the victim died with this claim in flight
                            break
                        }
                        #expect(response.status == 200 && response.body == target.body)
                        seen[target.id] = .claimed
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    return ([], seen)
                }
            }
            group.addTask {
                // The kill lands once creates and claims are flowing (counted by the server's
                // metrics), however slowly the machine runs them.
                for _ in 0..<200 {
                    try await Task.sleep(for: .milliseconds(100))
                    guard let metrics = try? await sendRequest(client, .GET, victim.baseURL + "/metrics") else { continue }
                    let lines = String(decoding: metrics.body, as: UTF8.self).split(separator: "\n")
                    func count(_ name: String) -> Double {
                        lines.first { $0.hasPrefix(name) }?.split(separator: " ").last.flatMap { Double($0) } ?? 0
                    }
                    if count("burnlink_secrets_created_total") >= 60, count("burnlink_secrets_claimed_total") >= 20 { break }
                }
                await victim.kill()
                return ([], [:])
            }
            for try await (secrets, seen) in group {
                confirmed += secrets
                outcomes.merge(seen) { $1 }
            }
        }
        #expect(confirmed.count > 20, "the kill should land after some creates were confirmed")
        #expect(confirmed.count < 1600, "the kill should land before every create was sent")
        let claimedOnVictim = outcomes.values.filter { $0 == .claimed }.count
        #expect(claimedOnVictim > 10 && claimedOnVictim < 300, "the kill should land amid the claims")

        // Every confirmed create: exactly once, on the survivor.
        for secret in confirmed {
            let first = try await sendRequest(
                client, .POST, survivor.baseURL + API.claimPath(secret.id),
                headers: secret.sender.claimHeaderList)
            #expect(first.status == 200)
            #expect(first.body == secret.body)
            let second = try await sendRequest(
                client, .POST, survivor.baseURL + API.claimPath(secret.id),
                headers: secret.sender.claimHeaderList)
            #expect(second.status == 404)
        }
        // Every target: never twice. Claimed on the victim: gone. Its claim cut by the kill:
        // either way, but only once. Not reached: still there, once.
        for target in targets {
            let first = try await sendRequest(
                client, .POST, survivor.baseURL + API.claimPath(target.id),
                headers: target.sender.claimHeaderList)
            switch outcomes[target.id] {
            case .claimed: #expect(first.status == 404)
            case .lost: #expect(first.status == 404 || (first.status == 200 && first.body == target.body))
            case nil: #expect(first.status == 200 && first.body == target.body)
            }
            let second = try await sendRequest(
                client, .POST, survivor.baseURL + API.claimPath(target.id),
                headers: target.sender.claimHeaderList)
            #expect(second.status == 404)
        }
        #expect(await survivor.stop() == 0)
        await TestPostgres.dropDatabase(databaseURL)
    }

    @Test("a PostgreSQL restart under a running server: 503 while it is down, recovery without a restart")
    func databaseRestart() async throws {
        let databaseURL = try await TestPostgres.createDatabase()
        let server = try await LaunchedServer(arguments: ["--database", databaseURL])
        let before = TestSender()
        let beforeID = try await create(server, before, body: randomBytes(64))

        try await TestPostgres.control("stop")
        do {
            let health = try await sendRequest(client, .GET, server.baseURL + "/healthz")
            #expect(health.status == 503)
            let down = try await sendRequest(
                client, .POST, server.baseURL + API.secretsPath,
                headers: TestSender().createHeaderList(), body: randomBytes(64))
            #expect(down.status == 503)
            let error = try? APIJSON.decoder().decode(ErrorResponse.self, from: Data(down.body))
            #expect(error?.error == .unavailable)
        } catch {
            try await TestPostgres.control("start")
            throw error
        }
        try await TestPostgres.control("start")

        // Recovers by itself: no restart of the server process.
        var healthy = false
        for _ in 0..<60 where !healthy {
            healthy = (try? await sendRequest(client, .GET, server.baseURL + "/healthz"))?.status == 200
            if !healthy { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(healthy)
        let claimed = try await sendRequest(
            client, .POST, server.baseURL + API.claimPath(beforeID),
            headers: before.claimHeaderList)
        #expect(claimed.status == 200)
        let after = TestSender()
        let afterID = try await create(server, after, body: randomBytes(64))
        #expect(
            try await sendRequest(
                client, .POST, server.baseURL + API.claimPath(afterID),
                headers: after.claimHeaderList
            ).status == 200)
        #expect(server.process.isRunning)
        #expect(await server.stop() == 0)
        await TestPostgres.dropDatabase(databaseURL)
    }
}

/// The real `burnlink` CLI binary, its stdin fed `input` (or closed at once).
enum CLIProcess {
    static func start(_ arguments: [String], input: String? = nil) throws -> ChildProcess {
        try ChildProcess(Binaries.cli.path, arguments, input: .bytes(Data((input ?? "").utf8)), timeout: .seconds(60))
    }

    static func run(_ arguments: [String], input: String? = nil) async throws -> ProcessResult {
        try await start(arguments, input: input).finish()
    }
}
