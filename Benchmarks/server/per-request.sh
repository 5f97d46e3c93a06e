#!/usr/bin/env bash
# What one 1 KiB create costs a server, counted rather than timed: context switches, futex,
# write and epoll_wait calls, stat calls and CPU time per request (`perf stat -p` over a wrk
# run of 16 connections), with the run's rate and p99. The counts hardly move with the
# machine's speed, so two builds can be told apart where creates/s and CPU time drift more
# between runs than between the builds (docs/benchmarks.md, "Issue 18: the PostgreSQL
# pool's timers, and the time zone"). perf's tracepoints slow the server: compare counts,
# not these runs' rates.
#
#   BURNLINK_SERVER=PATH [BENCH_DATABASE=URL-or-file] bash Benchmarks/server/per-request.sh
#
#   BURNLINK_SERVER   the server binary (required)
#   BENCH_DATABASE    its --database (default: a fresh SQLite file under BENCH_TMPDIR)
#   BENCH_DURATION    seconds counted (6), after a 2 s warm-up
#   BENCH_TMPDIR      parent of the temporary directory (/tmp); must be a disk
# Needs perf, wrk, python3 (apt-get install -y linux-perf wrk).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$ROOT/Benchmarks/local_server.sh"  # for listening_port
SERVER=${BURNLINK_SERVER:?a burnlink-server binary}
DURATION=${BENCH_DURATION:-6}
for tool in perf wrk python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y linux-perf wrk)" >&2; exit 1; }
done

TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/burnlink-per-request.XXXXXX")
SERVER_PID=""
trap '[[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
DATABASE=${BENCH_DATABASE:-$TMP/db/b.sqlite}

head -c 1024 /dev/urandom >"$TMP/body"
read -r _ VERIFIER < <(python3 "$HERE/bench_helpers.py" token)
export BENCH_DIR=$HERE BENCH_BODY_FILE=$TMP/body BENCH_CLAIM_VERIFIER=$VERIFIER
"$SERVER" --rate-limit off --max-concurrent-uploads off --host 127.0.0.1 --port 0 --database "$DATABASE" \
    >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
url="http://127.0.0.1:$(listening_port "$TMP/server.log")"

wrk -t1 -c16 -d2s -s "$HERE/create.lua" "$url/api/v1/secrets" >/dev/null
events=context-switches,task-clock,syscalls:sys_enter_futex,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_newfstatat
perf stat -x, -e "$events" -p "$SERVER_PID" -o "$TMP/perf.csv" -- sleep "$DURATION" &
perf_pid=$!
wrk -t1 -c16 -d"${DURATION}s" --latency -s "$HERE/create.lua" "$url/api/v1/secrets" >"$TMP/wrk.out"
wait "$perf_pid"

python3 - "$TMP/wrk.out" "$TMP/perf.csv" "$DURATION" <<'PY'
import sys
wrk, perf, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
fields = {}
for line in open(wrk):
    if line.startswith("BENCH "):
        fields = dict(kv.split("=", 1) for kv in line.split()[1:])
if not fields:
    sys.exit(f"no result from wrk in {wrk}")
requests = int(fields["requests"]) - int(fields["status_errors"])
if requests <= 0 or int(fields["status_errors"]):
    sys.exit(f"{fields['status_errors']} errors of {fields['requests']} requests")
counts = {}
for line in open(perf):
    parts = line.strip().split(",")
    if len(parts) > 2 and parts[0] and parts[0][0].isdigit():
        counts[parts[2].removeprefix("syscalls:sys_enter_")] = float(parts[0])
per = {name: value / requests for name, value in counts.items()}
cpu_us = per.pop("task-clock", 0) * 1000  # perf's task-clock is in ms
print(f"creates/s {requests / seconds:.0f}  p99 {int(fields['p99_us']) / 1000:.2f} ms  CPU {cpu_us:.0f} µs/create  "
      + "  ".join(f"{name} {value:.2f}" for name, value in per.items()) + "  (per create)")
PY
