import BurnlinkTestSupport
import Foundation
import Testing

/// Every way things go wrong, each with its documented exit code and a message a person can act on.
@Suite("failures and exit codes")
struct FailureTests {
    @Test(
        "a malformed link exits 2 without touching the network",
        arguments: [
            "not a link",
            "ftp://127.0.0.1:1/s/AAAAAAAAAAAAAAAAAAAAAA#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "http://127.0.0.1:1/s/AAAAAAAAAAAAAAAAAAAAAA",  // no key
            "http://127.0.0.1:1/s/short#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "http://127.0.0.1:1/s/AAAAAAAAAAAAAAAAAAAAAA#tooshort",
        ])
    func malformedLink(link: String) async throws {
        let home = try TemporaryDirectory()
        defer { home.remove() }
        let environment = TestServer.environment(server: "http://127.0.0.1:1", home: home.path)
        let fromStdin = try await CLI.run(["open"], stdin: link + "\n", environment: environment)
        expectFailure(fromStdin, exit: 2, mentioning: ["link"])
        let asArgument = try await CLI.run(["peek", link], environment: environment)
        expectFailure(asArgument, exit: 2)
    }

    @Test(
        "a config file that exists but cannot be read (a directory, not UTF-8, a FIFO) exits 2 and says so; none at all is fine",
        arguments: ["directory", "not UTF-8", "FIFO"])
    func unreadableConfigFile(kind: String) async throws {
        let home = try TemporaryDirectory()
        defer { home.remove() }
        let environment = TestServer.environment(server: "http://127.0.0.1:1", home: home.path)
        let configFile = home.path + "/.config/burnlink/config"
        try FileManager.default.createDirectory(
            atPath: kind == "directory" ? configFile : home.path + "/.config/burnlink", withIntermediateDirectories: true)
        if kind == "not UTF-8" {
            try Data("server = ".utf8 + [0xFF, 0x0A]).write(to: URL(fileURLWithPath: configFile))
        } else if kind == "FIFO" {
            // Nobody writes to it: reading it would wait forever.
            #expect(mkfifo(configFile, 0o600) == 0)
        }
        let link = "http://127.0.0.1:1/s/AAAAAAAAAAAAAAAAAAAAAA#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        let reason = ["directory": "not a regular file", "not UTF-8": "not UTF-8 text", "FIFO": "not a regular file"][kind]!
        let opened = try await CLI.run(["open"], stdin: link + "\n", environment: environment)
        expectFailure(opened, exit: 2, mentioning: ["cannot read the config file \(configFile): \(reason)"])
        let sent = try await CLI.run(["send"], stdin: "never sent", environment: environment)
        expectFailure(sent, exit: 2, mentioning: ["cannot read the config file \(configFile): \(reason)"])
        // Without the file, the same open goes on to the (dead) server.
        try FileManager.default.removeItem(atPath: configFile)
        let withoutConfig = try await CLI.run(["open"], stdin: link + "\n", environment: environment)
        expectFailure(withoutConfig, exit: 6, mentioning: ["cannot reach http://127.0.0.1:1"])
    }

    @Test("no link at all on stdin exits 2")
    func noLink() async throws {
        let home = try TemporaryDirectory()
        defer { home.remove() }
        let environment = TestServer.environment(server: "http://127.0.0.1:1", home: home.path)
        expectFailure(try await CLI.run(["open"], stdin: "", environment: environment), exit: 2, mentioning: ["no link"])
    }

