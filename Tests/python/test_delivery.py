"""Delivery that never loses a secret (docs/http-api.md section 3.3.1), end to end: the real
`burnlink` CLI opens links through a proxy that cuts the download (cutting_proxy.py), in
front of the real server on a real SQLite file.

- 20+ cuts of one 50 MiB download, at offsets inside the status line, the HTTP headers,
  the envelope header, near chunk boundaries and at random: one run of `burnlink open`
  resumes after each, the file is byte-identical, and the receipt says delivered.
- A cut followed by a dead network: the run gives up, says the secret is held and exits 6,
  leaving no file; another client with the same link is told it is gone; re-running the
  same command resumes, and the receipt says delivered.
- Ctrl-C in the middle of a download: exit 130, no partial file, the re-run delivers.
- A claim session whose window runs out: the re-run is gone (exit 3), `status` and
  `status --wait` exit 8 ("lost on the way"), and no byte of the ciphertext is left in the
  database files.

    python3 -m pytest -q Tests/python/test_delivery.py
"""

import json
import os
import random
import select
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from cutting_proxy import CuttingProxy
from server_process import CLI, Server, wait_until

SEED = int(os.environ.get("DELIVERY_SEED", str(int(time.time()))))
CHUNK = 65_536 + 16            # one sealed envelope chunk (docs/format.md section 3.3)


