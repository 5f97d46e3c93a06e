#ifndef BURNLINK_CSODIUM_SHIM_H
#define BURNLINK_CSODIUM_SHIM_H
#include <sodium.h>

#ifdef __linux__
#include <sys/prctl.h>
#include <sys/resource.h>
/* prctl is variadic, which Swift cannot call: a fixed-signature wrapper. */
static inline int burnlink_disable_core_dumps(void) {
    struct rlimit none = { 0, 0 };
    int status = setrlimit(RLIMIT_CORE, &none);
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) | status;
}
#else
static inline int burnlink_disable_core_dumps(void) { return 0; }
#endif

#ifdef __GLIBC__
#include <malloc.h>
/* glibc's fixed allocator thresholds (AllocatorTuning.swift): 1 when both were set. */
static inline int burnlink_set_malloc_thresholds(int trim, int mmap) {
    return mallopt(M_TRIM_THRESHOLD, trim) == 1 && mallopt(M_MMAP_THRESHOLD, mmap) == 1;
}
#else
static inline int burnlink_set_malloc_thresholds(int trim, int mmap) { (void)trim; (void)mmap; return 0; }
#endif

#endif
