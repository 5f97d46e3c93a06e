#!/usr/bin/env python3
"""Builds the libFuzzer targets under Fuzz/ and runs each for a set time.

    python3 Fuzz/run.py --seconds 60            # what `make fuzz` runs
    python3 Fuzz/run.py --seconds 5             # the bounded run in `make test`

Seeds come from Tests/Vectors (written fresh into the scratch folder each run) and from
Fuzz/Regressions/<target>/, where every input that once crashed a target is kept. Prints
executions and seconds per target; exits 1 if any target crashed, leaked or hung.
"""

import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "Tests" / "Vectors"
REGRESSIONS = ROOT / "Fuzz" / "Regressions"
TARGETS = ["link", "envelope", "kdf", "headers"]
BUILD_FLAGS = ["-c", "debug", "-Xswiftc", "-sanitize=fuzzer,address", "-Xswiftc", "-DBURNLINK_FUZZING"]


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vectors():
    """(headers dict, envelope bytes) of every envelope vector file."""
    for path in sorted(VECTORS.glob("envelope-*.vector")):
        data = path.read_bytes()
        head, _, body = data.partition(b"\n\n")
        fields = {}
        for line in head.decode("utf-8").splitlines():
            name, _, value = line.partition(": ")
            fields[name] = value
        yield path.stem, fields, body


def metadata(kind, name=b"", size=None):
    """Inner metadata bytes (docs/format.md section 4), for mode 2 seeds."""
    flags = 0 if size is None else 1
    out = bytes([kind, flags])
    if size is not None:
        out += size.to_bytes(8, "big")
    return out + len(name).to_bytes(2, "big") + name


def seeds(target):
    """name -> bytes: the starting corpus of a target."""
    found = {}
    keys, kdfs, tokens = set(), set(), set()
    for stem, fields, body in vectors():
        keys.add(fields.get("key", ""))
        if "kdf" in fields:
            kdfs.add(fields["kdf"])
        for name in ("claim-token", "password-proof"):
            if name in fields:
                tokens.add(fields[name])
        if target == "envelope":
            mode = b"\x01" if "password" in fields else b"\x00"
            found[stem] = mode + b"\x11" + body  # pieces of 1 << (0x11 % 18) = 131072 bytes
            found[stem + "-bytewise"] = mode + b"\x00" + body[:4096]  # 1-byte pieces
    ids = [b64u(bytes(range(16))), b64u(bytes(16)), b64u(b"\xff" * 16)]
    keys.discard("")
    if target == "link":
        hosts = ["burn.example.com", "127.0.0.1:8080", "[::1]:8080", "localhost:65535"]
        for i, (key, host) in enumerate(zip(sorted(keys) * len(hosts), hosts)):
            for scheme in ("https", "http"):
                found[f"{scheme}-{i}"] = f"{scheme}://{host}/s/{ids[i % len(ids)]}#{key}".encode()
    elif target == "kdf":
        kdfs.add("argon2id13; ops=3; mem=67108864; salt=" + b64u(bytes(16)))
        for i, text in enumerate(sorted(kdfs)):
            found[f"kdf-{i}"] = text.encode()
    elif target == "headers":
        for i, token in enumerate(sorted(tokens)):
            found[f"digest-{i}"] = b"\x00" + token.encode()
            found[f"bearer-{i}"] = b"\x02Bearer " + token.encode()
        for text in ("1", "100", "60", "86400", "604800", "0"):
            found[f"decimal-{text}"] = b"\x01" + text.encode()
        found["forwarded"] = b"\x03203.0.113.9, 192.0.2.7"
    elif target == "envelope":
        found["metadata-text"] = b"\x02\x11" + metadata(0) + b"hunter2"
        found["metadata-text-size"] = b"\x02\x11" + metadata(0, size=7) + b"hunter2"
        found["metadata-file"] = b"\x02\x11" + metadata(1, "db-backup 2026.tar.gz".encode(), 4) + b"data"
        found["metadata-file-unicode"] = b"\x02\x07" + metadata(1, "r\u00e9sum\u00e9.pdf".encode()) + b"%PDF"
        found["one-byte-changed"] = b"\x03\x11\x00\x20\x01correct horse battery staple"
    return found


def build(scratch):
    for target in TARGETS:
        command = ["swift", "build", *BUILD_FLAGS, "--product", f"fuzz-{target}", "--scratch-path", str(scratch)]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        # The gold linker warns once per sanitizer symbol; show only the rest.
        noise = re.compile(r"Cannot export local symbol|unhandled; explicitly declare|CMakeLists\.txt|\.md$")
        output = "\n".join(line for line in (result.stdout + result.stderr).splitlines() if not noise.search(line))
        if result.returncode != 0:
            print(output)
            sys.exit(f"building fuzz-{target} failed")
    return scratch / "debug"


def run(binary_dir, scratch, target, seconds, seed):
    corpus = scratch / "fuzz-corpus" / target
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    for name, data in seeds(target).items():
        (corpus / name).write_bytes(data)
    artifacts = scratch / "fuzz-artifacts"
    artifacts.mkdir(exist_ok=True)
    log = scratch / "fuzz-logs" / f"{target}.log"
    log.parent.mkdir(exist_ok=True)
    regressions = REGRESSIONS / target
    command = [
        str(binary_dir / f"fuzz-{target}"),
        f"-max_total_time={seconds}",
        "-timeout=10",              # one input taking longer is a hang
        "-rss_limit_mb=2048",
        "-max_len=200000",          # the largest vector is 198 KB
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/{target}-",
        f"-seed={seed}",            # 0: libFuzzer picks one (and logs it)
        str(corpus),                # new inputs are written to the first corpus folder only
    ]
    if regressions.is_dir():
        command.append(str(regressions))
    started = time.monotonic()
    with log.open("wb") as out:
        status = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    elapsed = time.monotonic() - started
    text = log.read_text(errors="replace")
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
    return {
        "target": target,
        "status": status,
        "executions": int(runs.group(1)) if runs else 0,
        "seconds": elapsed,
        "corpus": len(list(corpus.iterdir())),
        "log": log,
        "text": text,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "60")))
    parser.add_argument("--scratch", default=str(ROOT / ".build-fuzz"))
    # The smoke run of `make test` passes a fixed seed, so that a run is repeatable; `make
    # fuzz` explores with a new seed each time (libFuzzer prints it in each log).
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("targets", nargs="*", default=TARGETS)
    args = parser.parse_args()
    scratch = Path(args.scratch).resolve()
    binary_dir = build(scratch)
    results = [run(binary_dir, scratch, target, args.seconds, args.seed) for target in args.targets]
    print(f"{'target':<14} {'executions':>12} {'seconds':>8} {'corpus':>7}  result")
    failed = 0
    for r in results:
        ok = r["status"] == 0
        failed += not ok
        print(f"{'fuzz-' + r['target']:<14} {r['executions']:>12} {r['seconds']:>8.1f} {r['corpus']:>7}  "
              + ("ok" if ok else f"FAILED (exit {r['status']}, log {r['log']})"))
        if not ok:
            seed = re.search(r"INFO: Seed: \d+", r["text"])
            print(seed.group(0) if seed else "INFO: no seed in the log")
            print("\n".join(r["text"].splitlines()[-40:]))
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
