#define _GNU_SOURCE
#include "CLinuxFiles.h"

#include <errno.h>
#include <fcntl.h>

#ifdef __linux__
static int sync_range(int descriptor, int64_t offset, int64_t count, unsigned int flags) {
    while (sync_file_range(descriptor, offset, count, flags) != 0) {
        if (errno != EINTR) return errno;
    }
    return 0;
}
#endif

int burnlink_start_writeback(int descriptor, int64_t offset, int64_t count) {
#ifdef __linux__
    int code = sync_range(descriptor, offset, count, SYNC_FILE_RANGE_WRITE);
    return code == EINVAL || code == ESPIPE || code == ENOSYS ? BURNLINK_WRITEBACK_UNSUPPORTED : code;
#else
    (void)descriptor; (void)offset; (void)count;
    return BURNLINK_WRITEBACK_UNSUPPORTED;
#endif
}

int burnlink_finish_writeback(int descriptor, int64_t offset, int64_t count) {
#ifdef __linux__
    int code = sync_range(descriptor, offset, count,
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    if (code == 0) (void)posix_fadvise(descriptor, offset, count, POSIX_FADV_DONTNEED);
    return code;
#else
    (void)descriptor; (void)offset; (void)count;
    return ENOSYS;
#endif
}
