import BurnlinkTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `burnlink-server` started with a soft limit on open descriptors below its hard
/// limit (through util-linux's `prlimit`, which runs it in its own process): it raises the
/// soft one to the hard one before it serves.
@Suite("burnlink-server process: open descriptors")
struct DescriptorLimitTests {
    @Test("the server raises its soft limit on open descriptors to the hard limit")
    func raisesTheSoftLimit() async throws {
        let prlimit = try #require(Binaries.onPath("prlimit"), "util-linux's prlimit is missing")
        let database = temporaryDatabasePath()
        defer { try? FileManager.default.removeItem(atPath: (database as NSString).deletingLastPathComponent) }
        let server = try ChildProcess(
            prlimit,
            ["--nofile=256:4096", Binaries.server.path, "--port", "0", "--rate-limit", "off", "--database", database])
        defer { server.signalIfRunning(SIGKILL) }
        let listening = await eventually(within: .seconds(20)) { server.errorsSoFar.contains("listening on") }
        try #require(listening, "\(server.errorsSoFar)")
        #expect(try Self.openFilesLimit(of: server.pid) == ["4096", "4096"])
        server.signalIfRunning(SIGTERM)
        #expect(await server.waitForExit(timeout: .seconds(10)) == 0)
    }

    /// The soft and hard "Max open files" of a process, as /proc shows them.
    static func openFilesLimit(of pid: pid_t) throws -> [String] {
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        return Array(line.dropFirst("Max open files".count).split(separator: " ").prefix(2).map(String.init))
    }
}
