# Sourced by Benchmarks/cli/run.sh and floor.sh, Benchmarks/server/burn.sh and slow-reader.sh
# (and, for listening_port alone, Benchmarks/server/ab.sh, per-request.sh and
# Benchmarks/cli/window-ab.sh).
#
#   start_local_server NAME [--server-only]
#
# Builds the release server and (unless --server-only) the CLI as `make release` does (Swift's runtime linked in:
# faster start-up; separate scratch paths, so neither build disturbs the other), makes a
# fresh temporary directory, starts burnlink-server on a free loopback port with its
# database there (rate limit off, --max-size above BIG_MIB), and points the CLI at it.
# BENCH_SERVER_BIN=PATH runs that server binary instead, BENCH_CLI_BIN=PATH that CLI
# (to compare two builds, or to use what `make release` built).
# Needs ROOT and BIG_MIB. Sets TMP, SERVER_PID, PORT, BIN (the burnlink binary),
# BURNLINK_SERVER and XDG_CONFIG_HOME, and an EXIT trap that stops the server and
# removes TMP.
start_local_server() {
    local server="${BENCH_SERVER_BIN:-$ROOT/.build/release/burnlink-server}"
    [[ -n "${BENCH_SERVER_BIN:-}" ]] || swift build -c release --package-path "$ROOT" --product burnlink-server >&2
    BIN="${BENCH_CLI_BIN:-$ROOT/.build-static/release/burnlink}"
    [[ -n "${BENCH_CLI_BIN:-}" || "${2:-}" == --server-only ]] || swift build -c release --package-path "$ROOT" --product burnlink --static-swift-stdlib \
        --scratch-path "$ROOT/.build-static" >&2

    TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/burnlink-$1-bench.XXXXXX")
    SERVER_PID=""
    trap stop_local_server EXIT

    "$server" --port 0 --rate-limit off --max-size "$((BIG_MIB + 64))MiB" \
        --database "$TMP/db/b.sqlite" --log-level info 2>"$TMP/server.log" &
    SERVER_PID=$!
    PORT=$(listening_port "$TMP/server.log")
    export BURNLINK_SERVER="http://127.0.0.1:$PORT" XDG_CONFIG_HOME="$TMP/config"
}

# listening_port LOG: the port a server starting with --port 0 logs that it listens on,
# waiting up to 10 s for the line; prints the log and exits if it never comes.
listening_port() {
    local port=""
    for _ in $(seq 100); do
        port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$1" | head -1 | cut -d: -f3 || true)
        [[ -n "$port" ]] && { echo "$port"; return; }
        sleep 0.1
    done
    cat "$1" >&2
    exit 1
}

stop_local_server() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}

# claimable_secret FILE VERIFIER: creates a secret of FILE's bytes, 100 views, claimable with
# the token whose verifier is VERIFIER, on $BURNLINK_SERVER with curl (docs/http-api.md 3.1),
# for runs that claim it with raw requests; prints its id.
claimable_secret() {
    curl -fsS -X POST -H "Burnlink-Claim-Verifier: $2" -H "Burnlink-Max-Views: 100" \
        -H "Content-Type: application/octet-stream" --data-binary @"$1" "$BURNLINK_SERVER/api/v1/secrets" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
