#ifndef BURNLINK_CLINUXFILES_H
#define BURNLINK_CLINUXFILES_H

#include <stdint.h>

/* Linux system calls that glibc declares only under _GNU_SOURCE, which the Swift
   importer's view of glibc does not define. */

enum {
    BURNLINK_SYNC_FILE_RANGE_WAIT_BEFORE = 1,
    BURNLINK_SYNC_FILE_RANGE_WRITE = 2,
    BURNLINK_SYNC_FILE_RANGE_WAIT_AFTER = 4,
};

/* sync_file_range(2); elsewhere than Linux, -1 with errno ENOSYS. */
int burnlink_sync_file_range(int descriptor, int64_t offset, int64_t count, unsigned int flags);

#endif
