import BurnlinkCore
import BurnlinkTestSupport
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A fresh random creator token and a tokens file holding its digest (sha256sum style).
struct IssuedToken {
    let token: String
    let directory: TemporaryDirectory
    var file: String { directory.file("creator-tokens") }

    init() throws {
        token = "tok-" + KeySchedule.newReceiptToken().base64URL
        directory = try TemporaryDirectory()
        let digest = BurnlinkCrypto.SHA256.hash(Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
        try Files.write("# creator tokens for the tests\n\(digest)  -\n", to: file)
    }
}

@Suite("hardening: creator tokens, privacy, hostile servers, core dumps")
struct HardeningTests {
    @Test(
        "a server with creator tokens: send without one exits 6 with a hint; with BURNLINK_TOKEN or the config file it works; open needs none"
    )
    func creatorTokens() async throws {
        let issued = try IssuedToken()
        defer { issued.directory.remove() }
        try await withServer(["--creator-tokens", issued.file]) { server in
            let refused = try await CLI.run(["send"], stdin: "no token, no secret", environment: server.environment)
            expectFailure(refused, exit: 6, mentioning: ["401", "BURNLINK_TOKEN"])

            var wrong = server.environment
            wrong["BURNLINK_TOKEN"] = issued.token + "x"
            expectFailure(try await CLI.run(["send"], stdin: "wrong token", environment: wrong), exit: 6, mentioning: ["401"])

            var malformed = server.environment
            malformed["BURNLINK_TOKEN"] = "short"
            expectFailure(try await CLI.run(["send"], stdin: "bad token", environment: malformed), exit: 2, mentioning: ["token"])

            var withToken = server.environment
            withToken["BURNLINK_TOKEN"] = issued.token
            let sent = try await CLI.run(["send"], stdin: "token from the environment", environment: withToken)
            #expect(sent.status == 0, "\(sent)")
            let link = sent.out.trimmingCharacters(in: .newlines)
            #expect(link.wholeMatch(of: linkPattern) != nil, "\(sent)")
            // The recipient has no token and needs none.
            let opened = try await server.open(link)
            #expect(opened.status == 0 && opened.out == "token from the environment", "\(opened)")

            // The config file's `token` line, for the sender only.
            let configDirectory = server.directory.file("home") + "/.config/burnlink"
            try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
            let configFile = configDirectory + "/config"
            try Files.write("# mine\ntoken = \(issued.token)\n", to: configFile)
            chmod(configFile, 0o644)
            let readable = try await CLI.run(
                ["send"], stdin: "token from a readable config file", environment: server.environment)
            #expect(readable.status == 0, "\(readable)")
            #expect(readable.err.contains("burnlink: warning: \(configFile) holds a creator token"), "\(readable)")
            chmod(configFile, 0o600)
            let fromConfig = try await CLI.run(["send"], stdin: "token from the config file", environment: server.environment)
            #expect(fromConfig.status == 0 && !fromConfig.err.contains("warning"), "\(fromConfig)")
            let reopened = try await server.open(fromConfig.out.trimmingCharacters(in: .newlines))
            #expect(reopened.status == 0 && reopened.out == "token from the config file", "\(reopened)")
        }
    }

