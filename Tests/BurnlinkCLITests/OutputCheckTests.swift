import BurnlinkTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// An output that cannot take the secret is refused with exit 2 before the claim, so the
/// view is not spent: after each refusal, the same link still opens with a correct command.
@Suite("output checked before the claim")
struct OutputCheckTests {
    @Test("a symbolic link at --output, even a dangling one, is refused with or without --force; nothing is written through it")
    func symbolicLinks() async throws {
        try await withServer { server in
            let link = try await server.send("through no link")
            let dangling = server.directory.file("dangling")
            let nowhere = server.directory.file("nowhere")
            try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: nowhere)
            expectFailure(
                try await server.open(link, ["--output", dangling]), exit: 2,
                mentioning: ["already exists", "symbolic link"])
            expectFailure(
                try await server.open(link, ["--output", dangling, "--force"]), exit: 2,
                mentioning: ["symbolic link", "--force replaces only a regular file"])
            #expect(!Files.exists(nowhere))

            let victim = try server.writeFile("victim", "untouched")
            let pointing = server.directory.file("pointing")
            try FileManager.default.createSymbolicLink(atPath: pointing, withDestinationPath: victim)
            expectFailure(try await server.open(link, ["--output", pointing, "--force"]), exit: 2, mentioning: ["symbolic link"])
            #expect(Files.contents(victim) == Data("untouched".utf8))

            try await expectUnspent(server, link, "through no link")
        }
    }

    @Test("--output . beside a symbolic link of the sender's name saves a numbered file, with or without --force")
    func senderNameTakenByLink() async throws {
        try await withServer { server in
            let downloads = server.directory.file("downloads")
            try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
            let nowhere = server.directory.file("nowhere")
            try FileManager.default.createSymbolicLink(atPath: downloads + "/notes.txt", withDestinationPath: nowhere)
            for (arguments, content) in [(["--output", "."], "one"), (["--output", ".", "--force"], "two")] {
                let link = try await server.send(content, ["--name", "notes.txt"])
                let opened = try await server.open(link, arguments, directory: URL(fileURLWithPath: downloads))
                #expect(opened.status == 0, "\(opened)")
            }
            #expect(!Files.exists(nowhere), "written through the link")
            #expect(Files.listing(downloads) == ["notes (2).txt", "notes (3).txt", "notes.txt"])
            #expect(Files.contents(downloads + "/notes (3).txt") == Data("two".utf8))
        }
    }

    @Test("a directory, or a missing one, at --output is refused before the claim")
    func directories() async throws {
        try await withServer { server in
            let link = try await server.send("not into a directory")
            let directory = server.directory.file("folder")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let plainFile = try server.writeFile("plain", "a file")
            let cases: [([String], [String])] = [
                (["--output", directory + "/", "--force"], ["is a directory", "--output \(directory)/NAME", "--output ."]),
                (["--output", directory, "--force"], ["is a directory"]),
                (["--output", directory], ["is a directory"]),
                (["--output", server.directory.file("missing") + "/name"], ["no such directory", "missing"]),
                (["--output", server.directory.file("missing") + "/"], ["no such directory"]),
                (["--output", plainFile + "/name"], ["not a directory"]),
            ]
            for (arguments, words) in cases {
                expectFailure(try await server.open(link, arguments), exit: 2, mentioning: words)
            }
            #expect(Files.listing(directory).isEmpty)
            try await expectUnspent(server, link, "not into a directory")
        }
    }

    @Test(
        "--output . in a read-only directory is refused before the claim (access() holds even for root there)",
        .enabled(if: Mounts.available, Mounts.unavailableReason))
    func readOnlyDirectory() async throws {
        try await withServer { server in
            let link = try await server.send("somewhere writable, please", ["--name", "letter.txt"])
            let sealed = server.directory.file("sealed")
            try FileManager.default.createDirectory(atPath: sealed, withIntermediateDirectories: true)
            try Mounts.readOnly(sealed)
            defer { Mounts.unmount(sealed) }

            let dot = try await server.open(link, ["--output", "."], directory: URL(fileURLWithPath: sealed))
            expectFailure(dot, exit: 2, mentioning: ["cannot write in .", "read-only"])
            let named = try await server.open(link, ["--output", sealed + "/letter.txt"])
            expectFailure(named, exit: 2, mentioning: ["cannot write in \(sealed)"])
            try await expectUnspent(server, link, "somewhere writable, please")
        }
    }

    @Test(
        "a file would be saved in the current directory when stdout is a terminal: a read-only one is refused before the claim",
        .enabled(if: Mounts.available && Tmux.path != nil, "needs mount (root) and tmux"))
    func readOnlyDirectoryOnTerminal() async throws {
        try await withServer { server in
            let link = try await server.send("a file for a terminal", ["--name", "key.txt"])
            let sealed = server.directory.file("sealed")
            try FileManager.default.createDirectory(atPath: sealed, withIntermediateDirectories: true)
            try Mounts.readOnly(sealed)
            defer { Mounts.unmount(sealed) }

            let command = [
                "/bin/sh", "-c",
                "cd \(shellQuoted(sealed)) && exec \(shellQuoted(Binaries.cli.path)) open --yes \(shellQuoted(link))",
            ]
            let (status, screen) = try await Tmux.session(server: server, command: command) { tmux in
                (try await tmux.exitStatus(), try await tmux.capture())
            }
            #expect(status == 2, "\(screen)")
            #expect(screen.contains("burnlink: error: cannot write in ."), "\(screen)")
            #expect(screen.contains("hint: a file secret is saved in the current directory"), "\(screen)")
            try await expectUnspent(server, link, "a file for a terminal")
        }
    }

    @Test(
        "a 1 MiB filesystem refuses a 2 MiB secret before the claim: --output PATH, --output ., and stdout redirected there",
        .enabled(if: Mounts.available, Mounts.unavailableReason))
    func notEnoughSpace() async throws {
        try await withServer { server in
            let content = randomData(count: 2 << 20)
            let source = server.directory.file("large.bin")
            try content.write(to: URL(fileURLWithPath: source))
            let link = try await server.send(Data(), [source])[0]
            let small = server.directory.file("small")
            try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
            try Mounts.tmpfs(small, size: "1m")
            defer { Mounts.unmount(small) }

            let path = try await server.open(link, ["--output", small + "/large.bin"])
            expectFailure(path, exit: 2, mentioning: ["not enough space in \(small)", "2.0 MiB", "free some space"])
            let dot = try await server.open(link, ["--output", "."], directory: URL(fileURLWithPath: small))
            expectFailure(dot, exit: 2, mentioning: ["not enough space in ."])
            let redirected = try await openWithShell(server, link, redirection: "> \(shellQuoted(small + "/out.bin"))")
            expectFailure(redirected, exit: 2, mentioning: ["not enough space in standard output's filesystem"])
            #expect(Files.contents(small + "/out.bin")?.isEmpty ?? true)
            #expect(Files.listing(small).allSatisfy { $0 == "out.bin" }, "\(Files.listing(small))")

            let opened = try await server.open(link, ["--output", server.directory.file("received.bin")])
            #expect(opened.status == 0, "\(opened)")
            #expect(Files.contents(server.directory.file("received.bin")) == content)
        }
    }

    @Test("standard output closed, or open only for reading, is refused before the claim")
    func standardOutputNotWritable() async throws {
        try await withServer { server in
            let link = try await server.send("to a writable stdout")
            let readOnly = try server.writeFile("read-only", "")
            expectFailure(
                try await openWithShell(server, link, redirection: "1< \(shellQuoted(readOnly))"), exit: 2,
                mentioning: ["standard output is not open for writing"])
            expectFailure(
                try await openWithShell(server, link, redirection: ">&-"), exit: 2,
                mentioning: ["standard output is closed"])
            try await expectUnspent(server, link, "to a writable stdout")
        }
    }

    @Test(
        "--output PATH created by someone else during the download: the verified secret stays in the .part file the error names",
        .enabled(if: Tmux.path != nil, "tmux is not installed (apt-get install tmux)"))
    func targetAppearsDuringDownload() async throws {
        try await withServer { server in
            let secret = "kept, not lost"
            let link = try await server.send(secret)
            let target = server.directory.file("target.txt")
            let (status, screen) = try await Tmux.session(
                server: server, command: [Binaries.cli.path, "open", "--output", target, link]
            ) { tmux in
                // Past every check before the claim: now the name is taken.
                try await tmux.waitFor("Reveal it now? [y/N]")
                try Files.write("someone else's", to: target)
                try await tmux.type("y")
                return (try await tmux.exitStatus(), try await tmux.capture())
            }
            #expect(status == 1, "\(screen)")
            #expect(screen.contains("burnlink: error: cannot create \(target): File exists"), "\(screen)")
            let part = try #require(
                Files.listing(server.directory.path).first { $0.hasPrefix(".target.txt.burnlink-") && $0.hasSuffix(".part") },
                "no .part file kept: \(Files.listing(server.directory.path))")
            #expect(screen.contains("hint: the secret was saved as \(server.directory.path)/\(part) instead"), "\(screen)")
            #expect(Files.contents(server.directory.file(part)) == Data(secret.utf8))
            #expect(Files.contents(target) == Data("someone else's".utf8))
        }
    }

    /// The link opens with a plain command: nothing was spent before.
    private func expectUnspent(
        _ server: TestServer, _ link: String, _ content: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let opened = try await server.open(link)
        #expect(opened.status == 0 && opened.out == content, "the link was spent: \(opened)", sourceLocation: sourceLocation)
    }

    /// `burnlink open` with the link on stdin and stdout as `redirection` says, through sh.
    private func openWithShell(_ server: TestServer, _ link: String, redirection: String) async throws -> CLIResult {
        let linkFile = try server.writeFile("link-\(UUID().uuidString)", link + "\n")
        return try await CLI.tool(
            "/bin/sh", ["-c", "exec \(shellQuoted(Binaries.cli.path)) open < \(shellQuoted(linkFile)) \(redirection)"],
            environment: server.environment)
    }
}
