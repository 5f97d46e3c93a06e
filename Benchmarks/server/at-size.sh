#!/usr/bin/env bash
# Creates and claims on a store that already holds many secrets (issue 18, parts 3 and 6);
# results in docs/benchmarks.md.
#
#   BURNLINK_SERVER=.build/release/burnlink-server bash Benchmarks/server/at-size.sh
#
# One fresh release server on the default durable SQLite settings, on loopback:
#   1. fills it with BENCH_SECRETS (1,000,000) 1 KiB secrets (wrk, 32 connections), keeping
#      their ids; reports the fill rate and the bytes on disk per secret;
#   2. 1 KiB creates, wrk -t2 -c16 -dBENCH_DURATION (10 s): rate, p50, p99, max;
#   3. claims of secrets from the fill, each id once, same load: rate, p50, p99, max.
# Environment: BENCH_SECRETS, BENCH_DURATION, BENCH_TMPDIR (a directory on a disk: the
# database needs about 3 GiB per million secrets), BURNLINK_SERVER (required).
# Needs wrk, curl, python3.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SECRETS=${BENCH_SECRETS:-1000000}
DURATION=${BENCH_DURATION:-10}
SERVER_BIN=${BURNLINK_SERVER:?set BURNLINK_SERVER to a release burnlink-server}
HELPERS=(python3 "$HERE/bench_helpers.py")

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/burnlink-at-size.XXXXXX")
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

read -r CLAIM_TOKEN CLAIM_VERIFIER < <("${HELPERS[@]}" token)
head -c 1024 /dev/urandom >"$TMP/body.bin"
export BENCH_DIR=$HERE BENCH_BODY_FILE=$TMP/body.bin BENCH_CLAIM_VERIFIER=$CLAIM_VERIFIER \
    BENCH_CLAIM_TOKEN=$CLAIM_TOKEN BENCH_SECRET_SIZE=1024

PORT=$("${HELPERS[@]}" free-port)
"$SERVER_BIN" --rate-limit off --max-concurrent-uploads off --host 127.0.0.1 --port "$PORT" \
    --database "$TMP/db/b.sqlite" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
URL=http://127.0.0.1:$PORT/api/v1/secrets
for _ in $(seq 100); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done

# "rate p50 p99 max" (ms) of a wrk BENCH line; the count is field `ok` for claims.
summarize() { # file count-field
    awk -v k="$2" '/^BENCH /{for (i = 2; i <= NF; i++) {split($i, a, "="); v[a[1]] = a[2]}
        printf "%.0f %.2f %.2f %.2f\n", (k == "requests" ? v["requests"] - v["status_errors"] : v[k]) / (v["duration_us"] / 1e6),
            v["p50_us"] / 1000, v["p99_us"] / 1000, v["max_us"] / 1000}' "$1"
}

log "filling with $SECRETS secrets"
start=$(date +%s.%N)
# Each wrk thread stops at its quota, but wrk itself waits out -d: stop it once the ids
# are all there (SIGINT makes it report and exit).
wrk -t2 -c32 -d3600s -s "$HERE/precreate.lua" "$URL" -- "$TMP/ids" $(((SECRETS + 1) / 2)) >"$TMP/fill.wrk" &
fill_pid=$!
# Every 30 s the rate of that slice is kept, to show whether filling slows as the store grows.
slices=() last_count=0 ticks=0
while kill -0 "$fill_pid" 2>/dev/null; do
    sleep 1
    count=$(cat "$TMP"/ids.* 2>/dev/null | wc -l)
    if ((++ticks % 30 == 0)); then slices+=($(((count - last_count) / 30))); last_count=$count; fi
    ((count >= SECRETS)) && kill -INT "$fill_pid" 2>/dev/null || true
done
wait "$fill_pid" || true
fill_seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b - a}')
filled=$(cat "$TMP"/ids.* | wc -l)
grep -q "statuses=201:" "$TMP/fill.wrk" || { cat "$TMP/fill.wrk" >&2; exit 1; }
sleep 5 # let the checkpointer catch up
disk=$(du -cb "$TMP/db" | tail -1 | cut -f1)
log "filled $filled in ${fill_seconds}s; $disk bytes on disk"

log "creates"
wrk -t2 -c16 -d"${DURATION}s" --latency -s "$HERE/create.lua" "$URL" >"$TMP/create.wrk"
read -r c_rate c_p50 c_p99 c_max < <(summarize "$TMP/create.wrk" requests)
sleep 2
log "claims"
cat "$TMP"/ids.* | shuf >"$TMP/claim-ids.txt"
wrk -t2 -c16 -d"${DURATION}s" --latency -s "$HERE/claim.lua" "$URL" -- "$TMP/claim-ids.txt" 2 >"$TMP/claim.wrk"
read -r k_rate k_p50 k_p99 k_max < <(summarize "$TMP/claim.wrk" ok)
claim_statuses=$(grep -o 'statuses=[^ ]*' "$TMP/claim.wrk" | head -1)

echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $("$SERVER_BIN" --version 2>/dev/null | head -1), SQLite, 1 KiB secrets"
echo "fill: $filled secrets in $fill_seconds s ($(awk -v n="$filled" -v s="$fill_seconds" 'BEGIN{printf "%.0f", n / s}') /s); on disk $(awk -v b="$disk" 'BEGIN{printf "%.2f GiB", b / 1073741824}'), $(awk -v b="$disk" -v n="$filled" 'BEGIN{printf "%.0f", b / n}') bytes per secret"
echo "fill rate per 30-s slice, /s: ${slices[*]:-none}"
echo "| at $filled secrets | rate /s | p50 ms | p99 ms | max ms |"
echo "|---|---|---|---|---|"
echo "| 1 KiB creates | $c_rate | $c_p50 | $c_p99 | $c_max |"
echo "| claims ($claim_statuses) | $k_rate | $k_p50 | $k_p99 | $k_max |"
