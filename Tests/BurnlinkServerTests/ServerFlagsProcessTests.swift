import AsyncHTTPClient
import BurnlinkCore
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import BurnlinkServer

#if canImport(Glibc)
import Glibc
#endif

/// The abuse-limit and shutdown behaviour of the real `burnlink-server` process.
@Suite("burnlink-server process: shutdown and limit flags", .serialized)
struct ServerFlagsProcessTests {
    @Test("SIGTERM with a receipt long-poll open: the poll answers 200 with the receipt, the server exits 0 promptly")
    func shutdownEndsLongPolls() async throws {
        let database = temporaryDatabasePath()
        let server = try await LaunchedServer(arguments: ["--database", database])
        let client = HTTPClient.shared
        let sender = TestSender()
        let created = try await sendRequest(
            client, .POST, server.baseURL + API.secretsPath,
            headers: sender.createHeaderList(), body: [1, 2, 3])
        #expect(created.status == 201)
        let id = try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(created.body)).id

        let poll = Task {
            try await sendRequest(
                client, .GET, server.baseURL + API.receiptPath(id) + "?wait=60",
                headers: sender.receiptHeaderList)
        }
        // The signal only once the long-poll waits: the server says so in its metrics (a
        // fixed pause was not enough on a loaded machine, and the poll arrived after it).
        let parked = await eventually(within: .seconds(60)) { await Self.metric("burnlink_long_polls_waiting", of: server) == 1 }
        try #require(parked, "the long-poll never reached its wait")
        let signalled = ContinuousClock.now
        server.process.signalIfRunning(SIGTERM)
        var exitedAfter: Duration?
        for _ in 0..<300 where exitedAfter == nil {
            if !server.process.isRunning {
                exitedAfter = ContinuousClock.now - signalled
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let answer = try await poll.value
        let elapsed = try #require(exitedAfter, "the server was still running 6 s after SIGTERM")
        #expect(elapsed < .seconds(5), "exit took \(elapsed)")
        #expect(server.process.status == 0)
        #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
        let receipt = try APIJSON.decoder().decode(ReceiptResponse.self, from: Data(answer.body))
        #expect(receipt.state == .waiting)
        #expect(receipt.viewsLeft == 1)
        // The store was shut down: its last checkpoint moved the write-ahead log into the
        // database file and emptied it.
        let log = (try? FileManager.default.attributesOfItem(atPath: database + "-wal")[.size] as? Int) ?? 0
        #expect(log == 0, "the write-ahead log still holds \(log) bytes: the store was not shut down")
        server.process.signalIfRunning(SIGKILL)
    }

    @Test("--max-concurrent-uploads, --storage-quota and --body-idle-timeout take effect in the process")
    func limitFlags() async throws {
        let server = try await LaunchedServer(arguments: [
            "--database", temporaryDatabasePath(), "--storage-quota", "1KiB", "--body-idle-timeout", "6s",
            "--max-concurrent-uploads", "1",
        ])
        defer { server.process.signalIfRunning(SIGKILL) }
        // Raw connections: the server may answer before reading a refused body, and an HTTP
        // client still writing it would report the early close instead of the answer.
        func create(_ size: Int) async throws -> String {
            let connection = try RawConnection(port: server.port)
            defer { connection.close() }
            connection.send(RawConnection.requestHead(TestSender(), extra: ["Content-Length: \(size)", "Connection: close"]))
            connection.send(randomBytes(size))
            return String(await connection.receiveAllOffPool().prefix(12))
        }
        #expect(try await create(1025) == "HTTP/1.1 507")

        // One upload held open takes the only slot; the idle timeout then frees it.
        let stalled = try RawConnection(port: server.port)
        defer { stalled.close() }
        stalled.send(RawConnection.requestHead(TestSender(), extra: ["Content-Length: 100"]))
        stalled.send(randomBytes(10))
        // Asked only once the server has taken the stalled upload in: under load it may
        // take a moment to get round to it.
        #expect(await eventually(within: .seconds(60)) { await Self.metric("burnlink_uploads_in_progress", of: server) == 1 })
        #expect(try await create(1) == "HTTP/1.1 429", "a second concurrent upload was not refused")
        let stalledAnswer = await stalled.receiveAllOffPool()
        #expect(stalledAnswer.isEmpty, "\(stalledAnswer.prefix(300))")
        var accepted = false
        for _ in 0..<300 where !accepted {
            accepted = try await create(900) == "HTTP/1.1 201"
            if !accepted { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(accepted, "the stalled upload's slot never came back")
        #expect(await server.stop() == 0)
    }

    @Test("a staged upload whose body stalls is dropped after --body-idle-timeout; nothing of it remains in the file")
    func stalledStagedUpload() async throws {
        let database = temporaryDatabasePath()
        // Long enough that a test process slowed by a busy machine still sees the staged
        // chunk before the timeout removes it.
        let server = try await LaunchedServer(arguments: ["--database", database, "--body-idle-timeout", "15s"])
        defer { server.process.signalIfRunning(SIGKILL) }
        let connection = try RawConnection(port: server.port)
        defer { connection.close() }
        connection.send(RawConnection.requestHead(TestSender(), extra: ["Content-Length: \(4 * StoreLimits.chunkSize)"]))
        // Past the first chunk, so part of it is staged in the database; then silence.
        let sent = await connection.sendOffPool(randomBytes(StoreLimits.chunkSize * 3 / 2))
        #expect(sent, "the server closed the connection while the body was arriving")
        let staged = await eventually(within: .seconds(60)) {
            await Self.metric("burnlink_stored_bytes", of: server) == Double(StoreLimits.chunkSize)
        }
        #expect(staged, "the first chunk was never staged")
        let stalledAt = ContinuousClock.now
        let answer = await connection.receiveAllOffPool()
        let waited = ContinuousClock.now - stalledAt
        #expect(answer.isEmpty, "a stalled upload got an answer: \(answer.prefix(200))")
        #expect(waited < .seconds(30), "the connection stayed open \(waited) after the body stalled")
        #expect(await eventually(within: .seconds(60)) { await Self.metric("burnlink_stored_bytes", of: server) == 0 })
        #expect(await server.stop() == 0)
        // Nothing of it is left in the file for a sweep to find.
        let store = try SQLiteStore(path: database)
        defer { try? store.close() }
        #expect(try await store.sweep(now: Date(), receiptRetention: 0) == SweepReport())
    }

    /// An unlabelled series from the server's `/metrics`, or nil if it cannot be read.
    static func metric(_ name: String, of server: LaunchedServer) async -> Double? {
        guard let response = try? await sendRequest(HTTPClient.shared, .GET, server.baseURL + "/metrics") else { return nil }
        return metricValue(name, in: String(decoding: response.body, as: UTF8.self))
    }

    @Test("bad limit flags and creator-token files are refused with a clear message")
    func badLimitFlags() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("burnlink-flags-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let garbled = directory.appendingPathComponent("tokens-bad").path
        try Data("# ok\nnot a digest\n".utf8).write(to: URL(fileURLWithPath: garbled))
        let empty = directory.appendingPathComponent("tokens-empty").path
        try Data("# nobody yet\n".utf8).write(to: URL(fileURLWithPath: empty))
        let cases: [([String], String)] =
            [
                (["--storage-quota", "plenty"], "--storage-quota"),
                (["--max-concurrent-uploads", "0"], "--max-concurrent-uploads"),
                (["--body-idle-timeout", "soon"], "--body-idle-timeout"),
                (["--creator-tokens", directory.appendingPathComponent("missing").path], "cannot read"),
                (["--creator-tokens", garbled], "line 2"),
                (["--creator-tokens", empty], "no token digests"),
            ]
            // Links built on these would be refused by `burnlink open`: stored, and unopenable.
            + [
                "https://burn.example.com/prefix", "https://user@burn.example.com", "https://burn.example.com?x=1",
                "https://burn.example.com#top", "https://burn_example.com", "ftp://burn.example.com",
                "https://burn.example.com:0", "burn.example.com", "https://burn.example.com\u{1B}[2J",
            ]
            .map { (["--public-url", $0], "is invalid for '--public-url") }
        for (arguments, expected) in cases {
            let finished = try await ChildProcess.run(Binaries.server.path, arguments)
            let output = finished.out + finished.err
            #expect(finished.status != 0, "\(arguments)")
            #expect(output.contains(expected), "\(arguments): \(output)")
        }
    }

    @Test("a BURNLINK_* variable is read by the same parser as its flag; a bad one names the variable")
    func environmentFallback() async throws {
        let env = "/usr/bin/env"
        for (assignment, expected) in [
            ("BURNLINK_MAX_SIZE=plenty", "BURNLINK_MAX_SIZE: 'plenty' is not valid; expected bytes"),
            ("BURNLINK_SWEEP_INTERVAL=+5s", "BURNLINK_SWEEP_INTERVAL: '+5s' is not valid"),
            ("BURNLINK_PUBLIC_URL=https://burn.example.com/x", "BURNLINK_PUBLIC_URL"),
            ("BURNLINK_CLAIM_WINDOW=2h", "--claim-window: expected whole seconds from 0 to 1h"),
        ] {
            let finished = try await ChildProcess.run(env, [assignment, Binaries.server.path, "--port", "0"])
            #expect(finished.status != 0, "\(assignment)")
            #expect((finished.out + finished.err).contains(expected), "\(assignment): \(finished.err)")
        }
    }

    @Test("hash-token reads the token on stdin and prints its SHA-256 in hex; a malformed token is refused")
    func hashToken() async throws {
        func run(_ input: String) async throws -> (Int32, String) {
            let finished = try await ChildProcess.run(Binaries.server.path, ["hash-token"], input: .bytes(Data(input.utf8)))
            return (finished.status, finished.out + finished.err)
        }
        let token = "a-token-for-alice-0123456789"
        let (status, text) = try await run(token + "\n")
        #expect(status == 0, "\(text)")
        #expect(text == Data(BurnlinkCrypto.SHA256.hash(Array(token.utf8))).map { String(format: "%02x", $0) }.joined() + "\n")
        let (badStatus, badText) = try await run("too short\n")
        #expect(badStatus != 0)
        #expect(badText.contains("16 to 512"), "\(badText)")
    }
}
