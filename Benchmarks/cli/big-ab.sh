#!/usr/bin/env bash
# Two server builds side by side on large secrets, the way variance shows: each round starts
# a fresh server on a fresh database for A, then for B, and sends and opens BENCH_BIG_MIB
# (1,024) MiB BENCH_PAIRS (3) times back to back, with no pause between (an open right after
# a send, the next send while the last secret is still being overwritten). The same CLI
# drives both. Every run is printed, with the bytes the server wrote to disk during it
# (write_bytes of /proc/PID/io).
#
#   BENCH_A_BIN=old/burnlink-server BENCH_B_BIN=new/burnlink-server \
#     BENCH_CLI_BIN=.build/release/burnlink bash Benchmarks/cli/big-ab.sh
#
#   BENCH_ROUNDS (2)  BENCH_PAIRS (3)  BENCH_BIG_MIB (1024)
#   BENCH_OTHER_WRITES_MIB (0): before each send and each open, write that many MiB of
#     random bytes to a file of its own, kept until the end: the page cache fills with other
#     files' pages and the pages the last command freed are taken, as on a machine doing
#     other I/O (docs/benchmarks.md, "Issue 18: a large output's pages dropped once on the
#     disk"). Needs that much more free disk per command under /tmp.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
A_BIN=${BENCH_A_BIN:-$ROOT/.build/release/burnlink-server}
B_BIN=${BENCH_B_BIN:-$ROOT/.build/release/burnlink-server}
CLI=${BENCH_CLI_BIN:-$ROOT/.build/release/burnlink}
ROUNDS=${BENCH_ROUNDS:-2}
PAIRS=${BENCH_PAIRS:-3}
BIG_MIB=${BENCH_BIG_MIB:-1024}
OTHER_WRITES_MIB=${BENCH_OTHER_WRITES_MIB:-0}
source "$ROOT/Benchmarks/local_server.sh"
TMP=$(mktemp -d /tmp/burnlink-big-ab.XXXXXX)
SERVER_PID=""
trap '[[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
head -c "$((BIG_MIB * 1048576))" /dev/urandom > "$TMP/big"
sync

written() { awk '/^write_bytes/ {print $2}' "/proc/$SERVER_PID/io"; }

others=0
other_writes() {
    ((OTHER_WRITES_MIB > 0)) || return 0
    others=$((others + 1))
    head -c "$((OTHER_WRITES_MIB * 1048576))" /dev/urandom > "$TMP/other.$others"
}

run() {  # NAME BIN
    rm -rf "$TMP/db" "$TMP/config"
    "$2" --port 0 --rate-limit off --max-size "$((BIG_MIB + 64))MiB" --database "$TMP/db/b.sqlite" \
        2>"$TMP/server.log" &
    SERVER_PID=$!
    local port
    port=$(listening_port "$TMP/server.log")
    export BURNLINK_SERVER="http://127.0.0.1:$port" XDG_CONFIG_HOME="$TMP/config"
    for pair in $(seq "$PAIRS"); do
        local before middle after send open
        other_writes
        before=$(written)
        send=$( { /usr/bin/time -f "%e" "$CLI" send -q "$TMP/big" > "$TMP/link"; } 2>&1 )
        other_writes
        middle=$(written)
        open=$( { /usr/bin/time -f "%e" "$CLI" open -q --yes --output "$TMP/out" < "$TMP/link"; } 2>&1 )
        after=$(written)
        cmp -s "$TMP/big" "$TMP/out" || { echo "round trip differs ($1, pair $pair)" >&2; exit 1; }
        rm -f "$TMP/out"
        python3 - "$1.$pair" "$BIG_MIB" "$send" "$open" "$before" "$middle" "$after" <<'PY'
import sys
name, mib, send, open_, before, middle, after = sys.argv[1:]
size = int(mib) * 1048576
send, open_ = float(send.split()[-1]), float(open_.split()[-1])
before, middle, after = int(before), int(middle), int(after)
print(f"| {name} | {send:.2f} | {size / send / 1e6:.0f} | {(middle - before) / 1e9:.2f} "
      f"| {open_:.2f} | {size / open_ / 1e6:.0f} | {(after - middle) / 1e9:.2f} |")
PY
    done
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

echo "A: $A_BIN"
echo "B: $B_BIN"
echo "CLI: $CLI; $BIG_MIB MiB; $OTHER_WRITES_MIB MiB of other files written before each command; MB/s = 10^6 bytes per second; GB written by the server during each command"
echo "| round.pair | send s | send MB/s | GB written | open s | open MB/s | GB written |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
    run "A$round" "$A_BIN"
    run "B$round" "$B_BIN"
done
