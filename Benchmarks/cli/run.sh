#!/usr/bin/env bash
# CLI benchmark (issue: the burnlink CLI, "Speed"); results in docs/benchmarks.md, "CLI".
#
#   bash Benchmarks/cli/run.sh
#
# In one run, against a local release burnlink-server on loopback:
#   1. whole-process time of `burnlink send` of a 1 KiB secret beside curl doing the same
#      raw HTTP create (hyperfine);
#   2. whole-process time of `burnlink open` of a 1 KiB secret beside curl doing the raw
#      claim; each run gets a fresh secret from hyperfine's --prepare (not timed);
#   3. sending and opening 1 GiB, BENCH_BIG_RUNS times (3): MB/s end to end and each
#      process's peak RSS (GNU time), each run's figures and the median. The input file is
#      written and synced to disk before the first run, so that its own writeback does not
#      land inside the measurement; each open follows its send at once, as a user would.
# Needs: hyperfine, curl, GNU time (apt-get install -y hyperfine curl time), python3.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIG_MIB=${BENCH_BIG_MIB:-1024}
RUNS=${BENCH_RUNS:-30}
BIG_RUNS=${BENCH_BIG_RUNS:-3}

for tool in hyperfine curl /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y hyperfine curl time)" >&2; exit 1; }
done

source "$ROOT/Benchmarks/local_server.sh"
start_local_server cli

head -c 1024 /dev/urandom > "$TMP/secret-1k"
# A fixed claim token T and its verifier, for curl's raw requests (docs/http-api.md).
read -r TOKEN VERIFIER < <(python3 - <<'PY'
import base64, hashlib, os
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
t = os.urandom(32)
print(b64u(t), b64u(hashlib.sha256(t).digest()))
PY
)
cat > "$TMP/curl-create.sh" <<SH
curl -fsS -o "$TMP/created.json" -X POST -H "Burnlink-Claim-Verifier: $VERIFIER" \
  -H "Content-Type: application/octet-stream" --data-binary @"$TMP/secret-1k" "$BURNLINK_SERVER/api/v1/secrets"
SH
cat > "$TMP/curl-claim.sh" <<SH
id=\$(sed -E 's/.*"id":"([^"]+)".*/\\1/' "$TMP/created.json")
curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" "$BURNLINK_SERVER/api/v1/secrets/\$id/claim"
SH

echo "== 1 KiB send and open, whole process, vs curl ($RUNS runs each)" >&2
hyperfine --warmup 3 --runs "$RUNS" --export-markdown "$TMP/small.md" \
    -n "burnlink send" "$BIN send -q < $TMP/secret-1k > $TMP/link" \
    -n "curl create" "bash $TMP/curl-create.sh" >&2
# The claim side: each timed run opens a secret created by --prepare. curl's id is
# extracted with sed inside the timed command (about a millisecond, measured alone below).
hyperfine --warmup 3 --runs "$RUNS" --export-markdown "$TMP/open.md" \
    -n "burnlink open" --prepare "$BIN send -q < $TMP/secret-1k > $TMP/link" \
    "$BIN open -q --yes < $TMP/link > /dev/null" \
    -n "curl claim" --prepare "bash $TMP/curl-create.sh" "bash $TMP/curl-claim.sh" \
    -n "sed id extraction alone" --prepare "true" \
    "sed -E 's/.*\"id\":\"([^\"]+)\".*/\\1/' $TMP/created.json" >&2

echo "== $BIG_MIB MiB send and open, $BIG_RUNS runs" >&2
head -c "$((BIG_MIB * 1048576))" /dev/urandom > "$TMP/big"
sync
: > "$TMP/big.times"
for run in $(seq "$BIG_RUNS"); do
    /usr/bin/time -f "%e %M" -o "$TMP/send.time" "$BIN" send -q "$TMP/big" > "$TMP/big.link"
    /usr/bin/time -f "%e %M" -o "$TMP/open.time" "$BIN" open -q --yes --output "$TMP/big.out" < "$TMP/big.link"
    cmp "$TMP/big" "$TMP/big.out" || { echo "1 GiB round trip differs (run $run)" >&2; exit 1; }
    rm -f "$TMP/big.out"
    echo "$(cat "$TMP/send.time") $(cat "$TMP/open.time")" >> "$TMP/big.times"
    sleep 10  # the server frees the secret's pages after the open: let it finish
done

echo
echo "### 1 KiB send (whole process)"
cat "$TMP/small.md"
echo
echo "### 1 KiB open (whole process; each run opens a fresh secret)"
cat "$TMP/open.md"
echo
python3 - "$BIG_MIB" "$TMP/big.times" <<'PY'
import statistics, sys
mib, path = int(sys.argv[1]), sys.argv[2]
size = mib * 1048576
runs = [tuple(map(float, line.split())) for line in open(path) if line.strip()]
print(f"### {mib} MiB end to end ({len(runs)} runs; MB/s = 10^6 bytes per second)")
print("| run | send s | send MB/s | send peak RSS | open s | open MB/s | open peak RSS |")
print("|---|---|---|---|---|---|---|")
for i, (send_s, send_kb, open_s, open_kb) in enumerate(runs, 1):
    print(f"| {i} | {send_s:.2f} | {size / send_s / 1e6:.0f} | {send_kb / 1024:.1f} MiB "
          f"| {open_s:.2f} | {size / open_s / 1e6:.0f} | {open_kb / 1024:.1f} MiB |")
send_med = statistics.median(r[0] for r in runs)
open_med = statistics.median(r[2] for r in runs)
print(f"| median | {send_med:.2f} | {size / send_med / 1e6:.0f} | | {open_med:.2f} | {size / open_med / 1e6:.0f} | |")
PY
