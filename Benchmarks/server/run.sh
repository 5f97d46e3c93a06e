#!/usr/bin/env bash
# Server benchmark (issue 4, "Speed and memory"); results in docs/benchmarks.md, "Server".
#
#   bash Benchmarks/server/run.sh
#
# In one run, on loopback only:
#   1. BENCH_ROUNDS rounds (4), each: burnlink creates of 1 KiB secrets on a fresh server
#      (durable: the server's default SQLite settings, WAL + synchronous=FULL), wrk, 16
#      connections: creates/s, p50, p99, max; then SnapPass (gunicorn, 4 workers; Redis
#      without persistence) 1 KiB creates under the same load. Every round is reported, a
#      burnlink run whose p99 is over 10 ms or whose rate is under 3.5x the SnapPass run
#      beside it is flagged (BENCH_P99_TARGET_US, BENCH_RATIO_TARGET);
#   2. burnlink claims of 1 KiB secrets created beforehand, each id claimed exactly once,
#      16 connections, on the last round's server: claims/s (200s with the full body
#      only), p50, p99, max;
#   3. burnlink server RSS: idle, then while one 100 MiB secret is uploaded and claimed
#      (VmRSS sampled every 50 ms, plus the kernel's VmHWM).
# Prints a summary table at the end. Exit status: 0 done; 1 something failed to build or
# start (or a tool is missing); 3 the run finished but saw failures (errors, unexpected
# statuses, a server that died) listed under "problems".
#
# Environment (all optional):
#   BENCH_DURATION     seconds per wrk run (10)         BENCH_CONNECTIONS  (16)
#   BENCH_ROUNDS       create rounds, burnlink then SnapPass in each (4)
#   BENCH_THREADS      wrk threads (2)                  BENCH_SIZE         secret bytes (1024)
#   BENCH_BIG_SIZE     bytes of the RSS secret (104857600 = the default --max-size)
#   BURNLINK_SERVER    a burnlink-server binary to use instead of building
#                      .build-bench/release/burnlink-server (a scratch path of its own)
#   BENCH_TMPDIR       parent of the temporary directory holding the databases (TMPDIR or
#                      /tmp); it must be a real disk: on tmpfs fsync costs nothing
#   BENCH_SERVER_ARGS  extra burnlink-server flags for diagnosis, e.g. "--log-level warning"
#   BENCH_KEEP=1       keep the temporary directory (logs, wrk output) for inspection
#   BENCH_COUNT_SYNCS=1  count the server's fsync calls with perf (on burnlink's runs only)
#   BENCH_IDLE_WAIT    before each measured run, wait up to this many seconds (default 180)
#                      for the rest of the machine to be idle (< 10% of a core over 3 s), as
#                      other work on a 2-core box skews every figure; 0 disables the wait
#
# Needs: wrk, redis-server + redis-cli, curl, python3 with snappass and gunicorn
# (apt-get install -y wrk redis-server curl; pip install snappass gunicorn).
# With BENCH_COUNT_SYNCS=1, perf counts the server's fsync/fdatasync calls, as a proxy for
# group-commit batch sizes. Off by default, so that both sides of the comparison run the
# same way: a syscall tracepoint slows the system calls of the machine while it is on, and
# only burnlink's runs carried it, never SnapPass's (docs/benchmarks.md, "Issue 18: what a
# create waits for at 16 connections, and where a slow 1 GiB open's time goes").
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-4}
P99_TARGET_US=${BENCH_P99_TARGET_US:-10000}
RATIO_TARGET=${BENCH_RATIO_TARGET:-3.5}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-2}
SIZE=${BENCH_SIZE:-1024}
BIG_SIZE=${BENCH_BIG_SIZE:-104857600}
HELPERS=(python3 "$HERE/bench_helpers.py")
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup
STARTED=()   # pids of everything this script started, stopped in reverse order
TMP=""
cleanup() {
    local status=$?
    local i pid
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        pid=${STARTED[i]}
        if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    for pid in "${STARTED[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops one process this script started (SIGTERM, then SIGKILL after 10 s) and waits
# for it; its exit status goes into STOP_STATUS.
STOP_STATUS=0
stop_process() {
    local pid=$1
    STOP_STATUS=0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || STOP_STATUS=$?
}

# ---------------------------------------------------------------- prerequisites
for tool in wrk redis-server redis-cli curl python3 awk; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y wrk redis-server curl)"
done
python3 -c 'import snappass.main, gunicorn' 2>/dev/null \
    || die "python3 cannot import snappass and gunicorn (pip install snappass gunicorn)"

TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/burnlink-bench.XXXXXX")
RESULTS=$TMP/results.env
PROBLEMS=()
record() { printf '%s=%s\n' "$1" "$2" >>"$RESULTS"; }
problem() { PROBLEMS+=("$1"); log "PROBLEM: $1"; }

if [[ -n "${BURNLINK_SERVER:-}" ]]; then
    SERVER_BIN=$BURNLINK_SERVER
else
    SERVER_BIN=$ROOT/.build-bench/release/burnlink-server
    log "building burnlink-server (release, scratch path .build-bench)"
    if ! (cd "$ROOT" && swift build -c release --product burnlink-server --scratch-path .build-bench) \
        >"$TMP/build.log" 2>&1; then
        tail -30 "$TMP/build.log" >&2
        die "swift build failed"
    fi
fi
[[ -x "$SERVER_BIN" ]] || die "no server binary at $SERVER_BIN"

DB_FS=$(findmnt -n -o FSTYPE -T "$TMP" 2>/dev/null || stat -f -c %T "$TMP")
[[ "$DB_FS" == tmpfs || "$DB_FS" == ramfs ]] \
    && die "$TMP is on $DB_FS, where fsync is free: set BENCH_TMPDIR to a directory on a disk"

PERF=0
if [[ "${BENCH_COUNT_SYNCS:-0}" == 1 ]]; then
    perf stat -e syscalls:sys_enter_fdatasync -x, -o /dev/null true 2>/dev/null \
        || die "BENCH_COUNT_SYNCS=1 needs perf with syscall tracepoints (apt-get install -y linux-perf)"
    PERF=1
fi

record date "$(date -u +%Y-%m-%dT%H:%MZ)"
record machine "$(nproc) cores of $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), load average before the run $(cut -d' ' -f1-3 /proc/loadavg)"
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]] && commit="$commit + uncommitted changes"
record commit "$commit, server binary sha256 $(sha256sum "$SERVER_BIN" | cut -c1-12)"
record db_fs "$DB_FS"
record tmp_dir_parent "$(dirname "$TMP")"
record threads "$THREADS"
record connections "$CONNECTIONS"
record duration "$DURATION"
record rounds "$ROUNDS"
record p99_target_us "$P99_TARGET_US"
record ratio_target "$RATIO_TARGET"
record size "$SIZE"
record big_size "$BIG_SIZE"
record server_args "${BENCH_SERVER_ARGS:-}"

# ---------------------------------------------------------------- inputs
read -r CLAIM_TOKEN CLAIM_VERIFIER < <("${HELPERS[@]}" token)
head -c "$SIZE" /dev/urandom >"$TMP/body.bin"
"${HELPERS[@]}" alnum "$SIZE" "$TMP/password.txt"
export BENCH_DIR=$HERE BENCH_BODY_FILE=$TMP/body.bin BENCH_CLAIM_VERIFIER=$CLAIM_VERIFIER \
    BENCH_CLAIM_TOKEN=$CLAIM_TOKEN BENCH_SECRET_SIZE=$SIZE BENCH_SNAPPASS_PASSWORD_FILE=$TMP/password.txt

