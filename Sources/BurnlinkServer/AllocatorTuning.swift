import CSodium

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// glibc's allocator thresholds for a long-running server.
///
/// By default glibc gives memory back to the kernel whenever more than 128 KiB lies free at
/// the top of an arena (`madvise(MADV_DONTNEED)` on a thread's heap), and raises that bound
/// only once a block of mmap size has been freed. Handling a batch of small requests frees
/// and then needs again a few tens of KiB, so under 1 KiB creates the server handed the
/// same pages back and faulted them in again up to 5,000 times a second, each return
/// interrupting the other cores to flush their TLBs (docs/benchmarks.md, "glibc's trim
/// threshold"). Fixed thresholds end that churn; what stays mapped is bounded by them.
public enum AllocatorTuning {
    /// Free memory an arena keeps at its top before returning it to the kernel.
    static let trimThreshold: Int32 = 4 << 20
    /// Blocks at least this large get their own mapping. Above the 1 MiB chunks of large
    /// uploads (and their buffers' rounding), so those come from the arenas as they did once
    /// glibc's own adjustment had seen one freed: no map and unmap per chunk.
    static let mmapThreshold: Int32 = 4 << 20

    /// Sets both thresholds, unless the operator tunes malloc through `GLIBC_TUNABLES`
    /// (theirs win). Returns whether the thresholds were set.
    @discardableResult
    public static func apply(tunables: String? = getenv("GLIBC_TUNABLES").map { String(cString: $0) }) -> Bool {
        if let tunables, tunables.contains("glibc.malloc.") { return false }
        // Setting either one also turns off glibc's dynamic adjustment of both.
        return burnlink_set_malloc_thresholds(trimThreshold, mmapThreshold) == 1
    }
}
