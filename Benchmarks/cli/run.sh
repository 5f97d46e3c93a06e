#!/usr/bin/env bash
# CLI benchmark (issue: the burnlink CLI, "Speed"); results in docs/benchmarks.md, "CLI".
#
#   bash Benchmarks/cli/run.sh
#
# In one run, against a local release burnlink-server on loopback:
#   1. whole-process time of `burnlink send FILE` of a 1 KiB secret beside curl doing the
#      same raw HTTP create; both executed directly by hyperfine (-N: no shell around
#      either side), output discarded the same way;
#   2. whole-process time of `burnlink open --yes LINK` beside `curl -X POST .../claim`,
#      both executed directly; each side claims one view of its own 100-view secret per run
#      (a real claim every time; burnlink also confirms delivery, as it always does);
#   1 and 2 run as BENCH_RUNS pairs: one run of each side per hyperfine call, the order
#   swapped from pair to pair, so that a machine whose speed drifts during the minute (a
#   shared 2-core box does) slows both sides alike instead of one block of runs;
#   3. sending and opening 1 GiB, BENCH_BIG_RUNS times (5): MB/s end to end and each
#      process's peak RSS (GNU time), every run's figures, the slowest and the median. The
#      input file is written and synced to disk before the first run, so that its own
#      writeback does not land inside the measurement; each open follows its send at once,
#      as a user would.
# Every run of 1 and 2 is kept (hyperfine JSON) and summarized with its tail: median, p90,
# max, the ratio of medians to curl's, and the ratio within each pair (median, p90, max).
# Needs: hyperfine, curl, GNU time (apt-get install -y hyperfine curl time), python3.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIG_MIB=${BENCH_BIG_MIB:-1024}
RUNS=${BENCH_RUNS:-30}
BIG_RUNS=${BENCH_BIG_RUNS:-5}

for tool in hyperfine curl /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y hyperfine curl time)" >&2; exit 1; }
done

source "$ROOT/Benchmarks/local_server.sh"
start_local_server cli

# Both sides run from copies written now. The same CLI bytes ran up to 0.16 slower (ratio to
# curl) from a file written an hour earlier than from a fresh copy, in alternating runs
# (docs/benchmarks.md, "Issue 18: the subcommand parsed as the root"), so a build compared
# with an older one must not be the only fresh file. curl's executable is copied too; its
# libraries (libcurl and the rest) stay the system's files, as burnlink's libsodium does.
cp "$BIN" "$TMP/burnlink"
BIN="$TMP/burnlink"
cp "$(command -v curl)" "$TMP/curl"
CURL="$TMP/curl"

head -c 1024 /dev/urandom > "$TMP/secret-1k"
# A fixed claim token T and its verifier, for curl's raw requests (docs/http-api.md).
read -r TOKEN VERIFIER < <(python3 - <<'PY'
import base64, hashlib, os
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
t = os.urandom(32)
print(b64u(t), b64u(hashlib.sha256(t).digest()))
PY
)
CREATE_URL="$BURNLINK_SERVER/api/v1/secrets"

# paired NAME A_NAME A_COMMAND B_NAME B_COMMAND: RUNS pairs into $TMP/NAME.N.json, after
# three warm-up runs of each; odd pairs run A first, even pairs B first.
paired() {
    local name=$1
    hyperfine -N --warmup 3 --runs 1 -n "$2" "$3" -n "$4" "$5" >/dev/null 2>&1
    for pair in $(seq "$RUNS"); do
        if ((pair % 2)); then
            hyperfine -N --runs 1 --export-json "$TMP/$name.$pair.json" -n "$2" "$3" -n "$4" "$5" >/dev/null 2>&1
        else
            hyperfine -N --runs 1 --export-json "$TMP/$name.$pair.json" -n "$4" "$5" -n "$2" "$3" >/dev/null 2>&1
        fi
    done
}

echo "== 1 KiB send, whole process, vs curl ($RUNS pairs, no shell)" >&2
paired send "burnlink send" "$BIN send -q $TMP/secret-1k" \
    "curl create" "$CURL -fsS -o /dev/null -X POST -H 'Burnlink-Claim-Verifier: $VERIFIER' -H 'Content-Type: application/octet-stream' --data-binary @$TMP/secret-1k $CREATE_URL"

# One secret of 100 views for each side, so each timed run claims a view of it directly.
"$BIN" send -q --views 100 "$TMP/secret-1k" > "$TMP/link"
LINK=$(cat "$TMP/link")
ID=$(claimable_secret "$TMP/secret-1k" "$VERIFIER")
echo "== 1 KiB open, whole process, vs curl claim ($RUNS pairs, no shell)" >&2
paired open "burnlink open" "$BIN open -q --yes $LINK" \
    "curl claim" "$CURL -fsS -o /dev/null -X POST -H 'Authorization: Bearer $TOKEN' $CREATE_URL/$ID/claim"