# ---------------------------------------------------------------- helpers
# CPU ticks (user + system) of the given pids, threads included.
proc_ticks() {
    local total=0 pid t
    for pid in "$@"; do
        [[ -r /proc/$pid/stat ]] || continue
        t=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}') || t=0
        total=$((total + t))
    done
    echo "$total"
}
# Busy ticks of the whole machine (user nice system irq softirq steal), all cores.
machine_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
percent() { awk -v t="$1" -v s="$2" -v hz="$CLK_TCK" 'BEGIN{printf "%.0f%%", (s > 0 ? 100 * t / hz / s : 0)}'; }

# Value of key $2 in the "BENCH k=v ..." line of file $1.
bench_field() { grep -m1 '^BENCH ' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }

wait_http() { # url, pid to watch, seconds
    local url=$1 pid=$2 deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        sleep 0.1
    done
    return 1
}

SERVER_PID=""
SERVER_PORT=""
start_server() { # database path, log path
    SERVER_PORT=$("${HELPERS[@]}" free-port)
    local extra=()
    read -r -a extra <<<"${BENCH_SERVER_ARGS:-}"
    "$SERVER_BIN" --rate-limit off --max-concurrent-uploads off --host 127.0.0.1 --port "$SERVER_PORT" --database "$1" "${extra[@]}" >"$2" 2>&1 &
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    if ! wait_http "http://127.0.0.1:$SERVER_PORT/healthz" "$SERVER_PID" 20; then
        tail -20 "$2" >&2
        die "burnlink-server did not start (port $SERVER_PORT)"
    fi
}

# run_wrk NAME "PIDS OF THE SERVER SIDE" FSYNC_PID SECONDS wrk-arguments...
# Runs wrk for SECONDS (-d), under a hard bound of SECONDS + 30, and records CPU use of the
# server side, of wrk and of everything else on the machine, plus, for burnlink
# (FSYNC_PID), its busiest threads, bytes written to disk and fsync calls (with perf).
run_wrk() {
    local name=$1 pids=$2 fsync_pid=$3 seconds=$4
    shift 4
    local out=$TMP/$name.wrk perf_pid="" top_pid=""
    # shellcheck disable=SC2086
    local s0 m0 s1 m1 start end
    if [[ "$PERF" == 1 && -n "$fsync_pid" ]]; then
        perf stat -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync -x, -o "$TMP/$name.perf" \
            -p "$fsync_pid" 2>/dev/null &
        perf_pid=$!
        STARTED+=("$perf_pid")
        sleep 0.3
    fi
    (sleep $((seconds < DURATION ? seconds / 2 : DURATION / 2)); top -b -n1 -w 160 | head -14 >"$TMP/$name.top") &
    top_pid=$!
    STARTED+=("$top_pid")
    local io0=0 io1=0
    if [[ -n "$fsync_pid" ]]; then
        "${HELPERS[@]}" threads "$fsync_pid" "$TMP/$name.threads.0"
        io0=$(awk '/^write_bytes:/{print $2}' "/proc/$fsync_pid/io")
    fi
    # shellcheck disable=SC2086
    s0=$(proc_ticks $pids); m0=$(machine_ticks); start=$(date +%s.%N)
    local TIMEFORMAT='%U %S'
    { time timeout $((seconds + 30)) wrk -d"${seconds}s" "$@" >"$out" 2>"$out.err"; } 2>"$TMP/$name.time" || {
        cat "$out.err" >&2
        problem "$name: wrk failed or timed out"
    }
    # shellcheck disable=SC2086
    s1=$(proc_ticks $pids); m1=$(machine_ticks); end=$(date +%s.%N)
    if [[ -n "$fsync_pid" ]] && kill -0 "$fsync_pid" 2>/dev/null; then
        "${HELPERS[@]}" threads "$fsync_pid" "$TMP/$name.threads.1"
        io1=$(awk '/^write_bytes:/{print $2}' "/proc/$fsync_pid/io")
    fi
    wait "$top_pid" 2>/dev/null || true
    if [[ -n "$perf_pid" ]]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    local wall wrk_ticks server_ticks other_ticks
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN{print b - a}')
    wrk_ticks=$(awk -v hz="$CLK_TCK" '{printf "%d", ($1 + $2) * hz}' "$TMP/$name.time")
    server_ticks=$((s1 - s0))
    other_ticks=$((m1 - m0 - server_ticks - wrk_ticks))
    ((other_ticks < 0)) && other_ticks=0
    if [[ -s "$TMP/$name.threads.1" ]]; then
        record "${name}_threads" "$("${HELPERS[@]}" threads-diff "$TMP/$name.threads.0" "$TMP/$name.threads.1" "$wall") of one core"
        record "${name}_disk_bytes" "$((io1 - io0))"
    fi
    if ((other_ticks * 100 > CLK_TCK * 15 * ${wall%.*} + 1)); then
        IDLE_NOTES+=("$name: other processes used $(percent "$other_ticks" "$wall") of a core during the run, so its figures are skewed")
    fi
    record "${name}_cpu" "server side $(percent "$server_ticks" "$wall"), wrk $(percent "$wrk_ticks" "$wall"), everything else $(percent "$other_ticks" "$wall") (100% = one core busy; this machine has $(nproc) cores)"
    log "$name: $(grep -E 'Requests/sec|Non-2xx' "$out" | tr -s ' ' | tr '\n' ' ')"
    log "$name: top at mid-run:"
    sed -n '7,12p' "$TMP/$name.top" >&2 || true
    grep -q '^BENCH ' "$out" || { cat "$out" >&2; problem "$name: no result from wrk"; return 0; }
}

