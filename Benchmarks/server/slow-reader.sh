#!/usr/bin/env bash
# What a slow reader of a large secret costs the server's memory while the server is busy
# (docs/benchmarks.md, "Issue 18: a slow reader's memory").
#
#   bash Benchmarks/server/slow-reader.sh
#
# Against a release burnlink-server on loopback (BENCH_SERVER_BIN=PATH for another build),
# on a database on disk: a BENCH_BIG_MIB (100) MiB secret is uploaded; then, while wrk
# keeps the server's event loops busy with 1 KiB creates (16 connections), curl claims it
# reading at most BENCH_READ_RATE bytes a second (10M). The server's VmRSS is sampled every
# 50 ms from just before the claim to its end. Prints the idle RSS, the peak during the
# claim and the growth, the claim's status, bytes and time, and wrk's creates/s.
# A server that buffered the envelope for its reader would grow by about its size.
# Needs: wrk, curl, python3 (apt-get install -y wrk curl).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIG_MIB=${BENCH_BIG_MIB:-100}
READ_RATE=${BENCH_READ_RATE:-10M}
HELPERS=(python3 "$HERE/bench_helpers.py")

for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y wrk curl)" >&2; exit 1; }
done

source "$ROOT/Benchmarks/local_server.sh"
start_local_server slow-reader --server-only

read -r TOKEN VERIFIER < <("${HELPERS[@]}" token)
head -c "$((BIG_MIB * 1048576))" /dev/urandom > "$TMP/big"
head -c 1024 /dev/urandom > "$TMP/body.bin"
code=$(curl -s -o "$TMP/big.json" -w '%{http_code}' --max-time 300 -H 'Expect:' \
    -H "Burnlink-Claim-Verifier: $VERIFIER" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$TMP/big" "$BURNLINK_SERVER/api/v1/secrets")
[[ "$code" == 201 ]] || { echo "the upload answered $code: $(head -c 300 "$TMP/big.json")" >&2; exit 1; }
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/big.json")
rm -f "$TMP/big"
sleep 3
idle=$(awk '/^VmRSS:/{print $2}' "/proc/$SERVER_PID/status")

# wrk runs past the claim's expected end; it is stopped when the claim ends.
BENCH_DIR=$HERE BENCH_BODY_FILE=$TMP/body.bin BENCH_CLAIM_VERIFIER=$VERIFIER \
    wrk -t1 -c16 -d120s --latency -s "$HERE/create.lua" "$BURNLINK_SERVER" > "$TMP/wrk.out" &
WRK_PID=$!
"${HELPERS[@]}" rss-sample "$SERVER_PID" "$TMP/rss.samples" 50 &
SAMPLER_PID=$!
sleep 1
claim=$(curl -s -o /dev/null --limit-rate "$READ_RATE" --max-time 600 \
    -w '%{http_code} %{size_download} %{time_total}' -X POST \
    -H "Authorization: Bearer $TOKEN" "$BURNLINK_SERVER/api/v1/secrets/$id/claim") || claim="000 0 0"
kill -TERM "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
kill -INT "$WRK_PID" 2>/dev/null || true
wait "$WRK_PID" 2>/dev/null || true

read -r claim_code claim_bytes claim_time <<<"$claim"
read -r samples peak < "$TMP/rss.samples"
echo "server RSS idle $((idle / 1024)) MiB; peak during the claim $((peak / 1024)) MiB ($samples samples): +$(((peak - idle) / 1024)) MiB"
echo "claim: $claim_code, $claim_bytes bytes in $claim_time s (reader limited to $READ_RATE/s)"
echo "1 KiB creates beside it: $(awk '/Requests\/sec/ {print $2}' "$TMP/wrk.out")/s, p99 $(awk '$1 == "99%" {print $2}' "$TMP/wrk.out")"
[[ "$claim_code" == 200 && "$claim_bytes" -eq "$((BIG_MIB * 1048576))" ]] \
    || { echo "the claim did not deliver the whole envelope" >&2; exit 3; }
