#!/usr/bin/env bash
# What claim sessions cost a large open (docs/benchmarks.md, "Delivery"): the same release
# binaries, two servers side by side, one with --claim-window 0 (burn on send, no confirm:
# the behaviour before claim sessions) and one with the default window (the open confirms).
# Rounds alternate between them; each round sends BIG_MIB (default 1024) MiB and times
# `burnlink open --output` right after, as run.sh does.
#
#   BENCH_CLI_BIN=... BENCH_SERVER_BIN=... bash Benchmarks/cli/window-ab.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIG_MIB=${BENCH_BIG_MIB:-1024}
ROUNDS=${BENCH_ROUNDS:-5}
SERVER=${BENCH_SERVER_BIN:-$ROOT/.build/release/burnlink-server}
BIN=${BENCH_CLI_BIN:-$ROOT/.build/release/burnlink}
TMP=$(mktemp -d /tmp/burnlink-window-ab.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT

source "$ROOT/Benchmarks/local_server.sh"
declare -A PORT
start() {  # NAME WINDOW: starts a server, sets PORT[NAME]
    "$SERVER" --port 0 --rate-limit off --max-size "$((BIG_MIB + 64))MiB" --claim-window "$2" \
        --database "$TMP/$1/b.sqlite" 2>"$TMP/$1.log" &
    PIDS+=($!)
    PORT[$1]=$(listening_port "$TMP/$1.log")
}
start off 0
start on 2m
export XDG_CONFIG_HOME="$TMP/config" XDG_STATE_HOME="$TMP/state"
head -c "$((BIG_MIB * 1048576))" /dev/urandom > "$TMP/big"
sync
echo "| round | sessions | open s | open MB/s |"
echo "|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
    for mode in off on; do
        export BURNLINK_SERVER="http://127.0.0.1:${PORT[$mode]}"
        "$BIN" send -q "$TMP/big" > "$TMP/link"
        /usr/bin/time -f "%e" -o "$TMP/open.time" "$BIN" open -q --yes --output "$TMP/out" < "$TMP/link"
        cmp -s "$TMP/big" "$TMP/out" || { echo "round trip differs" >&2; exit 1; }
        rm -f "$TMP/out"
        seconds=$(cat "$TMP/open.time")
        echo "| $round | $mode | $seconds | $(python3 -c "print(round($BIG_MIB * 1048576 / $seconds / 1e6))") |"
        sleep 10  # the server frees the secret's pages after the open: let it finish
    done
done
