import ArgumentParser
import BurnlinkClient
import BurnlinkCore
import BurnlinkProtocol

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// `burnlink`: send and open one-time secrets. The commands are thin: they parse, talk to
/// the person at the terminal, and call BurnlinkClient.
@main
struct Burnlink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: ParsingShortcut.rootName,
        abstract: "Share a secret through a link that works once. Encrypted on your machine; the server never sees the key.",
        discussion: """
            Exit codes:
              0  success
              1  other failure
              2  usage: bad arguments, a malformed link or receipt, unreadable input
              3  gone: opened, expired, revoked, burned, never existed, or a wrong key;
                 a request that is gone, or was answered already (send --to)
              4  wrong password (the secret stays, unless the attempts ran out)
              5  integrity: altered, cut short, or not readable by this version
              6  network or server trouble
              7  status --wait reached its --timeout; no answer to a request within --timeout
              8  status: claimed but never confirmed as delivered (lost on the way)
              129, 130, 143  SIGHUP, SIGINT (Ctrl-C), SIGTERM; an open keeps its claim

            Defaults come from $XDG_CONFIG_HOME/burnlink/config, else \
            ~/.config/burnlink/config: lines such as "server = https://burn.example.com", \
            "expires = 24h", "views = 1". A server that lets only token holders create takes \
            the token from BURNLINK_TOKEN or a "token = ..." line (send only; keep that file \
            private).

            A link or receipt is best given on standard input: as an argument, other local \
            users can read it (ps, /proc) until burnlink has started and wiped it.
            """,
        version: BurnlinkVersion.current,
        subcommands: [Send.self, Open.self, Request.self, Peek.self, Status.self, Revoke.self]
    )

    static func main() async {
        StandardStreams.holdClosedDescriptors()
        // No core dumps while secrets are in memory.
        ProcessHardening.disableCoreDumps()
        // Ctrl-C, SIGTERM and SIGHUP restore a password prompt's echo and remove a partial
        // plaintext file before the process ends.
        Interruption.install()
        // Every command but help and --version talks to a server: start the HTTP client (its
        // event loop thread) on the second core while this one parses the arguments.
        APIClient.prepareInBackground()
        let arguments = Array(CommandLine.arguments.dropFirst())
        ArgumentHiding.hideArguments(keepingSubcommands: Set(configuration.subcommands.map { $0._commandName } + ["help"]))
        let command: any ParsableCommand
        do {
            if let subcommand = ParsingShortcut.plainSubcommand(of: arguments, among: configuration.subcommands) {
                command = try subcommand.parseAsRoot(Array(arguments.dropFirst()))
            } else {
                command = try parseAsRoot(arguments)
            }
        } catch {
            exit(with: error)
        }
        await runAndExit(command)
    }

    /// Runs the command and exits from where it ends. `main` belongs to the main actor, and
    /// returning to it would wait for Dispatch (on Linux) to start a thread just to exit.
    @concurrent private static func runAndExit(_ command: sending any ParsableCommand) async -> Never {
        var command = command
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            // Everything the command wrote went out with write(2) (no stdio buffer is left
            // to flush), and its files are closed or synced, so `exit`'s handlers have
            // nothing to do for it; a process ended with `exit` took about 1 ms longer to be
            // gone than with `_exit` (strace; docs/benchmarks.md, "Issue 18: the CLI's
            // output write and its background start-up").
            Glibc._exit(0)
        } catch {
            exit(with: error)
        }
    }

    /// Reports `error` in the house style and exits with its code. With `_exit`, as after
    /// a command that succeeded: the messages went out with write(2), and `exit` would run
    /// the runtime's static destructors while the background start-up
    /// (`APIClient.prepareInBackground`) may still be instantiating type metadata on another
    /// thread. A `send --to` on a loaded machine crashed that way (SIGSEGV in
    /// `ConnectionWarmUp.run`) instead of exiting with its error.
    private static func exit(with error: any Error) -> Never {
        switch error {
        case let error as ClientError:
            Messages.error(error)
            Glibc._exit(error.exitCode)
        case let error as ExitCode:
            Glibc._exit(error.rawValue)
        default:
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                Terminal.writeAll(STDOUT_FILENO, message + "\n")
                Glibc._exit(0)
            }
            // Argument errors are usage errors: exit 2, in the house style.
            Messages.error(.usage(usageError(message), hint: "see 'burnlink help' or 'burnlink <command> --help'"))
            Glibc._exit(2)
        }
    }

    /// What is printed of ArgumentParser's message for an argument error: its first line,
    /// without "Error: " (the usage lines after it name the command in two ways, depending on
    /// the command the parse started from; the hint replaces them).
    static func usageError(_ message: String) -> String {
        let firstLine = message.split(separator: "\n").first.map(String.init) ?? message
        return firstLine.hasPrefix("Error: ") ? String(firstLine.dropFirst("Error: ".count)) : firstLine
    }
}

/// Options every network command shares.
struct ConnectionOptions: ParsableArguments {
    @Flag(help: "Allow plain http:// to a host that is not loopback.")
    var insecure = false

    @Option(
        name: .customLong("cacert"),
        help: ArgumentHelp(
            "Trust only the certificate authorities in this PEM file for https:// servers (a private CA).",
            discussion: "Without it: 'cacert = FILE' in the config file, else SSL_CERT_FILE, else the system's store.",
            valueName: "file"))
    var certificateAuthorities: String?

    /// Whom to believe about https:// certificates: --cacert, else the config file's
    /// `cacert`, else SSL_CERT_FILE, else the system's store (curl's order).
    func trust(config: ConfigFile? = nil) throws(ClientError) -> ServerTrust {
        let loaded: ConfigFile
        if let config { loaded = config } else { loaded = try ConfigFile.load() }
        guard let file = certificateAuthorities ?? loaded.cacert ?? Environment.value("SSL_CERT_FILE") else { return .system }
        return .certificateFile(file)
    }

    /// The server at `url`, under these options.
    func endpoint(_ url: String, config: ConfigFile? = nil) throws(ClientError) -> ServerEndpoint {
        try ServerEndpoint(url, insecure: insecure, trust: trust(config: config))
    }

    /// An opener for links, under these options.
    func opener() throws(ClientError) -> SecretOpener {
        SecretOpener(insecure: insecure, trust: try trust())
    }

    @Flag(name: .shortAndLong, help: "Print nothing on stderr but errors.")
    var quiet = false
}