# Waits (bounded) until the machine is nearly idle; notes it if it never was.
IDLE_NOTES=()
wait_idle() { # NAME
    local limit=${BENCH_IDLE_WAIT:-180} deadline a b
    ((limit > 0)) || return 0
    deadline=$((SECONDS + limit))
    while :; do
        a=$(machine_ticks); sleep 3; b=$(machine_ticks)
        if (((b - a) * 100 < CLK_TCK * 3 * 10)); then return 0; fi
        if ((SECONDS >= deadline)); then
            IDLE_NOTES+=("$1: machine still busy after ${limit}s ($(percent $((b - a)) 3) of a core)")
            log "machine still busy after ${limit}s; measuring anyway"
            return 0
        fi
        log "waiting for the machine to be idle ($(percent $((b - a)) 3) of a core busy)"
    done
}

fsync_note() { # NAME, operations the server did
    local name=$1 ops=$2 file=$TMP/$1.perf fdatasync fsync bytes
    bytes=$(awk -F= -v k="${name}_disk_bytes" '$1 == k {print $2}' "$RESULTS")
    if [[ -n "$bytes" ]] && ((ops > 0)); then
        record "${name}_disk" "the server wrote $(awk -v b="$bytes" 'BEGIN{printf "%.0f", b / 1048576}') MiB to disk ($(awk -v b="$bytes" -v o="$ops" 'BEGIN{printf "%.1f", b / o / 1024}') KiB per operation; /proc/PID/io write_bytes)"
    fi
    [[ -s "$file" ]] || return 0
    fdatasync=$(awk -F, '/sys_enter_fdatasync/{print $1}' "$file")
    fsync=$(awk -F, '/sys_enter_fsync/{print $1}' "$file")
    [[ "$fdatasync" =~ ^[0-9]+$ && "$fsync" =~ ^[0-9]+$ ]] || return 0
    local total=$((fdatasync + fsync))
    record "${name}_fsync" "$fdatasync fdatasync + $fsync fsync by the server for $ops operations: $(awk -v o="$ops" -v t="$total" 'BEGIN{printf "%.1f", (t ? o / t : 0)}') operations per sync call (commits plus WAL checkpoints; counted with perf)"
}

check_server_log() { # NAME: warnings or errors in the current server's log are problems
    local warnings
    warnings=$(grep -cE ' (warning|error|critical) ' "$SERVER_LOG" || true)
    ((warnings == 0)) || problem "$1: server log has $warnings warning/error lines, e.g.: $(grep -m2 -E ' (warning|error|critical) ' "$SERVER_LOG" | tr '\n' ' ')"
}

