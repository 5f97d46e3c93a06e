#!/usr/bin/env python3
"""Writing a large file into the page cache, two ways, alternating (docs/benchmarks.md,
"Issue 18: a large output's pages dropped once on the disk").

  python3 Benchmarks/cli/fresh-pages.py [DIRECTORY] [--fill GIB] [--between GIB] [--rounds N]

Each round writes 1 GiB (1 MiB writes) into a new file in DIRECTORY (/var/tmp; a disk, not
tmpfs) and fsyncs it, then removes it:
  plain   every page stays cached until the end, as a plain write loop leaves it;
  window  as the CLI's WritebackWindow: every 16 MiB, writeback of the newest 16 MiB is
          started, all but the last 64 MiB is waited for and dropped from the cache.
--fill GIB first writes that many GiB of other files into DIRECTORY and keeps them (removed
at the end), so the cache is full of other pages, as on a machine that has been working;
--between GIB writes that many GiB more of them (kept too) before each run, so that the
pages the last run freed are taken by other files, as on a machine doing other I/O.
Prints each run's seconds, MB/s and the process's user and system CPU time.
"""
import argparse
import ctypes
import os
import resource
import time

WAIT_BEFORE, WRITE, WAIT_AFTER = 1, 2, 4
STEP, IN_FLIGHT, PIECE, TOTAL = 16 << 20, 64 << 20, 1 << 20, 1 << 30

libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]


def write_file(path, window):
    piece = os.urandom(PIECE)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    written = settled = started = 0
    while written < TOTAL:
        written += os.write(descriptor, piece)
        if window and written - started >= STEP:
            libc.sync_file_range(descriptor, started, written - started, WRITE)
            target = max(settled, written - IN_FLIGHT)
            if target > settled:
                libc.sync_file_range(descriptor, settled, target - settled, WAIT_BEFORE | WRITE | WAIT_AFTER)
                os.posix_fadvise(descriptor, settled, target - settled, os.POSIX_FADV_DONTNEED)
            settled, started = target, written
    os.fsync(descriptor)
    os.close(descriptor)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    os.unlink(path)
    return seconds, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", nargs="?", default="/var/tmp")
    parser.add_argument("--fill", type=int, default=0)
    parser.add_argument("--between", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    fillers = []

    def fill(gibibytes):
        for _ in range(gibibytes):
            fillers.append(os.path.join(arguments.directory, f"fresh-pages-fill.{len(fillers)}"))
            with open(fillers[-1], "wb") as file:
                for _ in range(1024):
                    file.write(os.urandom(PIECE))

    try:
        fill(arguments.fill)
        for round_number in range(1, arguments.rounds + 1):
            for name, window in (("plain", False), ("window", True)):
                fill(arguments.between)
                path = os.path.join(arguments.directory, "fresh-pages.out")
                seconds, user, system = write_file(path, window)
                print(f"round {round_number} {name:6}: {seconds:.2f} s, {TOTAL / seconds / 1e6:.0f} MB/s, "
                      f"user {user:.2f} s, system {system:.2f} s", flush=True)
    finally:
        for filler in fillers:
            if os.path.exists(filler):
                os.unlink(filler)


if __name__ == "__main__":
    main()
