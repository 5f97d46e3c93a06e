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

#endif