echo "== $BIG_MIB MiB send and open, $BIG_RUNS runs" >&2
head -c "$((BIG_MIB * 1048576))" /dev/urandom > "$TMP/big"
sync
: > "$TMP/big.times"
for run in $(seq "$BIG_RUNS"); do
    /usr/bin/time -f "%e %M %U %S" -o "$TMP/send.time" "$BIN" send -q "$TMP/big" > "$TMP/big.link"
    /usr/bin/time -f "%e %M %U %S" -o "$TMP/open.time" "$BIN" open -q --yes --output "$TMP/big.out" < "$TMP/big.link"
    cmp "$TMP/big" "$TMP/big.out" || { echo "1 GiB round trip differs (run $run)" >&2; exit 1; }
    rm -f "$TMP/big.out"
    echo "$(cat "$TMP/send.time") $(cat "$TMP/open.time")" >> "$TMP/big.times"
    sleep 10  # the server frees the secret's pages after the open: let it finish
done

echo
python3 - "$TMP" "$RUNS" <<'PY'
import json, statistics, sys
directory, runs = sys.argv[1], int(sys.argv[2])
def quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
for name, title in [("send", "1 KiB send (whole process)"), ("open", "1 KiB open (whole process; a fresh view each run)")]:
    times, cpu, ratios = {}, {}, []
    for pair in range(1, runs + 1):
        results = {r["command"]: r for r in json.load(open(f"{directory}/{name}.{pair}.json"))["results"]}
        for command, r in results.items():
            times.setdefault(command, []).append(r["times"][0])
            cpu.setdefault(command, []).append(r["user"] + r["system"])
        burnlink, curl = (results[c]["times"][0] for c in sorted(results))  # "burnlink ..." < "curl ..."
        ratios.append(burnlink / curl)
    commands = sorted(times)
    base = statistics.median(times[commands[1]])
    print(f"### {title}, {runs} pairs (one run of each per hyperfine -N call, order swapped each pair)")
    print("| command | median ms | p90 ms | max ms | min ms | user+sys ms (mean) | median / curl's |")
    print("|---|---|---|---|---|---|---|")
    for command in commands:
        t = times[command]
        print(f"| {command} | {statistics.median(t)*1e3:.1f} | {quantile(t, 0.9)*1e3:.1f} | {max(t)*1e3:.1f} "
              f"| {min(t)*1e3:.1f} | {statistics.mean(cpu[command])*1e3:.1f} | {statistics.median(t) / base:.2f} |")
    print(f"ratio within each pair: median {statistics.median(ratios):.2f}, p90 {quantile(ratios, 0.9):.2f}, "
          f"max {max(ratios):.2f}, min {min(ratios):.2f}")
    print("every run, ms: " + "; ".join(f"{c}: " + " ".join(f"{x*1e3:.1f}" for x in times[c]) for c in commands))
    print()
PY
python3 - "$BIG_MIB" "$TMP/big.times" <<'PY'
import statistics, sys
mib, path = int(sys.argv[1]), sys.argv[2]
size = mib * 1048576
runs = [tuple(map(float, line.split())) for line in open(path) if line.strip()]
print(f"### {mib} MiB end to end ({len(runs)} runs; MB/s = 10^6 bytes per second)")
# CPU as user / system seconds: a slow open on this virtual machine spent its time in the
# kernel, copying into new page-cache pages (docs/benchmarks.md, "Issue 18: what a create
# waits for at 16 connections, and where a slow 1 GiB open's time goes").
print("| run | send s | send MB/s | send CPU user / sys s | send peak RSS | open s | open MB/s | open CPU user / sys s | open peak RSS |")
print("|---|---|---|---|---|---|---|---|---|")
for i, (send_s, send_kb, send_user, send_sys, open_s, open_kb, open_user, open_sys) in enumerate(runs, 1):
    print(f"| {i} | {send_s:.2f} | {size / send_s / 1e6:.0f} | {send_user:.2f} / {send_sys:.2f} | {send_kb / 1024:.1f} MiB "
          f"| {open_s:.2f} | {size / open_s / 1e6:.0f} | {open_user:.2f} / {open_sys:.2f} | {open_kb / 1024:.1f} MiB |")
send_med = statistics.median(r[0] for r in runs)
open_med = statistics.median(r[4] for r in runs)
send_max = max(r[0] for r in runs)
open_max = max(r[4] for r in runs)
print(f"| median | {send_med:.2f} | {size / send_med / 1e6:.0f} | | | {open_med:.2f} | {size / open_med / 1e6:.0f} | | |")
print(f"| slowest | {send_max:.2f} | {size / send_max / 1e6:.0f} | | | {open_max:.2f} | {size / open_max / 1e6:.0f} | | |")
PY
