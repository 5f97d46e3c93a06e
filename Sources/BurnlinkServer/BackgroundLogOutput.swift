import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Log lines written to a file descriptor (standard error) by a thread of their own.
///
/// swift-log's standard-error handler writes and flushes each line where it is logged,
/// which for the request log is the thread answering the request. When the log's sink
/// stalls (a journal falling behind, a pipe not read for a moment), that write
/// blocks the event loop and every request on it: with a sink that stopped reading for
/// 100 ms every second, creates' p99 was 32 to 40 ms, against 5 to 6 ms through this
/// output (docs/benchmarks.md, "a stalling log sink"). Here a line is appended to a buffer
/// and one background drain writes what has gathered, in as few writes as it can.
///
/// No line is dropped: past `limit` bytes waiting, the caller waits for the drain (a
/// stalled sink slows the server down as before, instead of growing its memory). Lines
/// keep their order, and each is written whole. Call `flush()` before the process exits.
public final class BackgroundLogOutput: TextOutputStream, Sendable {
    private struct Pending {
        var bytes: [UInt8] = []
        var draining = false
    }

    private let descriptor: Int32
    private let limit: Int
    private let pending = Mutex(Pending())
    private let queue = DispatchQueue(label: "burnlink.log-output")
    /// How long a drain lets lines gather after a write, in microseconds: how late a line
    /// may reach the sink at most, beyond the write itself.
    private let gathering: UInt32 = 2_000

    /// Standard error, with at most 1 MiB waiting.
    public static let standardError = BackgroundLogOutput(descriptor: STDERR_FILENO)

    /// - Parameters:
    ///   - descriptor: where the lines go; left open.
    ///   - limit: bytes that may wait before a caller waits for the drain.
    public init(descriptor: Int32, limit: Int = 1 << 20) {
        precondition(limit > 0)
        self.descriptor = descriptor
        self.limit = limit
    }

    /// Adds `string` (a whole log line) to what waits to be written.
    public func write(_ string: String) {
        let (startDrain, full) = pending.withLock { pending in
            pending.bytes.append(contentsOf: string.utf8)
            let startDrain = !pending.draining
            pending.draining = true
            return (startDrain, pending.bytes.count > limit)
        }
        if startDrain { queue.async { self.drain() } }
        if full { flush() }
    }

    /// Returns once everything written before the call is in the descriptor.
    public func flush() {
        queue.sync {}
    }

    /// Writes what has gathered until nothing is left (runs on `queue`, one at a time).
    /// After each write it waits `gathering` before taking more: the lines logged meanwhile
    /// go out in one write, and none of them starts a drain (a thread wake-up) of its own.
    /// Under 1 KiB creates this saves about half a write and 0.7 context switches per
    /// request (docs/benchmarks.md, "Issue 18: log lines gathered").
    private func drain() {
        while true {
            let bytes = pending.withLock { pending in
                let bytes = pending.bytes
                pending.bytes = []
                pending.draining = !bytes.isEmpty
                return bytes
            }
            if bytes.isEmpty { return }
            writeAll(bytes)
            usleep(gathering)
        }
    }

    /// One write where it can; a sink that has gone (closed, full) loses the lines, as a
    /// direct write would.
    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
