import BurnlinkTestSupport
import Foundation
import Testing

/// Requests end to end, with the real server and the real CLI: `request`, `send --to`,
/// `open REQUEST_LINK`, `request --wait`, `request --list`.
@Suite("requests: ask for a secret")
struct RequestTests {
    /// The request link printed on stdout by `burnlink request`.
    func request(_ server: TestServer, _ arguments: [String] = [], environment: [String: String]? = nil) async throws
        -> String
    {
        let made = try await CLI.run(["request"] + arguments, environment: environment ?? server.environment)
        #expect(made.status == 0, "\(made)")
        let link = made.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(link.wholeMatch(of: #/^http://127\.0\.0\.1:\d+/r/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$/#) != nil, "\(made)")
        return link
    }

    /// The saved request files of a HOME.
    func savedRequests(_ home: String) -> [String] {
        Files.listing(home + "/.local/state/burnlink/requests")
    }

    @Test("request, send --to, open: the answer arrives byte for byte; the key file is 0600 and goes once opened")
    func roundTrip() async throws {
        try await withServer { server in
            let link = try await request(server, ["--note", "prod DB password for the migration"])
            let home = server.directory.file("home")
            let saved = savedRequests(home)
            #expect(saved.count == 1)
            #expect(Files.mode(home + "/.local/state/burnlink/requests/" + saved[0]) == 0o600)
            #expect(Files.mode(home + "/.local/state/burnlink/requests") == 0o700)

            // The filler: another machine (another HOME), a binary file.
            let filler = TestServer.environment(server: server.baseURL, home: server.directory.file("filler"))
            let secret = randomData(count: 200_000)
            let file = server.directory.file("db.env")
            try secret.write(to: URL(fileURLWithPath: file))
            let receiptFile = server.directory.file("filler-receipt")
            let filled = try await CLI.run(["send", "--to", link, file, "--receipt-file", receiptFile], environment: filler)
            #expect(filled.status == 0, "\(filled)")
            let waiting = try await CLI.run(["status", "--receipt-file", receiptFile], environment: filler)
            #expect(waiting.status == 0 && waiting.out.contains("state:      waiting"), "\(waiting)")
            #expect(filled.out.isEmpty, "no link is printed for an answer: \(filled)")
            #expect(filled.err.contains("prod DB password for the migration"), "the filler sees the note: \(filled)")

            // The filler's machine cannot open it, even with the link.
            let stranger = try await CLI.run(["open"], stdin: link + "\n", environment: filler)
            #expect(stranger.status == 2, "\(stranger)")
            #expect(stranger.err.contains("not made on this machine"), "\(stranger)")

            let output = server.directory.file("received")
            let opened = try await CLI.run(["open", "-o", output], stdin: link + "\n", environment: server.environment)
            #expect(opened.status == 0, "\(opened)")
            #expect(Files.contents(output) == secret)
            #expect(savedRequests(home).isEmpty, "the key is forgotten once the answer is opened")
            // The filler's receipt says the requester has it.
            let delivered = try await CLI.run(["status", "--receipt-file", receiptFile], environment: filler)
            #expect(delivered.status == 0 && delivered.out.contains("delivered"), "\(delivered)")
            // Opened once: there is nothing left to open.
            let again = try await CLI.run(["open"], stdin: link + "\n", environment: server.environment)
            #expect(again.status == 2, "\(again)")
        }
    }

    @Test("a request takes one answer: a second send --to exits 3 and sends nothing; ten at once, one wins")
    func oneAnswer() async throws {
        try await withServer { server in
            let link = try await request(server)
            let first = try await CLI.run(["send", "--to", link], stdin: "first", environment: server.environment)
            #expect(first.status == 0, "\(first)")
            let second = try await CLI.run(["send", "--to", link], stdin: "second", environment: server.environment)
            #expect(second.status == 3, "\(second)")
            #expect(second.errorLines.first?.contains("already answered") == true, "\(second)")
            let opened = try await CLI.run(["open"], stdin: link + "\n", environment: server.environment)
            #expect(opened.status == 0 && opened.out == "first", "\(opened)")

            // Racing fillers, all started before any commits: exactly one answers.
            let raced = try await request(server)
            let fillers = try (0..<10).map { index in
                try CLI.start(["send", "--to", raced], stdin: Data("filler \(index)".utf8), environment: server.environment)
            }
            var results: [CLIResult] = []
            for filler in fillers { results.append(await filler.finish()) }
            #expect(results.filter { $0.status == 0 }.count == 1, "\(results)")
            #expect(results.filter { $0.status == 3 }.count == 9, "\(results)")
            let winner = try #require(results.firstIndex { $0.status == 0 })
            let answer = try await CLI.run(["open"], stdin: raced + "\n", environment: server.environment)
            #expect(answer.out == "filler \(winner)", "\(answer)")
        }
    }

    @Test("request --wait prints the link on stderr and the answer on stdout when it comes, with a password")
    func waitForTheAnswer() async throws {
        try await withServer { server in
            let passwordFile = server.directory.file("password")
            try Files.write("open sesame\n", to: passwordFile)
            let waiting = try CLI.start(
                ["request", "--wait", "--note", "CI token", "--password-file", passwordFile],
                environment: server.environment, timeout: .seconds(60))
            // The link appears on stderr while it waits.
            var link: String?
            for _ in 0..<100 where link == nil {
                try await Task.sleep(for: .milliseconds(100))
                link = waiting.errorsSoFar.split(separator: "\n").first { $0.contains("/r/") }.map(String.init)
            }
            let requestLink = try #require(link, "no request link on stderr: \(waiting.errorsSoFar)")
            #expect(waiting.isRunning)
            let filled = try await CLI.run(
                ["send", "--to", requestLink, "--password-file", passwordFile], stdin: "tok-123",
                environment: server.environment)
            #expect(filled.status == 0, "\(filled)")
            let result = await waiting.finish()
            #expect(result.status == 0, "\(result)")
            #expect(result.out == "tok-123", "\(result)")
            #expect(savedRequests(server.directory.file("home")).isEmpty, "--wait keeps the key in memory only")
        }
    }

    @Test("open of an unanswered request waits; --timeout gives up with exit 7 and keeps the request")
    func openTimesOut() async throws {
        try await withServer { server in
            let link = try await request(server)
            let started = ContinuousClock.now
            let waited = try await CLI.run(["open", "--timeout", "2"], stdin: link + "\n", environment: server.environment)
            #expect(waited.status == 7, "\(waited)")
            #expect(ContinuousClock.now - started >= .seconds(2))
            #expect(savedRequests(server.directory.file("home")).count == 1)

            // It is still open: an answer that comes later is opened by a later open.
            let late = try CLI.start(["open"], stdin: Data((link + "\n").utf8), environment: server.environment)
            try await Task.sleep(for: .milliseconds(500))
            #expect(late.isRunning, "open returned before the answer came")
            let filled = try await CLI.run(["send", "--to", link], stdin: "late answer", environment: server.environment)
            #expect(filled.status == 0, "\(filled)")
            let result = await late.finish()
            #expect(result.status == 0 && result.out == "late answer", "\(result)")
        }
    }

    @Test("two opens of one request link at once: the second is refused (exit 1) and the first keeps the key it needs")
    func oneOpenAtATime() async throws {
        try await withServer { server in
            let link = try await request(server)
            let first = try CLI.start(["open"], stdin: Data((link + "\n").utf8), environment: server.environment)
            try await Task.sleep(for: .milliseconds(700))
            #expect(first.isRunning, "the first open waits for the answer")
            let second = try await CLI.run(["open"], stdin: link + "\n", environment: server.environment)
            #expect(second.status == 1, "\(second)")
            #expect(second.err.contains("another burnlink is opening the answer"), "\(second)")
            #expect(savedRequests(server.directory.file("home")).count == 1)
            let filled = try await CLI.run(["send", "--to", link], stdin: "only once", environment: server.environment)
            #expect(filled.status == 0, "\(filled)")
            let result = await first.finish()
            #expect(result.status == 0 && result.out == "only once", "\(result)")
            #expect(savedRequests(server.directory.file("home")).isEmpty)
        }
    }

    @Test("request --list shows open, answered and gone requests; --json for scripts")
    func list() async throws {
        try await withServer { server in
            _ = try await request(server, ["--note", "still waiting"])
            let answered = try await request(server, ["--note", "already here"])
            let filled = try await CLI.run(["send", "--to", answered], stdin: "x", environment: server.environment)
            #expect(filled.status == 0, "\(filled)")
            let listed = try await CLI.run(["request", "--list"], environment: server.environment)
            #expect(listed.status == 0, "\(listed)")
            let lines = listed.out.split(separator: "\n")
            #expect(lines.count == 2, "\(listed)")
            #expect(lines.contains { $0.contains("open") && $0.contains("still waiting") }, "\(listed)")
            #expect(lines.contains { $0.contains("answered") && $0.contains("already here") }, "\(listed)")

            let json = try await CLI.run(["request", "--list", "--json"], environment: server.environment)
            let entries = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [[String: Any]], "\(json)")
            #expect(Set(entries.compactMap { $0["state"] as? String }) == ["open", "answered"])

            // A request the server no longer has is shown gone. Its key stays until its own
            // expiry has passed (the server may have lost it only for a while); forgetting
            // then is checked in Tests/python/test_request_servers.py.
            _ = try await SQLite.query(server.databasePath, "DELETE FROM request")
            let gone = try await CLI.run(["request", "--list"], environment: server.environment)
            #expect(gone.out.split(separator: "\n").filter { $0.contains("gone") }.count == 2, "\(gone)")
            #expect(savedRequests(server.directory.file("home")).count == 2)
        }
    }

    @Test("request --json and send --to --json: the request's link, id, expiry and note; the answer's id and receipt, no link")
    func json() async throws {
        try await withServer { server in
            let made = try await CLI.run(["request", "--json", "--note", "for scripts"], environment: server.environment)
            #expect(made.status == 0, "\(made)")
            let request = try #require(try JSONSerialization.jsonObject(with: made.stdout) as? [String: Any], "\(made)")
            #expect(Set(request.keys) == ["link", "id", "expires_at", "note"], "\(request)")
            #expect(request["note"] as? String == "for scripts")
            let link = try #require(request["link"] as? String)
            #expect(link.contains("/r/\(try #require(request["id"] as? String))#"))

            let sent = try await CLI.run(["send", "--json", "--to", link], stdin: "x", environment: server.environment)
            #expect(sent.status == 0, "\(sent)")
            let entries = try #require(try JSONSerialization.jsonObject(with: sent.stdout) as? [[String: Any]], "\(sent)")
            #expect(entries.count == 1)
            #expect(Set(entries[0].keys) == ["receipt", "id", "expires_at", "max_views"], "\(entries)")
        }
    }

    @Test("a state directory that is a symbolic link, or open to others, is refused before a key goes into it")
    func stateDirectoryIsChecked() async throws {
        try await withServer { server in
            let state = server.directory.file("home") + "/.local/state/burnlink"
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            let elsewhere = server.directory.file("elsewhere")
            try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: state + "/requests", withDestinationPath: elsewhere)
            let linked = try await CLI.run(["request"], environment: server.environment)
            #expect(linked.status == 1, "\(linked)")
            #expect(linked.err.contains("not a directory"), "\(linked)")
            #expect(Files.listing(elsewhere).isEmpty, "no key was written through the link")

            try FileManager.default.removeItem(atPath: state + "/requests")
            try FileManager.default.createDirectory(
                atPath: state + "/requests", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
            let open = try await CLI.run(["request"], environment: server.environment)
            #expect(open.status == 1, "\(open)")
            #expect(open.err.contains("open to other users"), "\(open)")
            #expect(Files.listing(state + "/requests").isEmpty)
        }
    }

    @Test("the wrong kind of link is refused with a hint; a note with a line break is refused before anything is made")
    func refusals() async throws {
        try await withServer { server in
            let secretLink = try await server.send("not a request")
            let wrongKind = try await CLI.run(["send", "--to", secretLink], stdin: "x", environment: server.environment)
            #expect(wrongKind.status == 2, "\(wrongKind)")
            #expect(wrongKind.err.contains("that is a secret link"), "\(wrongKind)")
            // The secret link still works: nothing was used.
            let opened = try await server.open(secretLink)
            #expect(opened.status == 0 && opened.out == "not a request", "\(opened)")

            let note = try await CLI.run(["request", "--note", "line one\nline two"], environment: server.environment)
            #expect(note.status == 2, "\(note)")
            #expect(savedRequests(server.directory.file("home")).isEmpty)

            let bogus = try await CLI.run(
                [
                    "send", "--to",
                    "http://127.0.0.1:\(server.port)/r/AAAAAAAAAAAAAAAAAAAAAA#\(String(repeating: "A", count: 43))",
                ],
                stdin: "x", environment: server.environment)
            #expect(bogus.status == 3, "\(bogus)")
            #expect(bogus.err.contains("this request is gone"), "\(bogus)")
        }
    }
}
