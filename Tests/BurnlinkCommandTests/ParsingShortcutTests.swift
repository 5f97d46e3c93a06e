import ArgumentParser
import Testing

@testable import burnlink

// `burnlink SUBCOMMAND ...` is parsed with the subcommand as the root (`ParsingShortcut`),
// which must change nothing but speed: for every argument list it takes, the command and its
// values, or the error and its message, are those of the full parse from `burnlink`.

@Suite("CLI arguments: the shortcut parse matches the full parse")
struct ParsingShortcutTests {
    /// Argument lists (without the program's name) that the shortcut takes: valid ones,
    /// invalid values, unknown options, missing values, `--`, and values that look like
    /// options.
    static let taken: [[String]] = [
        ["send"], ["send", "-q", "secret.txt"], ["send", "-"], ["send", "--", "-q"],
        ["send", "--views", "3", "--expires", "1h", "--name", "n.txt", "file"],
        ["send", "--recipients", "2", "--password-file", "pw", "file"], ["send", "--password", "file"],
        ["send", "--to", "https://burn.example.com/r/AAAA#BBBB"], ["send", "--server", "http://127.0.0.1:1", "f"],
        ["send", "--views", "0"], ["send", "--views", "x"], ["send", "--views"], ["send", "--bogus"],
        ["send", "a", "b"], ["send", "-qz"], ["send", "--hel"], ["send", "--expires=2d", "f"],
        ["open"], ["open", "--yes", "LINK"], ["open", "-y", "-q", "LINK"], ["open", "-yq", "LINK"],
        ["open", "--output", "out.bin", "--force", "LINK"], ["open", "-o", "out.bin", "LINK"], ["open", "--output"],
        ["open", "--raw", "-"], ["open", "--insecure", "--cacert", "ca.pem", "LINK"], ["open", "--wait", "5", "LINK"],
        ["open", "--password-file", "pw", "LINK"], ["open", "LINK", "LINK"], ["open", "--no-such-flag"],
        ["peek", "LINK"], ["peek", "--json", "-"], ["peek"], ["peek", "--json=yes"],
        ["status", "RECEIPT"], ["status", "--wait", "--timeout", "30", "RECEIPT"], ["status", "--timeout", "x"],
        ["status", "--receipt-file", "r.txt", "--json"], ["revoke", "RECEIPT"], ["revoke", "--receipt-file", "r.txt"],
        ["request", "--note", "db password", "--expires", "1h"], ["request", "--wait", "--output", "o", "--force"],
        ["request", "--list", "--json"], ["request", "--timeout"], ["request", "extra"],
    ]

    /// Argument lists that may ask for help, a version or completions: the full parse only.
    static let notTaken: [[String]] = [
        [], ["help"], ["send", "-h"], ["send", "--help"], ["open", "-qh", "LINK"], ["send", "--version"],
        ["open", "help"], ["peek", "--generate-completion-script", "bash"], ["send", "---x"],
        ["send", "--name", "-h", "f"], ["nosuch", "x"], ["-q", "send"],
    ]

    @Test("every argument list the shortcut takes parses to the same command, or fails the same way")
    func sameOutcome() {
        let subcommands = Burnlink.configuration.subcommands
        for arguments in Self.taken {
            guard let subcommand = ParsingShortcut.plainSubcommand(of: arguments, among: subcommands) else {
                Issue.record("the shortcut does not take \(arguments)")
                continue
            }
            let shortcut = Self.outcome { try subcommand.parseAsRoot(Array(arguments.dropFirst())) }
            let full = Self.outcome { try Burnlink.parseAsRoot(arguments) }
            #expect(shortcut == full, "\(arguments)")
        }
    }

    @Test("an outcome holds the parsed values: one option's value apart, two parses differ")
    func outcomesTellValuesApart() {
        let three = Self.outcome { try Burnlink.parseAsRoot(["send", "--views", "3", "f"]) }
        let four = Self.outcome { try Burnlink.parseAsRoot(["send", "--views", "4", "f"]) }
        #expect(three != four)
        #expect(three.contains("Send"), "\(three)")
    }

    @Test("argument lists that may ask for help, a version or completions take the full parse")
    func helpTakesTheFullParse() {
        for arguments in Self.notTaken {
            let subcommand = ParsingShortcut.plainSubcommand(of: arguments, among: Burnlink.configuration.subcommands)
            #expect(subcommand == nil, "\(arguments)")
        }
    }

    /// A parse's outcome, comparable: the command's type and every value it holds, or the
    /// error's exit code and what `burnlink` prints of its message (`Burnlink.exit(with:)`).
    /// The lines after the first differ ("See 'send --help'" against "See 'burnlink send
    /// --help'"), which is why they are not printed.
    static func outcome(_ parse: () throws -> any ParsableCommand) -> String {
        do {
            var text = ""
            dump(try parse(), to: &text)
            return text
        } catch {
            let code = Burnlink.exitCode(for: error).rawValue
            return "exit \(code): \(Burnlink.usageError(Burnlink.fullMessage(for: error)))"
        }
    }
}
