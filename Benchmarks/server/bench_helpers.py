#!/usr/bin/env python3
"""Small helpers for Benchmarks/server/run.sh (standard library only).

    free-port                      a free TCP port on 127.0.0.1
    token                          "<T> <verifier>": T = 32 random bytes, verifier =
                                   SHA-256(T), both base64url without padding
    alnum N FILE                   N random letters and digits into FILE
    metrics-counts FILE            request counts by route and status from a saved
                                   /metrics exposition, one "route status count" per line
    metrics-diff BEFORE AFTER      the counts that changed between two expositions
    rss-sample PID OUT [MS]        samples VmRSS of PID every MS ms (default 50) until
                                   SIGTERM/SIGINT or PID exits; writes "samples max_kib"
                                   to OUT
    threads PID OUT                CPU ticks of each thread of PID into OUT
    threads-diff BEFORE AFTER SECONDS
                                   the busiest threads between two such snapshots, as
                                   "name 93%, name 40%, ..." (per cent of one core)
    summary RESULTS                the final table, from the KEY=VALUE file run.sh wrote
    usage DEVICE PID...            "cpu_seconds write_ios write_bytes flushes": the CPU
                                   time the processes used so far (user + system, all
                                   threads), and what the block DEVICE (vda) completed
    histogram FILE NAME            "count sum" of an unlabelled histogram in a saved
                                   /metrics exposition (0 0 when absent)
"""

import base64
import hashlib
import os
import re
import secrets
import signal
import socket
import string
import sys
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def free_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def token() -> None:
    t = secrets.token_bytes(32)
    print(b64url(t), b64url(hashlib.sha256(t).digest()))


def alnum(count: str, path: str) -> None:
    alphabet = string.ascii_letters + string.digits
    with open(path, "w") as f:
        f.write("".join(secrets.choice(alphabet) for _ in range(int(count))))


