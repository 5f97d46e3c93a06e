#!/usr/bin/env bash
# PostgreSQL benchmark (issue 6): creates/s and claims/s of 1 KiB secrets with one
# burnlink-server replica on SQLite, one on PostgreSQL, and two on one PostgreSQL, in one
# run, same load (wrk, 16 connections in all, split evenly over the replicas).
#
#   WITH_POSTGRES_FSYNC=on Tests/support/with-postgres.sh bash Benchmarks/server/postgres.sh
#   (make bench-postgres does exactly that)
#
# PostgreSQL runs durable (fsync=on, synchronous_commit=on: the defaults) in a throwaway
# cluster on the same machine; SQLite with the server's defaults (WAL, synchronous=FULL).
# The baseline, in the same run and the same cluster: pgbench -M prepared with as many
# clients as wrk has connections, each transaction one INSERT of a 16-byte random id and a
# 1 KiB bytea into a table of its own: what the database does with nothing in front of it.
# The PostgreSQL rows say what fraction of that rate a replica keeps. Every row also gives
# the CPU time per request (from /proc/PID/stat) of the replicas and of the database, and
# for pgbench its own and the database's per insert: where each side's time goes. For the
# PostgreSQL create runs it also prints creates per committed transaction (the database's
# xact_commit): how large the replicas' create batches were.
# Environment: BENCH_DURATION (10 s per run), BENCH_CONNECTIONS (16), BENCH_SIZE (1024),
# BURNLINK_SERVER (a binary instead of building .build-bench/release/burnlink-server),
# BENCH_TMPDIR (parent of the SQLite directory; must be a disk).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
SIZE=${BENCH_SIZE:-1024}
HELPERS=(python3 "$HERE/bench_helpers.py")
: "${BURNLINK_TEST_POSTGRES_URL:?run under Tests/support/with-postgres.sh (WITH_POSTGRES_FSYNC=on)}"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

PIDS=()
TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/burnlink-pgbench.XXXXXX")
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

fsync=$(psql "$BURNLINK_TEST_POSTGRES_URL" -Atc 'SHOW fsync')
commit=$(psql "$BURNLINK_TEST_POSTGRES_URL" -Atc 'SHOW synchronous_commit')
[[ "$fsync" == on && "$commit" == on ]] || die "PostgreSQL must be durable (fsync=$fsync, synchronous_commit=$commit)"

if [[ -n "${BURNLINK_SERVER:-}" ]]; then
    SERVER_BIN=$BURNLINK_SERVER
else
    SERVER_BIN=$ROOT/.build-bench/release/burnlink-server
    log "building burnlink-server (release, scratch path .build-bench)"
    (cd "$ROOT" && swift build -c release --product burnlink-server --scratch-path .build-bench) >"$TMP/build.log" 2>&1 \
        || { tail -30 "$TMP/build.log" >&2; die "swift build failed"; }
fi

read -r CLAIM_TOKEN CLAIM_VERIFIER < <("${HELPERS[@]}" token)
head -c "$SIZE" /dev/urandom >"$TMP/body.bin"
export BENCH_DIR=$HERE BENCH_BODY_FILE=$TMP/body.bin BENCH_CLAIM_VERIFIER=$CLAIM_VERIFIER \
    BENCH_CLAIM_TOKEN=$CLAIM_TOKEN BENCH_SECRET_SIZE=$SIZE

# Starts one replica on DATABASE; appends its base URL to URLS.
URLS=()
start_replica() {
    local port
    port=$("${HELPERS[@]}" free-port)
    "$SERVER_BIN" --rate-limit off --max-concurrent-uploads off --host 127.0.0.1 --port "$port" --database "$1" >"$TMP/server-$port.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" && { URLS+=("http://127.0.0.1:$port"); return; }
        sleep 0.1
    done
    tail "$TMP/server-$port.log" >&2
    die "burnlink-server did not start on $1"
}

stop_replicas() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
    URLS=()
}

