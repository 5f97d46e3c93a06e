#define _GNU_SOURCE
#include "CLinuxFiles.h"

#include <errno.h>
#include <fcntl.h>

int burnlink_sync_file_range(int descriptor, int64_t offset, int64_t count, unsigned int flags) {
#ifdef __linux__
    return sync_file_range(descriptor, offset, count, flags);
#else
    (void)descriptor; (void)offset; (void)count; (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}
