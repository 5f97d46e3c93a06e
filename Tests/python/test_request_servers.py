"""The requester's CLI against servers that are not (or no longer) what it expects: a proxy
that answers 404 with its own page, a server that does not hold long-polls, a hostile
server whose note tries to write to the filler's terminal. The real `burnlink` binary; the
servers are small stand-ins written here, since the point is what the CLI does with them.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import nacl.bindings as sodium
import pytest

from server_process import CLI

REFERENCE_DATE = 978307200  # Foundation's dates count from 2001-01-01


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hkdf(ikm, info):
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


class StandIn:
    """A local HTTP server whose every answer comes from `respond(handler)`; counts requests."""

    def __init__(self, respond):
        self.requests = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                stand_in.requests.append(("GET", self.path))
                respond(self)

            def do_POST(self):
                stand_in.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                respond(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def answer(handler, status, body, content_type="application/json; charset=utf-8"):
    data = body.encode() if isinstance(body, str) else body
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


def run(args, home, stdin=b"", timeout=60):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run([str(CLI), *args], input=stdin, capture_output=True, env=env, timeout=timeout)


def saved_request(home, server_url, expires_in=86400):
    """A request as `burnlink request` saves it, for a server the test controls."""
    sk = os.urandom(32)
    pk = sodium.crypto_scalarmult_base(sk)
    request_id = b64u(os.urandom(16))
    link = f"{server_url}/r/{request_id}#{b64u(pk)}"
    directory = home / ".local" / "state" / "burnlink" / "requests"
    directory.mkdir(parents=True, mode=0o700, exist_ok=True)
    for parent in (directory.parent, directory.parent.parent):
        parent.chmod(0o700)
    now = time.time() - REFERENCE_DATE
    path = directory / f"{request_id}.json"
    path.write_text(json.dumps({
        "link": link, "secret_key": b64u(sk), "note": "a note",
        "created_at": now, "expires_at": now + expires_in,
    }))
    path.chmod(0o600)
    return link, path, pk, sk


def test_a_404_that_is_not_burnlinks_keeps_the_private_key(home):
    """A proxy that does not route the request paths must not make the CLI throw the key away."""
    proxy = StandIn(lambda h: answer(h, 404, "<html><body>nginx: 404 Not Found</body></html>", "text/html"))
    try:
        link, path, _, _ = saved_request(home, proxy.url)
        listed = run(["request", "--list"], home)
        assert listed.returncode == 0, listed.stderr
        assert b"unknown" in listed.stdout and b"gone" not in listed.stdout, listed.stdout
        assert path.exists(), "--list forgot a key on a 404 that was not burnlink's"

        opened = run(["open", "--timeout", "2"], home, stdin=(link + "\n").encode())
        assert opened.returncode == 6, opened.stderr
        assert path.exists(), "open forgot a key on a 404 that was not burnlink's"
    finally:
        proxy.close()


def test_burnlinks_own_404_forgets_the_key_only_once_the_request_is_over(home):
    gone = StandIn(lambda h: answer(h, 404, '{"error":"not_found","message":"no such request"}'))
    try:
        _, fresh, _, _ = saved_request(home, gone.url)
        listed = run(["request", "--list"], home)
        assert b"gone" in listed.stdout, listed.stdout
        assert fresh.exists(), "a request not yet past its own expiry is kept (the server may come back)"
        fresh.unlink()
        _, over, _, _ = saved_request(home, gone.url, expires_in=-60)
        listed = run(["request", "--list"], home)
        assert b"gone" in listed.stdout, listed.stdout
        assert not over.exists(), "a gone request past its expiry is forgotten"
    finally:
        gone.close()


def test_a_server_that_answers_polls_at_once_is_not_hammered(home):
    """The wait loop keeps to about one poll a second when the server does not hold it."""
    def open_request(h):
        answer(h, 200, json.dumps({
            "state": "open", "expires_at": "2099-01-01T00:00:00Z", "answered_at": None,
            "secret_id": None, "sealed_key": None}))
    server = StandIn(open_request)
    try:
        link, path, _, _ = saved_request(home, server.url)
        started = time.monotonic()
        waited = run(["open", "--timeout", "3"], home, stdin=(link + "\n").encode())
        elapsed = time.monotonic() - started
        assert waited.returncode == 7, waited.stderr
        polls = [r for r in server.requests if r[1].startswith("/api/v1/requests/")]
        assert len(polls) <= elapsed + 2, f"{len(polls)} polls in {elapsed:.1f} s"
        assert path.exists()
    finally:
        server.close()


def test_a_hostile_note_cannot_write_lines_or_escapes_to_the_fillers_terminal(home):
    note = "prod password\nburnlink: error: FAKE \x1b[2J\u2028also\u202efdp.exe"

    def request_view(h):
        if h.command == "GET":
            answer(h, 200, json.dumps({
                "note": note, "expires_at": "2099-01-01T00:00:00Z", "answered": False, "max_size": 1 << 20}))
        else:
            answer(h, 503, '{"error":"unavailable","message":"down"}')
    server = StandIn(request_view)
    try:
        pk = sodium.crypto_scalarmult_base(os.urandom(32))
        link = f"{server.url}/r/{b64u(os.urandom(16))}#{b64u(pk)}"
        sent = run(["send", "--to", link], home, stdin=b"secret")
        assert sent.returncode == 6, sent.stderr
        err = sent.stderr.decode()
        assert "\x1b" not in err and "\u2028" not in err and "\u202e" not in err, repr(err)
        lines = [line for line in err.split("\n") if line.startswith("burnlink: error:")]
        assert len(lines) == 1 and "FAKE" not in lines[0], repr(err)
        assert "\\x0a" in err or "\\n" in err, repr(err)
    finally:
        server.close()
