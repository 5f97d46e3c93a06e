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

struct Request: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        _superCommandName: ParsingShortcut.rootName,
        abstract: "Ask someone for a secret: print a request link that lets them answer once, and only you read it.",
        discussion: """
            Makes a key pair on this machine and a request on the server, and prints the request \
            link. It holds only the public key: whoever has it can answer once ('burnlink send \
            --to LINK', or the link's page in a browser), nobody can read the answer with it. \
            The private key stays on this machine, in $XDG_STATE_HOME/burnlink/requests \
            (owner-only), until the answer is opened with 'burnlink open LINK'.

            --wait keeps the key in memory instead: the request link goes to stderr (with -q, as \
            its first line and nothing else), and the answer, once it comes, to stdout or \
            --output. Interrupting it loses the request.

            The note is PUBLIC: the server stores it as is and shows it to anyone with the link. \
            Say what you need, never the secret itself.
            """
    )

    @Option(help: "What you are asking for (public: shown to anyone with the link; one line of at most 256 characters).")
    var note: String?

    @Option(help: "How long the request can be answered: 10m, 1h, 7d ... (default 24h, or the config file's).")
    var expires: String?

    @Option(help: "Server URL (else BURNLINK_SERVER, else the config file, else http://127.0.0.1:8080).")
    var server: String?

    @Flag(help: "Print JSON: link, id, expires_at and note (with --list: one entry per request).")
    var json = false

    @Flag(help: "Keep the key in memory and wait here for the answer; the link goes to stderr.")
    var wait = false

    @Option(help: "With --wait: give up after this many seconds (exit 7); default: when the request expires.")
    var timeout: Int?

    @Option(
        name: .shortAndLong,
        help: "With --wait: write the answer to this file; '.' uses the sender's file name; '-' is standard output.")
    var output: String?

    @Flag(help: "With --wait: replace --output if it exists.")
    var force = false

    @Option(help: "With --wait: read the answer's password, if it has one, from the first line of this file.")
    var passwordFile: String?

    @Flag(help: "With --wait: print a text answer on a terminal as it is, control characters included.")
    var raw = false

    @Flag(help: "List the requests this machine waits on (open, answered or gone), and forget the gone ones.")
    var list = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if list && (wait || note != nil || expires != nil || server != nil) {
            throw ValidationError("--list takes no other request option (each request names its own server)")
        }
        if !wait && (timeout != nil || output != nil || force || passwordFile != nil || raw) {
            throw ValidationError("--timeout, --output, --force, --password-file and --raw go with --wait")
        }
        if wait && json { throw ValidationError("--json does not go with --wait") }
        if let timeout, timeout < 0 { throw ValidationError("--timeout must be 0 or more seconds") }
    }

    func run() async throws {
        if list { return try await listRequests() }
        let opening = LinkOpening(
            output: output, force: force, passwordFile: passwordFile, confirm: false, raw: raw, connection: connection)
        let sink = wait ? try opening.makeSink() : nil
        // Where the key will be kept must be fit for it before anything is asked of the server.
        let pending = wait ? nil : try pendingRequests()
        try pending?.prepare()
        let config = try ConfigFile.load()
        let endpoint = try Settings.server(flag: server, config: config, connection: connection)
        let requester = SecretRequester(api: APIClient(endpoint: endpoint))
        let made = try await requester.create(
            note: note, expiresIn: try Settings.duration(expires ?? config.expires ?? "24h"),
            creatorToken: try Settings.creatorToken(config: config))

        if let sink {
            // Not the product: the answer is. Shown even with --quiet (then alone on the first
            // line, for scripts), since nobody can answer without it.
            let intro = "Request link (send it to whoever has the secret: it lets them answer once, never read):\n"
            Terminal.writeAll(STDERR_FILENO, (connection.quiet ? "" : intro) + made.link.formatted + "\n")
            let answering = RequestAnswerOpening(opening: opening, timeout: timeout)
            return try await answering.open(made.link, keys: made.keys, sink: sink, forget: nil)
        }

        guard let pending else { return }
        try pending.save(made.saved, id: made.link.id)
        do {
            try Terminal.writeOutput(try output(made))
        } catch {
            // Nobody can answer a request whose link was never shown: forget it.
            pending.remove(made.link.id)
            throw error
        }
        let messages = Messages(quiet: connection.quiet)
        if !json {
            messages.say(
                "Send this link to whoever has the secret: it lets them answer once ('burnlink send --to LINK' or a browser), never read."
            )
            messages.say("Open the answer on this machine with 'burnlink open LINK' (it waits for the answer if needed).")
        }
    }

    private func output(_ made: MadeRequest) throws(ClientError) -> String {
        guard json else { return made.link.formatted + "\n" }
        return try JSONLine.encode(
            Entry(link: made.link.formatted, id: made.link.id.encoded, expires_at: made.expiresAt, note: made.note, state: nil))
    }

    /// One request in `--json` output.
    private struct Entry: Encodable {
        let link: String
        let id: String
        /// Absent for a request that is gone.
        let expires_at: Date?
        let note: String?
        let state: String?
    }

    /// Shows every saved request with its state on its server; forgets those that are gone.
    private func listRequests() async throws {
        let pending = try pendingRequests()
        var entries: [Entry] = []
        var lines: [String] = []
        for (id, saved) in pending.all() {
            var state = "unknown (server unreachable)"
            var expiresAt: Date? = saved.expiresAt
            do {
                let (link, keys) = try saved.open()
                let api = APIClient(endpoint: try connection.endpoint(link.serverURL))
                let answer = try await api.requestAnswer(id: id, answerToken: keys.answerToken)
                state = answer.state.rawValue
                expiresAt = answer.expiresAt
            } catch .requestGone {
                state = "gone"
                expiresAt = nil
                pending.forgetIfOver(id, saved)
            } catch {
                state = "unknown (\(error.message))"
            }
            entries.append(Entry(link: saved.link, id: id.encoded, expires_at: expiresAt, note: saved.note, state: state))
            let note = saved.note.map { TerminalEscaper.escaped($0) } ?? "(no note)"
            let expires = expiresAt.map { "expires in " + Settings.describe(seconds: Int($0.timeIntervalSinceNow)) }
            lines.append(([id.encoded, state] + (expires.map { [$0] } ?? []) + [note]).joined(separator: "  "))
        }
        if json {
            try Terminal.writeOutput(try JSONLine.encode(entries))
        } else if !lines.isEmpty {
            try Terminal.writeOutput(lines.joined(separator: "\n") + "\n")
        } else {
            Messages(quiet: connection.quiet).say("No pending requests on this machine.")
        }
    }
}

