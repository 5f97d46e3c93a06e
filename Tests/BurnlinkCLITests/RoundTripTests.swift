import BurnlinkTestSupport
import Foundation
import Testing

/// Send and open through pipes, as scripts use the tool: the real server, the real binary.
@Suite("send and open")
struct RoundTripTests {
    @Test("text round trip through pipes: the link alone on stdout, the exact bytes back, exit 0")
    func textRoundTrip() async throws {
        try await withServer { server in
            let secret = Data("hunter2 ünïcødé 🔑\n\tsecond line without a newline at the end".utf8)
            let sent = try await CLI.run(["send"], stdin: secret, environment: server.environment)
            #expect(sent.status == 0, "\(sent)")
            // stdout is exactly one line, the link; nothing on stderr when piped.
            let lines = sent.out.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 2 && lines[1].isEmpty, "\(sent)")
            let link = String(lines[0])
            #expect(link.wholeMatch(of: linkPattern) != nil, "not a link: \(link)")
            #expect(link.hasPrefix(server.baseURL + "/s/"))
            #expect(sent.stderr.isEmpty, "\(sent)")

            let opened = try await server.open(link)
            #expect(opened.status == 0, "\(opened)")
            #expect(opened.stdout == secret, "\(opened)")
            #expect(opened.stderr.isEmpty, "\(opened)")
        }
    }

    @Test("the link as an argument, as '-' (stdin) and from stdin without an argument")
    func linkSources() async throws {
        try await withServer { server in
            let links = try await server.send(Data("abc".utf8), ["--recipients", "3"])
            let byArgument = try await CLI.run(["open", links[0]], environment: server.environment)
            #expect(byArgument.status == 0 && byArgument.out == "abc", "\(byArgument)")
            let byDash = try await CLI.run(["open", "-"], stdin: links[1] + "\n", environment: server.environment)
            #expect(byDash.status == 0 && byDash.out == "abc", "\(byDash)")
            // No argument at all, and no trailing newline after the link.
            let byStdin = try await CLI.run(["open"], stdin: links[2], environment: server.environment)
            #expect(byStdin.status == 0 && byStdin.out == "abc", "\(byStdin)")
        }
    }

    @Test("tens of MiB of random bytes as a file: byte-identical through --output, mode 0600, nothing on stdout")
    func binaryFileRoundTrip() async throws {
        try await withServer { server in
            // Past the output's writeback window (16 MiB steps, 64 MiB in flight): steps
            // written out, waited for and dropped from the cache. And not a whole chunk.
            let (content, links) = try await server.sendRandomFile(count: 88 << 20 + 12_345)
            #expect(links.count == 1)

            let output = server.directory.file("received.bin")
            let opened = try await server.open(links[0], ["--output", output])
            #expect(opened.status == 0, "\(opened)")
            #expect(opened.stdout.isEmpty, "\(opened)")
            #expect(Files.contents(output) == content)
            #expect(Files.mode(output) == 0o600)
            // No temporary file left beside it.
            #expect(Files.listing(server.directory.path).filter { $0.hasSuffix(".part") }.isEmpty)
        }
    }

    @Test("tens of MiB to standard output redirected to a file, '>' and '>>' (after what the file held): byte-identical")
    func largeOutputToRedirectedStandardOutput() async throws {
        try await withServer { server in
            // Past the writeback window, which follows the file's offset (its end for '>>').
            let (content, links) = try await server.sendRandomFile(count: 80 << 20 + 777, ["--recipients", "2"])
            let truncated = server.directory.file("truncated.bin")
            let appended = server.directory.file("appended.bin")
            let before = Data("kept before the secret\n".utf8)
            try before.write(to: URL(fileURLWithPath: appended))
            let script = "printf %s \"$2\" | \"$0\" open --yes > \"$1\" && printf %s \"$4\" | \"$0\" open --yes >> \"$3\""
            let opened = try await CLI.tool(
                "/bin/sh", ["-c", script, Binaries.cli.path, truncated, links[0], appended, links[1]],
                environment: server.environment, timeout: .seconds(60))
            #expect(opened.status == 0, "\(opened)")
            #expect(Files.contents(truncated) == content)
            #expect(Files.contents(appended) == before + content)
        }
    }

    @Test("--output to an existing file is refused (exit 2) before anything is consumed; --force replaces it")
    func outputExistingFile() async throws {
        try await withServer { server in
            let content = randomData(count: 200_000)
            let source = server.directory.file("payload.bin")
            try content.write(to: URL(fileURLWithPath: source))
            let link = try await server.send(Data(), [source])[0]

            let existing = server.directory.file("existing.bin")
            try Files.write("keep me", to: existing)
            chmod(existing, 0o644)
            let refused = try await server.open(link, ["--output", existing])
            expectFailure(refused, exit: 2, mentioning: ["already exists", "--force"])
            #expect(Files.contents(existing) == Data("keep me".utf8))

            // The refusal consumed nothing: the same link opens now.
            let forced = try await server.open(link, ["--output", existing, "--force"])
            #expect(forced.status == 0, "\(forced)")
            #expect(Files.contents(existing) == content)
            #expect(Files.mode(existing) == 0o600)
            #expect(Files.listing(server.directory.path).filter { $0.hasSuffix(".part") }.isEmpty)
        }
    }

    @Test("refused file names exit 2 and upload nothing", arguments: ["", "a/b", "..", "back\\slash", "new\nline"])
    func refusedFileName(name: String) async throws {
        try await withServer { server in
            let source = try server.writeFile("secret.txt", "content")
            let fromFile = try await CLI.run(["send", source, "--name", name], environment: server.environment)
            expectFailure(fromFile, exit: 2, mentioning: ["invalid file name"])
            let fromStdin = try await CLI.run(["send", "--name", name], stdin: "content", environment: server.environment)
            expectFailure(fromStdin, exit: 2, mentioning: ["invalid file name"], hint: false)
            if SQLite.path != nil {
                #expect(try await SQLite.query(server.databasePath, "SELECT count(*) FROM secret") == "0")
            }
        }
    }

    @Test("--name on stdin makes a file secret; open --output . saves it under that (sanitised) name")
    func namedStdinAndOutputDot() async throws {
        try await withServer { server in
            let link = try await server.send("id_ed25519 contents\n", ["--name", ".id_ed25519"])
            let downloads = server.directory.file("downloads")
            try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
            let opened = try await server.open(link, ["--output", "."], directory: URL(fileURLWithPath: downloads))
            #expect(opened.status == 0, "\(opened)")
            #expect(Files.listing(downloads) == ["id_ed25519"], "\(opened)")
            #expect(Files.contents(downloads + "/id_ed25519") == Data("id_ed25519 contents\n".utf8))
            #expect(Files.mode(downloads + "/id_ed25519") == 0o600)

            // The same names again are numbered, before the extension when there is one.
            for (name, content) in [(".id_ed25519", "second key"), ("notes.tar.gz", "first"), ("notes.tar.gz", "second")] {
                let again = try await server.send(content, ["--name", name])
                let saved = try await server.open(again, ["--output", "."], directory: URL(fileURLWithPath: downloads))
                #expect(saved.status == 0, "\(saved)")
            }
            #expect(Files.listing(downloads) == ["id_ed25519", "id_ed25519 (2)", "notes.tar (2).gz", "notes.tar.gz"])
            #expect(Files.contents(downloads + "/id_ed25519 (2)") == Data("second key".utf8))
            #expect(Files.contents(downloads + "/notes.tar (2).gz") == Data("second".utf8))
        }
    }

    @Test("--output - is standard output, not a file named '-'")
    func outputDashIsStandardOutput() async throws {
        try await withServer { server in
            let link = try await server.send("to the pipe")
            let opened = try await server.open(link, ["--output", "-"], directory: URL(fileURLWithPath: server.directory.path))
            #expect(opened.status == 0 && opened.out == "to the pipe", "\(opened)")
            #expect(!Files.exists(server.directory.file("-")))
        }
    }

    @Test("an empty BURNLINK_SERVER counts as unset: the config file's server is used")
    func emptyServerVariable() async throws {
        try await withServer { server in
            let configDirectory = server.directory.file("home") + "/.config/burnlink"
            try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
            try Files.write("server = \(server.baseURL)\n", to: configDirectory + "/config")
            var environment = server.environment
            environment["BURNLINK_SERVER"] = ""
            let sent = try await CLI.run(["send"], stdin: "via the config file", environment: environment)
            #expect(sent.status == 0, "\(sent)")
            let opened = try await server.open(sent.out.trimmingCharacters(in: .newlines))
            #expect(opened.status == 0 && opened.out == "via the config file", "\(opened)")
        }
    }

    @Test("an empty stdin is refused (exit 2) unless --allow-empty")
    func emptyInput() async throws {
        try await withServer { server in
            let refused = try await CLI.run(["send"], stdin: Data(), environment: server.environment)
            expectFailure(refused, exit: 2, mentioning: ["empty", "--allow-empty"])

            let link = try await server.send("", ["--allow-empty"])
            let opened = try await server.open(link)
            #expect(opened.status == 0, "\(opened)")
            #expect(opened.stdout.isEmpty)
        }
    }

    @Test("the second open exits 3 with the one 'gone' message and a hint")
    func secondOpenIsGone() async throws {
        try await withServer { server in
            let link = try await server.send("once only")
            let first = try await server.open(link)
            #expect(first.status == 0 && first.out == "once only", "\(first)")
            let second = try await server.open(link)
            expectFailure(second, exit: 3)
            #expect(second.err.hasPrefix(goneMessage), "\(second)")
            #expect(second.err.contains("\nhint: "), "\(second)")
            // Every error line, however many, is in the house style.
            #expect(second.errorLines.count == 1)
        }
    }

    @Test("--views 2: two opens work, the third is gone")
    func views() async throws {
        try await withServer { server in
            let link = try await server.send("twice", ["--views", "2"])
            for _ in 0..<2 {
                let opened = try await server.open(link)
                #expect(opened.status == 0 && opened.out == "twice", "\(opened)")
            }
            expectFailure(try await server.open(link), exit: 3)
        }
    }

    @Test("--recipients 3: three distinct links, each opens once to the same content, independently")
    func recipients() async throws {
        try await withServer { server in
            let content = Data("shared credential\n".utf8)
            let links = try await server.send(content, ["--recipients", "3"])
            #expect(links.count == 3)
            #expect(Set(links).count == 3)
            let parsed = try links.map(ParsedLink.init)
            #expect(Set(parsed.map(\.id)).count == 3)
            #expect(Set(parsed.map(\.key)).count == 3)
            for link in links { #expect(link.wholeMatch(of: linkPattern) != nil) }

            // Out of order, and each one's second open is gone while the others still work.
            for index in [1, 2, 0] {
                let opened = try await server.open(links[index])
                #expect(opened.status == 0 && opened.stdout == content, "\(opened)")
                expectFailure(try await server.open(links[index]), exit: 3)
            }
        }
    }

    @Test("peek does not consume: peek twice, then open works; peek --json parses")
    func peek() async throws {
        try await withServer { server in
            let link = try await server.send("peekaboo", ["--views", "1"])
            let first = try await CLI.run(["peek", link], environment: server.environment)
            #expect(first.status == 0, "\(first)")
            #expect(first.out.contains("views left: 1"), "\(first)")
            #expect(first.out.contains("password:   none"), "\(first)")
            #expect(!first.out.contains("peekaboo"))

            let json = try await CLI.run(["peek", "--json"], stdin: link + "\n", environment: server.environment)
            #expect(json.status == 0, "\(json)")
            let object = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any], "\(json)")
            #expect(object["views_left"] as? Int == 1)
            #expect((object["size"] as? Int ?? 0) > 0)
            #expect(object["expires_at"] is String)
            #expect(object["password_kdf"] is NSNull)

            let opened = try await server.open(link)
            #expect(opened.status == 0 && opened.out == "peekaboo", "\(opened)")
            // And once opened, peek says gone too.
            expectFailure(try await CLI.run(["peek", link], environment: server.environment), exit: 3)
        }
    }
}
