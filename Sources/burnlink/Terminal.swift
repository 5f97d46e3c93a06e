import BurnlinkClient
import BurnlinkCore
import NIOConcurrencyHelpers

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// The person at the keyboard, when there is one: prompts go to the controlling terminal,
/// never to stdout, and passwords are read without echo.
enum Terminal {
    static var stdinIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }
    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    /// Reads a password from /dev/tty with echo off. Nil when there is no terminal.
    static func readPassword(prompt: String) throws(ClientError) -> SecretBytes? {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard tty >= 0 else { return nil }
        defer { close(tty) }
        var original = termios()
        guard tcgetattr(tty, &original) == 0 else { return nil }
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO)
        silent.c_lflag |= tcflag_t(ECHONL)
        // Echo goes off before the prompt shows, so nothing typed after it can be echoed (or
        // flushed). Ctrl-C at the prompt turns it back on too (Interruption).
        Interruption.restoringTerminal(tty, to: original)
        tcsetattr(tty, TCSAFLUSH, &silent)
        defer {
            tcsetattr(tty, TCSAFLUSH, &original)
            Interruption.terminalRestored()
        }
        writeAll(tty, prompt)
        var line = readLine(tty, limit: 4096)
        defer { SecureMemory.wipeArray(&line) }
        guard !line.isEmpty else { throw .usage("no password entered") }
        return KDFParameters.passwordBytes(String(decoding: line, as: UTF8.self))
    }

    /// The first line of a file (or of standard input for "-") as password bytes.
    static func readPasswordFile(_ path: String) throws(ClientError) -> SecretBytes {
        let descriptor = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .usage("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { if descriptor != STDIN_FILENO { close(descriptor) } }
        var line = readLine(descriptor, limit: 4096)
        defer { SecureMemory.wipeArray(&line) }
        guard !line.isEmpty else { throw .usage("the password file is empty") }
        return KDFParameters.passwordBytes(String(decoding: line, as: UTF8.self))
    }

    /// Asks a yes/no question on /dev/tty; nil when there is no terminal.
    static func confirm(_ question: String) -> Bool? {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard tty >= 0 else { return nil }
        defer { close(tty) }
        writeAll(tty, question)
        let answer = String(decoding: readLine(tty, limit: 64), as: UTF8.self).trimmingWhitespace().lowercased()
        return answer == "y" || answer == "yes"
    }

    /// One line from a descriptor, without its newline, at most `limit` bytes.
    static func readLine(_ descriptor: Int32, limit: Int) -> [UInt8] {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < limit {
            let count = read(descriptor, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 || byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        byte = 0
        return line
    }

    /// Best effort, for prompts and messages: a message that cannot be shown changes nothing.
    static func writeAll(_ descriptor: Int32, _ text: String) {
        _ = write(descriptor, text)
    }

    /// Writes all of `text`; on failure, the errno that stopped it.
    static func write(_ descriptor: Int32, _ text: String) -> Int32? {
        var bytes = Array(text.utf8)
        defer { bytes.withUnsafeMutableBytes { SecureMemory.wipe($0) } }
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return count == 0 ? EIO : errno }
            offset += count
        }
        return nil
    }

    /// The command's product on stdout (a link, a receipt's state, JSON): if it cannot be
    /// written, the command failed, whatever else went well.
    static func writeOutput(_ text: String) throws(ClientError) {
        if let failure = write(STDOUT_FILENO, text) {
            throw .other("cannot write to standard output: \(String(cString: strerror(failure)))")
        }
    }
}

/// Messages for the person: stderr only, silenced by --quiet (errors excepted).
struct Messages: Sendable {
    let quiet: Bool

    /// Messages carry names and text from elsewhere (a server's words, a file name, a path):
    /// nothing in them reaches the terminal as a control sequence.
    func say(_ text: String) {
        guard !quiet else { return }
        Terminal.writeAll(STDERR_FILENO, TerminalEscaper.escaped(text, keepingNewlines: true) + "\n")
    }

    static func error(_ error: ClientError) {
        var text = "burnlink: error: \(TerminalEscaper.escaped(error.message, keepingNewlines: true))\n"
        if let hint = error.hint { text += "hint: \(TerminalEscaper.escaped(hint, keepingNewlines: true))\n" }
        Terminal.writeAll(STDERR_FILENO, text)
    }
}

/// A one-line progress bar on stderr for large transfers, only when stderr is a terminal.
final class ProgressBar: @unchecked Sendable {
    private let total: Int?
    private let label: String
    private let started = Date()
    private var lastDraw = Date.distantPast
    private let lock = NIOLock()
    private var drawn = false

    static let threshold = 8 << 20

    /// Nil unless the transfer is large (or of unknown size) and a person is watching.
    static func make(label: String, total: Int?, quiet: Bool) -> ProgressBar? {
        guard !quiet, Terminal.stderrIsTerminal, total.map({ $0 > threshold }) ?? true else { return nil }
        return ProgressBar(label: label, total: total)
    }

    private init(label: String, total: Int?) {
        self.label = label
        self.total = total
    }

    func update(_ done: Int) {
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
        guard done > Self.threshold || drawn else { return }
        lastDraw = now
        drawn = true
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let rate = Double(done) / elapsed
        var line = "\r\(label) \(Self.size(done))"
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let width = 24
            let filled = Int(fraction * Double(width))
            let eta = rate > 0 ? Int(Double(total - done) / rate) : 0
            line +=
                " / \(Self.size(total)) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))]"
            line += " \(Self.size(Int(rate)))/s ETA \(eta / 60)m\(eta % 60 < 10 ? "0" : "")\(eta % 60)s"
        } else {
            line += " \(Self.size(Int(rate)))/s"
        }
        Terminal.writeAll(STDERR_FILENO, line + "\u{1B}[K")
    }

    var callback: @Sendable (Int) -> Void {
        { [self] done in update(done) }
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { Terminal.writeAll(STDERR_FILENO, "\n") }
    }

    static func size(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int((value * 10).rounded())
        return unit == 0 ? "\(bytes) B" : "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}
