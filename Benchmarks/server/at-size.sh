#!/usr/bin/env bash
# Creates, claims and sweeps on a store that already holds many secrets (issue 18, parts 3
# and 6); results in docs/benchmarks.md and docs/scaling.md.
#
#   BURNLINK_SERVER=.build/release/burnlink-server bash Benchmarks/server/at-size.sh
#   BENCH_STORE=postgres WITH_POSTGRES_FSYNC=on Tests/support/with-postgres.sh \
#       env BURNLINK_SERVER=... bash Benchmarks/server/at-size.sh
#
# One fresh release server on loopback, on SQLite with the default durable settings, or
# (BENCH_STORE=postgres) on the durable throwaway cluster of with-postgres.sh:
#   1. fills it with BENCH_SECRETS (1,000,000) 1 KiB secrets (wrk, 32 connections), keeping
#      their ids; reports the fill rate and the bytes on disk per secret;
#   2. 1 KiB creates, wrk -t2 -c16 -dBENCH_DURATION (10 s): rate, p50, p99, max;
#   3. claims of secrets from the fill, each id once, same load: rate, p50, p99, max;
#   4. sweeps: their mean time over 30 s with nothing to do (the server sweeps every
#      BENCH_SWEEP_INTERVAL, 5s), then BENCH_EXPIRING (10,000) secrets made with the
#      shortest expiry (60 s) and the sweeps that remove them, from the server's log
#      (BENCH_EXPIRING=0 leaves this part out).
# For phases 1 to 3 it also reports what each operation cost: CPU seconds of the server and
# (PostgreSQL) of the database's processes, and what the block device under the data
# completed (bytes and write requests, flushes), per 1,000 operations. Device figures are
# the whole machine's: keep it quiet.
# Environment: BENCH_SECRETS, BENCH_DURATION, BENCH_EXPIRING, BENCH_SWEEP_INTERVAL,
# BENCH_STORE (sqlite | postgres), BENCH_TMPDIR (a directory on a disk: SQLite needs about
# 3 GiB per million secrets), BURNLINK_SERVER (required).
# Needs wrk, curl, python3 (and psql for PostgreSQL).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SECRETS=${BENCH_SECRETS:-1000000}
DURATION=${BENCH_DURATION:-10}
EXPIRING=${BENCH_EXPIRING:-10000}
SWEEP_INTERVAL=${BENCH_SWEEP_INTERVAL:-5s}
STORE=${BENCH_STORE:-sqlite}
SERVER_BIN=${BURNLINK_SERVER:?set BURNLINK_SERVER to a release burnlink-server}
HELPERS=(python3 "$HERE/bench_helpers.py")

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/burnlink-at-size.XXXXXX")
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

case "$STORE" in
sqlite)
    DATABASE=$TMP/db/b.sqlite
    DATA_DIR=$TMP
    ;;
postgres)
    DATABASE=${BURNLINK_TEST_POSTGRES_URL:?BENCH_STORE=postgres runs under Tests/support/with-postgres.sh (WITH_POSTGRES_FSYNC=on)}
    psql() { command psql "$DATABASE" -Atqc "$1"; }
    [[ "$(psql 'SHOW fsync')/$(psql 'SHOW synchronous_commit')" == on/on ]] || die "PostgreSQL must be durable (fsync=on)"
    DATA_DIR=$(psql 'SHOW data_directory')
    POSTMASTER=$(head -1 "$DATA_DIR/postmaster.pid")
    ;;
*) die "BENCH_STORE: sqlite or postgres, not $STORE" ;;
esac
DEVICE=$(basename "$(df --output=source "$DATA_DIR" | tail -1)")
[[ -r /sys/class/block/$DEVICE/stat ]] || die "no block device statistics for $DATA_DIR ($DEVICE)"

read -r CLAIM_TOKEN CLAIM_VERIFIER < <("${HELPERS[@]}" token)
head -c 1024 /dev/urandom >"$TMP/body.bin"
export BENCH_DIR=$HERE BENCH_BODY_FILE=$TMP/body.bin BENCH_CLAIM_VERIFIER=$CLAIM_VERIFIER \
    BENCH_CLAIM_TOKEN=$CLAIM_TOKEN BENCH_SECRET_SIZE=1024

PORT=$("${HELPERS[@]}" free-port)
"$SERVER_BIN" --rate-limit off --max-concurrent-uploads off --host 127.0.0.1 --port "$PORT" \
    --sweep-interval "$SWEEP_INTERVAL" --database "$DATABASE" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
BASE=http://127.0.0.1:$PORT
URL=$BASE/api/v1/secrets
for _ in $(seq 100); do curl -s -o /dev/null --max-time 1 "$BASE/healthz" && break; sleep 0.1; done
curl -s -o /dev/null --max-time 1 "$BASE/healthz" || { tail "$TMP/server.log" >&2; die "the server did not start"; }