check_alive() { # NAME
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        problem "$1: burnlink-server died (log: $(tail -3 "$SERVER_LOG" | tr '\n' ' '))"
        return 1
    fi
}

# ---------------------------------------------------------------- SnapPass (started once)
REDIS_PORT=$("${HELPERS[@]}" free-port)
mkdir -p "$TMP/redis"
log "starting redis-server (no persistence) and SnapPass (gunicorn, 4 workers)"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$TMP/redis" \
    --daemonize no >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
STARTED+=("$REDIS_PID")
for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.1
done
redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG || { tail "$TMP/redis.log" >&2; die "redis-server did not start"; }

SNAP_PORT=$("${HELPERS[@]}" free-port)
(cd "$TMP" && exec env REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" NO_SSL=True \
    python3 -m gunicorn -w 4 -b "127.0.0.1:$SNAP_PORT" snappass.main:app) >"$TMP/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
STARTED+=("$GUNICORN_PID")
wait_http "http://127.0.0.1:$SNAP_PORT/" "$GUNICORN_PID" 30 || { tail "$TMP/gunicorn.log" >&2; die "SnapPass did not start"; }
sleep 1 # let all four workers come up
code=$(curl -s -o "$TMP/snap-probe.json" -w '%{http_code}' --max-time 10 -H 'Accept: application/json' \
    --data-urlencode ttl=hour --data-urlencode password@"$TMP/password.txt" "http://127.0.0.1:$SNAP_PORT/")
[[ "$code" == 200 ]] && grep -q '"link"' "$TMP/snap-probe.json" \
    || die "a SnapPass probe create answered $code: $(head -c 300 "$TMP/snap-probe.json")"
snap_pids="$GUNICORN_PID $(pgrep -P "$GUNICORN_PID" | tr '\n' ' ') $REDIS_PID"

# Records NAME's rate of answers under 400, p50, p99 and max from wrk's result OUT, and
# sets req, dur, status_errors, ok and socket_errors for the caller's checks.
record_rates() { # NAME OUT
    local name=$1 out=$2
    req=$(bench_field "$out" requests); dur=$(bench_field "$out" duration_us)
    status_errors=$(bench_field "$out" status_errors)
    ok=$((req - status_errors))
    record "${name}_rate" "$(awk -v n="$ok" -v d="$dur" 'BEGIN{print n / (d / 1e6)}')"
    record "${name}_p50_us" "$(bench_field "$out" p50_us)"
    record "${name}_p99_us" "$(bench_field "$out" p99_us)"
    record "${name}_max_us" "$(bench_field "$out" max_us)"
    socket_errors=$(( $(bench_field "$out" connect_errors) + $(bench_field "$out" read_errors) + $(bench_field "$out" write_errors) + $(bench_field "$out" timeouts) ))
}

# One burnlink create run on a fresh server: rate, p50, p99, max and the checks.
measure_creates() { # NAME
    local name=$1
    log "burnlink creates ($name): wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, fresh server"
    wait_idle "$name"
    curl -s --max-time 10 "$BASE/metrics" >"$TMP/$name.metrics.0"
    run_wrk "$name" "$SERVER_PID" "$SERVER_PID" "$DURATION" -t"$THREADS" -c"$CONNECTIONS" --latency \
        -s "$HERE/create.lua" "$BASE/api/v1/secrets"
    check_alive "$name" || true
    curl -s --max-time 10 "$BASE/metrics" >"$TMP/$name.metrics.1"
    local out=$TMP/$name.wrk req dur status_errors ok socket_errors server_counts
    grep -q '^BENCH ' "$out" || return 0
    record_rates "$name" "$out"
    server_counts=$("${HELPERS[@]}" metrics-diff "$TMP/$name.metrics.0" "$TMP/$name.metrics.1" | grep ' /api/v1/secrets ' | awk '{printf "%s%s:%s", sep, $3, $4; sep=","}' || true)
    record "${name}_detail" "$req responses in $(awk -v d="$dur" 'BEGIN{printf "%.2f", d / 1e6}') s, $status_errors with status >= 400, $socket_errors socket errors/timeouts; server counted status:requests $server_counts; p90 $(bench_field "$out" p90_us) us"
    ((status_errors == 0)) || problem "$name: $status_errors responses with status >= 400 (server: $server_counts)"
    ((socket_errors == 0)) || problem "$name: $socket_errors socket errors or timeouts"
    [[ "$server_counts" =~ ^201:[0-9]+$ ]] || problem "$name: server answered statuses other than 201: $server_counts"
    fsync_note "$name" "$ok"
    CREATED_RATE=$(awk -v n="$ok" -v d="$dur" 'BEGIN{printf "%d", n / (d / 1e6)}')
}

# One SnapPass create run against the same (long-running) SnapPass.
measure_snappass() { # NAME
    local name=$1 keys0 keys1
    log "SnapPass creates ($name): wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s"
    wait_idle "$name"
    keys0=$(redis-cli -p "$REDIS_PORT" dbsize)
    run_wrk "$name" "$snap_pids" "" "$DURATION" -t"$THREADS" -c"$CONNECTIONS" --latency \
        -s "$HERE/snappass.lua" "http://127.0.0.1:$SNAP_PORT/"
    keys1=$(redis-cli -p "$REDIS_PORT" dbsize)
    local out=$TMP/$name.wrk req dur status_errors ok socket_errors
    grep -q '^BENCH ' "$out" || return 0
    record_rates "$name" "$out"
    record "${name}_detail" "$req responses in $(awk -v d="$dur" 'BEGIN{printf "%.2f", d / 1e6}') s, $status_errors with status >= 400, $socket_errors socket errors/timeouts; Redis keys added: $((keys1 - keys0)); p90 $(bench_field "$out" p90_us) us; gunicorn sync workers close each connection, so wrk reconnects per request"
    ((status_errors == 0)) || problem "$name: $status_errors responses with status >= 400"
}

# ---------------------------------------------------------------- creates: rounds
# Each round: a fresh burnlink server (new database) takes creates, then SnapPass the same
# load, so every burnlink run has a SnapPass run beside it in time. The last round's
# server stays up for the claims.
SERVER_LOG=""
CREATED_RATE=5000
for ((round = 1; round <= ROUNDS; round++)); do
    SERVER_LOG=$TMP/server.$round.log
    log "round $round of $ROUNDS: starting burnlink-server ($SERVER_BIN)"
    start_server "$TMP/b$round/b.sqlite" "$SERVER_LOG"
    BASE=http://127.0.0.1:$SERVER_PORT
    code=$(curl -s -o "$TMP/probe.json" -w '%{http_code}' --max-time 10 -H 'Expect:' \
        -H "Burnlink-Claim-Verifier: $CLAIM_VERIFIER" -H 'Content-Type: application/octet-stream' \
        --data-binary @"$TMP/body.bin" "$BASE/api/v1/secrets")
    [[ "$code" == 201 ]] || die "a probe create answered $code: $(cat "$TMP/probe.json")"
    probe_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/probe.json")
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST -H "Authorization: Bearer $CLAIM_TOKEN" \
        "$BASE/api/v1/secrets/$probe_id/claim")
    [[ "$code" == 200 ]] || die "a probe claim answered $code"
    measure_creates "create$round"
    if ((round < ROUNDS)); then
        check_server_log "create$round"
        stop_process "$SERVER_PID"
        ((STOP_STATUS == 0)) || problem "burnlink-server exited with status $STOP_STATUS on SIGTERM"
    fi
    sleep 2
    measure_snappass "snappass$round"
    sleep 2
