#!/usr/bin/env bash
# What a 1 KiB `burnlink open` costs beyond the least any client on its packages pays
# (issue 18; results in docs/benchmarks.md, "the floor under burnlink open").
#
#   bash Benchmarks/cli/floor.sh
#
# In one run, against a local release burnlink-server on loopback, each side claiming one
# view of a 100-view secret of its own per run, all executed directly by hyperfine -N:
#   burnlink open      `burnlink open --yes LINK` (claim, decrypt, write, confirm);
#   curl claim         `curl -X POST .../claim`, the baseline of issue 18;
#   floor claim        the same claim over AsyncHTTPClient, nothing else (floor/);
#   floor confirm      the claim and the confirm of its claim session, as `open` sends them;
#   floor parsed       those two requests behind an ArgumentParser command shaped like
#                      `open`, parsed while the client is made on another thread.
# BENCH_RUNS calls of hyperfine (30), each running every side once, the order rotated from
# call to call. Printed: each side's median, p90 and max wall time, its mean CPU time
# (user + system), and its time over curl's within each call (median, p90).
#
#   BENCH_CLI_BIN, BENCH_SERVER_BIN   binaries to use instead of building (see local_server.sh)
#   BENCH_FLOOR_DIR                   where the floor clients are built (.build-floor)
#   BENCH_RUNS (30)  BENCH_TMPDIR     (parent of the temporary directory)
# Needs: hyperfine, curl, python3.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIG_MIB=1
RUNS=${BENCH_RUNS:-30}
FLOOR_DIR=${BENCH_FLOOR_DIR:-$ROOT/.build-floor}

for tool in hyperfine curl python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y hyperfine curl)" >&2; exit 1; }
done

swift build -c release --static-swift-stdlib --package-path "$HERE/floor" --scratch-path "$FLOOR_DIR" >&2

source "$ROOT/Benchmarks/local_server.sh"
start_local_server cli-floor

# Fresh copies of every executable (see run.sh: the age of a file moved its start-up time).
cp "$BIN" "$TMP/burnlink"
cp "$FLOOR_DIR/release/floor-claim" "$FLOOR_DIR/release/floor-parsed" "$TMP/"
cp "$(command -v curl)" "$TMP/curl"
head -c 1024 /dev/urandom >"$TMP/secret-1k"

read -r TOKEN VERIFIER < <(python3 "$ROOT/Benchmarks/server/bench_helpers.py" token)
# secret: the URL of a new secret claimable with TOKEN.
secret() { echo "$BURNLINK_SERVER/api/v1/secrets/$(claimable_secret "$TMP/secret-1k" "$VERIFIER")"; }
"$TMP/burnlink" send -q --views 100 "$TMP/secret-1k" >"$TMP/link"

NAMES=("burnlink open" "curl claim" "floor claim" "floor confirm" "floor parsed")
COMMANDS=(
    "$TMP/burnlink open --yes $(cat "$TMP/link")"
    "$TMP/curl -fsS -o /dev/null -X POST -H 'Authorization: Bearer $TOKEN' $(secret)/claim"
    "$TMP/floor-claim $(secret) $TOKEN"
    "$TMP/floor-claim $(secret) $TOKEN confirm"
    "$TMP/floor-parsed $(secret) --yes --token=$TOKEN --confirm"
)
# hyperfine arguments for every side, starting with side $1.
sides() {
    local count=${#NAMES[@]} k j
    for ((k = 0; k < count; k++)); do
        j=$(((k + $1) % count))
        printf '%s\0%s\0%s\0' -n "${NAMES[$j]}" "${COMMANDS[$j]}"
    done
}

echo "== 1 KiB open beside its floors and curl ($RUNS calls, no shell)" >&2
mapfile -d '' warmup < <(sides 0)
hyperfine -N --warmup 3 --runs 1 "${warmup[@]}" >/dev/null
for call in $(seq "$RUNS"); do
    mapfile -d '' arguments < <(sides "$call")
    hyperfine -N --runs 1 --export-json "$TMP/floor.$call.json" "${arguments[@]}" >/dev/null
done

python3 - "$TMP" "$RUNS" <<'PY'
import json, statistics, sys
directory, runs = sys.argv[1], int(sys.argv[2])
calls = []
for call in range(1, runs + 1):
    with open(f"{directory}/floor.{call}.json") as f:
        results = json.load(f)["results"]
    calls.append({r["command"]: (r["times"][0] * 1000, (r["user"] + r["system"]) * 1000) for r in results})
def at(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]
print(f"### 1 KiB open beside its floors and curl, {runs} calls (each side once per hyperfine -N call, order rotated)")
print("| side | median ms | p90 ms | max ms | CPU ms (mean) | over curl within calls: median | p90 |")
print("|---|---|---|---|---|---|---|")
for name in calls[0]:
    wall = [c[name][0] for c in calls]
    ratio = [c[name][0] / c["curl claim"][0] for c in calls]
    cpu = statistics.mean(c[name][1] for c in calls)
    print(f"| {name} | {statistics.median(wall):.1f} | {at(wall, 0.9):.1f} | {max(wall):.1f} | {cpu:.1f} | "
          f"{statistics.median(ratio):.2f} | {at(ratio, 0.9):.2f} |")
PY
