import BurnlinkTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

typealias CLITestFailure = ProcessFailure

/// What a finished `burnlink` (or other program) left behind.
typealias CLIResult = ProcessResult

extension ProcessResult {
    /// The `burnlink: error: ...` lines of stderr.
    var errorLines: [Substring] { err.split(separator: "\n").filter { $0.hasPrefix("burnlink: error: ") } }
}

/// The `burnlink` binary.
enum CLI {
    /// Runs `burnlink arguments...` to completion (or kills it at `timeout`).
    static func run(
        _ arguments: [String], stdin: Data = Data(), environment: [String: String],
        directory: URL? = nil, timeout: Duration = .seconds(30)
    ) async throws -> CLIResult {
        try await start(arguments, stdin: stdin, environment: environment, directory: directory, timeout: timeout).finish()
    }

    static func run(
        _ arguments: [String], stdin: String, environment: [String: String],
        directory: URL? = nil, timeout: Duration = .seconds(30)
    ) async throws -> CLIResult {
        try await run(arguments, stdin: Data(stdin.utf8), environment: environment, directory: directory, timeout: timeout)
    }

    /// Starts `burnlink arguments...` in the background.
    static func start(
        _ arguments: [String], stdin: Data = Data(), environment: [String: String],
        directory: URL? = nil, timeout: Duration = .seconds(30)
    ) throws -> ChildProcess {
        try ChildProcess(
            Binaries.cli.path, arguments, environment: environment, directory: directory?.path,
            input: .bytes(stdin), timeout: timeout)
    }

    /// Runs some other program (sqlite3, tmux) to completion, stdin /dev/null.
    static func tool(
        _ path: String, _ arguments: [String], environment: [String: String]? = nil,
        timeout: Duration = .seconds(20)
    ) async throws -> CLIResult {
        try await ChildProcess.run(path, arguments, environment: environment, timeout: timeout)
    }
}

/// A fresh directory under /tmp, removed by `remove()`.
final class TemporaryDirectory: Sendable {
    let path: String
    var url: URL { URL(fileURLWithPath: path) }

    init() throws {
        var template = Array("/tmp/burnlink-cli-XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CLITestFailure("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        path = String(cString: created)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Small file helpers.
enum Files {
    static func mode(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_mode & 0o7777)
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    static func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    static func listing(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }
}
