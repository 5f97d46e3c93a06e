#ifndef BURNLINK_FUZZ_DRIVER_H
#define BURNLINK_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry for programs with their own main (present only in -sanitize=fuzzer
   builds). SwiftPM renames an executable's main, so the targets call this instead of
   relying on libFuzzer's main. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