    @Test(
        "send whose link cannot be written (stdout on a full device, a closed pipe) exits 1 and revokes the secret",
        arguments: ["/dev/full", "closed pipe"])
    func linkNotWritten(output: String) async throws {
        try await withServer { server in
            let receiptFile = server.directory.file("receipt")
            let send = "printf %s 'nobody will get this link' | \"$0\" send --receipt-file \"$1\""
            // For the pipe, the reader closes its end and says so before burnlink starts, so
            // the write meets no reader for certain (EPIPE), not by timing.
            let script =
                output == "/dev/full"
                ? "\(send) > /dev/full; echo \"exit=$?\" >&2"
                : "{ while [ ! -e \"$1.closed\" ]; do sleep 0.05; done; \(send); echo \"exit=$?\" >&2; } | { exec <&-; touch \"$1.closed\"; }"
            let sent = try await CLI.tool(
                "/bin/sh", ["-c", script, Binaries.cli.path, receiptFile], environment: server.environment)
            #expect(sent.err.contains("exit=1"), "\(sent)")
            #expect(sent.err.contains("cannot write to standard output") && sent.err.contains("revoked"), "\(sent)")
            let status = try await CLI.run(["status", "--receipt-file", receiptFile], environment: server.environment)
            #expect(status.status == 3 && status.out.contains("state:      revoked"), "\(status)")
        }
    }

    @Test(
        "send whose --receipt-file cannot be written exits 1, prints no link and revokes the secret",
        .enabled(if: SQLite.path != nil, "sqlite3 is not installed"))
    func receiptNotWritten() async throws {
        try await withServer { server in
            let sent = try await CLI.run(
                ["send", "--receipt-file", "/dev/full"], stdin: "a receipt nobody keeps",
                environment: server.environment)
            expectFailure(sent, exit: 1, mentioning: ["cannot write /dev/full", "revoked"])
            #expect(sent.out.isEmpty, "\(sent)")
            #expect(try await SQLite.query(server.databasePath, "SELECT state FROM secret") == "revoked")
        }
    }

    @Test("a tampered key (one base64url character changed) exits 3; the real link still works")
    func tamperedKey() async throws {
        try await withServer { server in
            let link = try await server.send("the real thing")
            let parsed = try ParsedLink(link)
            // The first character carries six full bits, so any other letter is still valid base64url.
            var key = Array(parsed.key)
            key[0] = key[0] == "A" ? "B" : "A"
            let tampered = "\(parsed.server)/s/\(parsed.id)#\(String(key))"
            #expect(tampered != link)

            let downloads = server.directory.file("tampered-key-downloads")
            try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
            let refused = try await server.open(tampered, ["--output", downloads + "/out.txt"])
            expectFailure(refused, exit: 3)
            #expect(refused.err.hasPrefix(goneMessage))
            // Nothing was opened, so nothing may be left in the output directory, not even a .part file.
            #expect(Files.listing(downloads).isEmpty, "left behind: \(Files.listing(downloads))")
            let opened = try await server.open(link)
            #expect(opened.status == 0 && opened.out == "the real thing", "\(opened)")
        }
    }

    @Test(
        "a tampered ciphertext on the server exits 5 and leaves no file and no .part behind",
        .enabled(if: SQLite.path != nil, "needs the sqlite3 command-line tool"))
    func tamperedCiphertext() async throws {
        try await withServer { server in
            let source = server.directory.file("document.bin")
            try randomData(count: 150_000).write(to: URL(fileURLWithPath: source))
            let link = try await server.send(Data(), [source])[0]
            let id = try ParsedLink(link).idHex

            // Flip the last stored byte (the final chunk's tag) in place, while the server runs.
            let changed = try await SQLite.query(
                server.databasePath,
                """
                UPDATE secret_chunk
                   SET data = CAST(substr(data, 1, length(data) - 1)
                                   || CASE WHEN substr(data, -1) = X'00' THEN X'01' ELSE X'00' END AS BLOB)
                 WHERE key = (SELECT max(c.key) FROM secret_chunk c JOIN secret s ON c.key >> 24 = s.seq
                               WHERE s.id = X'\(id)');
                SELECT changes();
                """)
            try #require(changed == "1", "no chunk was changed (\(changed))")

            let downloads = server.directory.file("downloads")
            try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
            let output = downloads + "/document.bin"
            let opened = try await server.open(link, ["--output", output])
            expectFailure(opened, exit: 5, mentioning: ["altered"])
            #expect(!Files.exists(output))
            #expect(Files.listing(downloads).isEmpty, "left behind: \(Files.listing(downloads))")
        }
    }

