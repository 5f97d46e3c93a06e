import BurnlinkTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// burnlink-server under systemd: readiness over NOTIFY_SOCKET from the real process, and the
/// unit in packaging/ checked by systemd's own tools.
@Suite("systemd: readiness and the hardened unit", .serialized)
struct SystemdTests {
    /// A datagram socket standing in for systemd's notification socket.
    final class NotifySocket {
        let descriptor: Int32
        let name: String

        /// `abstract`: a name in the abstract namespace (`@...`) instead of a path.
        init(abstract: Bool) throws {
            let unique = "burnlink-notify-\(UUID().uuidString.prefix(8))"
            name = abstract ? "@" + unique : FileManager.default.temporaryDirectory.appendingPathComponent(unique).path
            descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            guard descriptor >= 0 else { throw ProcessFailure("socket() failed") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            var path = Array(name.utf8)
            if abstract { path[0] = 0 }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
            }
            guard bound == 0 else { throw ProcessFailure("bind() failed: \(String(cString: strerror(errno)))") }
        }

        /// The next message, or nil after `seconds`.
        func receive(within seconds: Int32) -> String? {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, seconds * 1000) == 1 else { return nil }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
        }

        deinit {
            close(descriptor)
            if !name.hasPrefix("@") { unlink(name) }
        }
    }

    @Test("READY=1 once it listens, with the address as status; STOPPING=1 at SIGTERM", arguments: [false, true])
    func readiness(abstract: Bool) async throws {
        let socket = try NotifySocket(abstract: abstract)
        let server = try await LaunchedServer(
            arguments: ["--database", temporaryDatabasePath()],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "NOTIFY_SOCKET": socket.name])
        let ready = socket.receive(within: 10)
        #expect(ready == "READY=1\nSTATUS=listening on \(server.baseURL)")
        #expect(await server.stop() == 0)
        #expect(socket.receive(within: 10) == "STOPPING=1\nSTATUS=stopping")
    }

    static let unit = Binaries.packageRoot.appendingPathComponent("packaging/burnlink-server.service")
    static let defaults = Binaries.packageRoot.appendingPathComponent("packaging/burnlink-server.default")
    static let analyze = Binaries.onPath("systemd-analyze")

    /// A scratch root holding systemd's own units, the unit and an executable at its ExecStart
    /// path: what `systemd-analyze --root` needs to load it as an installed unit.
    func scratchRoot() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("burnlink-unit-\(UUID().uuidString)")
        let units = root.appendingPathComponent("usr/lib/systemd")
        try FileManager.default.createDirectory(at: units, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/lib/systemd/system", toPath: units.appendingPathComponent("system").path)
        let etc = root.appendingPathComponent("etc/systemd/system")
        try FileManager.default.createDirectory(at: etc, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.unit, to: etc.appendingPathComponent("burnlink-server.service"))
        let bin = root.appendingPathComponent("usr/bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        // The programs the unit runs: the server, and kill for ExecReload.
        let killDirectory = root.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: killDirectory, withIntermediateDirectories: true)
        for executable in [bin.appendingPathComponent("burnlink-server"), killDirectory.appendingPathComponent("kill")] {
            try Data("#!/bin/sh\n".utf8).write(to: executable)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: executable.path)
        }
        return root
    }

    @Test("systemd-analyze verify loads the unit without a word; its exposure level is at most 2.0")
    func unitIsValidAndHardened() async throws {
        let analyze = try #require(Self.analyze, "systemd-analyze is missing (apt-get install systemd)")
        let root = try scratchRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        // --man=no: the man page the unit names comes with an installation (make install), not
        // with this scratch root.
        let verified = try await ChildProcess.run(
            analyze, ["verify", "--man=no", "--root=\(root.path)", "burnlink-server.service"])
        #expect(verified.status == 0, "\(verified)")
        #expect(verified.out.isEmpty && verified.err.isEmpty, "verify warned: \(verified)")

        let security = try await ChildProcess.run(
            analyze, ["security", "--offline=yes", "--root=\(root.path)", "burnlink-server.service"])
        #expect(security.status == 0, "\(security)")
        let line = try #require(
            security.out.split(separator: "\n").first { $0.contains("Overall exposure level for burnlink-server.service") },
            "\(security)")
        let level = try #require(line.firstMatch(of: /: (\d+\.\d+)/).flatMap { Double($0.output.1) }, "\(line)")
        #expect(level <= 2.0, "\(line)")
        // The unit keeps the settings the server must have (docs/deploy.md, "systemd").
        let text = try String(contentsOf: Self.unit, encoding: .utf8)
        for setting in [
            "Type=notify", "DynamicUser=yes", "StateDirectory=burnlink", "ProtectSystem=strict", "NoNewPrivileges=yes",
            "CapabilityBoundingSet=\n", "UMask=0077", "LimitCORE=0", "SystemCallFilter=@system-service",
        ] {
            #expect(text.contains(setting), "\(setting)")
        }
    }

    @Test("the unit's system call filter allows prlimit64, with which the server raises its limit on open files")
    func filterAllowsRaisingTheDescriptorLimit() async throws {
        let analyze = try #require(Self.analyze, "systemd-analyze is missing (apt-get install systemd)")
        let filters = try String(contentsOf: Self.unit, encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("SystemCallFilter=") }
            .map { $0.dropFirst("SystemCallFilter=".count) }
        var allowed = Set<String>()
        var denied = Set<String>()
        for filter in filters {
            let names = filter.hasPrefix("~") ? filter.dropFirst() : filter
            let calls = try await Self.systemCalls(in: names.split(separator: " ").map(String.init), analyze: analyze)
            if filter.hasPrefix("~") { denied.formUnion(calls) } else { allowed.formUnion(calls) }
        }
        // glibc's setrlimit is the prlimit64 call (docs/deploy.md, "Open files"); the
        // setrlimit call itself is denied (@resources), which shows the expansion works.
        #expect(allowed.contains("prlimit64") && !denied.contains("prlimit64"), "\(filters)")
        #expect(denied.contains("setrlimit"), "\(filters)")
    }

    /// The system calls that `names` (calls and @groups, nested groups expanded) stand for,
    /// as `systemd-analyze syscall-filter` lists them.
    static func systemCalls(in names: [String], analyze: String) async throws -> Set<String> {
        var calls = Set<String>()
        var pending = names
        var expanded = Set<String>()
        while let name = pending.popLast() {
            guard name.hasPrefix("@") else {
                calls.insert(name)
                continue
            }
            guard expanded.insert(name).inserted else { continue }
            let listed = try await ChildProcess.run(analyze, ["syscall-filter", name])
            #expect(listed.status == 0, "\(listed)")
            pending += listed.out.split(separator: "\n").dropFirst()
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        return calls
    }

    @Test("every setting in packaging/burnlink-server.default is one the server reads, with a value it accepts")
    func defaultsFileNamesRealSettings() async throws {
        let help = try await ChildProcess.run(Binaries.server.path, ["--help"])
        let known = Set(help.out.matches(of: /BURNLINK_[A-Z_]+/).map { String($0.output) })
        let text = try String(contentsOf: Self.defaults, encoding: .utf8)
        var environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        var named = 0
        for line in text.split(separator: "\n") {
            let setting = line.hasPrefix("#") ? line.dropFirst() : line
            guard let equals = setting.firstIndex(of: "="), setting.hasPrefix("BURNLINK_") else { continue }
            let name = String(setting[..<equals])
            #expect(known.contains(name), "\(name) is not a burnlink-server setting")
            named += 1
            if !line.hasPrefix("#") { environment[name] = String(setting[setting.index(after: equals)...]) }
        }
        #expect(named >= 10)
        // The uncommented settings start a server (on a free port, a scratch database).
        environment["BURNLINK_PORT"] = "0"
        environment["BURNLINK_DATABASE"] = temporaryDatabasePath()
        let server = try await LaunchedServer(arguments: [], environment: environment)
        #expect(await server.stop() == 0)
    }
}