done
stop_process "$GUNICORN_PID"
stop_process "$REDIS_PID"

# ---------------------------------------------------------------- burnlink: claims
# Enough ids for claims at up to 1.5 times the create rate for the whole duration (here
# claims run slower than creates); if the claims still run out, claim.lua stops early, the
# rate is over the shorter time and the summary says so.
sleep 2
want=$((CREATED_RATE * DURATION * 3 / 2 + 2000))
per_thread=$(((want + THREADS - 1) / THREADS))
log "creating $((per_thread * THREADS)) secrets to claim (not measured)"
run_wrk precreate "$SERVER_PID" "" $((DURATION * 6)) -t"$THREADS" -c64 \
    -s "$HERE/precreate.lua" "$BASE/api/v1/secrets" -- "$TMP/ids" "$per_thread"
check_alive precreate || die "burnlink-server died while creating the secrets to claim"
cat "$TMP"/ids.* >"$TMP/ids.txt" 2>/dev/null || true
ids=$(wc -l <"$TMP/ids.txt")
log "precreate: $ids ids ($(bench_field "$TMP/precreate.wrk" statuses) by status)"
((ids > 0)) || die "no secrets were created for the claim run"
precreate_bad=$(bench_field "$TMP/precreate.wrk" statuses | tr ',' '\n' | grep -v '^201:' || true)
[[ -z "$precreate_bad" ]] || problem "precreate: unexpected statuses $(echo "$precreate_bad" | tr '\n' ' ')"