    @Test("a secret over the server's limit is refused: from a file before uploading, from a pipe by the server's 413")
    func overTheLimit() async throws {
        try await withServer(["--max-size", "100KiB"]) { server in
            let source = server.directory.file("large.bin")
            try randomData(count: 300_000).write(to: URL(fileURLWithPath: source))
            let fromFile = try await CLI.run(["send", source], environment: server.environment)
            expectFailure(fromFile, exit: 6, mentioning: ["413", "limit"])
            let fromPipe = try await CLI.run(
                ["send"], stdin: try Data(contentsOf: URL(fileURLWithPath: source)),
                environment: server.environment)
            expectFailure(fromPipe, exit: 6, mentioning: ["413", "limit"])
            // Under the limit still works.
            _ = try await server.send("small enough")
        }
    }

    @Test("a dead server: send and open both exit 6 with a clear message")
    func deadServer() async throws {
        let home = try TemporaryDirectory()
        defer { home.remove() }
        let port = try closedLoopbackPort()
        let server = "http://127.0.0.1:\(port)"
        let environment = TestServer.environment(server: server, home: home.path)

        // Refused at once: no retrying until a connect timeout (the runs are killed after 15 s).
        let sent = try await CLI.run(["send"], stdin: "nobody home", environment: environment, timeout: .seconds(15))
        expectFailure(sent, exit: 6, mentioning: ["cannot reach \(server)", "is the server running"])

        let link = "\(server)/s/AAAAAAAAAAAAAAAAAAAAAA#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        let started = ContinuousClock.now
        let opened = try await CLI.run(["open"], stdin: link + "\n", environment: environment, timeout: .seconds(15))
        expectFailure(opened, exit: 6, mentioning: ["cannot reach \(server)"])
        // A refused claim never reached the server: nothing "held", and no retrying of a
        // session that does not exist. Nor on a second run, which finds the record the first
        // one kept. The retries' pauses alone add up to 6.2 s (SecretOpener.fruitlessResumes),
        // so a run under 6 s made none, however slow the machine is under the suite's load.
        #expect(!opened.err.contains("held"), "\(opened)")
        #expect(ContinuousClock.now - started < .seconds(6), "\(opened)")
        // Its session record stays, in case an open connection broke that way after all.
        #expect(Files.listing(home.path + "/.local/state/burnlink/sessions").count == 1)
        let startedAgain = ContinuousClock.now
        let again = try await CLI.run(["open"], stdin: link + "\n", environment: environment, timeout: .seconds(15))
        expectFailure(again, exit: 6, mentioning: ["cannot reach \(server)"])
        #expect(!again.err.contains("held"), "\(again)")
        #expect(ContinuousClock.now - startedAgain < .seconds(6), "\(again)")
        let peeked = try await CLI.run(["peek", link], environment: environment, timeout: .seconds(15))
        expectFailure(peeked, exit: 6)
    }

    @Test("plain http:// to a host that is not loopback is refused (exit 2) without --insecure")
    func insecureRefused() async throws {
        let home = try TemporaryDirectory()
        defer { home.remove() }
        let environment = TestServer.environment(server: "http://burn.example.com", home: home.path)
        let sent = try await CLI.run(["send"], stdin: "secret", environment: environment)
        expectFailure(sent, exit: 2, mentioning: ["refusing plain http://", "--insecure"])

        let flag = try await CLI.run(["send", "--server", "http://192.0.2.1:8080"], stdin: "secret", environment: environment)
        expectFailure(flag, exit: 2, mentioning: ["refusing plain http://"])

        let link = "http://burn.example.com/s/AAAAAAAAAAAAAAAAAAAAAA#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        let opened = try await CLI.run(["open"], stdin: link + "\n", environment: environment)
        expectFailure(opened, exit: 2, mentioning: ["refusing plain http://", "--insecure"])
    }

