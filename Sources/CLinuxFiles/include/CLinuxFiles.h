#ifndef BURNLINK_CLINUXFILES_H
#define BURNLINK_CLINUXFILES_H

#include <stdint.h>

/* Writeback of a file range with sync_file_range(2), which glibc declares only under
   _GNU_SOURCE (not defined in the Swift importer's view of glibc). Both retry on EINTR.
   Elsewhere than Linux, the file "does not support it". */

/* burnlink_start_writeback: the range does not support writeback control. */
#define BURNLINK_WRITEBACK_UNSUPPORTED (-1)

/* Starts writing the range out, without waiting: 0, BURNLINK_WRITEBACK_UNSUPPORTED (EINVAL,
   ESPIPE or ENOSYS: a call that does not wait reports no stored writeback error, so these
   only mean the file cannot do it), or the errno it failed with. */
int burnlink_start_writeback(int descriptor, int64_t offset, int64_t count);

/* Waits until the range is on the disk, then drops its pages from the page cache: 0, or
   the errno the wait returned. That is the file's writeback error, reported once whatever
   code its file system chose (a later fsync no longer reports it): always a failure. */
int burnlink_finish_writeback(int descriptor, int64_t offset, int64_t count);

#endif
