import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The real `burnlink-server` binary, started on `--port 0` with `--rate-limit off` (tests
/// make many requests from one address): the port is read from its log line
/// "listening on http://127.0.0.1:PORT".
public final class LaunchedServer: Sendable {
    public let process: ChildProcess
    public let port: Int

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// What the server logged so far (its stderr).
    public var log: String { process.errorsSoFar }

    /// Starts `burnlink-server --port 0 --rate-limit off arguments...` and waits (at most `timeout`) until it
    /// listens; `environment` nil inherits this process's environment.
    public init(
        arguments: [String], environment: [String: String]? = nil,
        timeout: Duration = .seconds(10)
    ) async throws {
        let process = try ChildProcess(
            Binaries.server.path, ["--port", "0", "--rate-limit", "off"] + arguments, environment: environment)
        var port: Int?
        let deadline = ContinuousClock.now + timeout
        while port == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            let text = process.errorsSoFar
            if let range = text.range(of: "listening on http://127.0.0.1:") {
                port = Int(text[range.upperBound...].prefix { $0.isNumber })
            }
            if !process.isRunning { break }
        }
        guard let port else {
            process.signalIfRunning(SIGKILL)
            throw ProcessFailure("burnlink-server did not start: \(process.errorsSoFar)")
        }
        self.process = process
        self.port = port
    }

    /// A test that failed before stopping its server must not leave the process behind.
    deinit {
        process.signalIfRunning(SIGKILL)
    }

    public var isRunning: Bool { process.isRunning }

    /// SIGTERM, then waits (at most `timeout`, then SIGKILL) for the exit; the exit status.
    @discardableResult
    public func stop(timeout: Duration = .seconds(10)) async -> Int32 {
        process.signalIfRunning(SIGTERM)
        if let status = await process.waitForExit(timeout: timeout) { return status }
        return await kill()
    }

    /// SIGKILL: no chance to clean up. The exit status.
    @discardableResult
    public func kill() async -> Int32 {
        process.signalIfRunning(SIGKILL)
        return await process.waitForExit(timeout: .seconds(10)) ?? -1
    }
}
