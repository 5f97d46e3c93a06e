"""The CI recipes of docs/ci.md, run as written against the real server and CLI.

Each YAML block of the document is parsed; the shell of every GitHub Actions step (`run`)
and GitLab CI job (`script`) runs in bash with the options those systems use, with the
values their `env`/`variables` name (the server, a creator token, a chat webhook) pointing
at local stand-ins. A stand-in "person" reads what the job posts to the webhook and answers
as a person would: opens the link, or answers the request. So the recipes cannot rot.
"""

import json
import os
import re
import secrets
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from server_process import CLI, ROOT, Server

DOC = ROOT / "docs" / "ci.md"


def recipes():
    """(title, system, job) for every job in the document's YAML blocks."""
    text = DOC.read_text()
    found = []
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        title = section.split("\n", 1)[0]
        for block in re.findall(r"```yaml\n(.*?)```", section, flags=re.S):
            document = yaml.safe_load(block)
            if "jobs" in document:
                for job in document["jobs"].values():
                    found.append((title, "github", job))
            else:
                for job in document.values():
                    found.append((title, "gitlab", job))
    return found


def shell_of(system, job):
    """The script as the CI system runs it, and the environment names it declares."""
    if system == "github":
        steps = [step for step in job["steps"] if "run" in step]
        assert len(steps) == 1
        return steps[0]["run"], dict(steps[0].get("env", {}))
    # GitLab runs every line of `script` in one shell session, stopping at the first failure.
    return "\n".join(job["script"]) + "\n", dict(job.get("variables", {}))


class Chat:
    """A chat webhook: keeps each message's text and hands it to `on_message`."""

    def __init__(self, on_message):
        self.messages = []
        chat = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                chat.messages.append(body["text"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                threading.Thread(target=on_message, args=(body["text"],), daemon=True).start()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def world(tmp_path):
    token = secrets.token_hex(32)
    tokens = tmp_path / "creator-tokens"
    import hashlib
    tokens.write_text(hashlib.sha256(token.encode()).hexdigest() + "  ci\n")
    server = Server(tmp_path / "burnlink.sqlite", "--creator-tokens", str(tokens))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "burnlink").symlink_to(CLI)

    class World:
        def environment(self, home, extra=None):
            env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
                   "BURNLINK_SERVER": server.url, "BURNLINK_TOKEN": token}
            env.update(extra or {})
            return env

        def person(self, name):
            home = tmp_path / name
            home.mkdir(exist_ok=True)
            return self.environment(home, {"BURNLINK_TOKEN": ""})

    yield World()
    server.stop()


def run_job(world, tmp_path, system, job, values, chat, script=None):
    script_text, declared = shell_of(system, job)
    script_text = script if script is not None else script_text
    work = tmp_path / f"job-{secrets.token_hex(4)}"
    work.mkdir()
    home = work / "home"
    home.mkdir()
    env = world.environment(home)
    for name in declared:
        if name in values:
            env[name] = values[name]
        elif name not in ("BURNLINK_SERVER", "BURNLINK_TOKEN", "CHAT_WEBHOOK"):
            pytest.fail(f"the recipe declares {name}, which the test does not provide")
    env["CHAT_WEBHOOK"] = chat.url
    for name, value in values.items():
        env.setdefault(name, value)
    shell = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script_text]
    result = subprocess.run(shell, cwd=work, env=env, capture_output=True, timeout=180)
    return result, work


def link_in(text, kind):
    match = re.search(rf"https?://\S+/{kind}/[A-Za-z0-9_-]{{22}}#[A-Za-z0-9_-]{{43}}", text)
    assert match, f"no /{kind}/ link in {text!r}"
    return match.group(0)


HAND_OVER = [r for r in recipes() if r[0].startswith("Hand a credential")]
RECEIVE = [r for r in recipes() if r[0].startswith("Receive a secret")]


def test_the_document_has_both_recipes_for_both_systems():
    assert sorted(system for _, system, _ in HAND_OVER) == ["github", "gitlab"]
    assert sorted(system for _, system, _ in RECEIVE) == ["github", "gitlab"]


@pytest.mark.parametrize("system,job", [(s, j) for _, s, j in HAND_OVER], ids=["github", "gitlab"])
def test_hand_over_succeeds_once_the_person_opened_it(world, tmp_path, system, job):
    password = "db-" + secrets.token_urlsafe(24)
    person = world.person("oncall")
    opened = {}

    def on_message(text):
        link = link_in(text, "s")
        out = tmp_path / "received"
        opened["result"] = subprocess.run([str(CLI), "open", "-q", "-o", str(out), link], env=person,
                                          capture_output=True, timeout=60)
        opened["value"] = out.read_bytes() if out.exists() else None

    chat = Chat(on_message)
    try:
        result, _ = run_job(world, tmp_path, system, job, {"NEW_PASSWORD": password}, chat)
    finally:
        chat.close()
    assert result.returncode == 0, result.stderr.decode()
    assert opened["result"].returncode == 0, opened["result"].stderr.decode()
    assert opened["value"] == password.encode()
    # Neither the password nor the link is in the job's output.
    log = result.stdout + result.stderr
    assert password.encode() not in log and b"/s/" not in log, log


@pytest.mark.parametrize("system,job", [(s, j) for _, s, j in HAND_OVER], ids=["github", "gitlab"])
def test_hand_over_nobody_opens_fails_and_revokes(world, tmp_path, system, job):
    script, _ = shell_of(system, job)
    # The only change to the recipe: a short wait instead of an hour.
    short = re.sub(r"--timeout \d+", "--timeout 3", script)
    assert short != script
    chat = Chat(lambda text: None)
    try:
        result, _ = run_job(world, tmp_path, system, job, {"NEW_PASSWORD": "never read"}, chat, script=short)
    finally:
        chat.close()
    assert result.returncode == 1, result.stderr.decode()
    link = link_in(chat.messages[0], "s")
    late = subprocess.run([str(CLI), "open", "-q", link], env=world.person("late"), capture_output=True, timeout=60)
    assert late.returncode == 3, "the job revoked the secret nobody opened"


@pytest.mark.parametrize("system,job", [(s, j) for _, s, j in RECEIVE], ids=["github", "gitlab"])
def test_receive_gets_the_answer_into_a_private_file(world, tmp_path, system, job):
    passphrase = "correct horse " + secrets.token_hex(8)
    answered = {}

    def on_message(text):
        link = link_in(text, "r")
        answered["result"] = subprocess.run([str(CLI), "send", "-q", "--to", link], input=passphrase.encode(),
                                            env=world.person("release-manager"), capture_output=True, timeout=60)

    chat = Chat(on_message)
    try:
        result, work = run_job(world, tmp_path, system, job, {}, chat)
    finally:
        chat.close()
    assert result.returncode == 0, result.stderr.decode()
    assert answered["result"].returncode == 0, answered["result"].stderr.decode()
    received = work / "passphrase"
    assert received.read_bytes() == passphrase.encode()
    assert received.stat().st_mode & 0o077 == 0
    assert passphrase.encode() not in result.stdout + result.stderr
