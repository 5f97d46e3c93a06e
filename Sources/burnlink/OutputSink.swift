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

/// Chooses where content goes once the metadata is known: a file secret never lands on
/// a terminal, and `--output .` needs the sender's name, which is inside the envelope.
/// Everything about the output that can fail is checked before the claim: at `init`
/// (places and permissions) and in `checkRoom` (free space, once the size is known).
final class OutputSink: PlaintextSink, @unchecked Sendable {
    enum Mode {
        /// `onTerminal`: stdout is a terminal, where a file is saved instead and text is
        /// escaped unless `raw`.
        case standardOutput(onTerminal: Bool, raw: Bool)
        case senderName(directory: String)
        case path(FileSink)
    }

    private let mode: Mode
    private let force: Bool
    private var target: (any PlaintextSink)?
    private(set) var savedPath: String?
    private(set) var endedWithoutNewline = false
    private var escaper: TerminalEscaper?

    init(mode: Mode, force: Bool) throws(ClientError) {
        self.mode = mode
        self.force = force
        switch mode {
        case .path:
            break  // FileSink checked its target when it was made.
        case .senderName(let directory):
            try OutputChecks.writableDirectory(directory, hint: Self.senderNameHint)
        case .standardOutput(let onTerminal, _):
            try StandardStreams.checkOutput()
            if onTerminal { try OutputChecks.writableDirectory(".", hint: Self.terminalHint) }
        }
    }

    static let senderNameHint = "run it from a directory you can write, or give --output PATH"
    static let terminalHint =
        "a file secret is saved in the current directory rather than shown on a terminal: "
        + "cd to a directory you can write, or give --output PATH"
    static let terminalSpaceHint =
        "a file secret is saved in the current directory rather than shown on a terminal: "
        + "free some space, cd to a directory with room, or give --output PATH"

    /// Whether `checkRoom` has anything to compare: false only for standard output that is
    /// neither a terminal (where a file secret is saved in ".") nor a regular file.
    var checksRoom: Bool {
        switch mode {
        case .path, .senderName: true
        case .standardOutput(let onTerminal, _): onTerminal || FreeSpace.standardOutputIsFile()
        }
    }

    /// Refuses, before the claim, an output that clearly cannot hold `size` bytes (the
    /// envelope's size, which bounds the content).
    func checkRoom(for size: Int) throws(ClientError) {
        switch mode {
        case .path(let file):
            try FreeSpace.check(
                size, in: OutputChecks.directory(of: file.path), hint: "free some space, or choose another --output")
        case .senderName(let directory):
            try FreeSpace.check(size, in: directory, hint: "free some space, or choose another --output")
        case .standardOutput(let onTerminal, _):
            if onTerminal {
                try FreeSpace.check(size, in: ".", hint: Self.terminalSpaceHint)
            } else {
                try FreeSpace.checkStandardOutput(size)
            }
        }
    }

    func begin(_ metadata: InnerMetadata) async throws(ClientError) {
        switch mode {
        case .path(let file):
            target = file
            savedPath = file.path
        case .senderName(let directory):
            try useFile(in: directory, metadata: metadata)
        case .standardOutput(let onTerminal, let raw):
            if metadata.kind == .file && onTerminal {
                // The view is already used: keep the file rather than refuse and lose it.
                try useFile(in: ".", metadata: metadata)
                Terminal.writeAll(
                    STDERR_FILENO, "This secret is a file; it is not printed on a terminal. (Next time: --output PATH.)\n")
            } else {
                target = DescriptorSink(descriptor: STDOUT_FILENO)
                // Text from a stranger must not drive the terminal (escape sequences can
                // retitle it, rewrite what is shown, even set the clipboard).
                if onTerminal && !raw { escaper = TerminalEscaper() }
            }
        }
        try await target!.begin(metadata)
    }

    /// The sender's name, made safe and short enough for this directory, numbered while
    /// taken. `--force` replaces a regular file of the sender's name, nothing else: a link
    /// or a directory there means a numbered name, and numbered names are always new.
    private func useFile(in directory: String, metadata: InnerMetadata) throws(ClientError) {
        let maximumBytes = FileNames.maximumLength(in: directory) - FileNames.temporaryOverhead
        let name = FileNames.sanitised(metadata.fileName ?? "burnlink-secret.txt", maximumBytes: maximumBytes)
        var candidate = directory + "/" + name
        var attempt = 1
        while let kind = Self.kind(of: candidate), !(force && attempt == 1 && kind == S_IFREG) {
            attempt += 1
            candidate = directory + "/" + FileNames.numbered(name, attempt, maximumBytes: maximumBytes)
        }
        let file = try FileSink(path: candidate, overwrite: force && attempt == 1)
        target = file
        savedPath = candidate
    }

    /// The file type at `path` itself (a symbolic link is a link), or nil if nothing is there.
    private static func kind(of path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
    }

    func write(_ content: UnsafeRawBufferPointer) async throws(ClientError) {
        endedWithoutNewline = content.last != UInt8(ascii: "\n")
        guard escaper != nil else { return try await target!.write(content) }
        try await writeEscaped(escaper!.escape(content))
    }

    func commit() async throws(ClientError) {
        if escaper != nil { try await writeEscaped(escaper!.finish()) }
        try await target?.commit()
    }

    func sync() async throws(ClientError) {
        try await target?.sync()
    }

    private func writeEscaped(_ bytes: [UInt8]) async throws(ClientError) {
        var bytes = bytes
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer {
            SecureMemory.wipe(buffer)
            buffer.deallocate()
            bytes.withUnsafeMutableBytes { SecureMemory.wipe($0) }
        }
        buffer.copyBytes(from: bytes)
        try await target!.write(UnsafeRawBufferPointer(buffer))
    }

    /// Characters of a text secret shown escaped on the terminal.
    var escapedCount: Int { escaper?.escapedCount ?? 0 }

    var savedElsewhere: String? { target?.savedElsewhere }

    /// Only `--output PATH` is refused a second time: a sender's name is numbered instead.
    var reopeningNeedsForce: Bool {
        if case .path = mode { target?.reopeningNeedsForce ?? false } else { false }
    }

    func abandon() async {
        await target?.abandon()
        if case .path = mode {} else { savedPath = nil }
    }
}
