"""The create page (/new) and the request fill page (/r/{id}) in a real headless Chromium,
against the real burnlink-server, with what they make opened by the real `burnlink` CLI.

The requester of a request is played in Python over the HTTP API with PyNaCl (keys and
tokens of docs/format.md section 6.2), and by the real CLI (`burnlink request`) when the
binary has that command. Harness, environment and screenshots: see test_reveal.py.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from nacl.public import PrivateKey, SealedBox
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from test_reveal import (  # noqa: F401  (driver and browser are fixtures used by name)
    BIN_DIR, PASSWORD_TIMEOUT, ROOT, Server, assert_console_clean, browser, driver, server,
)

LINK = re.compile(r"(http://127\.0\.0\.1:\d+)/s/([A-Za-z0-9_-]{22})#([A-Za-z0-9_-]{43})")
DOCS = ROOT / "docs"
EXPECTED_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
                "require-trusted-types-for 'script'")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hkdf(ikm: bytes, info: bytes) -> bytes:
    """HKDF-SHA-256 with an empty salt, 32 bytes (format.md 2.2)."""
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def http(method, url, headers=None, body=None):
    """(status, parsed JSON or raw bytes) without raising for error statuses."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            status, data = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, data = error.code, error.read()
    try:
        return status, json.loads(data)
    except ValueError:
        return status, data


@pytest.fixture
def make_server():
    """Starts servers with extra flags; all are stopped at the end of the test."""
    for name in ("burnlink-server", "burnlink"):
        assert (BIN_DIR / name).is_file(), f"build first: {BIN_DIR / name} is missing (swift build)"
    made = []

    def make(*args):
        directory = Path(tempfile.mkdtemp(prefix="burnlink-pages-"))
        instance = Server(directory, args)
        made.append((instance, directory))
        return instance

    yield make
    for instance, directory in made:
        instance.stop()
        shutil.rmtree(directory, ignore_errors=True)


# ---- the requester, over the HTTP API with PyNaCl ---------------------------------------

class Requester:
    """Makes a request as format.md 6.2 says: sk, pk, F and A; the server sees F's and A's verifiers."""

    def __init__(self, server, note=None):
        self.server = server
        self.secret_key = PrivateKey.generate()
        self.public_key = bytes(self.secret_key.public_key)
        self.fill_token = hkdf(self.public_key, b"burnlink v1 request fill")
        self.answer_token = hkdf(bytes(self.secret_key), b"burnlink v1 request answer")
        headers = {
            "Burnlink-Fill-Verifier": b64u(hashlib.sha256(self.fill_token).digest()),
            "Burnlink-Answer-Verifier": b64u(hashlib.sha256(self.answer_token).digest()),
        }
        body = None
        if note is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps({"note": note}).encode()
        status, created = http("POST", f"{server.base}/api/v1/requests", headers, body)
        assert status == 201, (status, created)
        self.id = created["id"]
        self.link = f"{server.base}/r/{self.id}#{b64u(self.public_key)}"

    def answer(self):
        return http("GET", f"{self.server.base}/api/v1/requests/{self.id}/answer",
                    {"Authorization": "Bearer " + b64u(self.answer_token)})

    def secret_link(self):
        """The link only the requester can make: <server>/s/<secret id>#b64u(K), K unsealed with sk."""
        status, answer = self.answer()
        assert status == 200 and answer["state"] == "answered", (status, answer)
        sealed = b64u_decode(answer["sealed_key"])
        assert len(sealed) == 80
        key = SealedBox(self.secret_key).decrypt(sealed)  # libsodium's crypto_box_seal_open
        assert len(key) == 32
        return f"{self.server.base}/s/{answer['secret_id']}#{b64u(key)}"

    def fill_directly(self):
        """A fill that did not come from the page (another filler, faster): any envelope bytes."""
        key = secrets.token_bytes(32)
        return http("POST", f"{self.server.base}/api/v1/requests/{self.id}/fill", {
            "Authorization": "Bearer " + b64u(self.fill_token),
            "Burnlink-Sealed-Key": b64u(SealedBox(self.secret_key.public_key).encrypt(key)),
            "Burnlink-Claim-Verifier": b64u(hashlib.sha256(hkdf(key, b"burnlink v1 claim")).digest()),
            "Content-Type": "application/octet-stream",
        }, b"not an envelope, but the server does not look")


# ---- page helpers -----------------------------------------------------------------------

