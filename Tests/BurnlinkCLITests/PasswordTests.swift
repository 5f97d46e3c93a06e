import BurnlinkTestSupport
import Foundation
import Testing

/// Password-protected secrets through `--password-file`, as a script would use them.
@Suite("passwords")
struct PasswordTests {
    @Test("the right password opens; a wrong one exits 4 and leaves the secret openable")
    func rightAndWrongPassword() async throws {
        try await withServer { server in
            let right = try server.writeFile("right.txt", "correct horse battery staple\n")
            let wrong = try server.writeFile("wrong.txt", "incorrect horse\n")
            let link = try await server.send("behind a password", ["--password-file", right])

            let peeked = try await CLI.run(["peek", "--json", link], environment: server.environment)
            let object = try #require(try JSONSerialization.jsonObject(with: peeked.stdout) as? [String: Any], "\(peeked)")
            #expect(object["password_kdf"] is String)

            let refused = try await server.open(link, ["--password-file", wrong])
            expectFailure(refused, exit: 4, mentioning: ["wrong password", "attempts left"])
            #expect(!refused.err.contains("behind a password"))

            let opened = try await server.open(link, ["--password-file", right])
            #expect(opened.status == 0, "\(opened)")
            #expect(opened.out == "behind a password")
            // And it was one view: now it is gone.
            expectFailure(try await server.open(link, ["--password-file", right]), exit: 3)
        }
    }

    @Test("an open with nothing to ask or check claims at once; a password secret answers that claim 401, nothing used")
    func claimFirst() async throws {
        try await withServer { server in
            let link = try await server.send("straight to the claim")
            let opened = try await server.open(link, ["--yes"])
            #expect(opened.status == 0 && opened.out == "straight to the claim", "\(opened)")
            // A claim and its confirmation; no metadata read before them.
            #expect(await logged(server, "method=POST route=/api/v1/secrets/{id}/confirm status=204"))
            #expect(!server.logText.contains("method=GET route=/api/v1/secrets/{id} status"), "\(server.logText)")

            let password = try server.writeFile("password.txt", "open sesame\n")
            let guarded = try await server.send("guarded", ["--password-file", password])
            expectFailure(try await server.open(guarded), exit: 2, mentioning: ["protected by a password"])
            #expect(await logged(server, "method=POST route=/api/v1/secrets/{id}/claim status=401"))
            let peeked = try await CLI.run(["peek", "--json", guarded], environment: server.environment)
            let object = try #require(try JSONSerialization.jsonObject(with: peeked.stdout) as? [String: Any], "\(peeked)")
            #expect(object["views_left"] as? Int == 1)
            let right = try await server.open(guarded, ["--password-file", password])
            #expect(right.status == 0 && right.out == "guarded", "\(right)")
        }
    }

    /// Whether the server's log shows `line` within a few seconds (it logs a request after answering it).
    private func logged(_ server: TestServer, _ line: String) async -> Bool {
        for _ in 0..<50 {
            if server.logText.contains(line) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test("a password given for a secret without one: it opens, with a note that the password was not used")
    func passwordNotNeeded() async throws {
        try await withServer { server in
            let passwordFile = try server.writeFile("password.txt", "not needed\n")
            let link = try await server.send("no password here")
            let opened = try await server.open(link, ["--password-file", passwordFile])
            #expect(opened.status == 0 && opened.out == "no password here", "\(opened)")
            #expect(opened.err.contains("note: this secret has no password; the password given was not used."), "\(opened)")
        }
    }

    @Test("a password over 1,024 bytes on open is a usage error (exit 2), nothing claimed")
    func overlongPassword() async throws {
        try await withServer { server in
            let right = try server.writeFile("right.txt", "short and right\n")
            let overlong = try server.writeFile("long.txt", String(repeating: "p", count: 1_500) + "\n")
            let link = try await server.send("guarded", ["--password-file", right])
            expectFailure(
                try await server.open(link, ["--password-file", overlong]), exit: 2, mentioning: ["1 to 1024 bytes"], hint: false)
            let opened = try await server.open(link, ["--password-file", right])
            #expect(opened.status == 0 && opened.out == "guarded", "\(opened)")
        }
    }

    @Test("attempts exhausted (server allows 2): both wrong tries exit 4, then the right password finds it gone (3)")
    func attemptsExhausted() async throws {
        try await withServer(["--password-attempts", "2"]) { server in
            let right = try server.writeFile("right.txt", "s3cret-pass")
            let wrong = try server.writeFile("wrong.txt", "guess")
            let link = try await server.send("limited tries", ["--password-file", right])

            let first = try await server.open(link, ["--password-file", wrong])
            expectFailure(first, exit: 4, mentioning: ["1 attempt left"])
            let second = try await server.open(link, ["--password-file", wrong])
            expectFailure(second, exit: 4, mentioning: ["last attempt", "destroyed"])
            let third = try await server.open(link, ["--password-file", right])
            expectFailure(third, exit: 3)
            #expect(third.err.hasPrefix(goneMessage))
        }
    }

    @Test(
        "a password secret without a terminal and without --password-file is a usage error (exit 2)",
        .enabled(if: !hasControllingTerminal, "the CLI would ask on this terminal"))
    func passwordNeedsAFileWithoutTerminal() async throws {
        try await withServer { server in
            let password = try server.writeFile("password.txt", "pw")
            let link = try await server.send("x", ["--password-file", password])
            let refused = try await server.open(link)
            expectFailure(refused, exit: 2, mentioning: ["password", "--password-file"])
            // Nothing was consumed.
            let opened = try await server.open(link, ["--password-file", password])
            #expect(opened.status == 0 && opened.out == "x", "\(opened)")
        }
    }

    @Test("--password-file - is refused when the secret also comes from stdin (exit 2)")
    func passwordFileDashWithStdin() async throws {
        try await withServer { server in
            let refused = try await CLI.run(
                ["send", "--password-file", "-"], stdin: "pw\nsecret", environment: server.environment)
            expectFailure(refused, exit: 2, mentioning: ["--password-file"])
        }
    }
}

/// Whether this test process can open /dev/tty (then a child could prompt on it).
let hasControllingTerminal: Bool = {
    let descriptor = open("/dev/tty", O_RDWR | O_CLOEXEC)
    if descriptor >= 0 { close(descriptor) }
    return descriptor >= 0
}()
