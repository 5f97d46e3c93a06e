import ArgumentParser
import BurnlinkClient
import BurnlinkCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Encrypt a secret locally, upload the ciphertext, print the link.",
        discussion: """
        Reads the secret from standard input, or from FILE. Prints the link, and only the link,
        on stdout (one per recipient). The secret is never taken from the command line.
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

    @Flag(help: "Print JSON: link, receipt, id and expires_at per recipient.")
    var json = false

    @Option(help: "Write the sender's receipt(s) to this file (mode 0600), for status and revoke.")
    var receiptFile: String?

    @Flag(help: "Send an empty secret instead of refusing empty input.")
    var allowEmpty = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard (1...100).contains(recipients) else { throw ValidationError("--recipients must be 1 to 100") }
        if let views, !(1...100).contains(views) { throw ValidationError("--views must be 1 to 100") }
        if password && passwordFile != nil { throw ValidationError("use --password or --password-file, not both") }
        if passwordFile == "-" && (file == nil || file == "-") {
            throw ValidationError("--password-file - needs standard input, which already carries the secret")
        }
    }

    func run() async throws {
        let messages = Messages(quiet: connection.quiet)
        let config = try ConfigFile.load()
        let endpoint = try Settings.server(flag: server, config: config, insecure: connection.insecure)

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
        options.creatorToken = try Settings.creatorToken(config: config)
        if let warning = Settings.tokenFileWarning(config: config) { messages.say(warning) }
        if let password = try readPassword() {
            do {
                options.password = (password, try KDFParameters.generate())
            } catch {
                throw ClientError.other("\(error)")
            }
        }

        let progress = ProgressBar.make(label: "encrypting and uploading", total: size, quiet: connection.quiet)
        let sent = try await SecretSender(api: APIClient(endpoint: endpoint))
            .send(reader, contentSize: size, options: options, progress: progress?.callback)
        progress?.finish()

        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(sent.map(JSONEntry.init))
            Terminal.writeAll(STDOUT_FILENO, String(decoding: data, as: UTF8.self) + "\n")
        } else {
            Terminal.writeAll(STDOUT_FILENO, sent.map { $0.link }.joined(separator: "\n") + "\n")
        }
        try keepReceipts(sent, messages: messages)
    }

    /// One recipient in `--json` output.
    private struct JSONEntry: Encodable {
        let link: String
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

    private func keepReceipts(_ sent: [SentSecret], messages: Messages) throws(ClientError) {
        let receipts = sent.map { $0.receipt.formatted }
        if let receiptFile {
            let descriptor = open(receiptFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw .other("cannot write \(receiptFile): \(String(cString: strerror(errno)))",
                             hint: "the link(s) above work; only the receipt was not saved")
            }
            Terminal.writeAll(descriptor, receipts.joined(separator: "\n") + "\n")
            close(descriptor)
        } else if Terminal.stderrIsTerminal && !json {
            messages.say("receipt (keep it to check or revoke; it does not open the secret):")
            receipts.forEach { messages.say("  \($0)") }
        }
    }
}