TICKS=$(getconf CLK_TCK)
# cpu_ticks PID...: the user and system CPU time of these processes and of their children
# that have ended, in clock ticks.
cpu_ticks() {
    local pid total=0
    for pid in "$@"; do
        [[ -r /proc/$pid/stat ]] && total=$((total + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
# The database's CPU time: every process of the cluster (backends, WAL writer,
# checkpointer), and the backends that ended (pgbench's, when it exits), which the
# postmaster's children's time holds.
database_ticks() {
    # shellcheck disable=SC2046  # one PID per word
    cpu_ticks $(pgrep -x postgres || true)
}

# Runs one wrk per replica at once (CONNECTIONS split evenly); prints the summed rate of
# good answers, the worst p50 and p99 (ms), and the CPU time per request of the replicas
# and of the database (µs). MODE: create | claim.
measure() {
    local mode=$1 name=$2 i n=${#URLS[@]} pids=()
    local per=$((CONNECTIONS / n))
    local server_before database_before
    server_before=$(cpu_ticks "${PIDS[@]}")
    database_before=$(database_ticks)
    for i in "${!URLS[@]}"; do
        if [[ "$mode" == create ]]; then
            wrk -t1 -c"$per" -d"${DURATION}s" --latency -s "$HERE/create.lua" "${URLS[i]}/api/v1/secrets" \
                >"$TMP/$name.$i.wrk" 2>&1 &
        else
            wrk -t1 -c"$per" -d"${DURATION}s" --latency -s "$HERE/claim.lua" "${URLS[i]}/api/v1/secrets" \
                -- "$TMP/ids.$i.txt" 1 >"$TMP/$name.$i.wrk" 2>&1 &
        fi
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
    local server_used database_used
    server_used=$(($(cpu_ticks "${PIDS[@]}") - server_before))
    database_used=$(($(database_ticks) - database_before))
    python3 - "$mode" "$TMP/$name" "$n" "$server_used" "$database_used" "$TICKS" <<'PY'
import sys
mode, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
server_ticks, database_ticks, ticks = map(int, sys.argv[4:7])
rate = p50 = p99 = 0.0
requests = 0
bad = []
for i in range(n):
    fields = {}
    for line in open(f"{prefix}.{i}.wrk"):
        if line.startswith("BENCH "):
            fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    if not fields:
        sys.exit(f"no result from wrk in {prefix}.{i}.wrk")
    seconds = int(fields["duration_us"]) / 1e6
    requests += int(fields["requests"])
    if mode == "create":
        good = int(fields["requests"]) - int(fields["status_errors"])
        if int(fields["status_errors"]):
            bad.append(f"{fields['status_errors']} errors")
    else:
        good = int(fields["ok"])
        if not fields["statuses"].startswith("200:") or "," in fields["statuses"]:
            bad.append(f"statuses {fields['statuses']}")
        if int(fields.get("ran_out_threads", 0)):
            bad.append("ids ran out")
    rate += good / seconds
    p50 = max(p50, int(fields["p50_us"]) / 1000)
    p99 = max(p99, int(fields["p99_us"]) / 1000)
cpu = lambda t: f"{t / ticks * 1e6 / max(requests, 1):.0f}"
print(f"{rate:.0f} {p50:.2f} {p99:.2f} {cpu(server_ticks)} {cpu(database_ticks)} {';'.join(bad) or 'ok'}")
PY
}

# Creates enough secrets for the claim run, spread so that replica i claims ids.i.txt
# (all replicas share one database, so any replica could claim any id).
precreate() {
    local rate=$1 i n=${#URLS[@]} pid waiting=()
    local per_replica=$(((rate * DURATION * 3 / 2 + 2000) / n))
    for i in "${!URLS[@]}"; do
        wrk -t1 -c32 -d"$((DURATION * 6))s" -s "$HERE/precreate.lua" "${URLS[i]}/api/v1/secrets" \
            -- "$TMP/pre.$i" "$per_replica" >"$TMP/pre.$i.wrk" 2>&1 &
        waiting+=($!)
    done
    for pid in "${waiting[@]}"; do wait "$pid"; done
    for i in "${!URLS[@]}"; do cat "$TMP"/pre."$i".* >"$TMP/ids.$i.txt" 2>/dev/null || true; done
}

# commits DATABASE-URL: transactions committed so far in that PostgreSQL database (nothing
# for a SQLite file).
commits() {
    [[ "$1" == postgres* ]] || return 0
    psql "$1" -qAtc "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
}

RESULTS=()
BATCHES=()
run_case() { # label, databases...
    local label=$1
    shift
    local database
    for database in "$@"; do start_replica "$database"; done
    sleep 1
    log "$label: creates"
    local commits_before commits_after
    commits_before=$(commits "$1")
    read -r c_rate c_p50 c_p99 c_server c_database c_note < <(measure create "$label-create")
    if [[ -n "$commits_before" ]]; then
        # PostgreSQL 15 reports a busy backend's commits at most once a second, and an idle
        # backend's last ones only after its idle interval (PGSTAT_IDLE_INTERVAL, 10 s): read
        # 1.5 s after a run, the count was 3 and 19 % short in two runs (docs/benchmarks.md,
        # "Issue 18: what a create waits for at 16 connections, and where a slow 1 GiB open's
        # time goes").
        sleep 11
        commits_after=$(commits "$1")
        BATCHES+=("$label: $(awk -v r="$c_rate" -v d="$DURATION" -v c="$((commits_after - commits_before))" \
            'BEGIN{printf "%.1f", r * d / c}') creates per transaction (all the database's transactions during the create run)")
    fi
    precreate "${c_rate%.*}"
    sleep 1
    log "$label: claims"
    read -r k_rate k_p50 k_p99 k_server k_database k_note < <(measure claim "$label-claim")
    RESULTS+=("| $label | $c_rate | $c_p50 / $c_p99 | $c_server / $c_database | $k_rate | $k_p50 / $k_p99 | $k_server / $k_database | $c_note; $k_note |")
    stop_replicas
}

pg_database() {
    local name=bench_$1
    psql "$BURNLINK_TEST_POSTGRES_URL" -qAtc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
    python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
        "$BURNLINK_TEST_POSTGRES_URL" "$name"
}

# pgbench's own insert rate on the same cluster (database bench_pgbench).
BASELINE_RATE=""
pgbench_baseline() {
    local url hex
    url=$(pg_database pgbench)
    psql "$url" -qAtc "CREATE TABLE pgbench_secret (id bytea PRIMARY KEY, data bytea NOT NULL)"
    hex=$(od -An -v -tx1 "$TMP/body.bin" | tr -d ' \n')
    printf "INSERT INTO pgbench_secret (id, data) VALUES (decode(md5(random()::text || clock_timestamp()::text), 'hex'), '\\\\x%s'::bytea);\n" "$hex" \
        >"$TMP/pgbench-insert.sql"
    log "pgbench: -M prepared -c$CONNECTIONS -j2 -T$DURATION, one 1 KiB INSERT per transaction"
    local database_before pgbench_ticks
    database_before=$(database_ticks)
    /usr/bin/time -f "%U %S" -o "$TMP/pgbench.time" pgbench -n -M prepared -c "$CONNECTIONS" -j 2 -T "$DURATION" -f "$TMP/pgbench-insert.sql" "$url" >"$TMP/pgbench.out" 2>&1 \
        || { cat "$TMP/pgbench.out" >&2; die "pgbench failed"; }
    local database_used=$(($(database_ticks) - database_before))
    pgbench_ticks=$(awk -v t="$TICKS" '{printf "%d", ($1 + $2) * t}' "$TMP/pgbench.time")
    local tps failed rows latency transactions
    tps=$(awk '/^tps = /{print $3; exit}' "$TMP/pgbench.out")
    transactions=$(awk '/^number of transactions actually processed:/{print $6; exit}' "$TMP/pgbench.out")
    failed=$(awk '/number of failed transactions:/{print $5; exit}' "$TMP/pgbench.out")
    latency=$(awk '/^latency average/{print $4; exit}' "$TMP/pgbench.out")
    rows=$(psql "$url" -Atc "SELECT count(*) FROM pgbench_secret")
    BASELINE_RATE=${tps%.*}
    local per_insert
    per_insert=$(python3 -c 'import sys; s, d, t, n = map(int, sys.argv[1:]); print(f"{s / t * 1e6 / n:.0f} / {d / t * 1e6 / n:.0f}")' \
        "$pgbench_ticks" "$database_used" "$TICKS" "${transactions%%/*}")
    RESULTS+=("| pgbench baseline (INSERT of 1 KiB, prepared) | $BASELINE_RATE | $latency avg | $per_insert | - | - | - | ${failed:-0} failed, $rows rows stored |")
}

run_case "SQLite, 1 replica" "$TMP/sqlite/b.sqlite"
pgbench_baseline
one=$(pg_database one)
run_case "PostgreSQL, 1 replica" "$one"
two=$(pg_database two)
run_case "PostgreSQL, 2 replicas" "$two" "$two"

echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(psql "$BURNLINK_TEST_POSTGRES_URL" -Atc 'SHOW server_version') (fsync=$fsync, synchronous_commit=$commit), $CONNECTIONS connections, ${DURATION} s per run, $SIZE-byte secrets, commit $(git -C "$ROOT" rev-parse --short HEAD)"
echo
echo "CPU: microseconds of CPU time per request, the replicas' / the database's (for pgbench: pgbench's / the database's)"
echo
echo "| setup | creates/s | create p50 / p99 ms | create CPU µs | claims/s | claim p50 / p99 ms | claim CPU µs | checks |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${RESULTS[@]}"
echo
for line in "${RESULTS[@]}"; do
    label=$(cut -d'|' -f2 <<<"$line" | sed 's/^ *//; s/ *$//')
    rate=$(cut -d'|' -f3 <<<"$line" | tr -d ' ')
    [[ "$label" == PostgreSQL* && -n "$BASELINE_RATE" && "$BASELINE_RATE" -gt 0 ]] || continue
    echo "$label: creates at $(awk -v a="$rate" -v b="$BASELINE_RATE" 'BEGIN{printf "%.2f", a / b}') of pgbench's insert rate"
done
printf '%s\n' "${BATCHES[@]}"
