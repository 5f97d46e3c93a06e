import ArgumentParser
import BurnlinkClient
import BurnlinkCore
import BurnlinkProtocol
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        _superCommandName: ParsingShortcut.rootName,
        abstract: "Encrypt a secret locally, upload the ciphertext, print the link.",
        discussion: """
            Reads the secret from standard input, or from FILE. Prints the link, and only the \
            link, on stdout (one per recipient). The secret is never taken from the command line. \
            A link or receipt that cannot be written (a full disk, a closed pipe) revokes the \
            secret: nobody holds a link to it.

            --to answers a request link ('burnlink request' made it): the secret is encrypted to \
            the requester, who alone can open it, and no link is printed. A request takes one \
            answer: if someone answered first, nothing is sent (exit 3).
            """
    )

    @Argument(help: "A file to send; '-' or nothing reads standard input.")
    var file: String?

    @Option(help: "How long the link lives: 10m, 1h, 7d ... (default 24h, or the config file's).")
    var expires: String?

    @Option(help: "How many times the secret may be opened (1 to 100; default 1).")
    var views: Int?

    @Flag(help: "Protect the secret with a password, asked twice on the terminal.")
    var password = false

    @Option(help: "Read the password from the first line of this file ('-': standard input, if the secret is a file).")
    var passwordFile: String?

    @Option(help: "Make N independent links, one per line: each its own key and copy.")
    var recipients = 1

    @Option(help: "File name stored inside the encrypted metadata (default: the file's base name).")
    var name: String?

    @Option(help: "Server URL (else BURNLINK_SERVER, else the config file, else http://127.0.0.1:8080).")
    var server: String?

    @Option(help: "Answer this request link instead of making a link (its server is the link's).")
    var to: String?

    @Flag(help: "Print JSON: link, receipt, id and expires_at per recipient.")
    var json = false

    @Option(help: "Write the sender's receipt(s) to this file (mode 0600), for status and revoke.")
    var receiptFile: String?

    @Flag(help: "Send an empty secret instead of refusing empty input.")
    var allowEmpty = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if to != nil && recipients != 1 { throw ValidationError("--to answers one request: --recipients does not go with it") }
        if to != nil && server != nil { throw ValidationError("--to names its server: --server does not go with it") }
        guard (1...100).contains(recipients) else { throw ValidationError("--recipients must be 1 to 100") }
        if let views, !(1...100).contains(views) { throw ValidationError("--views must be 1 to 100") }
        if password && passwordFile != nil { throw ValidationError("use --password or --password-file, not both") }
        if passwordFile == "-" && (file == nil || file == "-") {
            throw ValidationError("--password-file - needs standard input, which already carries the secret")
        }
    }

    func run() async throws {
        let messages = Messages(quiet: connection.quiet)
        try checkReceiptFile()
        let config = try ConfigFile.load()
        let request = try to.map(Self.parseRequest)
        let endpoint =
            try request.map { try connection.endpoint($0.serverURL, config: config) }
            ?? Settings.server(flag: server, config: config, connection: connection)
        let api = APIClient(endpoint: endpoint)
        var maxSize: Int?
        if let request { maxSize = try await checkRequest(request, api: api, messages: messages).maxSize }

        let reader: PlaintextReader
        var options: SendOptions
        var size: Int?
        if let file, file != "-" {
            let (opened, fileSize) = try PlaintextReader.open(path: file)
            reader = opened
            size = fileSize
            let fileName = name ?? FilePath(file).lastComponent?.string ?? file
            do {
                options = SendOptions(metadata: try .file(name: fileName, size: UInt64(fileSize)))
            } catch {
                throw ClientError.usage("\(error)", hint: "choose a name with --name")
            }
        } else {
            if Terminal.stdinIsTerminal {
                messages.say("Type or paste the secret, then press Ctrl-D on an empty line.")
            }
            reader = PlaintextReader(descriptor: STDIN_FILENO, ownsDescriptor: false)
            if let name {
                do {
                    options = SendOptions(metadata: try .file(name: name, size: nil))
                } catch {
                    throw ClientError.usage("\(error)")
                }
            } else {
                options = SendOptions(metadata: .text())
            }
        }
        options.expiresIn = try Settings.duration(expires ?? config.expires ?? "24h")
        options.views = views ?? config.views ?? 1
        options.recipients = recipients
        options.allowEmpty = allowEmpty
        options.answering = request
        if request == nil {
            // A request link is the permission to answer: no creator token goes with it.
            options.creatorToken = try Settings.creatorToken(config: config)
            if let warning = Settings.tokenFileWarning(config: config) { messages.say(warning) }
        }
        if let password = try readPassword() {
            do {
                options.password = (password, try KDFParameters.generate())
            } catch {
                throw ClientError.other("\(error)")
            }
        }

        if let size, let limit = maxSize, limit > 0, Envelope.sealedCount(contentCount: size, metadata: options.metadata) > limit
        {
            throw ClientError.usage(
                "the file is larger than the server accepts (\(ProgressBar.size(limit)))", hint: "send something smaller")
        }
        let progress = ProgressBar.make(label: "encrypting and uploading", total: size, quiet: connection.quiet)
        let sent = try await SecretSender(api: api)
            .send(reader, contentSize: size, options: options, progress: progress?.callback)
        progress?.finish()
        try await handOver(sent, api: api, messages: messages)
    }

    /// The receipt file first, then the links: a secret whose link or receipt could not be
    /// written (a full disk, a closed pipe) is revoked at once rather than left for nobody.
    private func handOver(_ sent: [SentSecret], api: APIClient, messages: Messages) async throws(ClientError) {
        do {
            try keepReceipts(sent)
            try Terminal.writeOutput(try linksText(sent))
        } catch {
            var revoked = 0
            for secret in sent {
                if (try? await api.revoke(secret.receipt)) != nil { revoked += 1 }
            }
            let outcome =
                revoked == sent.count
                ? "so the secret was revoked: nobody can open it"
                : "and \(sent.count - revoked) of \(sent.count) secret(s) could not be revoked; they expire on their own"
            throw .other("\(error.message); \(outcome)", hint: error.hint ?? "send it again once the output can be written")
        }
        if to != nil { messages.say("Sent: the request is answered, and only its requester can open the secret.") }
        if receiptFile == nil && Terminal.stderrIsTerminal && !json {
            messages.say("receipt (keep it to check or revoke; it does not open the secret):")
            sent.forEach { messages.say("  \($0.receipt.formatted)") }
        }
    }

    private func linksText(_ sent: [SentSecret]) throws(ClientError) -> String {
        guard json else {
            let links = sent.compactMap(\.link)
            return links.isEmpty ? "" : links.joined(separator: "\n") + "\n"
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(sent.map(JSONEntry.init)), as: UTF8.self) + "\n"
        } catch {
            throw .other("cannot encode the JSON output: \(error)")
        }
    }

    /// One recipient in `--json` output.
    private struct JSONEntry: Encodable {
        /// Absent for an answer to a request, which has no link.
        let link: String?
        let receipt: String
        let id: String
        let expires_at: String
        let max_views: Int

        init(_ secret: SentSecret) {
            link = secret.link
            receipt = secret.receipt.formatted
            id = secret.receipt.id.encoded
            expires_at = secret.expiresAt.formatted(.iso8601)
            max_views = secret.maxViews
        }
    }

    private static func parseRequest(_ text: String) throws(ClientError) -> RequestLink {
        do {
            return try RequestLink(parsing: text.trimmingWhitespace())
        } catch {
            let hint =
                LinkKind.of(text.trimmingWhitespace()) == .secret
                ? "that is a secret link (/s/...): open it with 'burnlink open'; --to takes a request link (/r/...)"
                : "a request link looks like https://host/r/<id>#<key>; copy it whole"
            throw .usage("--to: \(error)", hint: hint)
        }
    }

    /// Shows what the request asks for; refuses one answered already before reading anything.
    private func checkRequest(_ request: RequestLink, api: APIClient, messages: Messages) async throws(ClientError)
        -> RequestMetadataResponse
    {
        let asked = try await SecretSender(api: api).inspect(request)
        guard !asked.answered else { throw .alreadyAnswered }
        let expires = Settings.describe(seconds: Int(asked.expiresAt.timeIntervalSinceNow))
        // The note comes from the server: escaped whole, line breaks included.
        let note = asked.note.map { "\"" + TerminalEscaper.escaped($0) + "\"" } ?? "(no note)"
        messages.say("Answering the request \(note) (open for \(expires) more).")
        return asked
    }

    private func readPassword() throws(ClientError) -> SecretBytes? {
        if let passwordFile { return try Terminal.readPasswordFile(passwordFile) }
        guard password else { return nil }
        guard let first = try Terminal.readPassword(prompt: "Password: ") else {
            throw .usage("--password needs a terminal to ask on", hint: "use --password-file in scripts")
        }
        guard let second = try Terminal.readPassword(prompt: "Password again: "), second == first else {
            throw .usage("the passwords do not match")
        }
        return first
    }

    /// Before anything is uploaded: --receipt-file can be written (a writable file, or a
    /// new name in a writable directory). A full disk can still fail the write; `handOver`
    /// then revokes.
    private func checkReceiptFile() throws(ClientError) {
        guard let receiptFile else { return }
        let hint = "choose another --receipt-file"
        var info = stat()
        guard stat(receiptFile, &info) == 0 else {
            return try OutputChecks.writableDirectory(OutputChecks.directory(of: receiptFile), hint: hint)
        }
        guard info.st_mode & S_IFMT != S_IFDIR else { throw .usage("\(receiptFile) is a directory", hint: hint) }
        guard access(receiptFile, W_OK) == 0 else {
            throw .usage("cannot write \(receiptFile): \(String(cString: strerror(errno)))", hint: hint)
        }
    }

    /// Writes --receipt-file (mode 0600) and makes it durable before any link is shown.
    private func keepReceipts(_ sent: [SentSecret]) throws(ClientError) {
        guard let receiptFile else { return }
        let receipts = sent.map { $0.receipt.formatted }.joined(separator: "\n") + "\n"
        let descriptor = open(receiptFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .other(
                "cannot write \(receiptFile): \(String(cString: strerror(errno)))", hint: "choose another --receipt-file")
        }
        var failure = Terminal.write(descriptor, receipts)
        if failure == nil, fsync(descriptor) != 0, errno != EINVAL { failure = errno }  // EINVAL: a pipe or a device
        if close(descriptor) != 0, failure == nil { failure = errno }
        if let failure {
            throw .other(
                "cannot write \(receiptFile): \(String(cString: strerror(failure)))", hint: "choose another --receipt-file")
        }
    }
}
