import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn, its stdout and stderr collected by threads of
/// their own (so neither side can block the other however much it writes), and reaped by
/// our own `waitpid`, exactly once.
///
/// Not Foundation's `Process`: it learns that a child ended when a socket it hands to the
/// child reaches end of file, and a child that leaves a daemon behind (tmux starts its
/// server that way) passes that socket on, so the `Process` never ends.
public final class ChildProcess: Sendable {
    /// What the child reads on its standard input.
    public enum Input: Sendable {
        /// /dev/null.
        case none
        /// These bytes, then end of file.
        case bytes(Data)
        /// A pipe fed by `write(_:)` until `closeInput()`.
        case stream
    }

    public let pid: pid_t
    public let executable: String
    private let exitStatus = Locked<Int32?>(nil)
    private let killedByTimeout = Locked(false)
    private let stdoutData = Locked(Data())
    private let stderrData = Locked(Data())
    private let inputDescriptor = Locked<Int32?>(nil)
    private let done = DispatchGroup()
    private let started = ContinuousClock.now

    /// Starts `executable arguments...`; `environment` nil inherits this process's environment.
    /// After `timeout` (if any) a child still running is killed with SIGKILL.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        directory: String? = nil, input: Input = .none, timeout: Duration? = nil
    ) throws {
        self.executable = executable
        let output = try Spawn.pipe()
        let errors = try Spawn.pipe()
        var stdinPipe: (read: Int32, write: Int32)?
        if case .none = input {} else { stdinPipe = try Spawn.pipe() }
        do {
            pid = try Spawn.spawn(
                executable, arguments, environment: environment ?? ProcessInfo.processInfo.environment,
                directory: directory, stdin: stdinPipe?.read, stdout: output.write, stderr: errors.write)
        } catch {
            for descriptor in [output.read, output.write, errors.read, errors.write, stdinPipe?.read, stdinPipe?.write] {
                if let descriptor { close(descriptor) }
            }
            throw error
        }
        close(output.write)
        close(errors.write)
        if let stdinPipe { close(stdinPipe.read) }

        for (descriptor, sink) in [(output.read, stdoutData), (errors.read, stderrData)] {
            done.enter()
            Thread.detachNewThread { [done] in
                Self.readToEnd(descriptor, into: sink)
                done.leave()
            }
        }
        done.enter()
        Thread.detachNewThread { [self] in
            // Polls rather than blocks, so `isRunning` can reap under the same lock.
            while reap() == nil { usleep(10_000) }
            done.leave()
        }
        switch input {
        case .none: break
        case .bytes(let bytes):
            let descriptor = stdinPipe!.write
            Thread.detachNewThread {
                Self.writeAll(descriptor, bytes)
                close(descriptor)
            }
        case .stream:
            inputDescriptor.set(stdinPipe!.write)
        }
        if let timeout {
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout.timeInterval) { [self] in
                if signalIfRunning(SIGKILL) { killedByTimeout.set(true) }
            }
        }
    }

    /// Runs a program to its end (or kills it at `timeout`).
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        directory: String? = nil, input: Input = .none,
        timeout: Duration = .seconds(120)
    ) async throws -> ProcessResult {
        try await ChildProcess(
            executable, arguments, environment: environment, directory: directory,
            input: input, timeout: timeout
        ).finish()
    }

    /// Reaps the child if it has ended, once: the status, or nil while it runs.
    private func reap() -> Int32? {
        exitStatus.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid { status = decodeWaitStatus(raw) } else if result < 0 && errno != EINTR { status = 128 + SIGKILL }  // not ours to wait for any more
            return status
        }
    }

    public var isRunning: Bool { reap() == nil }

    /// The exit status (see `ProcessResult.status`) once the child has ended.
    public var status: Int32? { reap() }

    /// Sends `signal` if the child has not been reaped (so the pid cannot have been reused);
    /// true if it was sent.
    @discardableResult
    public func signalIfRunning(_ signal: Int32) -> Bool {
        exitStatus.withLock { status in
            guard status == nil else { return false }
            return kill(pid, signal) == 0
        }
    }

    /// Writes to the child's standard input (`Input.stream` only). A closed pipe is fine.
    public func write(_ data: Data) {
        guard let descriptor = inputDescriptor.value else { return }
        Self.writeAll(descriptor, data)
    }

    /// Ends the child's standard input (`Input.stream` only).
    public func closeInput() {
        let descriptor = inputDescriptor.withLock { current in
            let descriptor = current
            current = nil
            return descriptor
        }
        if let descriptor { close(descriptor) }
    }

    /// What the child wrote so far.
    public var outputSoFar: String { String(decoding: stdoutData.value, as: UTF8.self) }
    public var errorsSoFar: String { String(decoding: stderrData.value, as: UTF8.self) }

    /// Waits for the exit and for both pipes to close.
    public func finish() async -> ProcessResult {
        closeInput()
        await withCheckedContinuation { continuation in
            done.notify(queue: .global()) { continuation.resume() }
        }
        return result()
    }

    private func result() -> ProcessResult {
        ProcessResult(
            status: exitStatus.value!, stdout: stdoutData.value, stderr: stderrData.value,
            timedOut: killedByTimeout.value, elapsed: ContinuousClock.now - started)
    }

    /// `finish()` blocking the calling thread: set-up and clean-up outside async code only.
    public func finishBlocking() -> ProcessResult {
        closeInput()
        done.wait()
        return result()
    }

    /// Waits up to `timeout` for the exit without waiting for the pipes; the status, or nil.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = reap() { return status }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return reap()
    }

    private static func readToEnd(_ descriptor: Int32, into sink: Locked<Data>) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            sink.withLock { $0.append(contentsOf: buffer[..<count]) }
        }
        close(descriptor)
    }

    /// The writer may meet a closed pipe (the child exited without reading): EPIPE rather
    /// than SIGPIPE, and the write stops there.
    private static func writeAll(_ descriptor: Int32, _ data: Data) {
        var pipeSignal = sigset_t()
        var previous = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        defer {
            // Drop a SIGPIPE left pending by this write before unblocking.
            var pending = sigset_t()
            sigpending(&pending)
            if sigismember(&pending, SIGPIPE) == 1 {
                var zero = timespec()
                _ = sigtimedwait(&pipeSignal, nil, &zero)
            }
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < bytes.count {
                let count = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                offset += count
            }
        }
    }
}

extension Duration {
    public var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
