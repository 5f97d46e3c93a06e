import AsyncHTTPClient
import BurnlinkCore
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// A real nginx on loopback running docs/deploy/nginx.conf (only its addresses and log path
/// changed), in front of two `burnlink-server` replicas on one PostgreSQL database.
final class NginxProcess: Sendable {
    static let binary = "/usr/sbin/nginx"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: binary) }
    static let documentedConfiguration = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/deploy/nginx.conf")

    let process: ChildProcess
    let port: Int
    let directory: URL
    var baseURL: String { "http://127.0.0.1:\(port)" }
    var accessLog: String { (try? String(contentsOf: directory.appendingPathComponent("access.log"), encoding: .utf8)) ?? "" }

    init(upstreams: [Int]) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("burnlink-nginx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try Self.freePort()

        var site = try String(contentsOf: Self.documentedConfiguration, encoding: .utf8)
        let replacements = [
            ("server 127.0.0.1:8081;", "server 127.0.0.1:\(upstreams[0]);"),
            ("server 127.0.0.1:8082;", "server 127.0.0.1:\(upstreams[1]);"),
            ("listen 127.0.0.1:8080;", "listen 127.0.0.1:\(port);"),
            ("/var/log/nginx/burnlink.access.log", directory.appendingPathComponent("access.log").path),
        ]
        for (documented, local) in replacements {
            guard site.contains(documented) else { throw TestFailure("docs/deploy/nginx.conf no longer has '\(documented)'") }
            site = site.replacingOccurrences(of: documented, with: local)
        }
        try site.write(to: directory.appendingPathComponent("burnlink.conf"), atomically: true, encoding: .utf8)

        let path = directory.path
        let main = """
            \(getuid() == 0 ? "user root;" : "")
            worker_processes 1;
            pid \(path)/nginx.pid;
            error_log \(path)/error.log;
            events { worker_connections 256; }
            http {
                client_body_temp_path \(path)/body;
                proxy_temp_path \(path)/proxy;
                fastcgi_temp_path \(path)/fastcgi;
                uwsgi_temp_path \(path)/uwsgi;
                scgi_temp_path \(path)/scgi;
                include \(path)/burnlink.conf;
            }
            """
        try main.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)

        process = try ChildProcess(Self.binary, ["-p", path, "-c", "\(path)/nginx.conf", "-g", "daemon off;"])
        for _ in 0..<100 {
            if (try? await sendRequest(HTTPClient.shared, .GET, "http://127.0.0.1:\(port)/healthz"))?.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.signalIfRunning(SIGTERM)
        let errors = (try? String(contentsOf: directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
        throw TestFailure("nginx did not start: \(errors)")
    }

    deinit {
        process.signalIfRunning(SIGKILL)
    }

    func stop() async {
        process.signalIfRunning(SIGTERM)
        _ = await process.waitForExit(timeout: .seconds(5))
        try? FileManager.default.removeItem(at: directory)
    }

    private static func freePort() throws -> Int {
        let socket = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
            }
        }
        guard bound else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

@Suite(
    "Deployment behind nginx", .serialized,
    .enabled(if: TestPostgres.available, TestPostgres.skipReason),
    .enabled(if: NginxProcess.available, "nginx tests skipped: /usr/sbin/nginx missing (apt-get install nginx; make test does)"))
struct DeployTests {
    let client = HTTPClient.shared

    /// Names the step that failed.
    func labelled(_ step: String, _ body: () async throws -> Void) async throws {
        do { try await body() } catch { throw TestFailure("\(step): \(error)") }
    }

    @Test("docs/deploy/nginx.conf: two replicas, streaming both ways, long-polls, spoofed X-Forwarded-For, logs without ids")
    func documentedConfiguration() async throws {
        let databaseURL = try await TestPostgres.createDatabase()
        let arguments = ["--database", databaseURL, "--trust-proxy", "--max-size", "24MiB", "--rate-limit", "10000/min,40/min"]
        let replicas = [try await LaunchedServer(arguments: arguments), try await LaunchedServer(arguments: arguments)]
        let nginx = try await NginxProcess(upstreams: replicas.map(\.port))
        var ids: [String] = []

        // Round trips through the proxy; round robin spreads them over both replicas.
        for size in [1, 1024, 70_000, 16 << 20] {
            try await labelled("round trip of \(size) bytes") {
                let sender = TestSender()
                let secret = randomBytes(size)
                let created = try await sendRequest(
                    client, .POST, nginx.baseURL + API.secretsPath,
                    headers: sender.createHeaderList(), body: secret)
                try #require(created.status == 201, "\(created.status): \(String(decoding: created.body, as: UTF8.self))")
                let id = try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(created.body)).id
                ids.append(id)
                let claimed = try await sendRequest(
                    client, .POST, nginx.baseURL + API.claimPath(id), headers: sender.claimHeaderList)
                #expect(claimed.status == 200)
                #expect(claimed.body == secret, "size \(size)")
                let again = try await sendRequest(
                    client, .POST, nginx.baseURL + API.claimPath(id), headers: sender.claimHeaderList)
                #expect(again.status == 404)
            }
        }
        for replica in replicas {
            let metrics = try await sendRequest(client, .GET, replica.baseURL + "/metrics")
            let created = String(decoding: metrics.body, as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix("burnlink_secrets_created_total") }
            #expect(created.map { !$0.hasSuffix(" 0") } == true, "every replica took some of the creates")
        }

        // Over the servers' limit: burnlink's own JSON 413, not nginx's HTML page.
        // On a client of its own: nginx closes that connection after refusing the body, and a
        // shared pool could hand the closing connection to the next request.
        let oneOff = HTTPClient(eventLoopGroupProvider: .singleton)
        let tooLarge: (status: Int, body: [UInt8])
        do {
            tooLarge = try await sendRequest(
                oneOff, .POST, nginx.baseURL + API.secretsPath,
                headers: TestSender().createHeaderList(), body: randomBytes(25 << 20))
            try await oneOff.shutdown()
        } catch {
            try? await oneOff.shutdown()
            throw TestFailure("the oversized upload through nginx: \(error)")
        }
        #expect(tooLarge.status == 413)
        #expect((try? APIJSON.decoder().decode(ErrorResponse.self, from: Data(tooLarge.body)))?.error == .payloadTooLarge)

        // A receipt long-poll through the proxy, released by a claim through the proxy.
        let waiter = TestSender()
        let created = try await sendRequest(
            client, .POST, nginx.baseURL + API.secretsPath,
            headers: waiter.createHeaderList(), body: randomBytes(32))
        try #require(created.status == 201, "\(created.status): \(String(decoding: created.body, as: UTF8.self))")
        let id = try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(created.body)).id
        ids.append(id)
        async let receipt = sendRequest(
            client, .GET, nginx.baseURL + API.receiptPath(id) + "?wait=20",
            headers: waiter.receiptHeaderList)
        try await Task.sleep(for: .milliseconds(500))
        #expect(
            try await sendRequest(client, .POST, nginx.baseURL + API.claimPath(id), headers: waiter.claimHeaderList).status == 200
        )
        let released = try await receipt
        #expect(released.status == 200)
        #expect((try? APIJSON.decoder().decode(ReceiptResponse.self, from: Data(released.body)))?.state == .viewed)

        // Guessing with a made-up X-Forwarded-For on every request: the replicas count the
        // address nginx saw, so the failure budget (40/min per replica) still runs out. The
        // budgets refill while the guesses go on (slowly, on a busy machine): what got
        // through must stay within both replicas' budgets plus their refill over the time
        // taken, where spoofed addresses would each have had a fresh budget.
        var statuses: [Int] = []
        let guessing = ContinuousClock.now
        for attempt in 0..<400 where statuses.filter({ $0 == 429 }).count < 10 {
            let guess = SecretID(bytes: randomBytes(16))!.encoded
            let response = try await sendRequest(
                client, .POST, nginx.baseURL + API.claimPath(guess),
                headers: [
                    ("Authorization", "Bearer \(Base64URL.encode(randomBytes(32)))"),
                    ("X-Forwarded-For", "10.1.\(attempt / 250).\(attempt % 250)"),
                ])
            statuses.append(response.status)
        }
        let seconds = Double(guessing.duration(to: .now).components.seconds) + 1
        let budget = 2 * (40 + 40 * seconds / 60) + 2
        #expect(statuses.allSatisfy { $0 == 404 || $0 == 429 })
        #expect(statuses.filter { $0 == 429 }.count >= 10, "spoofed addresses must not reset the budget")
        #expect(
            Double(statuses.filter { $0 == 404 }.count) <= budget,
            "\(statuses.filter { $0 == 404 }.count) guesses got through in \(seconds) s; the budgets allow \(budget)")

        // nginx's access log has lines, and none of them names a secret.
        let log = nginx.accessLog
        #expect(log.split(separator: "\n").count >= 10)
        for id in ids { #expect(!log.contains(id)) }
        #expect(!log.contains("/api/v1/secrets"))

        await nginx.stop()
        for replica in replicas { #expect(await replica.stop() == 0) }
        await TestPostgres.dropDatabase(databaseURL)
    }
}
