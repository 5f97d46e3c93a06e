"""Crash safety: the real burnlink-server on a real SQLite file is SIGKILLed at random
moments while client threads create and claim secrets, 20 times, and restarted each time.

After every restart, for every create that was answered 201:
  - it is still readable, with views_left matching the claims that may have happened, or
    it is gone only because every view was (possibly) used: nothing answered 201 is lost;
  - no claim was ever answered 200 more often than the secret's views allow (a one-view
    secret was never returned twice), and every 200 body is the uploaded envelope.
In some rounds the kill lands while the real `burnlink open` is streaming a large claim
through a slow relay: the CLI must give up with the claim held for a re-run (exit 6) and
leave no file; after the next restart the same command, run again, must deliver the
exact bytes (claim sessions outlive the server process).
Some creates are over 1 MiB, so that kills also land in uploads kept in chunk files: after
every restart each readable secret kept in chunk files has its file, and every chunk file
belongs to a secret row that still counts its bytes (none left by a cut upload).
At the end every secret still readable is claimed until it is gone.

    python3 -m pytest -q Tests/python/test_crash_safety.py
    CRASH_SEED=123 python3 -m pytest -q Tests/python/test_crash_safety.py
"""

import base64
import hashlib
import http.client
import json
import os
import random
import socket
import sqlite3
import subprocess
import threading
import time

from server_process import CLI, Server, wait_until

ROUNDS = 20
CLIENTS = 4
CUT_STREAM_EVERY = 4            # rounds 0, 4, 8, ... cut a CLI claim stream
CUT_SECRET_BYTES = 16 << 20     # far more than loopback socket buffers hold
LARGE_CREATE_EVERY = 25         # about one create in 25 is over 1 MiB: kept in a chunk file
SEED = int(os.environ.get("CRASH_SEED", str(int(time.time()))))


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Secret:
    """A create answered 201, and what clients know about its claims."""

    def __init__(self, id, token, body, max_views):
        self.id = id
        self.token = token
        self.body = body
        self.max_views = max_views
        self.confirmed = 0      # claims answered 200 with the whole envelope
        self.uncertain = 0      # claims whose answer was lost to a kill
        self.in_flight = False
        self.gone = False


class World:
    def __init__(self):
        self.lock = threading.Lock()
        self.secrets = []
        self.violations = []
        self.url = None
        self.stats = {"created": 0, "claimed": 0, "lost_answers": 0}

    def violation(self, text):
        with self.lock:
            self.violations.append(text)


def request(url, method, path, headers=None, body=None, timeout=10):
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def create(world, rng):
    token = os.urandom(32)
    large = rng.randrange(LARGE_CREATE_EVERY) == 0
    body = os.urandom(rng.randint(1 << 20, 3 << 20) if large else rng.randint(1, 200_000))
    max_views = rng.choice([1, 1, 2])
    headers = {
        "Burnlink-Claim-Verifier": b64u(hashlib.sha256(token).digest()),
        "Burnlink-Max-Views": str(max_views),
        "Burnlink-Expires-In": "86400",
        "Content-Type": "application/octet-stream",
    }
    status, _, answer = request(world.url, "POST", "/api/v1/secrets", headers, body)
    if status != 201:
        world.violation(f"create answered {status}")
        return
    id = json.loads(answer)["id"]
    with world.lock:
        world.secrets.append(Secret(id, token, body, max_views))
        world.stats["created"] += 1


def claim(world, rng):
    with world.lock:
        open_secrets = [s for s in world.secrets if not s.gone and not s.in_flight]
        if not open_secrets:
            return
        secret = rng.choice(open_secrets)
        secret.in_flight = True
    try:
        try:
            status, _, body = request(world.url, "POST", f"/api/v1/secrets/{secret.id}/claim",
                                      {"Authorization": "Bearer " + b64u(secret.token)})
        except ConnectionRefusedError:
            raise  # nothing was sent: the server is down between a kill and its restart
        except (OSError, http.client.HTTPException):
            # The answer was lost: the claim may or may not have used a view.
            with world.lock:
                secret.uncertain += 1
                world.stats["lost_answers"] += 1
            raise
        with world.lock:
            if status == 200:
                secret.confirmed += 1
                world.stats["claimed"] += 1
                if body != secret.body:
                    world.violations.append(f"a claim answered 200 with other bytes ({len(body)} of {len(secret.body)})")
                if secret.confirmed > secret.max_views:
                    world.violations.append(f"claimed {secret.confirmed} times with {secret.max_views} view(s)")
                if secret.confirmed == secret.max_views:
                    secret.gone = True
            elif status == 404:
                if secret.confirmed + secret.uncertain < secret.max_views:
                    world.violations.append("a readable secret answered its claim with 404")
                secret.gone = True
            else:
                world.violations.append(f"claim answered {status}")
    finally:
        secret.in_flight = False


