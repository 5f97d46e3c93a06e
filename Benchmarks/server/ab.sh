#!/usr/bin/env bash
# Two server builds (or one build under two environments) side by side on 1 KiB durable
# creates: rounds alternate A, B, A, B ..., each on a fresh server and database, wrk with
# the settings of run.sh. Every run is printed: creates/s, p50, p99, max, the server's CPU
# time and minor page faults per 1,000 creates (read from /proc/PID/stat).
#
#   BENCH_A_BIN=old/burnlink-server BENCH_B_BIN=new/burnlink-server bash Benchmarks/server/ab.sh
#   BENCH_B_ENV='GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072' bash Benchmarks/server/ab.sh
#
#   BENCH_A_BIN, BENCH_B_BIN   servers (default: both .build/release/burnlink-server)
#   BENCH_A_ENV, BENCH_B_ENV   environment assignments for each (default: none)
#   BENCH_ROUNDS (3)  BENCH_DURATION seconds per run (10)  BENCH_CONNECTIONS (16)
#   BENCH_LOG_SINK    a command the server's log goes through (it must copy its input to
#                     its output), e.g. 'python3 Benchmarks/server/stalling_log_sink.py'
# Needs wrk (apt-get install -y wrk).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
A_BIN=${BENCH_A_BIN:-$ROOT/.build/release/burnlink-server}
B_BIN=${BENCH_B_BIN:-$ROOT/.build/release/burnlink-server}
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
source "$ROOT/Benchmarks/local_server.sh"
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/burnlink-server-ab.XXXXXX)
SERVER_PID=""
trap '[[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
head -c 1024 /dev/urandom > "$TMP/body"
TICKS=$(getconf CLK_TCK)

run() {  # NAME BIN ENV
    rm -rf "$TMP/db"
    # shellcheck disable=SC2086  # ENV is a list of assignments, the sink a command line
    if [[ -n "${BENCH_LOG_SINK:-}" ]]; then
        env $3 "$2" --port 0 --rate-limit off --database "$TMP/db/b.sqlite" 2> >($BENCH_LOG_SINK >"$TMP/server.log") &
    else
        env $3 "$2" --port 0 --rate-limit off --database "$TMP/db/b.sqlite" 2>"$TMP/server.log" &
    fi
    SERVER_PID=$!
    local port before after
    port=$(listening_port "$TMP/server.log")
    before=$(awk '{print $10, $14 + $15}' "/proc/$SERVER_PID/stat")
    BENCH_DIR="$HERE" BENCH_BODY_FILE="$TMP/body" BENCH_CLAIM_VERIFIER=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU \
        wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$HERE/create.lua" "http://127.0.0.1:$port" > "$TMP/wrk.out" 2>&1
    after=$(awk '{print $10, $14 + $15}' "/proc/$SERVER_PID/stat")
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
    # create.lua's done() prints one line of key=value fields.
    python3 - "$1" "$TMP/wrk.out" "$before" "$after" "$TICKS" <<'PY'
import re, sys
name, path, before, after, ticks = sys.argv[1:]
fields = dict(re.findall(r"(\w+)=(\d+)", open(path).read()))
requests, seconds = int(fields["requests"]), int(fields["duration_us"]) / 1e6
(faults0, cpu0), (faults1, cpu1) = (map(int, before.split()), map(int, after.split()))
print(f"| {name} | {requests / seconds:,.0f} | {int(fields['p50_us']) / 1e3:.2f} | {int(fields['p99_us']) / 1e3:.2f} "
      f"| {int(fields['max_us']) / 1e3:.2f} | {(cpu1 - cpu0) / int(ticks) * 1e3 / requests * 1e3:.0f} "
      f"| {(faults1 - faults0) * 1e3 / requests:,.0f} | {fields['status_errors']} |")
PY
}

echo "A: ${BENCH_A_ENV:-} $A_BIN"
echo "B: ${BENCH_B_ENV:-} $B_BIN"
[[ -n "${BENCH_LOG_SINK:-}" ]] && echo "log sink: $BENCH_LOG_SINK"
echo "| run | creates/s | p50 ms | p99 ms | max ms | server CPU µs per create | minor faults per 1,000 | status errors |"
echo "|---|---|---|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
    run "A $round" "$A_BIN" "${BENCH_A_ENV:-}"
    run "B $round" "$B_BIN" "${BENCH_B_ENV:-}"
done
