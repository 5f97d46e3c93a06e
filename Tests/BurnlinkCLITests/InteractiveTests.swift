import BurnlinkTestSupport
import Foundation
import Testing

/// A person at a terminal: `burnlink open` inside a tmux pane, answered with keystrokes.
@Suite("interactive sessions through a pseudo-terminal")
struct InteractiveTests {
    @Test(
        "password prompt without echo, then 'y' at the confirmation: the secret shows, the password never does",
        .enabled(if: Tmux.path != nil, "tmux is not installed (apt-get install tmux)"))
    func passwordAndConfirm() async throws {
        try await withServer { server in
            let password = "tr0ub4dor-and-3"
            let secret = "the launch code is 4711"
            let passwordFile = try server.writeFile("password.txt", password)
            let link = try await server.send(secret, ["--password-file", passwordFile])

            let (status, screen) = try await Tmux.session(server: server, command: [Binaries.cli.path, "open", link]) { tmux in
                try await tmux.waitFor("Password: ")
                try await tmux.type(password)
                try await tmux.waitFor("Reveal it now? [y/N]")
                try await tmux.type("y")
                return (try await tmux.exitStatus(), try await tmux.capture())
            }
            #expect(status == 0, "\(screen)")
            #expect(screen.contains(secret), "\(screen)")
            #expect(screen.contains("This secret can be viewed once and is then destroyed."), "\(screen)")
            #expect(!screen.contains(password), "the password was echoed:\n\(screen)")
            // And it was the one view.
            expectFailure(try await server.open(link, ["--password-file", passwordFile]), exit: 3)
        }
    }

    @Test(
        "Ctrl-C at the password prompt: exit 130, the terminal echoes again, nothing was used",
        .enabled(if: Tmux.path != nil, "tmux is not installed (apt-get install tmux)"))
    func interruptedPasswordPrompt() async throws {
        try await withServer { server in
            let secret = "interrupted, not lost"
            let passwordFile = try server.writeFile("password.txt", "correct horse")
            let link = try await server.send(secret, ["--password-file", passwordFile])

            let (status, echoes) = try await Tmux.session(server: server, command: [Binaries.cli.path, "open", link]) { tmux in
                try await tmux.waitFor("Password: ")
                try await tmux.press("C-c")
                return (try await tmux.exitStatus(), try await tmux.echoes())
            }
            #expect(status == 130)
            #expect(echoes, "Ctrl-C at the prompt left the terminal without echo")
            let opened = try await server.open(link, ["--password-file", passwordFile])
            #expect(opened.status == 0 && opened.out == secret, "\(opened)")
        }
    }

    @Test(
        "while the confirmation waits, the link given as an argument is not in /proc/PID/cmdline",
        .enabled(if: Tmux.path != nil, "tmux is not installed (apt-get install tmux)"))
    func linkHiddenFromOtherUsers() async throws {
        try await withServer { server in
            let link = try await server.send("only for the person at the keyboard")
            let key = String(link.split(separator: "#").last!)
            let id = String(link.split(separator: "/").last!.split(separator: "#").first!)

            let (status, commandLine) = try await Tmux.session(server: server, command: [Binaries.cli.path, "open", link]) {
                tmux in
                try await tmux.waitFor("Reveal it now? [y/N]")
                let commandLine = try await tmux.commandLine()
                try await tmux.type("n")
                return (try await tmux.exitStatus(), commandLine)
            }
            #expect(status == 1)
            let visible = commandLine.split(separator: 0, omittingEmptySubsequences: true).map {
                String(decoding: $0, as: UTF8.self)
            }
            #expect(visible == [Binaries.cli.path, "open"], "\(visible)")
            let text = String(decoding: commandLine, as: UTF8.self)
            #expect(!text.contains(key) && !text.contains(id), "\(visible)")
        }
    }

    @Test(
        "a text secret with escape sequences is shown escaped on a terminal, with a note; --raw prints it as it is",
        .enabled(if: Tmux.path != nil, "tmux is not installed (apt-get install tmux)"))
    func escapeSequencesShownEscaped() async throws {
        try await withServer { server in
            let secret = "\u{1B}[2J\u{1B}]0;owned\u{07}pass\u{1B}[8mword"
            let link = try await server.send(secret)
            let screen = try await Tmux.session(server: server, command: [Binaries.cli.path, "open", "--yes", link]) { tmux in
                _ = try await tmux.exitStatus()
                return try await tmux.capture()
            }
            #expect(screen.contains(#"\x1b[2J\x1b]0;owned\x07pass\x1b[8mword"#), "\(screen)")
            #expect(screen.contains("note: the secret holds 4 control or invisible character(s)"), "\(screen)")
            #expect(screen.contains("[burnlink exited with 0]"), "\(screen)")

            let again = try await server.send("plain \u{1B}[1mbold\u{1B}[0m text")
            let rawScreen = try await Tmux.session(server: server, command: [Binaries.cli.path, "open", "--yes", "--raw", again])
            { tmux in
                _ = try await tmux.exitStatus()
                return try await tmux.capture()
            }
            #expect(rawScreen.contains("plain bold text") && !rawScreen.contains(#"\x1b"#), "\(rawScreen)")
        }
    }

