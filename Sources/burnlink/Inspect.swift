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
        _superCommandName: ParsingShortcut.rootName,
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
        let peeked = try await connection.opener().peek(link)
        let metadata = peeked.metadata
        if json {
            let data = try APIJSON.encoder().encode(metadata)
            try Terminal.writeOutput(String(decoding: data, as: UTF8.self) + "\n")
            return
        }
        let expiresIn = Int(metadata.expiresAt.timeIntervalSinceNow)
        try Terminal.writeOutput(
            """
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
            let text: String
            switch SmallTextFile.read(receiptFile) {
            case .success(let contents): text = contents
            case .failure(.missing): throw .usage("cannot read a receipt from \(receiptFile): no such file")
            case .failure(.unreadable(let reason)): throw .usage("cannot read a receipt from \(receiptFile): \(reason)")
            }
            guard let line = text.split(separator: "\n").first else {
                throw .usage("cannot read a receipt from \(receiptFile): it is empty")
            }
            return try SenderReceipt(parsing: String(line).trimmingWhitespace())
        }
        return try SenderReceipt(parsing: try readLinkArgument(receipt, what: "receipt").trimmingWhitespace())
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        _superCommandName: ParsingShortcut.rootName,
        abstract: "Show what happened to a secret you sent: waiting, viewed (delivered or not), expired, revoked or burned.",
        discussion: """
            A view is "delivered" once the recipient's client confirmed that every byte arrived \
            and verified, "not confirmed" when its claim window ran out first (the secret was \
            destroyed unread by anyone else), "pending" in between.

            With --wait, blocks until the secret is delivered or can no longer be (--timeout \
            SECONDS to give up earlier): made for a CI job that hands over a credential and waits \
            until it is picked up.

            Exit code: 0 delivered, or still waiting without --wait; 3 expired, revoked or burned \
            unread; 7 --timeout ran out first; 8 claimed but never confirmed: lost on the way.
            """
    )

    @OptionGroup var input: ReceiptInput

    @Flag(help: "Wait until the secret is delivered or can no longer be.")
    var wait = false

    @Option(help: ArgumentHelp("With --wait: give up after SECONDS (exit 7). Implies --wait.", valueName: "SECONDS"))
    var timeout: Int?

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if let timeout, timeout < 1 { throw ValidationError("--timeout takes a number of seconds, 1 or more") }
        // In `--wait 30`, the 30 would be taken for the receipt.
        if wait, let receipt = input.receipt, !receipt.isEmpty, receipt.allSatisfy(\.isNumber) {
            throw ValidationError("--wait takes no value; to wait at most \(receipt) seconds, say --timeout \(receipt)")
        }
    }

    func run() async throws {
        let receipt = try input.load()
        let api = APIClient(endpoint: try connection.endpoint(receipt.server))
        var current = try await api.receipt(receipt)
        if wait || timeout != nil {
            let deadline = timeout.map { Date().addingTimeInterval(TimeInterval($0)) } ?? .distantFuture
            while Self.stillOpen(current) {
                let remaining = Int(deadline.timeIntervalSinceNow.rounded(.up))
                guard remaining > 0 else { break }
                let asked = ContinuousClock.now
                current = try await api.receipt(receipt, wait: min(remaining, API.maximumReceiptWait))
                // A server that answers at once (shutting down, or not holding polls): not
                // more than one poll a second.
                if asked.duration(to: .now) < .seconds(1) { try await Task.sleep(for: .seconds(1)) }
            }
            if Self.stillOpen(current) {
                try print(current)
                throw ClientError.waitTimedOut
            }
        }
        try print(current)
        if current.delivered { return }
        if Self.lostOnTheWay(current) {
            Messages.error(
                .other(
                    "the secret was claimed but its delivery was never confirmed: it was lost on the way",
                    hint: "nobody else can read it; send it again"))
            throw ExitCode(8)
        }
        if [.expired, .revoked, .burned].contains(current.state) { throw ExitCode(3) }
    }

    /// Not delivered yet, and it still can be: readable, or a claim session still open.
    static func stillOpen(_ receipt: ReceiptResponse) -> Bool {
        guard !receipt.delivered else { return false }
        return receipt.deliveryPending || receipt.state == .waiting || (receipt.state == .viewed && receipt.viewsLeft > 0)
    }

    /// Claimed, but no claim was ever confirmed, and none can be any more.
    static func lostOnTheWay(_ receipt: ReceiptResponse) -> Bool {
        !receipt.delivered && !receipt.deliveryPending && receipt.views.contains { $0.delivery == .unconfirmed }
            && !(receipt.state == .viewed && receipt.viewsLeft > 0)
    }

    private func print(_ receipt: ReceiptResponse) throws {
        if json {
            let data = try APIJSON.encoder().encode(receipt)
            try Terminal.writeOutput(String(decoding: data, as: UTF8.self) + "\n")
            return
        }
        var state = receipt.state.rawValue
        if receipt.state == .viewed || !receipt.views.isEmpty {
            if receipt.delivered {
                state += ", delivered"
            } else if receipt.deliveryPending {
                state += ", delivery pending"
            } else if receipt.views.contains(where: { $0.delivery == .unconfirmed }) {
                state += ", not confirmed"
            }
        }
        var lines = ["state:      \(state)", "views left: \(receipt.viewsLeft) of \(receipt.maxViews)"]
        for view in receipt.views {
            var line = "viewed at:  \(view.viewedAt.formatted(.iso8601))"
            switch view.delivery {
            case .delivered:
                line += view.confirmedAt.map { " (delivered, confirmed at \($0.formatted(.iso8601)))" } ?? " (delivered)"
            case .pending: line += " (claimed; not confirmed yet)"
            case .unconfirmed: line += " (not confirmed: lost on the way)"
            case .sent: break
            }
            lines.append(line)
        }
        lines.append("expires at: \(receipt.expiresAt.formatted(.iso8601))")
        if let ended = receipt.endedAt { lines.append("ended at:   \(ended.formatted(.iso8601))") }
        try Terminal.writeOutput(lines.joined(separator: "\n") + "\n")
    }
}

struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", _superCommandName: ParsingShortcut.rootName,
        abstract: "Destroy a secret you sent before it is opened.")

    @OptionGroup var input: ReceiptInput
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let receipt = try input.load()
        let api = APIClient(endpoint: try connection.endpoint(receipt.server))
        do {
            try await api.revoke(receipt)
        } catch .gone {
            Terminal.writeAll(
                STDERR_FILENO,
                """
                burnlink: error: nothing to revoke: the secret was already opened, expired or revoked
                hint: 'burnlink status' shows what happened

                """)
            throw ExitCode(3)
        }
        Messages(quiet: connection.quiet).say("revoked: the link no longer works")
    }
}