# "cpu_server cpu_database write_bytes write_ios flushes" so far; the database's CPU is
# that of the cluster's processes now running (0 on SQLite, whose work is the server's).
usage() {
    local server database=0 disk
    server=$("${HELPERS[@]}" usage "$DEVICE" "$SERVER_PID")
    if [[ "$STORE" == postgres ]]; then
        # shellcheck disable=SC2046
        database=$("${HELPERS[@]}" usage "$DEVICE" "$POSTMASTER" $(pgrep -P "$POSTMASTER") | cut -d' ' -f1)
    fi
    read -r server write_ios write_bytes flushes <<<"$server"
    echo "$server $database $write_bytes $write_ios $flushes"
}
# Per 1,000 operations between two usage lines: "server_cpu_s database_cpu_s MiB ios flushes";
# "n/a" in each field when the phase served no operation (nothing to divide by).
per_thousand() { # before after operations
    awk -v n="$3" -v a="$1" -v b="$2" 'BEGIN{if (n <= 0) { print "n/a n/a n/a n/a n/a"; exit }
        split(a, x, " "); split(b, y, " "); k = 1000 / n
        printf "%.3f %.3f %.2f %.0f %.0f\n", (y[1] - x[1]) * k, (y[2] - x[2]) * k, (y[3] - x[3]) * k / 1048576,
            (y[4] - x[4]) * k, (y[5] - x[5]) * k}'
}
stored_bytes() {
    if [[ "$STORE" == sqlite ]]; then du -cb "$TMP/db" | tail -1 | cut -f1; else psql 'SELECT pg_database_size(current_database())'; fi
}
wal_position() { [[ "$STORE" == postgres ]] && psql 'SELECT pg_current_wal_lsn()' || echo 0/0; }
wal_bytes() { [[ "$STORE" == postgres ]] && psql "SELECT pg_wal_lsn_diff('$2', '$1')" || echo 0; }

# "rate p50 p99 max" (ms) of a wrk BENCH line; the count is field `ok` for claims.
summarize() { # file count-field
    awk -v k="$2" '/^BENCH /{for (i = 2; i <= NF; i++) {split($i, a, "="); v[a[1]] = a[2]}
        printf "%.0f %.2f %.2f %.2f\n", (k == "requests" ? v["requests"] - v["status_errors"] : v[k]) / (v["duration_us"] / 1e6),
            v["p50_us"] / 1000, v["p99_us"] / 1000, v["max_us"] / 1000}' "$1"
}
# Creates and claims counted by the server (its /metrics), so that a phase's cost is
# divided by what it did.
served() { # route-and-status pattern
    curl -s "$BASE/metrics" >"$TMP/metrics.txt"
    "${HELPERS[@]}" metrics-counts "$TMP/metrics.txt" | awk -v p="$1" '$0 ~ p {n += $NF} END {print n + 0}'
}

# Fills with COUNT secrets (ids into PREFIX.N), 32 connections, each wrk thread stopping at
# its quota; every 30 s the rate of that slice is kept, to show whether filling slows as
# the store grows. Prints "seconds slice-rates...".
fill() { # count prefix
    local count=$1 prefix=$2 start fill_pid now last_count=0 ticks=0 slices=()
    start=$(date +%s.%N)
    # wrk itself waits out -d: stop it once the ids are all there (SIGINT makes it report).
    wrk -t2 -c32 -d3600s -s "$HERE/precreate.lua" "$URL" -- "$prefix" $(((count + 1) / 2)) >"$prefix.wrk" &
    fill_pid=$!
    while kill -0 "$fill_pid" 2>/dev/null; do
        sleep 1
        now=$({ cat "$prefix".[0-9]* 2>/dev/null || true; } | wc -l)
        if ((++ticks % 30 == 0)); then slices+=($(((now - last_count) / 30))); last_count=$now; fi
        ((now >= count)) && kill -INT "$fill_pid" 2>/dev/null || true
    done
    wait "$fill_pid" || true
    grep -q "statuses=201:" "$prefix.wrk" || { cat "$prefix.wrk" >&2; die "filling failed"; }
    echo "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b - a}') ${slices[*]:-}"
}

log "filling with $SECRETS secrets ($STORE)"
disk_before=$(stored_bytes)
wal_before=$(wal_position)
u0=$(usage)
read -r fill_seconds slices <<<"$(fill "$SECRETS" "$TMP/ids")"
u1=$(usage)
wal_after=$(wal_position)
filled=$(cat "$TMP"/ids.[0-9]* | wc -l)
sleep 5 # let the checkpointer catch up
disk=$(($(stored_bytes) - disk_before))
fill_cost=$(per_thousand "$u0" "$u1" "$filled")
fill_wal=$(wal_bytes "$wal_before" "$wal_after")
log "filled $filled in ${fill_seconds}s; $disk bytes on disk"

log "sweeps with nothing to do, 30 s"
curl -s "$BASE/metrics" >"$TMP/sweeps-before.txt"
sleep 30
curl -s "$BASE/metrics" >"$TMP/sweeps-after.txt"
read -r idle_count idle_sum < <(
    paste <("${HELPERS[@]}" histogram "$TMP/sweeps-before.txt" burnlink_sweep_duration_seconds) \
        <("${HELPERS[@]}" histogram "$TMP/sweeps-after.txt" burnlink_sweep_duration_seconds) |
        awk '{n = $3 - $1; printf "%d %.2f\n", n, (n > 0 ? ($4 - $2) * 1000 / n : 0)}')