    @Test("--version and help exit 0; an unknown option exits 2")
    func versionHelpAndUsage() async throws {
        let home = try TemporaryDirectory()
        defer { home.remove() }
        let environment = TestServer.environment(server: "http://127.0.0.1:1", home: home.path)

        let version = try await CLI.run(["--version"], environment: environment)
        #expect(version.status == 0, "\(version)")
        #expect(version.out.wholeMatch(of: #/\d+\.\d+\.\d+\n/#) != nil, "\(version)")

        let help = try await CLI.run(["help"], environment: environment)
        #expect(help.status == 0, "\(help)")
        #expect(help.out.contains("USAGE"), "\(help)")
        // The exit codes are documented in --help.
        for code in [
            "0  success", "1  other failure", "2  usage", "3  gone", "4  wrong password",
            "5  integrity", "6  network", "7  status --wait", "8  status",
        ] {
            #expect(help.out.contains(code), "help lacks '\(code)'")
        }
        let subcommandHelp = try await CLI.run(["help", "open"], environment: environment)
        #expect(subcommandHelp.status == 0 && subcommandHelp.out.contains("--output"), "\(subcommandHelp)")

        let unknown = try await CLI.run(["send", "--no-such-option"], environment: environment)
        expectFailure(unknown, exit: 2, mentioning: ["--no-such-option"])
        let unknownCommand = try await CLI.run(["frobnicate"], environment: environment)
        expectFailure(unknownCommand, exit: 2)
        let badValue = try await CLI.run(["send", "--views", "0"], stdin: "x", environment: environment)
        expectFailure(badValue, exit: 2, mentioning: ["--views"])
        let badDuration = try await CLI.run(["send", "--expires", "soon"], stdin: "x", environment: environment)
        expectFailure(badDuration, exit: 2, mentioning: ["invalid duration"])
    }

    @Test("help and completion scripts read the same whichever way they are asked for (the parse shortcut stays out of them)")
    func helpAndCompletionsUnchanged() async throws {
        let home = try TemporaryDirectory()
        defer { home.remove() }
        let environment = TestServer.environment(server: "http://127.0.0.1:1", home: home.path)
        for arguments in [
            ["send", "--help"], ["send", "-h"], ["help", "send"], ["send", "--views", "2", "--help"], ["send", "-help"],
            ["send", "-qh"], ["send", "--help-hidden"],
        ] {
            let help = try await CLI.run(arguments, environment: environment)
            #expect(help.status == 0, "\(arguments): \(help)")
            #expect(help.out.contains("USAGE: burnlink send "), "\(arguments): \(help)")
            #expect(!help.out.contains("burnlink burnlink"), "\(arguments): \(help)")
        }
        // --version after a subcommand is the root's flag, as ArgumentParser reads it.
        for arguments in [["--version"], ["send", "--version"], ["open", "-q", "--version"]] {
            let version = try await CLI.run(arguments, environment: environment)
            #expect(version.status == 0, "\(arguments): \(version)")
            #expect(version.out.wholeMatch(of: #/\d+\.\d+\.\d+\n/#) != nil, "\(arguments): \(version)")
        }
        for arguments in [["--generate-completion-script", "bash"], ["open", "--generate-completion-script=bash"]] {
            let script = try await CLI.run(arguments, environment: environment)
            #expect(script.status == 0, "\(arguments): \(script)")
            #expect(script.out.hasPrefix("#!/bin/bash"), "\(arguments): \(script.out.prefix(200))")
            #expect(script.out.contains("_burnlink"), "\(arguments)")
        }
    }

    @Test("32 concurrent opens of one link: exactly one prints the secret (exit 0), the others exit 3")
    func concurrentOpens() async throws {
        try await withServer { server in
            let secret = "only one of you gets this"
            let link = try await server.send(secret)
            // Start all 32 first, then collect: they race for the one view.
            let running = try (0..<32).map { _ in
                try CLI.start(["open"], stdin: Data((link + "\n").utf8), environment: server.environment, timeout: .seconds(60))
            }
            var results: [CLIResult] = []
            for process in running { results.append(await process.finish()) }

            let winners = results.filter { $0.status == 0 }
            let losers = results.filter { $0.status == 3 }
            #expect(winners.count == 1, "\(results.map(\.status))")
            #expect(losers.count == 31, "\(results.filter { $0.status != 0 && $0.status != 3 })")
            #expect(winners.first?.out == secret)
            for loser in losers {
                #expect(loser.stdout.isEmpty)
                #expect(loser.err.hasPrefix(goneMessage), "\(loser)")
            }
        }
    }
}
