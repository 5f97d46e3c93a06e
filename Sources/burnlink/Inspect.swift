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

struct Peek: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peek",
        abstract: "Show a link's public metadata without opening it (nothing is consumed).",
        discussion: "Whether the secret is text or a file is encrypted with it, so only opening tells."
    )

    @Argument(help: "The link; '-' or nothing reads it from standard input.")
    var link: String?

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let link = try SecretOpener.parse(try readLinkArgument(link, what: "link"))
        let peeked = try await SecretOpener(insecure: connection.insecure).peek(link)
        let metadata = peeked.metadata
        if json {
            let data = try APIJSON.encoder().encode(metadata)
            Terminal.writeAll(STDOUT_FILENO, String(decoding: data, as: UTF8.self) + "\n")
            return
        }
        let expiresIn = Int(metadata.expiresAt.timeIntervalSinceNow)
        Terminal.writeAll(STDOUT_FILENO, """
            size:       \(ProgressBar.size(metadata.size)) encrypted
            expires in: \(Settings.describe(seconds: expiresIn))
            views left: \(metadata.viewsLeft)
            password:   \(metadata.passwordKDF == nil ? "none" : "required")

            """)
    }
}

/// Reads a receipt from the argument, --receipt-file, or standard input.
struct ReceiptInput: ParsableArguments {
    @Argument(help: "The receipt printed by 'burnlink send'; '-' or nothing reads it from standard input.")
    var receipt: String?

    @Option(help: "Read the receipt from the first line of this file.")
    var receiptFile: String?

    func load() throws(ClientError) -> SenderReceipt {
        if let receiptFile {
            guard let text = try? String(contentsOfFile: receiptFile, encoding: .utf8),
                  let line = text.split(separator: "\n").first else {
                throw .usage("cannot read a receipt from \(receiptFile)")
            }
            return try SenderReceipt(parsing: String(line).trimmingWhitespace())
        }
        return try SenderReceipt(parsing: try readLinkArgument(receipt, what: "receipt").trimmingWhitespace())
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what happened to a secret you sent: waiting, viewed, expired, revoked or burned.",
        discussion: """
        With --wait, blocks until the state changes (optionally at most SECONDS): made for a CI job
        that hands over a credential and waits until it is picked up. Exit code: 0 waiting or viewed,
        3 expired, revoked or burned, 7 --wait ran out with no change.
        """
    )

    @OptionGroup var input: ReceiptInput

    @Option(help: ArgumentHelp("Wait until the state changes; optionally at most SECONDS.", valueName: "SECONDS"))
    var wait: Int?

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    /// `--wait` may stand alone; ArgumentParser needs a value, so a bare one becomes 0 (no limit).
    static func expandBareWait(_ arguments: [String]) -> [String] {
        guard arguments.first == "status" else { return arguments }
        var result: [String] = []
        for (index, argument) in arguments.enumerated() {
            result.append(argument)
            if argument == "--wait" {
                let next = index + 1 < arguments.count ? arguments[index + 1] : ""
                if !(next.allSatisfy(\.isNumber) && !next.isEmpty) { result.append("0") }
            }
        }
        return result
    }

    func validate() throws {
        if let wait, wait < 0 { throw ValidationError("--wait takes a number of seconds, 0 or more") }
    }

    func run() async throws {
        let receipt = try input.load()
        let api = APIClient(endpoint: try ServerEndpoint(receipt.server, insecure: connection.insecure))
        var current = try await api.receipt(receipt)
        if let wait {
            let deadline = wait > 0 ? Date().addingTimeInterval(TimeInterval(wait)) : .distantFuture
            let first = current
            while current == first, current.state == .waiting || (current.state == .viewed && current.viewsLeft > 0) {
                let remaining = Int(deadline.timeIntervalSinceNow.rounded(.up))
                guard remaining > 0 else { break }
                current = try await api.receipt(receipt, wait: min(remaining, API.maximumReceiptWait))
            }
            if current == first && (current.state == .waiting || current.state == .viewed) {
                try print(current)
                throw ClientError.waitTimedOut
            }
        }
        try print(current)
        if [.expired, .revoked, .burned].contains(current.state) { throw ExitCode(3) }
    }

    private func print(_ receipt: ReceiptResponse) throws {
        if json {
            let data = try APIJSON.encoder().encode(receipt)
            Terminal.writeAll(STDOUT_FILENO, String(decoding: data, as: UTF8.self) + "\n")
            return
        }
        var lines = ["state:      \(receipt.state.rawValue)", "views left: \(receipt.viewsLeft) of \(receipt.maxViews)"]
        for time in receipt.viewedAt { lines.append("viewed at:  \(time.formatted(.iso8601))") }
        lines.append("expires at: \(receipt.expiresAt.formatted(.iso8601))")
        if let ended = receipt.endedAt { lines.append("ended at:   \(ended.formatted(.iso8601))") }
        Terminal.writeAll(STDOUT_FILENO, lines.joined(separator: "\n") + "\n")
    }
}

struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Destroy a secret you sent before it is opened.")

    @OptionGroup var input: ReceiptInput
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let receipt = try input.load()
        let api = APIClient(endpoint: try ServerEndpoint(receipt.server, insecure: connection.insecure))
        do {
            try await api.revoke(receipt)
        } catch .gone {
            Terminal.writeAll(STDERR_FILENO, """
                burnlink: error: nothing to revoke: the secret was already opened, expired or revoked
                hint: 'burnlink status' shows what happened

                """)
            throw ExitCode(3)
        }
        Messages(quiet: connection.quiet).say("revoked: the link no longer works")
    }
}