log "creates"
n0=$(served 'POST /api/v1/secrets 201')
u0=$(usage)
wrk -t2 -c16 -d"${DURATION}s" --latency -s "$HERE/create.lua" "$URL" >"$TMP/create.wrk"
u1=$(usage)
create_cost=$(per_thousand "$u0" "$u1" $(($(served 'POST /api/v1/secrets 201') - n0)))
read -r c_rate c_p50 c_p99 c_max < <(summarize "$TMP/create.wrk" requests)
log "creates: $c_rate /s, p50 $c_p50, p99 $c_p99, max $c_max ms"
sleep 2
log "claims"
cat "$TMP"/ids.[0-9]* | shuf >"$TMP/claim-ids.txt"
n0=$(served 'claim 200')
u0=$(usage)
wrk -t2 -c16 -d"${DURATION}s" --latency -s "$HERE/claim.lua" "$URL" -- "$TMP/claim-ids.txt" 2 >"$TMP/claim.wrk"
u1=$(usage)
claim_cost=$(per_thousand "$u0" "$u1" $(($(served 'claim 200') - n0)))
read -r k_rate k_p50 k_p99 k_max < <(summarize "$TMP/claim.wrk" ok)
claim_statuses=$(grep -o 'statuses=[^ ]*' "$TMP/claim.wrk" | head -1)
log "claims: $k_rate /s, p50 $k_p50, p99 $k_p99, max $k_max ms ($claim_statuses)"

swept=0 sweeps=0 sweep_ms=0
# BENCH_EXPIRING=0 leaves the expiring sweeps out (a quicker run of creates and claims).
if ((EXPIRING > 0)); then
    log "$EXPIRING secrets that expire in 60 s, then the sweeps that remove them"
    log_lines=$(wc -l <"$TMP/server.log")
    BENCH_EXPIRES_IN=60 fill "$EXPIRING" "$TMP/expiring" >/dev/null
    # The server logs each sweep that did something, with what it did and how long it took.
    for _ in $(seq 240); do
        sleep 1
        swept=$(tail -n +"$((log_lines + 1))" "$TMP/server.log" | { grep -o 'expired=[0-9]*' || true; } | awk -F= '{n += $2} END {print n + 0}')
        ((swept >= EXPIRING)) && break
    done
    ((swept >= EXPIRING)) || die "only $swept of $EXPIRING expired secrets swept in 4 minutes"
    read -r sweeps sweep_ms < <(tail -n +"$((log_lines + 1))" "$TMP/server.log" | grep 'expired=[1-9]' |
        grep -o 'duration_ms=[0-9.]*' | awk -F= '{n++; ms += $2} END {printf "%d %.1f\n", n, ms}')
fi

cost_row() { # name "server database MiB ios flushes" [wal bytes per op]
    read -r cs cd mib ios fl <<<"$2"
    echo "| $1 | $cs | $([[ "$STORE" == postgres ]] && echo "$cd" || echo -) | $mib | $ios | $fl | ${3:--} |"
}

echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $("$SERVER_BIN" --version 2>/dev/null | head -1), $STORE, 1 KiB secrets"
echo "fill: $filled secrets in $fill_seconds s ($(awk -v n="$filled" -v s="$fill_seconds" 'BEGIN{printf "%.0f", n / s}') /s); on disk $(awk -v b="$disk" 'BEGIN{printf "%.2f GiB", b / 1073741824}'), $(awk -v b="$disk" -v n="$filled" 'BEGIN{printf "%.0f", b / n}') bytes per secret"
echo "fill rate per 30-s slice, /s: ${slices:-none}"
echo "| at $filled secrets | rate /s | p50 ms | p99 ms | max ms |"
echo "|---|---|---|---|---|"
echo "| 1 KiB creates | $c_rate | $c_p50 | $c_p99 | $c_max |"
echo "| claims ($claim_statuses) | $k_rate | $k_p50 | $k_p99 | $k_max |"
echo
echo "| per 1,000 operations | server CPU s | database CPU s | MiB written to $DEVICE | write requests | flushes | WAL bytes per op |"
echo "|---|---|---|---|---|---|---|"
cost_row "fill (creates, 32 connections)" "$fill_cost" "$([[ "$STORE" == postgres ]] && awk -v b="$fill_wal" -v n="$filled" 'BEGIN{printf "%.0f", b / n}')"
cost_row "creates (16 connections)" "$create_cost"
cost_row "claims (16 connections)" "$claim_cost"
echo
echo "sweeps with nothing to do: $idle_count in 30 s, $idle_sum ms each on average"
if ((EXPIRING > 0)); then
    echo "sweeps that expired $swept secrets: $sweeps, $sweep_ms ms in all ($(awk -v ms="$sweep_ms" -v n="$swept" 'BEGIN{printf "%.1f", ms * 1000 / n}') µs per expired secret)"
fi