    @Test("a full cycle at trace log level: no id, key, token, password or plaintext in any log line or metric")
    func nothingSecretInLogsOrMetrics() async throws {
        let issued = try IssuedToken()
        defer { issued.directory.remove() }
        try await withServer(["--creator-tokens", issued.file, "--log-level", "trace"]) { server in
            var environment = server.environment
            environment["BURNLINK_TOKEN"] = issued.token
            let plaintext = "PLAINTEXT-" + UUID().uuidString
            let password = "pw-" + UUID().uuidString
            let passwordFile = try server.writeFile("password", password)
            let receiptFile = server.directory.file("receipt")
            let sent = try await CLI.run(
                ["send", "--password-file", passwordFile, "--receipt-file", receiptFile],
                stdin: plaintext, environment: environment)
            #expect(sent.status == 0, "\(sent)")
            let link = try ParsedLink(sent.out)
            let receipt = try #require(Files.contents(receiptFile).map { String(decoding: $0, as: UTF8.self) })
                .trimmingCharacters(in: .newlines)

            // Every request of the cycle: peek, status, a wrong password, open, status again.
            let peek = try await CLI.run(["peek", "--json"], stdin: link.text + "\n", environment: environment)
            #expect(peek.status == 0, "\(peek)")
            let status = try await CLI.run(["status"], stdin: receipt + "\n", environment: environment)
            #expect(status.status == 0, "\(status)")
            let wrongFile = try server.writeFile("wrong", "not-" + password)
            expectFailure(try await server.open(link.text, ["--password-file", wrongFile]), exit: 4)
            let opened = try await server.open(link.text, ["--password-file", passwordFile])
            #expect(opened.status == 0 && opened.out == plaintext, "\(opened)")
            let after = try await CLI.run(["status"], stdin: receipt + "\n", environment: environment)
            #expect(after.out.contains("viewed"), "\(after)")

            // Every secret value of the cycle, in the forms a careless log line would use.
            let key = try #require(Base64URL.decodeSecret(link.key, count: 32))
            let claimToken = KeySchedule.claimToken(linkKey: key)
            let kdfText = try #require(
                (try JSONSerialization.jsonObject(with: peek.stdout) as? [String: Any])?["password_kdf"] as? String)
            let passwordKey = try KDFParameters(encoded: kdfText).deriveKey(password: KDFParameters.passwordBytes(password))
            let proof = KeySchedule.passwordProof(linkKey: key, passwordKey: passwordKey)
            let receiptParts = receipt.split(separator: ".")
            let receiptToken = String(try #require(receiptParts.dropFirst(3).first))
            let receiptBytes = try #require(Base64URL.decode(receiptToken))
            var forbidden: [String: String] = [
                "plaintext": plaintext, "password": password, "id": link.id, "key": link.key, "receipt": receipt,
                "receipt token": receiptToken, "creator token": issued.token,
                "claim token": claimToken.base64URL, "password proof": proof.base64URL,
                "claim verifier": Base64URL.encode(KeySchedule.verifier(of: claimToken)),
                "proof verifier": Base64URL.encode(KeySchedule.verifier(of: proof)),
                "receipt verifier": Base64URL.encode(BurnlinkCrypto.SHA256.hash(receiptBytes)),
                "creator token digest": BurnlinkCrypto.SHA256.hash(Array(issued.token.utf8)).map { String(format: "%02x", $0) }
                    .joined(),
            ]
            for (name, bytes) in [
                ("id", Array(ParsedLink.base64URLDecode(link.id))), ("key", Array(ParsedLink.base64URLDecode(link.key))),
            ] {
                forbidden[name + " (hex)"] = ParsedLink.hex(Data(bytes))
                forbidden[name + " (hex, lower case)"] = ParsedLink.hex(Data(bytes)).lowercased()
                forbidden[name + " (bytes)"] = "\(bytes)"
            }

            let metrics = try await httpGet(server.baseURL + "/metrics")
            #expect(metrics.contains("burnlink_"), "no metrics came back: \(metrics.prefix(300))")
            let log = server.logText
            // The log is really at trace level and really saw the cycle.
            #expect(log.contains("trace") || log.contains("debug"), "no trace or debug lines:\n\(log.suffix(2000))")
            #expect(log.contains("/api/v1/secrets/{id}/claim"), "the claim request was not logged:\n\(log.suffix(2000))")
            for (name, value) in forbidden.sorted(by: { $0.key < $1.key }) {
                #expect(!log.contains(value), "the server log contains the \(name)")
                #expect(!metrics.contains(value), "/metrics contains the \(name)")
            }
        }
    }