COUNT_LINE = re.compile(r'^burnlink_request_duration_seconds_count\{(.*)\}\s+(\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metrics_counts(path: str) -> dict:
    counts = {}
    with open(path) as f:
        for line in f:
            m = COUNT_LINE.match(line.strip())
            if not m:
                continue
            labels = dict(LABEL.findall(m.group(1)))
            key = (labels.get("method", "?") + " " + labels.get("route", "?"), labels.get("status", "?"))
            counts[key] = counts.get(key, 0) + int(float(m.group(2)))
    return counts


def print_metrics_counts(path: str) -> None:
    for (route, status), count in sorted(metrics_counts(path).items()):
        print(route, status, count)


def metrics_diff(before: str, after: str) -> None:
    old, new = metrics_counts(before), metrics_counts(after)
    for key in sorted(new):
        delta = new[key] - old.get(key, 0)
        if delta:
            print(f"{key[0]} {key[1]} {delta}")


def read_rss_kib(pid: str):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def rss_sample(pid: str, out: str, interval_ms: str = "50") -> None:
    interval = int(interval_ms) / 1000
    stop = False

    def handle(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    samples, peak = 0, 0
    next_tick = time.monotonic()
    while not stop:
        rss = read_rss_kib(pid)
        if rss is None:
            break
        samples += 1
        peak = max(peak, rss)
        next_tick += interval
        time.sleep(max(0.0, next_tick - time.monotonic()))
    with open(out, "w") as f:
        f.write(f"{samples} {peak}\n")


def thread_ticks(pid: str) -> dict:
    ticks = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return ticks
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except FileNotFoundError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        ticks[tid] = (comm, int(fields[11]) + int(fields[12]))
    return ticks


def threads(pid: str, out: str) -> None:
    with open(out, "w") as f:
        for tid, (comm, t) in thread_ticks(pid).items():
            f.write(f"{tid}\t{comm}\t{t}\n")


def threads_diff(before: str, after: str, seconds: str) -> None:
    def load(path):
        result = {}
        with open(path) as f:
            for line in f:
                tid, comm, t = line.rstrip("\n").split("\t")
                result[tid] = (comm, int(t))
        return result

    old, new = load(before), load(after)
    hz = os.sysconf("SC_CLK_TCK")
    rows = []
    for tid, (comm, t) in new.items():
        delta = t - old.get(tid, (comm, 0))[1]
        if delta > 0:
            rows.append((delta, comm))
    rows.sort(reverse=True)
    wall = float(seconds)
    print(", ".join(f"{comm} {100 * d / hz / wall:.0f}%" for d, comm in rows[:4]) or "none")


def summary(path: str) -> None:
    r = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                key, value = line.split("=", 1)
                r[key] = value

    def num(key, default=None):
        try:
            return float(r[key])
        except (KeyError, ValueError):
            return default

    def ms(key):
        v = num(key)
        return "n/a" if v is None else f"{v / 1000:.2f} ms"

    def rate(key):
        v = num(key)
        return "n/a" if v is None else f"{v:,.0f}/s"

    def mib(kib):
        return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"

    width = 44
    print()
    print("=" * 78)
    print(f"burnlink server benchmark, {r.get('date', '?')}")
    print(f"machine: {r.get('machine', '?')}")
    print(f"burnlink: {r.get('commit', '?')}; database on {r.get('db_fs', '?')} ({r.get('tmp_dir_parent', '?')})")
    print(f"wrk -t{r.get('threads')} -c{r.get('connections')} -d{r.get('duration')}s, secrets of {r.get('size')} bytes")
    if r.get("server_args"):
        print(f"extra server flags: {r['server_args']}")
    print("-" * 78)
    rounds = int(num("rounds", 0) or 0)
    p99_target = num("p99_target_us", 10000.0)
    ratio_target = num("ratio_target", 3.5)
    print("creates, every round (burnlink on a fresh server, then SnapPass under the same load):")
    print(f"{'round':>5} {'burnlink':>10} {'p50':>8} {'p99':>8} {'max':>8} {'SnapPass':>10} {'p99':>8} {'max':>8} {'ratio':>6}  flags")
    p99_misses, ratio_misses, measured = [], [], 0
    for n in range(1, rounds + 1):
        c, sp = f"create{n}", f"snappass{n}"
        create, snap, p99 = num(c + "_rate"), num(sp + "_rate"), num(c + "_p99_us")
        ratio = create / snap if create is not None and snap else None
        flags = []
        if create is not None:
            measured += 1
            if p99 is None or p99 > p99_target:
                flags.append(f"p99 over {p99_target / 1000:g} ms")
                p99_misses.append(n)
        if ratio is None or ratio < ratio_target:
            flags.append(f"under {ratio_target:g}x SnapPass")
            ratio_misses.append(n)
        ratio_text = "n/a" if ratio is None else f"{ratio:.2f}x"
        print(
            f"{n:>5} {rate(c + '_rate'):>10} {ms(c + '_p50_us'):>8} {ms(c + '_p99_us'):>8} {ms(c + '_max_us'):>8}"
            f" {rate(sp + '_rate'):>10} {ms(sp + '_p99_us'):>8} {ms(sp + '_max_us'):>8} {ratio_text:>6}  {', '.join(flags)}"
        )
    print(f"{'claims (last round server, each id once)':<{width}} {rate('claim_rate'):>10}  p50 {ms('claim_p50_us')}, p99 {ms('claim_p99_us')}, max {ms('claim_max_us')}")
    print("-" * 78)
    details = [(f"create{n}", f"creates, round {n}") for n in range(1, rounds + 1)]
    details += [("claim", "claims")] + [(f"snappass{n}", f"SnapPass, round {n}") for n in range(1, rounds + 1)]
    for key, label in details:
        detail = r.get(key + "_detail")
        if detail:
            print(f"{label}: {detail}")
        cpu = r.get(key + "_cpu")
        if cpu:
            print(f"  cpu: {cpu}")
        busiest = r.get(key + "_threads")
        if busiest:
            print(f"  busiest server threads: {busiest}")
        disk = r.get(key + "_disk")
        if disk:
            print(f"  disk: {disk}")
        fs = r.get(key + "_fsync")
        if fs:
            print(f"  fsync: {fs}")
    print("-" * 78)
    idle, peak_sampled, hwm = num("rss_idle_kib"), num("rss_peak_sampled_kib"), num("rss_hwm_kib")
    print(f"RSS idle (after one 1 KiB create+claim)   {mib(idle)}")
    print(f"RSS peak, sampled every 50 ms              {mib(peak_sampled)}  ({r.get('rss_samples', '?')} samples)")
    print(f"RSS peak, kernel high-water mark (VmHWM)   {mib(hwm)}")
    growth = None
    if idle is not None and (peak_sampled is not None or hwm is not None):
        growth = max(v for v in (peak_sampled, hwm) if v is not None) - idle
    print(f"RSS growth for a {r.get('big_size', '?')}-byte upload + claim  {mib(growth)}")
    if r.get("rss_detail"):
        print(f"  {r['rss_detail']}")
    print("-" * 78)
    if measured:
        verdict = "MET" if not p99_misses else f"NOT MET (rounds {', '.join(map(str, p99_misses))})"
        print(f"target create p99 <= {p99_target / 1000:g} ms in every round: {verdict}")
        verdict = "MET" if not ratio_misses else f"NOT MET (rounds {', '.join(map(str, ratio_misses))})"
        print(f"target creates >= {ratio_target:g}x SnapPass in every round: {verdict}")
    else:
        print("create targets: not measured")
    if growth is not None:
        verdict = "MET" if growth < 64 * 1024 else "NOT MET"
        print(f"target RSS growth < 64 MiB: {growth / 1024:.1f} MiB  -> {verdict}")
    else:
        print("target RSS growth < 64 MiB: not measured")
    notes = r.get("notes", "").strip()
    if notes:
        print(f"notes: {notes}")
    problems = r.get("problems", "").strip()
    print(f"problems: {problems if problems else 'none'}")
    print("=" * 78)


def usage(device: str, *pids: str) -> None:
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a process that ended; its time is gone with it
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    with open(f"/sys/class/block/{device}/stat") as f:
        stat = [int(v) for v in f.read().split()]
    # Fields (Documentation/block/stat.rst): 4 write I/Os, 6 sectors written (512 bytes),
    # 14 flush requests (kernels from 5.5).
    flushes = stat[15] if len(stat) > 15 else 0
    print(f"{ticks / os.sysconf('SC_CLK_TCK'):.2f} {stat[4]} {stat[6] * 512} {flushes}")


def histogram(path: str, name: str) -> None:
    values = {"count": "0", "sum": "0"}
    with open(path) as f:
        for line in f:
            for part in values:
                if line.startswith(f"{name}_{part} "):
                    values[part] = line.split()[1]
    print(values["count"], values["sum"])


def main() -> None:
    commands = {
        "free-port": free_port,
        "token": token,
        "alnum": alnum,
        "metrics-counts": print_metrics_counts,
        "metrics-diff": metrics_diff,
        "rss-sample": rss_sample,
        "threads": threads,
        "threads-diff": threads_diff,
        "summary": summary,
        "usage": usage,
        "histogram": histogram,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    commands[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