sleep 2
log "burnlink claims: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s over $ids ids"
wait_idle claim
curl -s --max-time 10 "$BASE/metrics" >"$TMP/metrics.2"
run_wrk claim "$SERVER_PID" "$SERVER_PID" "$DURATION" -t"$THREADS" -c"$CONNECTIONS" --latency \
    -s "$HERE/claim.lua" "$BASE/api/v1/secrets" -- "$TMP/ids.txt" "$THREADS"
check_alive claim || true
curl -s --max-time 10 "$BASE/metrics" >"$TMP/metrics.3"
out=$TMP/claim.wrk
if grep -q '^BENCH ' "$out"; then
    req=$(bench_field "$out" requests); dur=$(bench_field "$out" duration_us)
    ok=$(bench_field "$out" ok); statuses=$(bench_field "$out" statuses)
    filler=$(bench_field "$out" filler); ran_out=$(bench_field "$out" ran_out_threads)
    wrong_size=$(bench_field "$out" wrong_size)
    record claim_rate "$(awk -v n="$ok" -v d="$dur" 'BEGIN{print n / (d / 1e6)}')"
    record claim_p50_us "$(bench_field "$out" p50_us)"
    record claim_p99_us "$(bench_field "$out" p99_us)"
    record claim_max_us "$(bench_field "$out" max_us)"
    socket_errors=$(( $(bench_field "$out" connect_errors) + $(bench_field "$out" read_errors) + $(bench_field "$out" write_errors) + $(bench_field "$out" timeouts) ))
    server_counts=$("${HELPERS[@]}" metrics-diff "$TMP/metrics.2" "$TMP/metrics.3" | grep '/claim ' | awk '{printf "%s%s:%s", sep, $3, $4; sep=","}' || true)
    detail="$ok claims answered 200 with the whole secret in $(awk -v d="$dur" 'BEGIN{printf "%.2f", d / 1e6}') s; statuses seen by wrk $statuses; $socket_errors socket errors/timeouts; server counted status:requests $server_counts; p90 $(bench_field "$out" p90_us) us, max $(bench_field "$out" max_us) us"
    if ((ran_out > 0)); then detail="$detail; ids ran out in $ran_out thread(s) ($filler /healthz fillers)"; fi
    record claim_detail "$detail"
    [[ "$statuses" =~ ^200:[0-9]+$ ]] || problem "claims: statuses other than 200: $statuses"
    ((wrong_size == 0)) || problem "claims: $wrong_size answers 200 with a body that is not $SIZE bytes"
    ((socket_errors == 0)) || problem "claims: $socket_errors socket errors or timeouts"
    fsync_note claim "$ok"
fi
check_server_log claims
stop_process "$SERVER_PID"
((STOP_STATUS == 0)) || problem "burnlink-server exited with status $STOP_STATUS on SIGTERM"

