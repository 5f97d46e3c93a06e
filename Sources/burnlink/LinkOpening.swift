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

/// How `open` opens a secret link, with the options of the command that asked: shared by
/// `open` and by the commands that open an answer to a request.
struct LinkOpening {
    let output: String?
    let force: Bool
    let passwordFile: String?
    /// Ask before using a view (on a terminal).
    let confirm: Bool
    let raw: Bool
    let connection: ConnectionOptions

    /// Opens `link` into `sink`: resumes a claim this machine left unfinished, else peeks,
    /// asks what must be asked, claims and opens.
    func open(_ link: Link, sink: OutputSink) async throws {
        let messages = Messages(quiet: connection.quiet)
        let opener = try connection.opener()
        let sessions = try claimSessionStore()

        // A claim this machine made earlier and did not finish: fetch it again, nothing more is used.
        if let record = sessions.claimable(id: link.id, server: link.serverURL) {
            do {
                try await resume(record, link: link, opener: opener, sink: sink, messages: messages)
                return
            } catch .gone where !record.session.granted {
                // The earlier run never learned whether its claim went through: it did not.
            }
        }
        try await claimAndOpen(link: link, opener: opener, sink: sink, sessions: sessions, messages: messages)
    }

    /// Fetches again the secret of a claim session an earlier run recorded.
    private func resume(
        _ record: ClaimSessionRecord, link: Link, opener: SecretOpener, sink: OutputSink,
        messages: Messages
    ) async throws(ClientError) {
        let saved = record.session
        if saved.granted {
            messages.say(
                "Resuming the open of this link that did not finish; the secret is held for it until \(ClientError.clock(saved.deadline))."
            )
        }
        var passwordKey: SecretBytes?
        if saved.passwordKDF == nil, passwordFile != nil { noteUnusedPassword(messages) }
        if saved.passwordKDF != nil {
            guard let password = try readPassword() else {
                throw ClientError.usage(
                    "this secret is protected by a password",
                    hint: "run it on a terminal to be asked, or use --password-file")
            }
            passwordKey = try opener.passwordKey(parameters: saved.passwordKDF, password: password)
        }
        let progress = ProgressBar.make(label: "downloading and decrypting", total: saved.size, quiet: connection.quiet)
        let opened = try await opener.resume(
            link, record: record, passwordKey: passwordKey, into: sink,
            progress: progress?.callback)
        progress?.finish()
        report(opened, sink: sink, messages: messages)
    }

    /// Peeks, asks what must be asked, then claims and opens; or, when nothing needs the
    /// metadata before a view is used, claims at once.
    private func claimAndOpen(
        link: Link, opener: SecretOpener, sink: OutputSink, sessions: ClaimSessionStore?,
        messages: Messages
    ) async throws {
        if mayClaimFirst(sink) {
            do {
                let opened = try await opener.open(link, passwordKey: nil, into: sink, sessions: sessions)
                report(opened, sink: sink, messages: messages)
                return
            } catch {
                // A password: nothing was used and no attempt counted. Peek, ask for it, claim.
                guard case .server(401, "password_required", _) = error else { throw error }
            }
        }
        let peeked = try await opener.peek(link)
        try sink.checkRoom(for: peeked.metadata.size)
        var passwordKey: SecretBytes?
        if peeked.metadata.passwordKDF == nil, passwordFile != nil { noteUnusedPassword(messages) }
        if peeked.metadata.passwordKDF != nil {
            guard let password = try readPassword() else {
                throw ClientError.usage(
                    "this secret is protected by a password",
                    hint: "run it on a terminal to be asked, or use --password-file")
            }
            passwordKey = try opener.passwordKey(for: peeked, password: password)
        }
        if confirm && Terminal.stdinIsTerminal {
            let views = peeked.metadata.viewsLeft
            let question =
                views <= 1
                ? "This secret can be viewed once and is then destroyed. Reveal it now? [y/N] "
                : "This secret can be viewed \(views) more times. Reveal it now? [y/N] "
            guard Terminal.confirm(question) == true else {
                messages.say("Not opened; the link still works.")
                throw ExitCode(1)
            }
        }
        let progress = ProgressBar.make(label: "downloading and decrypting", total: peeked.metadata.size, quiet: connection.quiet)
        let opened = try await opener.open(
            link, passwordKey: passwordKey, into: sink, sessions: sessions,
            passwordKDF: peeked.metadata.passwordKDF, size: peeked.metadata.size,
            progress: progress?.callback)
        progress?.finish()
        report(opened, sink: sink, messages: messages)
    }

    /// Whether the claim can go first, without the metadata read before it (one round trip
    /// less): nothing that needs the metadata must happen before a view is used. No question
    /// to ask, no room to check (standard output is a pipe or a device), no progress bar, no
    /// password given. A secret that has a password answers such a claim with 401, nothing
    /// used, and the usual path follows.
    private func mayClaimFirst(_ sink: OutputSink) -> Bool {
        !(confirm && Terminal.stdinIsTerminal) && !sink.checksRoom && passwordFile == nil
            && ProgressBar.make(label: "", total: nil, quiet: connection.quiet) == nil
    }

    private func report(_ opened: OpenedSecret, sink: OutputSink, messages: Messages) {
        if sink.endedWithoutNewline && Terminal.stdoutIsTerminal { Terminal.writeAll(STDERR_FILENO, "\n") }
        if let saved = sink.savedPath { messages.say("saved to \(saved)") }
        if sink.escapedCount > 0 {
            messages.say(
                "note: the secret holds \(sink.escapedCount) control or invisible character(s), shown escaped above "
                    + "(\\xNN, \\u{XXXX}) so that they could not act on this terminal; --raw prints such a secret as it is.")
        }
        if opened.delivery == .unconfirmed {
            messages.say(
                "note: the server could not be told that the secret arrived; the sender's receipt will say it was not confirmed.")
        }
    }

    /// Not an error: the link alone opens the secret, and refusing would only delay the recipient.
    private func noteUnusedPassword(_ messages: Messages) {
        messages.say("note: this secret has no password; the password given was not used.")
    }

    private func readPassword() throws(ClientError) -> SecretBytes? {
        if let passwordFile { return try Terminal.readPasswordFile(passwordFile) }
        return try Terminal.readPassword(prompt: "Password: ")
    }

    func makeSink() throws(ClientError) -> OutputSink {
        switch output {
        case nil, "-"?:
            return try OutputSink(mode: .standardOutput(onTerminal: Terminal.stdoutIsTerminal, raw: raw), force: false)
        case "."?:
            return try OutputSink(mode: .senderName(directory: "."), force: force)
        case let path?:
            return try OutputSink(mode: .path(try FileSink(path: path, overwrite: force)), force: force)
        }
    }
}
