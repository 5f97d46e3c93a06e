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
    /// The file does not support it (its first call said so): nothing more is done.
    private var unsupported = false

    /// For writes from `offset` on.
    init(from offset: Int = 0) {
        settled = offset
        started = offset
    }

    private enum Outcome: Sendable {
        case done, unsupported
        case failed(Int32)
    }

    /// Call after each write with the offset its bytes end at; throws the reason a
    /// writeback failed.
    mutating func advance(_ descriptor: Int32, writtenTo written: Int) async throws(WritebackFailure) {
        guard !unsupported, written - started >= Self.step else { return }
        let (settled, started) = (self.settled, self.started)
        let target = max(settled, written - Self.inFlight)
        let outcome = try? await BlockingIO.pool.runIfActive { () -> Outcome in
            let start = UInt32(BURNLINK_SYNC_FILE_RANGE_WRITE)
            if let code = Self.syncRange(descriptor, from: started, to: written, flags: start) {
                // A call that does not wait reports no stored writeback error: EINVAL,
                // ESPIPE or ENOSYS from it mean the file does not support the call.
                return code == EINVAL || code == ESPIPE || code == ENOSYS ? .unsupported : .failed(code)
            }
            guard target > settled else { return .done }
            // Whatever a wait returns is the file's writeback error, whichever code its file
            // system chose: a failure, always.
            let finish = UInt32(
                BURNLINK_SYNC_FILE_RANGE_WAIT_BEFORE | BURNLINK_SYNC_FILE_RANGE_WRITE | BURNLINK_SYNC_FILE_RANGE_WAIT_AFTER)
            if let code = Self.syncRange(descriptor, from: settled, to: target, flags: finish) { return .failed(code) }
            _ = posix_fadvise(descriptor, off_t(settled), off_t(target - settled), POSIX_FADV_DONTNEED)
            return .done
        }
        switch outcome {
        case nil: return  // the blocking-I/O thread is stopping: nothing ran
        case .unsupported?: unsupported = true
        case .failed(let code)?: throw WritebackFailure(reason: String(cString: strerror(code)))
        case .done?:
            self.settled = target
            self.started = written
        }
    }

    /// sync_file_range over `start..<end`; the errno it failed with, or nil.
    private static func syncRange(_ descriptor: Int32, from start: Int, to end: Int, flags: UInt32) -> Int32? {
        while burnlink_sync_file_range(descriptor, Int64(start), Int64(end - start), flags) != 0 {
            if errno != EINTR { return errno }
        }
        return nil
    }
}

struct WritebackFailure: Error {
    let reason: String
}