    @Test(
        "answering 'n' at the confirmation: exit 1, nothing revealed, the link still works",
        .enabled(if: Tmux.path != nil, "tmux is not installed (apt-get install tmux)"))
    func declineConfirmation() async throws {
        try await withServer { server in
            let secret = "not yet, please"
            let link = try await server.send(secret)

            let (status, screen) = try await Tmux.session(server: server, command: [Binaries.cli.path, "open", link]) { tmux in
                try await tmux.waitFor("Reveal it now? [y/N]")
                try await tmux.type("n")
                return (try await tmux.exitStatus(), try await tmux.capture())
            }
            #expect(status == 1, "\(screen)")
            #expect(screen.contains("Not opened; the link still works."), "\(screen)")
            #expect(!screen.contains(secret), "\(screen)")

            let opened = try await server.open(link)
            #expect(opened.status == 0 && opened.out == secret, "\(opened)")
        }
    }
}

/// One detached tmux session on a private socket, running a command in a shell.
struct Tmux: Sendable {
    static let path = Binaries.onPath("tmux")
    static let exitMarker = "[burnlink exited with "

    let socket: String
    let session = "burnlink"
    private let environment: [String: String]

    /// Runs `body` with `command` started in a fresh session; ends the tmux server afterwards.
    static func session<T>(server: TestServer, command: [String], _ body: (Tmux) async throws -> T) async throws -> T {
        let tmux = try await start(server: server, command: command)
        do {
            let result = try await body(tmux)
            await tmux.kill()
            return result
        } catch {
            await tmux.kill()
            throw error
        }
    }

    /// Starts `command` (then a marker line with its exit status) in a detached 100x30 pane.
    static func start(server: TestServer, command: [String]) async throws -> Tmux {
        guard let path else { throw CLITestFailure("tmux is not installed") }
        var environment = server.environment
        environment["TERM"] = "xterm-256color"
        environment["SHELL"] = "/bin/sh"
        let tmux = Tmux(socket: server.directory.file("tmux.sock"), environment: environment)
        let exports = ["HOME", "XDG_CONFIG_HOME", "BURNLINK_SERVER", "PATH", "LANG"]
            .map { "\($0)=\(shellQuoted(environment[$0]!))" }.joined(separator: " ")
        // The shell survives a Ctrl-C meant for the command (a trap resets to the default in
        // the command), then reports its exit status and whether the terminal echoes.
        let shell =
            "trap : INT; export \(exports); cd \(shellQuoted(server.directory.path)); "
            + command.map(shellQuoted).joined(separator: " ")
            + "; echo \"\(exitMarker)$?]\"; stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo; sleep 600"
        let started = try await CLI.tool(
            path,
            [
                "-S", tmux.socket, "-f", "/dev/null", "new-session", "-d",
                "-s", tmux.session, "-x", "100", "-y", "30", shell,
            ],
            environment: environment)
        guard started.status == 0 else { throw CLITestFailure("tmux new-session failed: \(started)") }
        return tmux
    }

    private func run(_ arguments: [String]) async throws -> CLIResult {
        try await CLI.tool(Self.path!, ["-S", socket] + arguments, environment: environment)
    }

    func capture() async throws -> String {
        let result = try await run(["capture-pane", "-p", "-J", "-t", session])
        guard result.status == 0 else { throw CLITestFailure("tmux capture-pane failed: \(result)") }
        return result.out
    }

    /// Polls the pane until `text` shows up.
    @discardableResult
    func waitFor(_ text: String, timeout: Duration = .seconds(30)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var screen = ""
        while ContinuousClock.now < deadline {
            screen = try await capture()
            if screen.contains(text) { return screen }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CLITestFailure("'\(text)' never appeared; the pane shows:\n\(screen)")
    }

    /// Types `text` literally, then Enter, as a person would.
    func type(_ text: String) async throws {
        let literal = try await run(["send-keys", "-t", session, "-l", text])
        let enter = try await run(["send-keys", "-t", session, "Enter"])
        guard literal.status == 0, enter.status == 0 else { throw CLITestFailure("tmux send-keys failed: \(literal) \(enter)") }
    }

    /// Presses a key by its tmux name, such as "C-c".
    func press(_ key: String) async throws {
        let pressed = try await run(["send-keys", "-t", session, key])
        guard pressed.status == 0 else { throw CLITestFailure("tmux send-keys failed: \(pressed)") }
    }

    /// /proc/PID/cmdline of the command running in the pane (the shell's only child), as
    /// another local user would read it.
    func commandLine() async throws -> [UInt8] {
        let panes = try await run(["list-panes", "-t", session, "-F", "#{pane_pid}"])
        guard panes.status == 0, let shell = Int(panes.out.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CLITestFailure("tmux list-panes failed: \(panes)")
        }
        let children = try String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8)
        guard let child = children.split(separator: " ").first else { throw CLITestFailure("the pane's shell runs no command") }
        return Array(try Data(contentsOf: URL(fileURLWithPath: "/proc/\(child)/cmdline")))
    }

    /// After the command ended: whether the terminal echoes typed characters again.
    func echoes() async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let lines = try await capture().split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            if lines.contains("echo") { return true }
            if lines.contains("-echo") { return false }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CLITestFailure("the terminal's echo setting never showed")
    }

    /// Waits for the marker line and returns the command's exit status.
    func exitStatus() async throws -> Int32 {
        let screen = try await waitFor(Self.exitMarker)
        let range = screen.range(of: Self.exitMarker)!
        guard let status = Int32(screen[range.upperBound...].prefix { $0.isNumber }) else {
            throw CLITestFailure("no exit status on the pane:\n\(screen)")
        }
        return status
    }

    /// Ends the tmux server (and the session's shell with it).
    func kill() async {
        _ = try? await run(["kill-server"])
    }
}

func shellQuoted(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
