import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a finished child process left behind.
public struct ProcessResult: Sendable, CustomStringConvertible {
    /// The exit code, or 128 + the signal number for a process killed by a signal.
    public let status: Int32
    public let stdout: Data
    public let stderr: Data
    /// The process outlived its timeout and was killed (status is then meaningless).
    public let timedOut: Bool
    public let elapsed: Duration

    public var out: String { String(decoding: stdout, as: UTF8.self) }
    public var err: String { String(decoding: stderr, as: UTF8.self) }

    public var description: String {
        "exit \(status)\(timedOut ? " (killed after the timeout)" : "") after \(elapsed)\n--- stdout (\(stdout.count) bytes):\n"
            + String(out.prefix(2000)) + "\n--- stderr:\n" + String(err.prefix(4000))
    }
}

/// The one decoding of a `waitpid` status: the exit code, or 128 + the signal, as a shell says it.
public func decodeWaitStatus(_ status: Int32) -> Int32 {
    (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
}

/// A failure of the test plumbing itself (a process that cannot start, a server that never listens).
public struct ProcessFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A value shared between threads.
public final class Locked<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    public init(_ value: Value) { storage = Mutex(value) }
    public var value: Value { storage.withLock { $0 } }
    public func set(_ value: Value) { storage.withLock { $0 = value } }
    public func withLock<R>(_ body: (inout sending Value) -> sending R) -> sending R { storage.withLock(body) }
}