def client(world, seed, stop):
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            (create if rng.random() < 0.6 else claim)(world, rng)
        except (OSError, http.client.HTTPException):
            # The server was killed under this request; wait for the next one.
            stop.wait(0.05)


def check_after_restart(world):
    """Every secret answered 201 is readable exactly as its known claims allow, or used up."""
    for secret in world.secrets:
        if secret.gone and secret.uncertain == 0:
            continue
        status, _, body = request(world.url, "GET", f"/api/v1/secrets/{secret.id}",
                                  {"Authorization": "Bearer " + b64u(secret.token)})
        low, high = secret.confirmed, secret.confirmed + secret.uncertain
        if status == 200:
            metadata = json.loads(body)
            used = secret.max_views - metadata["views_left"]
            if not low <= used <= high:
                world.violation(f"views used {used}, clients saw between {low} and {high}")
            if metadata["size"] != len(secret.body):
                world.violation("stored size differs from the upload")
            secret.confirmed, secret.uncertain, secret.gone = used, 0, False
        elif status == 404:
            if high < secret.max_views:
                world.violation(f"a secret answered 201 is lost ({low}..{high} of {secret.max_views} views used)")
            secret.confirmed, secret.uncertain, secret.gone = secret.max_views, 0, True
        else:
            world.violation(f"metadata answered {status} after a restart")


def check_chunk_files(world, database):
    """Every readable secret kept in chunk files has its file; every file has a secret row
    that still counts its bytes (what a cut upload left was removed at the restart)."""
    directory = database.parent / (database.name + "-chunks.d")
    files = {path.name.upper() for path in directory.iterdir()} if directory.exists() else set()
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT hex(id), state, stored_bytes FROM secret WHERE in_chunk_file = 1").fetchall()
    finally:
        connection.close()
    counted = {id for id, _, stored in rows if stored > 0}
    readable = {id for id, state, _ in rows if state == "active"}
    if readable - files:
        world.violation(f"{len(readable - files)} readable secret(s) without their chunk file")
    if files - counted:
        world.violation(f"{len(files - counted)} chunk file(s) no secret counts")
    world.stats["chunk_files"] = max(world.stats.get("chunk_files", 0), len(readable))


