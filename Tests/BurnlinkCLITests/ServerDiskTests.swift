import BurnlinkTestSupport
import Foundation
import Testing

/// The real server on a filesystem too small for what it is sent: the disk fills in the
/// middle of a large upload, kept in a chunk file. (SQLite's own "disk is full" maps the
/// same way: `StorageFullTests` in the server's tests.)
@Suite("server disk")
struct ServerDiskTests {
    @Test(
        "a server whose disk fills answers 507, keeps nothing of what did not fit, and goes on once there is room",
        .enabled(if: Mounts.available, Mounts.unavailableReason))
    func diskFillsDuringUpload() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.file("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try Mounts.tmpfs(data, size: "6m")
        defer { Mounts.unmount(data) }
        let server = try await LaunchedServer(
            arguments: ["--host", "127.0.0.1", "--database", data + "/burnlink.sqlite"],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"],
            timeout: .seconds(30))
        // Stopped before the filesystem is unmounted (the defer above), whatever happens.
        do {
            try await fillDuringUpload(server, directory: directory, data: data)
        } catch {
            _ = await server.stop()
            throw error
        }
        _ = await server.stop()
    }

    private func fillDuringUpload(_ server: LaunchedServer, directory: TemporaryDirectory, data: String) async throws {
        let environment = TestServer.environment(server: server.baseURL, home: directory.file("home"))
        try FileManager.default.createDirectory(atPath: directory.file("home"), withIntermediateDirectories: true)

        let tooLarge = directory.file("too-large.bin")
        try randomData(count: 12 << 20).write(to: URL(fileURLWithPath: tooLarge))
        let refused = try await CLI.run(["send", tooLarge], environment: environment, timeout: .seconds(60))
        expectFailure(
            refused, exit: 6, mentioning: ["the server refused the request (507)", "disk is full", "the server is full"])
        let chunkFiles = data + "/burnlink.sqlite-chunks.d"
        #expect(Files.exists(chunkFiles), "the upload never reached a chunk file")
        #expect(Files.listing(chunkFiles).isEmpty, "\(Files.listing(chunkFiles))")
        #expect(server.isRunning)

        // The space came back: a secret of one chunk, then one of several, go through.
        let small = try await CLI.run(["send"], stdin: "still here", environment: environment)
        #expect(small.status == 0, "\(small)")
        let fits = directory.file("fits.bin")
        let content = randomData(count: 3 << 20)
        try content.write(to: URL(fileURLWithPath: fits))
        let sent = try await CLI.run(["send", fits], environment: environment, timeout: .seconds(60))
        #expect(sent.status == 0, "\(sent)")
        let opened = try await CLI.run(
            ["open", "--yes", "--output", directory.file("received.bin")], stdin: sent.out,
            environment: environment, timeout: .seconds(60))
        #expect(opened.status == 0, "\(opened)")
        #expect(Files.contents(directory.file("received.bin")) == content)
    }
}
