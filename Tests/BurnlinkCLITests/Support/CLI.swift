import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where the built binaries live: `.build/debug/` at the package root.
enum Binaries {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // BurnlinkCLITests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    static let cli = packageRoot.appendingPathComponent(".build/debug/burnlink")
    static let server = packageRoot.appendingPathComponent(".build/debug/burnlink-server")

    /// The first executable called `name` on PATH, if any.
    static func onPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

struct CLITestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What a finished process left behind.
struct CLIResult: Sendable, CustomStringConvertible {
    let status: Int32
    let stdout: Data
    let stderr: Data
    /// The process outlived its timeout and was killed (status is then meaningless).
    let timedOut: Bool
    let elapsed: Duration

    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }

    /// The `burnlink: error: ...` lines of stderr.
    var errorLines: [Substring] { err.split(separator: "\n").filter { $0.hasPrefix("burnlink: error: ") } }

    var description: String {
        "exit \(status)\(timedOut ? " (killed after the timeout)" : "") after \(elapsed)\n--- stdout (\(stdout.count) bytes):\n"
            + String(out.prefix(2000)) + "\n--- stderr:\n" + String(err.prefix(4000))
    }
}

/// A child process whose stdin is fed and whose stdout and stderr are collected by
/// dedicated threads, so neither side can block the other however much it writes.
final class RunningProcess: Sendable {
    let process: Process
    /// The exit status, set once by whichever sees the exit first: Foundation, or the poller.
    private let exitStatus = Locked<Int32?>(nil)
    private let done = DispatchGroup()
    private let stdoutData = Locked(Data())
    private let stderrData = Locked(Data())
    private let killedByTimeout = Locked(false)
    private let started = ContinuousClock.now

    init(executable: URL, arguments: [String], stdin: Data, environment: [String: String],
         directory: URL? = nil, timeout: Duration) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        if let directory { process.currentDirectoryURL = directory }
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        self.process = process

        done.enter()  // termination
        process.terminationHandler = { [exitStatus, done] process in
            if exitStatus.setIfUnset(process.terminationStatus) { done.leave() }
        }
        try Self.launch(process)
        // Foundation sometimes misses a child's exit when several children end close
        // together (the child stays a zombie, and `isRunning` stays true): reap it here too.
        let pid = process.processIdentifier
        Thread.detachNewThread { [exitStatus, done] in
            while exitStatus.value == nil {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                    if exitStatus.setIfUnset(code) { done.leave() }
                    return
                }
                usleep(20_000)
            }
        }

        for (pipe, sink) in [(output, stdoutData), (error, stderrData)] {
            done.enter()
            Thread.detachNewThread { [done] in
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                sink.set(data)
                done.leave()
            }
        }
        // The writer may meet a closed pipe (the child exited without reading): that is fine.
        let writeEnd = input.fileHandleForWriting
        Thread.detachNewThread {
            // EPIPE rather than SIGPIPE: the signal stays pending on this thread and dies with it.
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
            stdin.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < bytes.count {
                    let count = write(writeEnd.fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    if count < 0 && errno == EINTR { continue }
                    if count <= 0 { break }
                    offset += count
                }
            }
            try? writeEnd.close()
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout.timeInterval) { [killedByTimeout, exitStatus] in
            if exitStatus.value == nil {
                killedByTimeout.set(true)
                kill(pid, SIGKILL)
            }
        }
    }

    /// Starts `process` from a thread that blocks no signals. A child inherits the signal mask
    /// of the thread that spawns it, and Swift's cooperative threads block most signals: the
    /// binaries under test must start as they would from a shell.
    static func launch(_ process: Process) throws {
        let failure = Locked<String?>(nil)
        let launched = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var none = sigset_t()
            sigemptyset(&none)
            pthread_sigmask(SIG_SETMASK, &none, nil)
            do { try process.run() } catch { failure.set("\(error)") }
            launched.signal()
        }
        launched.wait()
        if let failure = failure.value { throw CLITestFailure("cannot start \(process.executableURL?.path ?? "?"): \(failure)") }
    }

    var isRunning: Bool { exitStatus.value == nil }

    /// Waits for the exit and for both pipes to close.
    func finish() async -> CLIResult {
        await withCheckedContinuation { continuation in
            done.notify(queue: .global()) { continuation.resume() }
        }
        return CLIResult(status: exitStatus.value!, stdout: stdoutData.value,
                         stderr: stderrData.value, timedOut: killedByTimeout.value,
                         elapsed: ContinuousClock.now - started)
    }

}

/// A value shared between threads.
final class Locked<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value { storage.withLock { $0 } }
    func set(_ value: Value) { storage.withLock { $0 = value } }
}