# ---------------------------------------------------------------- burnlink: RSS
sleep 1
log "RSS: a fresh burnlink-server, one 1 KiB create + claim, then a $BIG_SIZE-byte secret"
SERVER_LOG=$TMP/server-rss.log
start_server "$TMP/rss/b.sqlite" "$SERVER_LOG"
BASE=http://127.0.0.1:$SERVER_PORT
code=$(curl -s -o "$TMP/probe.json" -w '%{http_code}' --max-time 10 -H 'Expect:' \
    -H "Burnlink-Claim-Verifier: $CLAIM_VERIFIER" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$TMP/body.bin" "$BASE/api/v1/secrets")
[[ "$code" == 201 ]] || die "a probe create answered $code"
probe_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/probe.json")
curl -s -o /dev/null --max-time 10 -X POST -H "Authorization: Bearer $CLAIM_TOKEN" "$BASE/api/v1/secrets/$probe_id/claim"
head -c "$BIG_SIZE" /dev/urandom >"$TMP/big.bin"
sleep 2
wait_idle rss
idle=$(awk '/^VmRSS:/{print $2}' "/proc/$SERVER_PID/status")
record rss_idle_kib "$idle"
"${HELPERS[@]}" rss-sample "$SERVER_PID" "$TMP/rss.samples" 50 &
SAMPLER_PID=$!
STARTED+=("$SAMPLER_PID")
sleep 0.2
upload=$(curl -s -o "$TMP/big.json" -w '%{http_code} %{time_total}' --max-time 300 -H 'Expect:' \
    -H "Burnlink-Claim-Verifier: $CLAIM_VERIFIER" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$TMP/big.bin" "$BASE/api/v1/secrets") || upload="000 0"
hwm_upload=$(awk '/^VmHWM:/{print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
read -r up_code up_time <<<"$upload"
claim_line="000 0 0"
if [[ "$up_code" == 201 ]]; then
    big_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/big.json")
    claim_line=$(curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}' --max-time 300 -X POST \
        -H "Authorization: Bearer $CLAIM_TOKEN" "$BASE/api/v1/secrets/$big_id/claim") || claim_line="000 0 0"
else
    problem "RSS: the $BIG_SIZE-byte upload answered $up_code: $(head -c 300 "$TMP/big.json")"
fi
read -r cl_code cl_time cl_size <<<"$claim_line"
sleep 0.2
kill -TERM "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
check_alive rss || true
read -r samples peak <"$TMP/rss.samples" || { samples=0; peak=""; }
hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "")
record rss_samples "$samples"
record rss_peak_sampled_kib "$peak"
record rss_hwm_kib "$hwm"
mbps() { awk -v b="$1" -v t="$2" 'BEGIN{printf "%.0f MB/s", (t > 0 ? b / t / 1e6 : 0)}'; }
record rss_detail "upload $up_code in ${up_time}s ($(mbps "$BIG_SIZE" "$up_time")), VmHWM after the upload $((hwm_upload / 1024)) MiB; claim $cl_code, $cl_size bytes in ${cl_time}s ($(mbps "$cl_size" "$cl_time"))"
if [[ "$up_code" == 201 ]]; then
    [[ "$cl_code" == 200 && "$cl_size" == "$BIG_SIZE" ]] \
        || problem "RSS: the claim of the big secret answered $cl_code with $cl_size bytes"
fi
check_server_log RSS
stop_process "$SERVER_PID"
((STOP_STATUS == 0)) || problem "burnlink-server (RSS run) exited with status $STOP_STATUS on SIGTERM"
rm -f "$TMP/big.bin"

# ---------------------------------------------------------------- summary
record problems "$(IFS=';'; echo "${PROBLEMS[*]:-}")"
record notes "$(IFS=';'; echo "${IDLE_NOTES[*]:-}")"
"${HELPERS[@]}" summary "$RESULTS"
((${#PROBLEMS[@]} == 0)) || exit 3
