import ArgumentParser
import BurnlinkClient
import BurnlinkCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Reads a link (or receipt) from the argument, or from the first line of standard input
/// so it never has to appear in argv or shell history.
func readLinkArgument(_ argument: String?, what: String) throws(ClientError) -> String {
    if let argument, argument != "-" { return argument }
    if Terminal.stdinIsTerminal {
        Terminal.writeAll(STDERR_FILENO, "Paste the \(what) and press Enter: ")
    }
    var line = Terminal.readLine(STDIN_FILENO, limit: 8192)
    defer { SecureMemory.wipeArray(&line) }
    guard !line.isEmpty else { throw .usage("no \(what) given", hint: "pass it as an argument or on standard input") }
    return String(decoding: line, as: UTF8.self)
}

struct Open: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        _superCommandName: ParsingShortcut.rootName,
        abstract: "Open a link: fetch the ciphertext once (the server destroys it) and decrypt it.",
        discussion: """
            Reads the link from standard input when none is given (better than an argument, \
            which other local users can read until burnlink has started).

            --output writes a file (mode 0600) that appears only once everything has verified. \
            On standard output, text is released chunk by chunk as each chunk verifies: should \
            a later chunk fail (exit 5), what came before it has already been written to the \
            pipe. A file secret is never printed on a terminal: it is saved in the current \
            directory instead, and a text secret's control characters are shown escaped there \
            unless --raw.

            Where the output goes is checked (place, permissions, free space) before the view is \
            used. If the transfer fails after the claim, the secret is held for this machine for \
            the server's claim window: run the same command again.
            """
    )

    @Argument(help: "The link; '-' or nothing reads it from standard input.")
    var link: String?

    @Option(
        name: .shortAndLong,
        help: "Write the secret to this file; '.' uses the sender's file name in the current directory; '-' is standard output.")
    var output: String?

    @Flag(help: "Replace --output if it exists (only a regular file is ever replaced).")
    var force = false

    @Option(help: "Read the password from the first line of this file.")
    var passwordFile: String?

    @Flag(name: .shortAndLong, help: "Do not ask for confirmation.")
    var yes = false

    @Flag(help: "On a terminal, print a text secret as it is, control characters included (by default they are shown escaped).")
    var raw = false

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "For a request link: wait at most this many seconds for the answer (default: until the request expires).")
    var timeout: Int?

    func validate() throws {
        if let timeout, timeout < 0 { throw ValidationError("--timeout must be 0 or more seconds") }
    }

    func run() async throws {
        let opening = LinkOpening(
            output: output, force: force, passwordFile: passwordFile, confirm: !yes, raw: raw, connection: connection)
        // The output must be possible before anything is consumed (and before a link is
        // asked for): OutputSink and FileSink check what they can now, the room once the
        // size is known from the metadata.
        let sink = try opening.makeSink()
        let text = try readLinkArgument(link, what: "link").trimmingWhitespace()
        if LinkKind.of(text) == .request {
            try await RequestAnswerOpening(opening: opening, timeout: timeout).open(requestLink: text, sink: sink)
        } else {
            if timeout != nil {
                throw ClientError.usage("--timeout goes with a request link (/r/...): a secret link does not wait")
            }
            try await opening.open(SecretOpener.parse(text), sink: sink)
        }
    }
}
