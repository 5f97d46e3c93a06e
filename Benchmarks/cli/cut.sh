#!/usr/bin/env bash
# A large open cut near its end resumes, not restarts (docs/benchmarks.md, "Delivery").
#
#   bash Benchmarks/cli/cut.sh
#
# Sends BIG_MIB (default 1024) MiB with the release CLI to a local release server, then
# opens it through Tests/python/cutting_proxy.py, which cuts the claim's response after
# CUT_MIB (default 900) MiB. Reports the open's wall time, the envelope requests the
# proxy saw (the claim, and one fetch of the rest), and the bytes it forwarded in all:
# a resumed open moves about BIG_MIB MiB, a restarted one would move BIG_MIB + CUT_MIB.
# For comparison the same open without a cut runs first, through the same proxy.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIG_MIB=${BENCH_BIG_MIB:-1024}
CUT_MIB=${BENCH_CUT_MIB:-900}

source "$ROOT/Benchmarks/local_server.sh"
start_local_server cut

head -c "$((BIG_MIB * 1048576))" /dev/urandom > "$TMP/big"
sync
export XDG_STATE_HOME="$TMP/state"
for cut in 0 "$((CUT_MIB * 1048576))"; do
    "$BIN" send -q "$TMP/big" > "$TMP/big.link"
    python3 - "$ROOT/Tests/python" "$PORT" "$cut" "$BIN" "$TMP" <<'PY'
import subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from cutting_proxy import CuttingProxy
port, cut, cli, tmp = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
proxy = CuttingProxy(port, [cut] if cut else [], record=False)
link = open(f"{tmp}/big.link").read().strip().replace(f":{port}/", f":{proxy.port}/", 1)
started = time.monotonic()
result = subprocess.run([cli, "open", "-q", "--yes", "--output", f"{tmp}/big.out", link], capture_output=True)
elapsed = time.monotonic() - started
forwarded = proxy.forwarded
same = open(f"{tmp}/big", "rb").read() == open(f"{tmp}/big.out", "rb").read() if result.returncode == 0 else False
print(f"| {cut / 1048576:.0f} MiB | {result.returncode} | {elapsed:.2f} s | {proxy.envelope_requests} "
      f"| {forwarded / 1048576:.1f} MiB | {'yes' if same else 'NO'} |")
if result.returncode != 0 or not same:
    sys.stderr.write(result.stderr.decode())
    sys.exit(1)
PY
    rm -f "$TMP/big.out"
    sleep 10  # the server frees the secret's pages after the open: let it finish
done | { echo "| cut after | exit | open wall time | envelope requests | forwarded | identical |"; echo "|---|---|---|---|---|---|"; cat; }
