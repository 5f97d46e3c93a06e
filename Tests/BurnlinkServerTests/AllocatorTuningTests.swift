import Testing

@testable import BurnlinkServer

@Suite("glibc allocator thresholds")
struct AllocatorTuningTests {
    @Test("set when the operator has not tuned malloc, left alone when they have")
    func operatorTunablesWin() {
        #if canImport(Glibc)
        #expect(AllocatorTuning.apply(tunables: nil))
        #expect(AllocatorTuning.apply(tunables: "glibc.pthread.rseq=0"))
        #expect(!AllocatorTuning.apply(tunables: "glibc.malloc.trim_threshold=131072"))
        #expect(!AllocatorTuning.apply(tunables: "glibc.pthread.rseq=0:glibc.malloc.arena_max=2"))
        #endif
    }
}