@pytest.fixture
def world(tmp_path):
    servers = []

    class World:
        def server(self, *arguments):
            server = Server(tmp_path / "data" / "burnlink.sqlite", *arguments)
            servers.append(server)
            return server

        def machine(self, name):
            """An environment of its own: another recipient's machine has another state directory."""
            home = tmp_path / name
            (home / "config").mkdir(parents=True, exist_ok=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("BURNLINK_")}
            env.update(XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"), HOME=str(home))
            return env

    yield World()
    for server in servers:
        server.stop()


def send(server, env, payload, tmp_path, name="secret.bin"):
    source = tmp_path / name
    source.write_bytes(payload)
    receipt = tmp_path / (name + ".receipt")
    result = subprocess.run([str(CLI), "send", "--server", server.url, "--receipt-file", str(receipt), str(source)],
                            env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().strip(), receipt


def through(link, proxy):
    """The same link, with the proxy's port (or a port) in place of the server's."""
    port = proxy if isinstance(proxy, int) else proxy.port
    prefix, rest = link.split("//", 1)
    authority, path = rest.split("/", 1)
    return f"{prefix}//127.0.0.1:{port}/{path}"


def open_link(link, env, output, timeout=120):
    return subprocess.run([str(CLI), "open", "--yes", "--output", str(output), link],
                          env=env, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_opens(link, env, payload):
    """The secret is still there: `open` to standard output delivers it."""
    opened = subprocess.run([str(CLI), "open", "--yes", link], env=env, capture_output=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert opened.returncode == 0, opened.stderr.decode()
    assert opened.stdout == payload


def receipt_of(receipt, env, *extra):
    result = subprocess.run([str(CLI), "status", "--json", "--receipt-file", str(receipt), *extra],
                            env=env, capture_output=True, timeout=120)
    return result.returncode, json.loads(result.stdout.decode()) if result.stdout.strip() else None


def leftovers(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.name.endswith(".part"))


def test_twenty_cuts_of_one_download_resume_in_one_run(world, tmp_path):
    rng = random.Random(SEED)
    server = world.server()
    env = world.machine("recipient")
    payload = rng.randbytes(50 << 20)
    link, receipt = send(server, env, payload, tmp_path)
    # Offsets from the start of each envelope response (status line included): its first
    # bytes, its headers, the envelope header (27 bytes after a ~200-byte HTTP header),
    # around the boundaries of sealed chunks, and at random. Each resumed response is cut
    # again, so together they must stay well inside 50 MiB.
    cuts = [1, 17, 90, 180, 230, 260, 300]
    cuts += [k * CHUNK + delta for k, delta in ((1, 200), (3, 240), (7, 260), (16, 230))]
    cuts += [rng.randrange(1, 2 << 20) for _ in range(12)]
    proxy = CuttingProxy(server.port, cuts)
    try:
        output = tmp_path / "out" / "opened.bin"
        output.parent.mkdir()
        result = open_link(through(link, proxy), env, output, timeout=300)
        assert result.returncode == 0, result.stderr.decode()
        assert proxy.cut_count == len(cuts) >= 20
        assert output.read_bytes() == payload
        assert leftovers(output.parent) == []
    finally:
        proxy.close()
    code, state = receipt_of(receipt, env)
    assert code == 0
    assert [view["delivery"] for view in state["views"]] == ["delivered"]
    # The session is over: nothing is kept for a re-run.
    assert not any((tmp_path / "recipient" / "state" / "burnlink" / "sessions").glob("*.json"))


@pytest.mark.parametrize("cut", [120, 27 + 3 * CHUNK + 230, "random"])
def test_a_dead_network_holds_the_secret_for_a_rerun(world, tmp_path, cut):
    rng = random.Random(SEED)
    server = world.server()
    env = world.machine("recipient")
    payload = rng.randbytes(4 << 20)
    link, receipt = send(server, env, payload, tmp_path)
    offset = rng.randrange(1, len(payload)) if cut == "random" else cut
    proxy = CuttingProxy(server.port, [offset], down_after_cut=True)
    output = tmp_path / "out" / "opened.bin"
    output.parent.mkdir()
    try:
        linked = through(link, proxy)
        failed = open_link(linked, env, output)
        stderr = failed.stderr.decode()
        assert failed.returncode == 6, stderr
        assert "held for you until" in stderr and "run the same command again" in stderr
        assert not output.exists() and leftovers(output.parent) == []
        code, state = receipt_of(receipt, env)
        assert [view["delivery"] for view in state["views"]] == ["pending"]

        # Someone else with the link, on another machine: gone, like any used secret.
        other = open_link(link, world.machine("someone-else"), tmp_path / "other.bin")
        assert other.returncode == 3, other.stderr.decode()

        proxy.down = False
        again = open_link(linked, env, output)
        assert again.returncode == 0, again.stderr.decode()
        assert output.read_bytes() == payload
    finally:
        proxy.close()
    code, state = receipt_of(receipt, env)
    assert code == 0
    assert [view["delivery"] for view in state["views"]] == ["delivered"]


def test_a_server_that_cannot_be_reached_fails_at_once_and_the_rerun_opens(world, tmp_path):
    """`open` claims at once when it has nothing to ask: a refused connection must fail at
    once (the claim never left), say nothing of a held secret, and leave nothing in the way
    of the open that follows once the server is back."""
    server = world.server()
    env = world.machine("recipient")
    payload = random.Random(SEED).randbytes(1024)
    link, receipt = send(server, env, payload, tmp_path)
    port = server.port
    server.stop()

    def open_to_pipe():
        started = time.monotonic()
        result = subprocess.run([str(CLI), "open", "--yes", link], env=env, capture_output=True,
                                timeout=60, stdin=subprocess.DEVNULL)
        return result, time.monotonic() - started

    for _ in range(2):
        failed, took = open_to_pipe()
        stderr = failed.stderr.decode()
        assert failed.returncode == 6, stderr
        assert "cannot reach" in stderr and "held" not in stderr, stderr
        assert took < 4, f"{took:.1f} s: retried a claim that never left"
        assert failed.stdout == b""
    # The session record stays, in case the claim did leave; the open below clears it.
    sessions = tmp_path / "recipient" / "state" / "burnlink" / "sessions"
    assert len(list(sessions.glob("*.json"))) == 1

    world.server("--port", str(port))
    opened, _ = open_to_pipe()
    assert opened.returncode == 0, opened.stderr.decode()
    assert opened.stdout == payload
    code, state = receipt_of(receipt, env)
    assert code == 0
    assert [view["delivery"] for view in state["views"]] == ["delivered"]
    assert not any(sessions.glob("*.json"))


def test_ctrl_c_before_the_claim_is_answered_does_not_claim_the_secret_is_held(world, tmp_path):
    """Interrupted while its claim waits for an answer, `open` cannot know whether the server
    granted it: the hint says so rather than that the secret is held, and the open that
    follows against the real server delivers."""
    server = world.server()
    env = world.machine("recipient")
    payload = random.Random(SEED).randbytes(1024)
    link, receipt = send(server, env, payload, tmp_path)

    silent = socket.create_server(("127.0.0.1", 0))
    received = []

    def take_and_keep():
        connection, _ = silent.accept()
        received.append(connection.recv(65536))
        received.append(connection)  # held open, never answered

    taker = threading.Thread(target=take_and_keep, daemon=True)
    taker.start()
    try:
        process = subprocess.Popen([str(CLI), "open", "--yes", through(link, silent.getsockname()[1])],
                                   env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Interrupt once the claim has arrived at the silent server.
        assert wait_until(lambda: len(received) == 2, timeout=60)
        assert received[0].startswith(b"POST ") and b"/claim" in received[0].split(b"\r\n", 1)[0]
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr.decode()
        assert stdout == b""
        assert "if the claim reached the server, the secret is held for you" in stderr.decode(), stderr.decode()
        assert "held for you until" not in stderr.decode()
    finally:
        for item in received[1:]:
            item.close()
        silent.close()

    assert_opens(link, env, payload)
    code, state = receipt_of(receipt, env)
    assert code == 0
    assert [view["delivery"] for view in state["views"]] == ["delivered"]


@pytest.mark.parametrize("target", ["--output", "stdout"])
def test_ctrl_c_between_the_output_and_its_confirm_says_the_secret_was_written(world, tmp_path, target):
    """Interrupted after the secret is in its file but before the server heard so, `open`
    says it was written out (not that nothing was kept), and that the server still holds
    it; the receipt is not "delivered" until an open confirms. `--force` is mentioned only
    for an --output file, which a second open into it needs."""
    server = world.server()
    env = world.machine("recipient")
    payload = random.Random(SEED).randbytes(4096)
    link, receipt = send(server, env, payload, tmp_path)
    proxy = CuttingProxy(server.port, hold_confirms=True)
    output = tmp_path / "out.bin"
    where = ["--output", str(output)] if target == "--output" else []
    process = None
    try:
        process = subprocess.Popen([str(CLI), "open", "--yes", *where, through(link, proxy)],
                                   env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert wait_until(lambda: proxy.held_confirms >= 1, timeout=60)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        message = stderr.decode()
        assert process.returncode == 130, message
        assert "interrupted after the secret was written out, before its delivery was confirmed" in message, message
        assert "the server still holds it until" in message, message
        assert "nothing of the secret was kept" not in message, message
        if target == "--output":
            assert "opening the link again fetches it again (--force to replace the file)" in message, message
            assert output.read_bytes() == payload
        else:
            assert "opening the link again fetches it again\n" in message, message
            assert "--force" not in message, message
            assert stdout == payload
        code, state = receipt_of(receipt, env)
        assert [view["delivery"] for view in state["views"]] == ["pending"], state

        # The same link (its session is recorded for the server the link names), as the hint
        # says; confirms let through now.
        proxy.hold_confirms = False
        if target == "--output":
            refused = open_link(through(link, proxy), env, output)
            assert refused.returncode == 2 and "already exists" in refused.stderr.decode(), refused.stderr.decode()
            where = ["--force", *where]
        again = subprocess.run([str(CLI), "open", "--yes", *where, through(link, proxy)],
                               env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
        proxy.close()
    assert again.returncode == 0, again.stderr.decode()
    if target == "--output":
        assert output.read_bytes() == payload
    else:
        assert again.stdout == payload
    code, state = receipt_of(receipt, env)
    assert code == 0
    assert [view["delivery"] for view in state["views"]] == ["delivered"]


def test_a_claim_session_record_that_cannot_be_written_claims_nothing(world, tmp_path):
    """A file size limit of 0 (as a full disk would) lets the session record be created but
    not written: `open` must not claim, since no re-run could resume that claim. It says
    why, leaves no empty record, and an open that can write its record delivers."""
    server = world.server()
    env = world.machine("recipient")
    payload = random.Random(SEED).randbytes(1024)
    link, receipt = send(server, env, payload, tmp_path)

    # The limit set by a shell in the child (preexec_fn is not safe beside the server's log
    # threads).
    refused = subprocess.run(["sh", "-c", 'ulimit -f 0 && exec "$@"', "sh", str(CLI), "open", "--yes", link],
                             env=env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    message = refused.stderr.decode()
    assert refused.returncode == 1, message
    assert "cannot record the claim session" in message and "nothing was claimed" in message, message
    assert "held for you" not in message, message
    assert refused.stdout == b""
    sessions = Path(env["XDG_STATE_HOME"]) / "burnlink" / "sessions"
    assert not any(sessions.glob("*.json"))
    code, state = receipt_of(receipt, env)
    assert state["views"] == [], state

    assert_opens(link, env, payload)


def test_no_place_for_the_claim_record_claims_nothing(world, tmp_path):
    """Neither XDG_STATE_HOME nor HOME gives an absolute path: there is nowhere to record the
    claim for a re-run, so `open` claims nothing and says so; with a home it delivers."""
    server = world.server()
    env = world.machine("recipient")
    payload = random.Random(SEED).randbytes(1024)
    link, receipt = send(server, env, payload, tmp_path)
    homeless = {k: v for k, v in env.items() if k not in ("HOME", "XDG_STATE_HOME")}
    homeless["HOME"] = "relative/home"
    refused = subprocess.run([str(CLI), "open", "--yes", link], env=homeless, capture_output=True, timeout=60,
                             stdin=subprocess.DEVNULL)
    message = refused.stderr.decode()
    assert refused.returncode == 2, message
    assert "nothing was claimed: no place to record the claim" in message, message
    assert refused.stdout == b""
    code, state = receipt_of(receipt, env)
    assert state["views"] == [], state

    assert_opens(link, env, payload)


def test_a_non_blocking_standard_output_with_a_slow_reader_gets_every_byte(world, tmp_path):
    """Standard output is a pipe that the reader's side made non-blocking (a flag the
    open shares): a full pipe answers EAGAIN, and `open` waits for room as a blocking write
    would, instead of failing part-way."""
    server = world.server()
    env = world.machine("recipient")
    payload = random.Random(SEED).randbytes(300_000)
    link, receipt = send(server, env, payload, tmp_path)
    reader, writer = os.pipe()
    os.set_blocking(writer, False)
    process = subprocess.Popen([str(CLI), "open", "--yes", link], env=env, stdin=subprocess.DEVNULL,
                               stdout=writer, stderr=subprocess.PIPE)
    os.close(writer)
    received = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([reader], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(reader, 4096)
            if not chunk:
                break
            received += chunk
            time.sleep(0.001)
        assert process.wait(timeout=max(1.0, deadline - time.monotonic())) == 0, process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
        os.close(reader)
    assert received == payload
    code, state = receipt_of(receipt, env)
    assert [view["delivery"] for view in state["views"]] == ["delivered"]


@pytest.mark.parametrize("to_file", [False, True])
def test_a_gateway_timeout_after_a_granted_claim_loses_nothing(world, tmp_path, to_file):
    """A proxy in front of the server answers 504 to a claim the server has granted: the
    answer is not the claim's, so the run asks the session it chose and delivers."""
    server = world.server()
    env = world.machine("recipient")
    payload = random.Random(SEED).randbytes(200_000)
    link, receipt = send(server, env, payload, tmp_path)
    proxy = CuttingProxy(server.port, claim_timeouts=1)
    try:
        if to_file:  # reads the metadata first, then claims
            output = tmp_path / "opened.bin"
            opened = open_link(through(link, proxy), env, output)
            assert opened.returncode == 0, opened.stderr.decode()
            assert output.read_bytes() == payload
        else:  # claims at once
            opened = subprocess.run([str(CLI), "open", "--yes", through(link, proxy)], env=env,
                                    capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
            assert opened.returncode == 0, opened.stderr.decode()
            assert opened.stdout == payload
        assert proxy.claim_timeouts == 0
    finally:
        proxy.close()
    code, state = receipt_of(receipt, env)
    assert code == 0
    assert [view["delivery"] for view in state["views"]] == ["delivered"]


def test_ctrl_c_mid_download_leaves_nothing_and_the_rerun_delivers(world, tmp_path):
    server = world.server()
    env = world.machine("recipient")
    payload = random.Random(SEED).randbytes(8 << 20)
    link, receipt = send(server, env, payload, tmp_path)
    proxy = CuttingProxy(server.port, delay=0.02)     # about 3 MB/s: long enough to interrupt
    output = tmp_path / "out" / "opened.bin"
    output.parent.mkdir()
    try:
        process = subprocess.Popen([str(CLI), "open", "--yes", "--output", str(output), through(link, proxy)],
                                   env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Interrupt once plaintext is being written (the temporary file exists).
        assert wait_until(lambda: leftovers(output.parent) != [], timeout=60)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr.decode()
        assert "held for you until" in stderr.decode()
        assert leftovers(output.parent) == [] and not output.exists()

        proxy.delay = 0
        again = open_link(through(link, proxy), env, output)
        assert again.returncode == 0, again.stderr.decode()
        assert output.read_bytes() == payload
    finally:
        proxy.close()
    code, state = receipt_of(receipt, env)
    assert code == 0 and [view["delivery"] for view in state["views"]] == ["delivered"]


def test_a_window_that_runs_out_destroys_the_secret_and_the_receipt_says_so(world, tmp_path):
    server = world.server("--claim-window", "3s", "--sweep-interval", "200ms")
    env = world.machine("recipient")
    payload = random.Random(SEED).randbytes(3 << 20)      # kept in the chunk file
    link, receipt = send(server, env, payload, tmp_path)
    proxy = CuttingProxy(server.port, [1 << 20], down_after_cut=True)
    waiter = subprocess.Popen([str(CLI), "status", "--wait", "--timeout", "60", "--receipt-file", str(receipt)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        failed = open_link(through(link, proxy), env, tmp_path / "opened.bin")
        assert failed.returncode == 6, failed.stderr.decode()
    finally:
        proxy.close()
    response = bytes(proxy.recorded[0])
    envelope = response[response.index(b"\r\n\r\n") + 4:]
    assert len(envelope) > 512 << 10
    # status --wait returns once the window has run out, with its own code.
    stdout, stderr = waiter.communicate(timeout=60)
    assert waiter.returncode == 8, stderr.decode()
    assert "not confirmed" in stdout.decode() and "lost on the way" in stderr.decode()

    rerun = open_link(link, env, tmp_path / "opened.bin")
    assert rerun.returncode == 3, rerun.stderr.decode()
    assert not (tmp_path / "opened.bin").exists()
    assert not any((tmp_path / "recipient" / "state" / "burnlink" / "sessions").glob("*.json"))
    code, state = receipt_of(receipt, env)
    assert code == 8
    assert [view["delivery"] for view in state["views"]] == ["unconfirmed"]

    # The sweeper has destroyed the ciphertext: once SQLite's logs are folded into the files,
    # no piece of the envelope is anywhere in them.
    database = tmp_path / "data" / "burnlink.sqlite"
    assert wait_until(lambda: metric(server, "burnlink_deliveries_unconfirmed_total") >= 1, timeout=10)
    server.stop()
    for path in (database,):
        if path.exists():
            connection = sqlite3.connect(path)
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.close()
    for path in database.parent.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for start in range(1024, len(envelope) - 64, 256 << 10):
            assert envelope[start:start + 64] not in data, f"ciphertext left in {path.name}"


def metric(server, name):
    text = urllib.request.urlopen(server.url + "/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0



def test_a_file_size_limit_or_a_full_device_mid_download_holds_the_secret(world, tmp_path):
    """Failures of the output after the claim: `ulimit -f` (EFBIG) on a file, and standard
    output on /dev/full (ENOSPC). Nothing partial is left, the secret is held, and re-running
    with an output that works delivers it."""
    import resource
    server = world.server()
    env = world.machine("recipient")
    payload = random.Random(SEED).randbytes(4 << 20)
    link, receipt = send(server, env, payload, tmp_path)
    output = tmp_path / "out" / "opened.bin"
    output.parent.mkdir()

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    limited = subprocess.run([str(CLI), "open", "--yes", "--output", str(output), link], env=env,
                             capture_output=True, timeout=120, stdin=subprocess.DEVNULL, preexec_fn=limit_file_size)
    stderr = limited.stderr.decode()
    assert limited.returncode == 1, stderr
    assert "held for you until" in stderr and "another --output" in stderr, stderr
    assert not output.exists() and leftovers(output.parent) == []

    with open("/dev/full", "wb") as full:
        to_full = subprocess.run([str(CLI), "open", "--yes", link], env=env, stdout=full, stderr=subprocess.PIPE,
                                 timeout=120, stdin=subprocess.DEVNULL)
    assert to_full.returncode == 1, to_full.stderr.decode()
    assert "held for you until" in to_full.stderr.decode()

    again = open_link(link, env, output)
    assert again.returncode == 0, again.stderr.decode()
    assert output.read_bytes() == payload
    code, state = receipt_of(receipt, env)
    assert code == 0 and [view["delivery"] for view in state["views"]] == ["delivered"]
