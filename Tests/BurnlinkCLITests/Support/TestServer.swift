import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The real `burnlink-server` binary on a free port, with its own SQLite file and its own
/// HOME for the CLI runs that talk to it (so no real config file is ever read).
final class TestServer: Sendable {
    let process: Process
    let port: Int
    let directory: TemporaryDirectory
    private let log: ServerLog

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var databasePath: String { directory.file("burnlink.sqlite") }
    var logText: String { log.text }

    /// The environment every `burnlink` run gets: this server, an empty HOME, nothing inherited.
    var environment: [String: String] {
        Self.environment(server: baseURL, home: directory.file("home"))
    }

    static func environment(server: String, home: String) -> [String: String] {
        [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": home,
            "XDG_CONFIG_HOME": home + "/.config",
            "BURNLINK_SERVER": server,
            "LANG": "C.UTF-8",
        ]
    }

    private init(process: Process, port: Int, directory: TemporaryDirectory, log: ServerLog) {
        self.process = process
        self.port = port
        self.directory = directory
        self.log = log
    }

    /// Starts the server and waits until it logs the port it listens on.
    static func start(_ extraArguments: [String] = []) async throws -> TestServer {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("home"), withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = Binaries.server
        process.arguments = ["--host", "127.0.0.1", "--port", "0", "--rate-limit", "off",
                             "--database", directory.file("burnlink.sqlite")] + extraArguments
        process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let log = ServerLog()
        errorPipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { log.append(data) }
        }
        try RunningProcess.launch(process)

        var port: Int?
        let deadline = ContinuousClock.now + .seconds(30)
        while port == nil, ContinuousClock.now < deadline, process.isRunning {
            try await Task.sleep(for: .milliseconds(20))
            let text = log.text
            if let range = text.range(of: "listening on http://127.0.0.1:") {
                port = Int(text[range.upperBound...].prefix { $0.isNumber })
            }
        }
        guard let port else {
            process.terminate()
            directory.remove()
            throw CLITestFailure("burnlink-server did not start: \(log.text)")
        }
        return TestServer(process: process, port: port, directory: directory, log: log)
    }

    /// SIGTERM, a bounded wait, SIGKILL if needed; removes the temporary directory.
    func stop() async {
        if process.isRunning { process.terminate() }
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        directory.remove()
    }
}

/// Runs `body` against a fresh server, and stops the server whatever happens.
func withServer<T>(_ extraArguments: [String] = [], _ body: (TestServer) async throws -> T) async throws -> T {
    let server = try await TestServer.start(extraArguments)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

final class ServerLog: Sendable {
    private let storage = Mutex("")
    var text: String { storage.withLock { $0 } }
    func append(_ data: Data) { storage.withLock { $0 += String(decoding: data, as: UTF8.self) } }
}

/// A port on 127.0.0.1 that nothing listens on: bound, read and closed again.
func closedLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw CLITestFailure("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw CLITestFailure("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw CLITestFailure("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
