#!/usr/bin/env bash
# Two server builds (or one build under two environments) side by side on a SQLite store
# that already holds BENCH_SECRETS (1,000,000) secrets of 1 KiB. The store is filled once
# (by server A), then every run starts from a copy of it: rounds alternate A, B, A, B ...,
# each run claims secrets of the fill (shuffled, each once) for BENCH_DURATION seconds,
# then creates for as long; wrk -t2 -c16, as at-size.sh. Every run is printed: rate, p50,
# p99, max. The copy is synced to disk before each run, so no writeback of it lands inside
# the measurement.
#
#   BENCH_A_BIN=old/burnlink-server BENCH_B_BIN=new/burnlink-server bash Benchmarks/server/at-size-ab.sh
#
#   BENCH_A_BIN, BENCH_B_BIN   servers (default: both .build/release/burnlink-server)
#   BENCH_A_ENV, BENCH_B_ENV   environment assignments for each (default: none)
#   BENCH_SERVER_ARGS          extra flags for both, e.g. "--sweep-interval 5s"
#   BENCH_ROUNDS (3)  BENCH_DURATION seconds per phase (10)  BENCH_SECRETS (1000000)
#   BENCH_TMPDIR      a directory on a disk (about 3.5 GiB free per million secrets)
#   BENCH_COLD=1      empty the kernel's page cache once each server has started, so that
#                     every claim finds the store's pages on the disk (a store larger than
#                     the memory that caches it); needs root
# Needs wrk, curl, python3.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
A_BIN=${BENCH_A_BIN:-$ROOT/.build/release/burnlink-server}
B_BIN=${BENCH_B_BIN:-$ROOT/.build/release/burnlink-server}
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-10}
SECRETS=${BENCH_SECRETS:-1000000}
for tool in wrk curl python3; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
COLD=${BENCH_COLD:-0}
if [[ "$COLD" == 1 && ! -w /proc/sys/vm/drop_caches ]]; then
    echo "BENCH_COLD=1 needs root (it writes /proc/sys/vm/drop_caches)" >&2
    exit 1
fi

TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/burnlink-at-size-ab.XXXXXX")
SERVER_PID=""
trap '[[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

read -r TOKEN VERIFIER < <(python3 "$HERE/bench_helpers.py" token)
head -c 1024 /dev/urandom >"$TMP/body"
export BENCH_DIR=$HERE BENCH_BODY_FILE=$TMP/body BENCH_CLAIM_VERIFIER=$VERIFIER \
    BENCH_CLAIM_TOKEN=$TOKEN BENCH_SECRET_SIZE=1024
PORT=$(python3 "$HERE/bench_helpers.py" free-port)
URL=http://127.0.0.1:$PORT/api/v1/secrets

start() {  # BIN ENV DIRECTORY
    # shellcheck disable=SC2086  # ENV and BENCH_SERVER_ARGS are lists
    env $2 "$1" --port "$PORT" --rate-limit off --max-concurrent-uploads off \
        ${BENCH_SERVER_ARGS:-} --database "$3/b.sqlite" 2>"$TMP/server.log" &
    SERVER_PID=$!
    for _ in $(seq 600); do
        curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && return
        sleep 0.1
    done
    cat "$TMP/server.log" >&2
    exit 1
}

stop() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
}

# "rate p50 p99 max" of a wrk BENCH line, and what went wrong if anything did. Claims
# count `ok` (200 with the whole secret, which excludes every error); creates count the
# requests without an error status.
summary() {
    python3 - "$1" <<'PY'
import sys
fields = {}
for line in open(sys.argv[1]):
    if line.startswith("BENCH "):
        fields = dict(kv.split("=", 1) for kv in line.split()[1:])
count = int(fields["ok"]) if "ok" in fields else int(fields["requests"]) - int(fields["status_errors"])
seconds = int(fields["duration_us"]) / 1e6
ms = lambda key: int(fields[key]) / 1000
problems = [f"{key}={fields[key]}" for key in ("status_errors", "connect_errors", "read_errors", "timeouts",
            "wrong_size", "ran_out_threads") if int(fields.get(key, 0))]
print(f"{count / seconds:7.0f}/s  p50 {ms('p50_us'):6.2f}  p99 {ms('p99_us'):6.2f}  max {ms('max_us'):7.2f}  "
      f"{fields.get('statuses', '')}  {'PROBLEMS: ' + ' '.join(problems) if problems else ''}")
PY
}

log "filling a store with $SECRETS secrets (server A)"
mkdir -p "$TMP/filled"
start "$A_BIN" "${BENCH_A_ENV:-}" "$TMP/filled"
wrk -t2 -c32 -d3600s -s "$HERE/precreate.lua" "$URL" -- "$TMP/ids" $(((SECRETS + 1) / 2)) >"$TMP/fill.wrk" &
FILL_PID=$!
while kill -0 "$FILL_PID" 2>/dev/null; do
    sleep 2
    (($(cat "$TMP"/ids.* 2>/dev/null | wc -l) >= SECRETS)) && kill -INT "$FILL_PID" 2>/dev/null || true
done
wait "$FILL_PID" || true
stop
log "filled: $(cat "$TMP"/ids.* | wc -l) secrets"

run() {  # NAME BIN ENV
    rm -rf "$TMP/run"
    cp -r "$TMP/filled" "$TMP/run"
    sync
    cat "$TMP"/ids.* | shuf >"$TMP/claim-ids"
    start "$2" "$3" "$TMP/run"
    if [[ "$COLD" == 1 ]]; then echo 1 >/proc/sys/vm/drop_caches; fi
    wrk -t2 -c16 -d"${DURATION}s" -s "$HERE/claim.lua" "$URL" -- "$TMP/claim-ids" 2 >"$TMP/claim.wrk"
    sleep 2
    wrk -t2 -c16 -d"${DURATION}s" -s "$HERE/create.lua" "$URL" >"$TMP/create.wrk"
    stop
    printf '%-2s round %s  claims  %s\n' "$1" "$round" "$(summary "$TMP/claim.wrk")"
    printf '%-2s round %s  creates %s\n' "$1" "$round" "$(summary "$TMP/create.wrk")"
}

for round in $(seq "$ROUNDS"); do
    run A "$A_BIN" "${BENCH_A_ENV:-}"
    run B "$B_BIN" "${BENCH_B_ENV:-}"
done