def choose_file(browser, path: Path):
    browser.driver.find_element(By.ID, "kind-file").click()
    browser.driver.find_element(By.ID, "secret-file").send_keys(str(path))


def set_views(browser, views: int):
    field = browser.driver.find_element(By.ID, "views")
    field.clear()
    field.send_keys(str(views))


def created_link(browser, timeout=120) -> str:
    browser.visible("result", timeout=timeout)
    link = browser.driver.find_element(By.ID, "link").get_property("value")
    assert LINK.fullmatch(link), link
    return link


def open_with_cli(server, link, args=()):
    return server.cli(["open", "--yes", *args, link])


def save_doc_shot(browser, name, width=1000, height=900):
    """A screenshot for docs/ (only when BURNLINK_DOC_SHOTS is set: the docs are not rewritten by every run)."""
    import os
    if os.environ.get("BURNLINK_DOC_SHOTS"):
        browser.driver.set_window_size(width, height)
        time.sleep(0.3)
        browser.driver.save_screenshot(str(DOCS / f"{name}.png"))
        browser.driver.set_window_size(1000, 900)


def check_page_headers_and_integrity(server, path, page_script):
    with urllib.request.urlopen(server.base + path) as response:
        html = response.read().decode("utf-8")
        headers = response.headers
    assert headers["Content-Security-Policy"] == EXPECTED_CSP
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert all(body.strip() == "" and "integrity=" in attributes for attributes, body in scripts)
    assert not re.search(r"\bstyle=|\bon[a-z]+=", html), "no inline style or event handler"
    references = re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"[^>]*?integrity="([^"]+)"', html)
    assert {src for src, _ in references} == {
        "/assets/nacl-fast.min.js", "/assets/argon2id.js", "/assets/burnlink-common.js", "/assets/compose.js",
        f"/assets/{page_script}", "/assets/reveal.css"}
    for src, integrity in references:
        with urllib.request.urlopen(server.base + src) as response:
            assert integrity == "sha256-" + base64.b64encode(hashlib.sha256(response.read()).digest()).decode()


# ---- the create page ------------------------------------------------------------------

def test_create_page_text_opens_with_the_cli(server, browser):
    text = "db password: Tr0ub4dor&3 <b>not bold</b>\n  second line, ünïcødé ☃\n"
    browser.open(f"{server.base}/new")
    browser.visible("compose")
    browser.shot("new-1-empty")
    browser.shot("new-1-empty-phone", 390, 844)
    browser.driver.find_element(By.ID, "secret-text").send_keys(text)
    save_doc_shot(browser, "create-page")
    save_doc_shot(browser, "create-page-phone", 390, 844)
    browser.driver.find_element(By.ID, "submit").click()
    link = created_link(browser)
    assert link.startswith(server.base + "/s/")
    assert "once" in browser.text("result-note")
    assert not browser.driver.find_element(By.ID, "password-reminder").is_displayed()
    browser.shot("new-2-link")
    browser.shot("new-2-link-phone", 390, 844)

    # Copy puts the link on the clipboard.
    browser.driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": server.base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    browser.driver.find_element(By.ID, "copy").click()
    WebDriverWait(browser.driver, 10).until(lambda d: d.find_element(By.ID, "copy-status").text == "Copied.")
    copied = browser.driver.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, (e) => done('error: ' + e));")
    assert copied == link
    assert_console_clean(browser.console())

    assert open_with_cli(server, link).stdout.decode() == text
    assert server.metadata_status(link) == 404, "one view, used by the CLI"


def test_create_page_file_of_3_mib_opens_byte_for_byte_under_its_name(server, browser):
    content = secrets.token_bytes(3 << 20) + b"\x00\xff tail"
    name = "données ☃ report.bin"
    source = server.directory / "upload" / name
    source.parent.mkdir()
    source.write_bytes(content)

    browser.open(f"{server.base}/new")
    browser.visible("compose")
    choose_file(browser, source)
    WebDriverWait(browser.driver, 10).until(lambda d: "3.0 MiB" in d.find_element(By.ID, "file-chosen").text)
    set_views(browser, 2)
    browser.shot("new-3-file-chosen")
    browser.driver.find_element(By.ID, "submit").click()
    link = created_link(browser)
    assert "2 times" in browser.text("result-note")
    assert_console_clean(browser.console())

    out = server.directory / "out"
    out.mkdir()
    subprocess.run([str(BIN_DIR / "burnlink"), "open", "--yes", "-o", ".", link], cwd=out, check=True,
                   capture_output=True, env={"PATH": "/usr/bin:/bin", "HOME": str(server.home), "LANG": "C.UTF-8"},
                   timeout=120)
    assert (out / name).read_bytes() == content
    assert server.metadata_status(link) == 200, "one of two views left"


def test_create_page_with_a_password(server, browser):
    text = "behind a password ✓"
    browser.open(f"{server.base}/new")
    browser.visible("compose")
    browser.driver.find_element(By.ID, "secret-text").send_keys(text)
    # Typed decomposed; the page must derive P from the NFC form, as the CLI reads it.
    browser.driver.find_element(By.ID, "password").send_keys("Ca\u0301fe\u0301 au lait")
    browser.driver.find_element(By.ID, "submit").click()
    link = created_link(browser, timeout=PASSWORD_TIMEOUT)
    assert browser.driver.find_element(By.ID, "password-reminder").is_displayed()
    assert_console_clean(browser.console())

    wrong = server.directory / "wrong.txt"
    wrong.write_text("Cafe au lait\n", encoding="utf-8")
    refused = server.cli(["open", "--yes", "--password-file", str(wrong), link], check=False)
    assert refused.returncode == 4, refused.stderr.decode()
    right = server.directory / "right.txt"
    right.write_text("C\u00e1f\u00e9 au lait\n", encoding="utf-8")  # the NFC form of what was typed
    assert open_with_cli(server, link, ["--password-file", str(right)]).stdout.decode() == text


def test_create_page_asks_for_a_creator_token_when_the_server_requires_one(make_server, browser):
    token = secrets.token_hex(32)
    directory = Path(tempfile.mkdtemp(prefix="burnlink-tokens-"))
    tokens = directory / "creator-tokens"
    tokens.write_text(hashlib.sha256(token.encode()).hexdigest() + "  the page test\n")
    try:
        server = make_server("--creator-tokens", str(tokens))
        browser.open(f"{server.base}/new")
        browser.visible("compose")
        assert not browser.driver.find_element(By.ID, "token-block").is_displayed()
        browser.driver.find_element(By.ID, "secret-text").send_keys("only for token holders")
        browser.driver.find_element(By.ID, "submit").click()
        field = browser.visible("creator-token")
        assert "creator token" in browser.text("form-error")
        browser.shot("new-4-token-asked")

        field.send_keys("x" * 40)
        browser.driver.find_element(By.ID, "submit").click()
        WebDriverWait(browser.driver, 30).until(lambda d: "not accepted" in d.find_element(By.ID, "form-error").text)

        field.clear()
        field.send_keys(token)
        browser.driver.find_element(By.ID, "submit").click()
        link = created_link(browser)
        assert_console_clean(browser.console(), allowed_statuses=(401,))
        assert open_with_cli(server, link).stdout.decode() == "only for token holders"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_create_page_is_404_with_web_create_off(make_server):
    server = make_server("--web-create", "off")
    status, body = http("GET", f"{server.base}/new")
    assert status == 404 and body["error"] == "not_found"
    assert http("GET", f"{server.base}/s/AAAAAAAAAAAAAAAAAAAAAA")[0] == 200
    assert http("GET", f"{server.base}/r/AAAAAAAAAAAAAAAAAAAAAA")[0] == 200


def test_create_page_shows_the_size_limit_clearly(make_server, browser):
    server = make_server("--max-size", "100000")
    source = server.directory / "big.bin"
    source.write_bytes(secrets.token_bytes(150_000))
    browser.open(f"{server.base}/new")
    browser.visible("compose")
    choose_file(browser, source)
    browser.driver.find_element(By.ID, "submit").click()
    error = browser.visible("form-error", timeout=60)
    assert "too large" in error.text and "Nothing was stored" in error.text, error.text
    browser.shot("new-5-too-large")
    # Chromium may report the refused upload as a network error too; nothing else may appear.
    for entry in browser.console():
        assert "413" in entry["message"] or "net::ERR" in entry["message"], entry


def test_pages_headers_and_integrity(server):
    check_page_headers_and_integrity(server, "/new", "new.js")
    check_page_headers_and_integrity(server, "/r/AAAAAAAAAAAAAAAAAAAAAA", "fill.js")
    bodies = {http("GET", f"{server.base}{path}")[1] for path in ("/r/AAAAAAAAAAAAAAAAAAAAAA", "/r/x", "/r/another")}
    assert len(bodies) == 1, "the fill page is the same for every id"


# ---- the fill page --------------------------------------------------------------------

def test_fill_page_text_reaches_the_requester_only(server, browser):
    note = "prod DB password for <b>the migration</b> \u202Efdp.exe"
    requester = Requester(server, note=note)
    text = "the answer: hunter2 <script>alert(1)</script> ☃"

    browser.open(requester.link)
    browser.visible("compose")
    assert "#" not in browser.driver.current_url, "the key must leave the address bar"
    # The note is text, never markup, and its direction override is shown, not obeyed.
    assert browser.text("note") == "prod DB password for <b>the migration</b> ⟨U+202E⟩fdp.exe"
    assert browser.driver.execute_script("return document.getElementById('note').children.length") == 0
    assert "visible to anyone" in browser.driver.find_element(By.ID, "compose").text
    assert browser.text("detail-max-size").startswith("100 MiB")
    browser.driver.find_element(By.ID, "secret-text").send_keys(text)
    browser.shot("fill-1-request")
    browser.shot("fill-1-request-phone", 390, 844)
    save_doc_shot(browser, "fill-page")
    save_doc_shot(browser, "fill-page-phone", 390, 844)
    assert requester.answer()[1]["state"] == "open", "showing the page fills nothing"

    browser.driver.find_element(By.ID, "submit").click()
    browser.visible("sent", timeout=120)
    assert browser.text("sent-text") == "Sent: only the person who asked can open it."
    assert "/s/" not in browser.driver.find_element(By.TAG_NAME, "body").text, "no link is shown"
    browser.shot("fill-2-sent")
    browser.shot("fill-2-sent-phone", 390, 844)
    assert_console_clean(browser.console())

    link = requester.secret_link()
    assert open_with_cli(server, link).stdout.decode() == text

    # (c) the request takes one answer: a second visit offers nothing.
    browser.open(requester.link)
    browser.visible("problem")
    assert browser.text("problem-title") == "This request was already answered"
    assert not browser.driver.find_element(By.ID, "compose-form").is_displayed()
    browser.shot("fill-3-already-answered")
    assert_console_clean(browser.console())


def test_fill_page_file_of_3_mib_with_a_password(server, browser):
    """The requester is the real CLI: `burnlink request` makes the link, the page answers it
    with a 3 MiB file and a password, `burnlink open` of the request link gets it byte for byte."""
    made = server.cli(["request"])
    link = made.stdout.decode().strip()
    content = secrets.token_bytes(3 << 20) + b"end"
    name = "clé privée.pem"
    source = server.directory / "upload" / name
    source.parent.mkdir()
    source.write_bytes(content)

    browser.open(link)
    browser.visible("compose")
    assert browser.text("note") == "(no note)"
    choose_file(browser, source)
    browser.driver.find_element(By.ID, "password").send_keys("correct horse")
    browser.driver.find_element(By.ID, "submit").click()
    browser.visible("sent", timeout=PASSWORD_TIMEOUT)
    assert "password" in browser.text("sent-details")
    assert_console_clean(browser.console())

    password = server.directory / "password.txt"
    password.write_text("correct horse\n")
    out = server.directory / "out"
    out.mkdir()
    opened = server.cli(["open", "--password-file", str(password), "-o", str(out / "received"), link])
    assert opened.returncode == 0, opened.stderr.decode()
    assert (out / "received").read_bytes() == content


def test_fill_page_shows_already_answered_when_another_fill_wins(server, browser):
    requester = Requester(server, note="only one answer")
    browser.open(requester.link)
    browser.visible("compose")
    browser.driver.find_element(By.ID, "secret-text").send_keys("too late")
    status, _ = requester.fill_directly()
    assert status == 201
    browser.driver.find_element(By.ID, "submit").click()
    browser.visible("problem", timeout=60)
    assert browser.text("problem-title") == "This request was already answered"
    assert "yours was not stored" in browser.text("problem-text")
    browser.shot("fill-4-conflict")
    assert_console_clean(browser.console(), allowed_statuses=(409,))


def test_fill_page_refuses_a_secret_over_the_size_limit_before_sending(make_server, browser):
    server = make_server("--max-size", "100000")
    requester = Requester(server)
    source = server.directory / "big.bin"
    source.write_bytes(secrets.token_bytes(100_000))
    browser.open(requester.link)
    browser.visible("compose")
    assert browser.text("detail-max-size").startswith("98 KiB")
    choose_file(browser, source)
    browser.driver.find_element(By.ID, "submit").click()
    error = browser.visible("form-error")
    assert "too large" in error.text and "100000 bytes" in error.text, error.text
    assert requester.answer()[1]["state"] == "open", "nothing was sent"
    assert_console_clean(browser.console())


def test_fill_page_with_a_damaged_or_wrong_link(server, browser):
    requester = Requester(server)
    page, key = requester.link.split("#")
    browser.open(page)
    browser.visible("problem")
    assert browser.text("problem-title") == "This link is incomplete"
    browser.open(f"{page}#{key[:-2]}")
    browser.visible("problem")
    assert browser.text("problem-title") == "This link is damaged"
    # The all-zero key is a low-order point: nothing may be sealed to it.
    browser.open(f"{page}#{b64u(bytes(32))}")
    browser.visible("problem")
    assert browser.text("problem-title") == "This link is damaged"
    assert_console_clean(browser.console())

    # Another valid key: its fill token is not this request's, so the server says 404.
    other = b64u(bytes(PrivateKey.generate().public_key))
    browser.open(f"{page}#{other}")
    browser.visible("problem")
    assert browser.text("problem-title") == "This request is gone"
    browser.shot("fill-5-gone")
    assert_console_clean(browser.console(), allowed_statuses=(404,))
    assert requester.answer()[1]["state"] == "open"


def test_fill_page_answers_a_request_made_by_the_cli(server, browser):
    """`burnlink request` makes the link; the page fills it; `burnlink open` of the request
    link, on the machine that made it, gets the secret."""
    made = server.cli(["request", "--note", "for the page test"])
    link = made.stdout.decode().strip()
    assert re.fullmatch(rf"{re.escape(server.base)}/r/[A-Za-z0-9_-]{{22}}#[A-Za-z0-9_-]{{43}}", link), link
    browser.open(link)
    browser.visible("compose")
    assert browser.text("note") == "for the page test"
    browser.driver.find_element(By.ID, "secret-text").send_keys("answered in the browser")
    browser.driver.find_element(By.ID, "submit").click()
    browser.visible("sent", timeout=120)
    assert_console_clean(browser.console())
    assert server.cli(["open", "--yes", link]).stdout.decode() == "answered in the browser"


# ---- PostgreSQL: two replicas behind one database --------------------------------------

POSTGRES_URL = os.environ.get("BURNLINK_TEST_POSTGRES_URL")


def fresh_postgres_database() -> str:
    """A new database in the test cluster (Tests/support/with-postgres.sh), as a server URL."""
    if not POSTGRES_URL:
        if os.environ.get("BURNLINK_REQUIRE_POSTGRES") == "1":
            pytest.fail("BURNLINK_TEST_POSTGRES_URL is not set: run under Tests/support/with-postgres.sh")
        pytest.skip("no PostgreSQL (run under Tests/support/with-postgres.sh)")
    name = "burnlink_browser_" + secrets.token_hex(6)
    subprocess.run(["psql", POSTGRES_URL, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True, timeout=60)
    base, _, query = POSTGRES_URL.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


def test_pages_on_postgresql_across_two_replicas(make_server, browser):
    """The request is made on replica A (`burnlink request --wait`), filled in the page served
    by replica B, and the wait on A returns the answer; a secret made on B's create page opens
    through A."""
    database = fresh_postgres_database()
    a = make_server("--database", database)
    b = make_server("--database", database)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(a.home), "BURNLINK_SERVER": a.base,
           "LANG": "C.UTF-8"}
    waiting = subprocess.Popen([str(BIN_DIR / "burnlink"), "request", "--wait", "--note", "across replicas"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        link = None
        for line in iter(waiting.stderr.readline, b""):
            if b"/r/" in line:
                link = line.decode().strip()
                break
        assert link and link.startswith(a.base + "/r/"), link
        browser.open(link.replace(a.base, b.base))
        browser.visible("compose")
        assert browser.text("note") == "across replicas"
        browser.driver.find_element(By.ID, "secret-text").send_keys("filled through B")
        browser.driver.find_element(By.ID, "submit").click()
        browser.visible("sent", timeout=120)
        assert_console_clean(browser.console())
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, err.decode()
        assert out.decode() == "filled through B"
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()

    browser.open(b.base + "/new")
    browser.visible("compose")
    browser.driver.find_element(By.ID, "secret-text").send_keys("made on B")
    browser.driver.find_element(By.ID, "submit").click()
    made = created_link(browser)
    assert made.startswith(b.base + "/s/"), made
    assert open_with_cli(a, made.replace(b.base, a.base)).stdout.decode() == "made on B"
    assert_console_clean(browser.console())
