import CLinuxFiles

#if canImport(Glibc)
import Glibc
#endif

/// Keeps a large output file's written pages from piling up in the page cache.
///
/// Every `step` bytes it starts writing out the newest step, waits until all but the last
/// `inFlight` bytes are on the disk, and drops those pages. The file then holds at most
/// `inFlight` bytes of page cache instead of all of itself, its pages are reused instead
/// of fresh ones taken, and the fsync at the end has only the tail left to wait for.
/// Writing 1 GiB into fresh page-cache pages took this machine 3.3 to 4.1 s (2.8 to 3.4 s
/// of it in the kernel) while other files filled the cache, 0.8 to 0.9 s this way; a 1 GiB
/// `open --output` took 2.4 to 5.0 s before and 1.8 to 2.1 s after (docs/benchmarks.md,
/// "Issue 18: a large output's pages dropped once on the disk").
///
/// The wait reports a failed writeback (EIO, ENOSPC) once, to whoever waits first: a
/// later fsync of the file no longer does. So its failure is the write's failure.
struct WritebackWindow {
    static let step = 16 << 20
    /// Four steps: with one, each step waited for the last and a 1 GiB open took 2.5 to 3.4 s.
    static let inFlight = 64 << 20

    /// Bytes before this offset are on the disk and out of the cache.
    private var settled: Int
    /// Bytes before this offset are being written out.
    private var started: Int
    /// Where the writes so far end.
    private var end: Int
    /// The file does not support it (its first call said so): nothing more is done.
    private var unsupported = false

    /// For writes from `offset` on.
    init(from offset: Int = 0) {
        (settled, started, end) = (offset, offset, offset)
    }

    private enum Outcome: Sendable {
        case done, unsupported
        case failed(Int32)
    }

    /// Call after each write of `count` bytes; throws the reason a writeback failed.
    mutating func wrote(_ count: Int, to descriptor: Int32) async throws(WritebackFailure) {
        end += count
        guard !unsupported, end - started >= Self.step else { return }
        let (settled, started, end) = (self.settled, self.started, self.end)
        let target = max(settled, end - Self.inFlight)
        let outcome = try? await BlockingIO.pool.runIfActive { () -> Outcome in
            switch burnlink_start_writeback(descriptor, Int64(started), Int64(end - started)) {
            case 0: break
            case BURNLINK_WRITEBACK_UNSUPPORTED: return .unsupported
            case let code: return .failed(code)
            }
            guard target > settled else { return .done }
            let code = burnlink_finish_writeback(descriptor, Int64(settled), Int64(target - settled))
            return code == 0 ? .done : .failed(code)
        }
        switch outcome {
        case nil: return  // the blocking-I/O thread is stopping: nothing ran
        case .unsupported?: unsupported = true
        case .failed(let code)?: throw WritebackFailure(reason: String(cString: strerror(code)))
        case .done?:
            self.settled = target
            self.started = end
        }
    }
}

struct WritebackFailure: Error {
    let reason: String
}