class SlowRelay:
    """A TCP relay that passes a response on slowly, so that a kill lands mid-stream."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.pause = 0.02
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.relayed = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(downstream,), daemon=True).start()

    def _relay(self, downstream):
        upstream = socket.socket()
        # A small receive buffer: the server cannot park the whole envelope in our kernel.
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        try:
            upstream.connect(("127.0.0.1", self.upstream_port))
        except OSError:
            downstream.close()
            return
        threading.Thread(target=self._pump, args=(downstream, upstream, False), daemon=True).start()
        self._pump(upstream, downstream, True)

    def _pump(self, source, target, slow):
        try:
            while data := source.recv(64 << 10):
                target.sendall(data)
                if slow:
                    self.relayed += len(data)
                    time.sleep(self.pause)
        except OSError:
            pass
        finally:
            for s in (source, target):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()


class HeldOpen:
    """An open cut by a kill, to run again once the server is back: through the same relay
    (so the link names the same server for the CLI), now passing on to the new process."""

    def __init__(self, link, env, output, payload, relay):
        self.link, self.env, self.output, self.payload, self.relay = link, env, output, payload, relay

    def rerun(self, server):
        self.relay.upstream_port, self.relay.pause = server.port, 0
        try:
            opening = subprocess.run([str(CLI), "open", "-y", "-o", str(self.output), "-"],
                                     input=self.link.encode() + b"\n", capture_output=True, env=self.env, timeout=120)
        finally:
            self.relay.close()
        if opening.returncode != 0:
            return f"re-running a held open gave exit {opening.returncode}: {opening.stderr.decode(errors='replace').strip()}"
        if self.output.read_bytes() != self.payload:
            return "re-running a held open gave other bytes"
        return None


def cut_claim_stream(server, tmp_path, round):
    """Sends a large secret with the CLI, opens it through a slow relay and kills the server
    mid-stream. Returns (a violation message or None, the held open to re-run)."""
    env = {**os.environ, "BURNLINK_SERVER": server.url, "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    payload = os.urandom(CUT_SECRET_BYTES)
    sent = subprocess.run([str(CLI), "send", "--server", server.url], input=payload,
                          capture_output=True, env=env, timeout=120)
    if sent.returncode != 0:
        return f"burnlink send failed: {sent.stderr.decode(errors='replace')}", None
    link = sent.stdout.decode().strip()
    relay = SlowRelay(server.port)
    relayed_link = link.replace(f":{server.port}/", f":{relay.port}/", 1)
    output = tmp_path / f"opened-{round}"
    opening = subprocess.Popen([str(CLI), "open", "-y", "-o", str(output), "-"], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    opening.stdin.write(relayed_link.encode() + b"\n")
    opening.stdin.close()
    streaming = wait_until(lambda: relay.relayed >= 1 << 20, timeout=60)
    server.kill()
    status = opening.wait(timeout=120)
    error = opening.stderr.read().decode(errors="replace")
    held = HeldOpen(relayed_link, env, output, payload, relay)
    problem = check_cut(streaming, relay, status, error, output, tmp_path)
    if problem:
        relay.close()
        return problem, None
    return None, held


def check_cut(streaming, relay, status, error, output, tmp_path):
    if not streaming:
        return "the claim stream never started"
    if relay.relayed >= CUT_SECRET_BYTES:
        return "the kill did not cut the stream"
    if status != 6 or "held for you until" not in error:
        return f"a cut claim stream gave exit {status}, not 6 with the claim held: {error.strip()}"
    if output.exists() or any(p.name.endswith(".part") for p in tmp_path.iterdir()):
        return "a cut claim stream left a file"
    return None


def test_kill_and_restart_keeps_every_acknowledged_secret(tmp_path):
    print(f"seed {SEED} (CRASH_SEED={SEED} repeats this run)")
    rng = random.Random(SEED)
    database = tmp_path / "burnlink.sqlite"
    world = World()
    kills = cuts = reruns = 0
    held = None
    for round in range(ROUNDS):
        server = Server(database)
        world.url = server.url
        check_after_restart(world)
        check_chunk_files(world, database)
        if held:
            problem = held.rerun(server)
            if problem:
                world.violation(f"round {round}: {problem}")
            held = None
            reruns += 1
        assert not world.violations, f"round {round}: {world.violations}"

        stop = threading.Event()
        clients = [threading.Thread(target=client, args=(world, rng.random(), stop)) for _ in range(CLIENTS)]
        for thread in clients:
            thread.start()
        if round % CUT_STREAM_EVERY == 0:
            problem, held = cut_claim_stream(server, tmp_path, round)
            if problem:
                world.violation(f"round {round}: {problem}")
            cuts += 1
        else:
            time.sleep(rng.uniform(0.2, 1.2))
            server.kill()
        kills += 1
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
        assert not world.violations, f"round {round}: {world.violations}"

    # The last restart: check once more, then claim everything still readable until it is gone.
    server = Server(database)
    world.url = server.url
    try:
        check_after_restart(world)
        for secret in world.secrets:
            if secret.gone:
                continue
            for _ in range(secret.max_views - secret.confirmed):
                status, _, body = request(world.url, "POST", f"/api/v1/secrets/{secret.id}/claim",
                                          {"Authorization": "Bearer " + b64u(secret.token)})
                if status != 200 or body != secret.body:
                    world.violation(f"a readable secret's claim answered {status}")
            status, _, _ = request(world.url, "POST", f"/api/v1/secrets/{secret.id}/claim",
                                   {"Authorization": "Bearer " + b64u(secret.token)})
            if status != 404:
                world.violation(f"a used-up secret answered its claim with {status}")
    finally:
        assert server.stop() == 0
    print(f"kills survived: {kills} (cut CLI claim streams: {cuts}, held opens delivered after a restart: {reruns}); secrets created: {world.stats['created']}, "
          f"claims answered 200: {world.stats['claimed']}, answers lost to kills: {world.stats['lost_answers']}; "
          f"most readable secrets in chunk files after a restart: {world.stats.get('chunk_files', 0)}; "
          f"invariant violations: {len(world.violations)}")
    assert world.stats["created"] > 0 and world.stats["claimed"] > 0
    assert not world.violations, world.violations
    assert reruns == cuts > 0