extension Locked {
    /// Sets the value if it is still nil; true if this call set it.
    func setIfUnset<Wrapped>(_ value: Wrapped) -> Bool where Value == Wrapped? {
        storage.withLock { current in
            guard current == nil else { return false }
            current = value
            return true
        }
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}

/// The `burnlink` binary.
enum CLI {
    /// Runs `burnlink arguments...` to completion (or kills it at `timeout`).
    static func run(_ arguments: [String], stdin: Data = Data(), environment: [String: String],
                    directory: URL? = nil, timeout: Duration = .seconds(30)) async throws -> CLIResult {
        try await start(arguments, stdin: stdin, environment: environment, directory: directory, timeout: timeout).finish()
    }

    static func run(_ arguments: [String], stdin: String, environment: [String: String],
                    directory: URL? = nil, timeout: Duration = .seconds(30)) async throws -> CLIResult {
        try await run(arguments, stdin: Data(stdin.utf8), environment: environment, directory: directory, timeout: timeout)
    }

    /// Starts `burnlink arguments...` in the background.
    static func start(_ arguments: [String], stdin: Data = Data(), environment: [String: String],
                      directory: URL? = nil, timeout: Duration = .seconds(30)) throws -> RunningProcess {
        try RunningProcess(executable: Binaries.cli, arguments: arguments, stdin: stdin,
                           environment: environment, directory: directory, timeout: timeout)
    }

    /// Runs some other program (sqlite3, tmux) to completion; see `Spawn`.
    static func tool(_ path: String, _ arguments: [String], environment: [String: String]? = nil,
                     timeout: Duration = .seconds(20)) async throws -> CLIResult {
        try await Spawn.run(path, arguments, environment: environment ?? ProcessInfo.processInfo.environment, timeout: timeout)
    }
}

/// posix_spawn with every descriptor above stderr closed in the child, and our own waitpid.
///
/// Foundation's `Process` learns that a child ended when a socket it hands to the child
/// reaches end of file. A child that leaves a daemon behind (tmux starts its server that
/// way) passes that socket on, so the `Process` never ends. Tools go through here instead.
enum Spawn {
    static func run(_ path: String, _ arguments: [String], environment: [String: String],
                    timeout: Duration) async throws -> CLIResult {
        let started = ContinuousClock.now
        var output: [Int32] = [0, 0], errors: [Int32] = [0, 0]
        guard pipe(&output) == 0, pipe(&errors) == 0 else {
            throw CLITestFailure("pipe failed: \(String(cString: strerror(errno)))")
        }
        for descriptor in output + errors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        closeAbove2(&actions)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        // The calling thread may block or ignore signals (Dispatch's threads block most):
        // the child starts with none blocked and every disposition at its default, or tmux's
        // server could never be told to exit.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        close(output[1])
        close(errors[1])
        guard status == 0 else {
            close(output[0])
            close(errors[0])
            throw CLITestFailure("posix_spawn \(path) failed: \(String(cString: strerror(status)))")
        }

        let killed = Locked(false)
        let child = pid
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout.timeInterval) {
            // Still unreaped (only our waitpid reaps it), so the pid cannot have been reused.
            if kill(child, 0) == 0 {
                killed.set(true)
                kill(child, SIGKILL)
            }
        }
        async let stdout = readToEnd(output[0])
        async let stderr = readToEnd(errors[0])
        async let exitStatus = waitFor(child)
        let (out, err, code) = await (stdout, stderr, exitStatus)
        return CLIResult(status: code, stdout: out, stderr: err, timedOut: killed.value,
                         elapsed: ContinuousClock.now - started)
    }

    /// Every descriptor above stderr is closed in the child: glibc's closefrom action when there
    /// is one (2.34+; not in Swift's Glibc module, hence dlsym), else each one open right now.
    private static func closeAbove2(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
            return
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            if let descriptor = Int32(name), descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
        }
    }

    /// Reads a descriptor to end of file on a thread of its own, then closes it.
    private static func readToEnd(_ descriptor: Int32) async -> Data {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var data = Data()
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let count = read(descriptor, &buffer, buffer.count)
                    if count < 0 && errno == EINTR { continue }
                    if count <= 0 { break }
                    data.append(contentsOf: buffer[..<count])
                }
                close(descriptor)
                continuation.resume(returning: data)
            }
        }
    }

    private static func waitFor(_ pid: pid_t) async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                let exited = status & 0x7F == 0
                continuation.resume(returning: exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F))
            }
        }
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

    static func randomData(count: Int) -> Data {
        var generator = SystemRandomNumberGenerator()
        var data = Data(count: count)
        data.withUnsafeMutableBytes { bytes in
            let words = bytes.bindMemory(to: UInt64.self)
            for index in words.indices { words[index] = generator.next() }
            for index in (words.count * 8)..<bytes.count { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        }
        return data
    }
}