/// Opens the answer to a request this machine made: waits for it (as long as allowed),
/// opens the sealed link key, and opens the answer's secret like any link.
struct RequestAnswerOpening {
    let opening: LinkOpening
    let timeout: Int?

    /// The answer to a request link given by the user: its key must be saved on this machine.
    func open(requestLink text: String, sink: OutputSink) async throws {
        let given: RequestLink
        do {
            given = try RequestLink(parsing: text)
        } catch {
            throw ClientError.usage("\(error)", hint: "a request link looks like https://host/r/<id>#<key>; copy it whole")
        }
        let pending = try pendingRequests()
        // Held until this run ends: a second run of the same link waits its turn instead of
        // finding the answer claimed and forgetting the key this one still needs.
        guard let (saved, held) = try pending.lock(given.id) else {
            throw ClientError.usage(
                "this request was not made on this machine, or its answer was opened already",
                hint: "only the machine that ran 'burnlink request' can open the answer; to answer it: burnlink send --to LINK")
        }
        let (link, keys) = try saved.open()
        if let note = saved.note { Messages(quiet: opening.connection.quiet).say("Request: \(TerminalEscaper.escaped(note))") }
        defer { withExtendedLifetime(held) {} }
        try await open(
            link, keys: keys, sink: sink,
            forget: { answered in answered ? pending.remove(given.id) : pending.forgetIfOver(given.id, saved) })
    }

    /// Waits for the answer and opens it. `forget` drops the saved key once it is of no
    /// more use: with `true` when the answer was opened or is gone, with `false` when the
    /// server no longer knows the request.
    func open(_ link: RequestLink, keys: RequestKeyPair, sink: OutputSink, forget: ((Bool) -> Void)?) async throws {
        let messages = Messages(quiet: opening.connection.quiet)
        let api = APIClient(endpoint: try opening.connection.endpoint(link.serverURL))
        let deadline = timeout.map { ContinuousClock.now + .seconds($0) }
        let requester = SecretRequester(api: api)
        let answer: Link
        do {
            answer = try await requester.answer(to: link, keys: keys, deadline: deadline) { open in
                let left = Settings.describe(seconds: Int(open.expiresAt.timeIntervalSinceNow))
                messages.say("Waiting for the answer (the request can be answered for \(left); Ctrl-C stops waiting)...")
            }
        } catch {
            if error == .requestGone { forget?(false) }
            throw error
        }
        do {
            try await opening.open(answer, sink: sink)
        } catch {
            if let error = error as? ClientError, error == .gone { forget?(true) }
            throw error
        }
        forget?(true)
    }
}

/// One JSON value on one line, keys sorted, dates in ISO 8601.
enum JSONLine {
    static func encode(_ value: some Encodable) throws(ClientError) -> String {
        do {
            return String(decoding: try APIJSON.encoder().encode(value), as: UTF8.self) + "\n"
        } catch {
            throw .other("cannot encode the JSON output: \(error)")
        }
    }
}
