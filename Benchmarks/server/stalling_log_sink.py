#!/usr/bin/env python3
"""A log sink that stalls: copies standard input to standard output, but every PERIOD
seconds stops reading for STALL seconds (defaults 1 and 0.1), as a journal that falls
behind may. Used by ab.sh (BENCH_LOG_SINK) to see what a slow log
sink does to the server's requests.

    python3 stalling_log_sink.py [PERIOD [STALL]] < log > copy
"""
import os
import sys
import time

period = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
stall = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
next_stall = time.monotonic() + period
while True:
    chunk = os.read(0, 1 << 16)
    if not chunk:
        break
    os.write(1, chunk)
    if time.monotonic() >= next_stall:
        time.sleep(stall)
        next_stall = time.monotonic() + period
