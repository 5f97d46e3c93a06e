#!/usr/bin/env bash
# What freeing a large ciphertext costs everyone else (docs/benchmarks.md, "Large secrets").
#
#   bash Benchmarks/server/burn.sh
#
# Against a release burnlink-server on loopback, on a database on disk: `burnlink send` of
# a BENCH_BIG_MIB (1024) MiB file, then `burnlink open` of it, then at once 1 KiB creates
# with wrk (4 connections, 5 s) while the server overwrites the opened ciphertext
# (secure_delete). Prints the open's time, wrk's creates/s and p99, and how many seconds
# the server stayed busy (over 10 % of a core) after the open.
# Needs: wrk, GNU time, python3 (apt-get install -y wrk time).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIG_MIB=${BENCH_BIG_MIB:-1024}

for tool in wrk /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y wrk time)" >&2; exit 1; }
done

source "$ROOT/Benchmarks/local_server.sh"
start_local_server burn

head -c "$((BIG_MIB * 1048576))" /dev/urandom > "$TMP/big"
sync
"$BIN" send -q "$TMP/big" > "$TMP/link"
sleep 5
/usr/bin/time -f "%e" -o "$TMP/open.time" "$BIN" open -q --yes --output "$TMP/out" < "$TMP/link"
opened=$(date +%s.%N)
ticks() { sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'; }

read -r _ VERIFIER < <(python3 "$HERE/bench_helpers.py" token)
head -c 1024 /dev/urandom > "$TMP/body.bin"
BENCH_DIR=$HERE BENCH_BODY_FILE=$TMP/body.bin BENCH_CLAIM_VERIFIER=$VERIFIER \
    wrk -t1 -c4 -d5s --latency -s "$HERE/create.lua" "$BURNLINK_SERVER" > "$TMP/wrk.out"

# Busy until a whole second passes with the server under 10 % of a core (at most 60 s).
hz=$(getconf CLK_TCK)
busy_until=$(date +%s.%N)
for _ in $(seq 60); do
    before=$(ticks); sleep 1; after=$(ticks)
    if (( (after - before) * 10 < hz )); then break; fi
    busy_until=$(date +%s.%N)
done

echo "open of $BIG_MIB MiB: $(cat "$TMP/open.time") s"
echo "1 KiB creates during the 5 s after it: $(awk '/Requests\/sec/ {print $2}' "$TMP/wrk.out")/s, p99 $(awk '$1 == "99%" {print $2}' "$TMP/wrk.out")"
echo "server busy after the open for about $(python3 -c "print(round($busy_until - $opened))") s"
