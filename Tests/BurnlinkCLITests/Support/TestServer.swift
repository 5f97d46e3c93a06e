import BurnlinkTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The real `burnlink-server` binary on a free port, with its own SQLite file and its own
/// HOME for the CLI runs that talk to it (so no real config file is ever read).
final class TestServer: Sendable {
    let server: LaunchedServer
    let directory: TemporaryDirectory

    var port: Int { server.port }
    var baseURL: String { server.baseURL }
    var databasePath: String { directory.file("burnlink.sqlite") }
    var logText: String { server.log }

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

    private init(server: LaunchedServer, directory: TemporaryDirectory) {
        self.server = server
        self.directory = directory
    }

    /// Starts the server and waits until it logs the port it listens on.
    static func start(_ extraArguments: [String] = []) async throws -> TestServer {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("home"), withIntermediateDirectories: true)
        do {
            let server = try await LaunchedServer(
                arguments: ["--host", "127.0.0.1", "--database", directory.file("burnlink.sqlite")]
                    + extraArguments,
                environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"],
                timeout: .seconds(30))
            return TestServer(server: server, directory: directory)
        } catch {
            directory.remove()
            throw error
        }
    }

    /// SIGTERM, a bounded wait, SIGKILL if needed; removes the temporary directory.
    func stop() async {
        await server.stop(timeout: .seconds(5))
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