    @Test(
        "a hostile server's password parameters above the caps are refused before any work or claim",
        arguments: [
            "argon2id13; ops=1000; mem=65536; salt=AAAAAAAAAAAAAAAAAAAAAA",
            "argon2id13; ops=3; mem=4294967296; salt=AAAAAAAAAAAAAAAAAAAAAA",
        ])
    func hostileKDFParameters(kdf: String) async throws {
        let hostile = try await HostileServer.start(passwordKDF: kdf)
        defer { hostile.stop() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let passwordFile = directory.file("password")
        try Files.write("whatever\n", to: passwordFile)
        let id = Base64URL.encode(Array(repeating: UInt8(7), count: 16))
        let key = Base64URL.encode(Array(repeating: UInt8(9), count: 32))
        let link = "http://127.0.0.1:\(hostile.port)/s/\(id)#\(key)"
        let environment = TestServer.environment(server: "http://127.0.0.1:\(hostile.port)", home: directory.file("home"))

        let result = try await CLI.run(
            ["open", "--password-file", passwordFile], stdin: link + "\n",
            environment: environment, timeout: .seconds(60))
        expectFailure(result, exit: 1, mentioning: ["refusing the server's password parameters"])
        // Argon2id at those settings would take minutes or gigabytes; the refusal is immediate.
        #expect(result.elapsed < .seconds(10), "\(result)")
        let requests = hostile.requests
        #expect(requests.contains { $0.hasPrefix("GET /api/v1/secrets/\(id)") }, "the metadata was never asked for: \(requests)")
        #expect(!requests.contains { $0.hasPrefix("POST") }, "the client claimed after refusing: \(requests)")
    }

    @Test(
        "a hostile server's public_url that makes no valid link: send exits 6, prints no link, revokes the secret, and no escape sequence reaches the terminal"
    )
    func hostilePublicURL() async throws {
        let hostile = try await HostileServer.start(publicURL: "https://burn.example.com/\u{1B}]0;owned\u{07}")
        defer { hostile.stop() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = TestServer.environment(server: "http://127.0.0.1:\(hostile.port)", home: directory.file("home"))
        let sent = try await CLI.run(["send"], stdin: "for a link that cannot be", environment: environment)
        expectFailure(sent, exit: 6, mentioning: ["public URL", "revoked", "\\x1b]0;owned\\x07"])
        #expect(!sent.stderr.contains(0x1B) && !sent.stderr.contains(0x07), "\(sent)")
        #expect(hostile.requests.contains("DELETE /api/v1/secrets/" + String(repeating: "A", count: 22)), "\(hostile.requests)")
    }

    @Test("a hostile server's error message with terminal escape sequences is shown escaped")
    func hostileErrorMessage() async throws {
        let hostile = try await HostileServer.start(message: "\u{1B}[2J\u{1B}]52;c;cHduZWQ=\u{07}all good\u{202E}")
        defer { hostile.stop() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let id = Base64URL.encode(Array(repeating: UInt8(7), count: 16))
        let key = Base64URL.encode(Array(repeating: UInt8(9), count: 32))
        let environment = TestServer.environment(server: "http://127.0.0.1:\(hostile.port)", home: directory.file("home"))
        let opened = try await CLI.run(
            ["open", "--yes"], stdin: "http://127.0.0.1:\(hostile.port)/s/\(id)#\(key)\n",
            environment: environment)
        #expect(opened.status == 6, "\(opened)")
        #expect(opened.err.contains("\\x1b[2J\\x1b]52;c;cHduZWQ=\\x07all good\\u{202E}"), "\(opened)")
        #expect(!opened.stderr.contains(0x1B) && !opened.stderr.contains(0x07), "\(opened)")
        #expect(!opened.err.contains("\u{202E}"), "\(opened)")
    }

    @Test(
        "the CLI holding a secret has core dumps off and is not dumpable (ptrace and /proc owner)",
        .enabled(if: Binaries.onPath("setpriv") != nil, "setpriv (util-linux) is not installed"))
    func coreDumpsDisabled() async throws {
        try await withServer { server in
            // Run as an unprivileged user with core dumps allowed, so both effects can show:
            // the files in /proc/PID (environ, mem, ...) belong to root instead of the
            // process's user exactly when it made itself non-dumpable, which also bars
            // ptrace by that user.
            let wrapper = #"ulimit -S -c unlimited; exec setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@""#
            func start(_ command: [String]) throws -> ChildProcess {
                try ChildProcess("/bin/sh", ["-c", wrapper, "sh"] + command, environment: server.environment, input: .stream)
            }
            func observe(_ pid: Int32, executable: String) async throws -> (owner: UInt32, core: [String]) {
                for _ in 0..<250 {
                    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
                    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
                    if exe.hasSuffix(executable), status.contains("Uid:\t65534") {
                        // Past exec; the hardening is the CLI's first statement. Let it run.
                        try await Task.sleep(for: .milliseconds(300))
                        var info = stat()
                        guard stat("/proc/\(pid)/environ", &info) == 0 else { break }
                        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
                        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") } ?? ""
                        let values = line.dropFirst("Max core file size".count).split(separator: " ").map(String.init)
                        return (info.st_uid, Array(values.prefix(2)))
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
                throw CLITestFailure("process \(pid) never ran \(executable) as uid 65534")
            }

            // The control: the same wrapper around a program that does nothing about it.
            let sleepPath = try #require(Binaries.onPath("sleep"))
            let control = try start([sleepPath, "30"])
            let plain = try await observe(control.pid, executable: "sleep")
            control.signalIfRunning(SIGTERM)
            control.closeInput()
            #expect(plain.owner == 65534, "the control is not dumpable either: this check cannot tell")
            #expect(plain.core.first != "0", "the control already has core dumps off: this check cannot tell")

            // burnlink send, holding part of a secret it has not finished reading.
            let secret = "half of a secret, " + UUID().uuidString
            let send = try start([Binaries.cli.path, "send"])
            send.write(Data(secret.prefix(10).utf8))
            let hardened = try await observe(send.pid, executable: "burnlink")
            #expect(send.isRunning, "send ended before it could be observed")
            #expect(hardened.owner == 0, "/proc/PID/environ belongs to uid \(hardened.owner): the process is still dumpable")
            #expect(hardened.core == ["0", "0"], "core file size limits: \(hardened.core)")

            // And it was really mid-send: the rest arrives, and the link carries the whole secret.
            send.write(Data(secret.dropFirst(10).utf8))
            send.closeInput()
            #expect(await send.waitForExit(timeout: .seconds(10)) == 0)
            let output = await send.finish().stdout
            let opened = try await server.open(String(decoding: output, as: UTF8.self).trimmingCharacters(in: .newlines))
            #expect(opened.status == 0 && opened.out == secret, "\(opened)")
        }
    }
}

/// GET `url`, the body as text.
func httpGet(_ url: String) async throws -> String {
    let (data, _) = try await URLSession.shared.data(from: URL(string: url)!)
    return String(decoding: data, as: UTF8.self)
}

/// A third party posing as a burnlink server: it answers every metadata request with the
/// given password parameters, every create with the given `public_url`, every claim with
/// an error carrying the given message, and records the request lines it saw. Python's
/// http.server, so nothing of burnlink's own server is involved.
final class HostileServer: Sendable {
    let process: ChildProcess
    let port: Int

    static let script = """
        import http.server, json, sys
        config = json.loads(sys.argv[1])
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def do_GET(self):
                print("GET " + self.path, flush=True)
                self.reply(200, json.dumps({"size": 1000, "expires_at": "2030-01-01T00:00:00Z",
                                            "views_left": 1, "password_kdf": config["kdf"]}).encode())
            def do_POST(self):
                print("POST " + self.path, flush=True)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/api/v1/secrets":
                    self.reply(201, json.dumps({"id": "A" * 22, "expires_at": "2030-01-01T00:00:00Z", "max_views": 1,
                                                "public_url": config["public_url"]}).encode())
                else:
                    self.reply(400, json.dumps({"error": "bad_request", "message": config["message"]}).encode())
            def do_DELETE(self):
                print("DELETE " + self.path, flush=True)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *args):
                pass
        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        print("PORT %d" % server.server_address[1], flush=True)
        server.serve_forever()
        """

    private init(process: ChildProcess, port: Int) {
        self.process = process
        self.port = port
    }

    static func start(passwordKDF: String? = nil, publicURL: String? = nil, message: String = "no") async throws -> HostileServer
    {
        guard let python = Binaries.onPath("python3") else { throw CLITestFailure("python3 is not installed") }
        let config: [String: String?] = ["kdf": passwordKDF, "public_url": publicURL, "message": message]
        let process = try ChildProcess(
            python, ["-c", script, String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)])
        for _ in 0..<500 {
            let output = process.outputSoFar
            if let range = output.range(of: "PORT "), let port = Int(output[range.upperBound...].prefix { $0.isNumber }) {
                return HostileServer(process: process, port: port)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.signalIfRunning(SIGTERM)
        throw CLITestFailure("the hostile server did not start")
    }

    /// The request lines seen so far ("GET /path", "POST /path", "DELETE /path").
    var requests: [String] {
        process.outputSoFar.split(separator: "\n").filter {
            $0.hasPrefix("GET ") || $0.hasPrefix("POST ") || $0.hasPrefix("DELETE ")
        }
        .map(String.init)
    }

    func stop() {
        process.signalIfRunning(SIGTERM)
    }
}
