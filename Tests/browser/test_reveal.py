"""The browser reveal page in a real headless Chromium, against the real burnlink-server
(temporary SQLite file, free port) with secrets sent by the real `burnlink` CLI.

Run with:  python3 -m pytest -q Tests/browser
Binaries:  BURNLINK_BUILD_DIR (default .build/debug), started by Tests/support/server_process.py. The server serves the pages of this
tree's Web/ (--web-directory), so the tests check the files they sit beside.
Screenshots go to BURNLINK_SHOTS (default .build-browser-shots/), one PNG per state.
"""

import base64
import hashlib
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
import server_process
from cutting_proxy import CuttingProxy
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = server_process.BUILD_DIR.resolve()
SHOTS = Path(os.environ.get("BURNLINK_SHOTS", ROOT / ".build-browser-shots")).resolve()
# Argon2id with the CLI's defaults (64 MiB) runs in JavaScript: allow a slow machine.
PASSWORD_TIMEOUT = 240


# ---- the real server and CLI --------------------------------------------------------

class Server(server_process.Server):
    """The real server on a temporary SQLite file (or `--database URL` in `extra_args`),
    serving this tree's Web/, with a home of its own for the CLI."""

    def __init__(self, directory: Path, extra_args=()):
        self.directory = directory
        self.home = directory / "home"
        self.home.mkdir()
        super().__init__(directory / "burnlink.sqlite", "--web-directory", str(ROOT / "Web"), *extra_args,
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        self.base = self.url

    def cli(self, args, stdin=b"", check=True):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "BURNLINK_SERVER": self.base,
            "LANG": "C.UTF-8",
        }
        result = subprocess.run([str(BIN_DIR / "burnlink"), *args], input=stdin, capture_output=True,
                                env=env, cwd=self.directory, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"burnlink {args[0]} exited {result.returncode}: {result.stderr.decode()}")
        return result

    def send_text(self, text: str, args=()) -> str:
        link = self.cli(["send", *args], stdin=text.encode("utf-8")).stdout.decode().strip()
        assert re.fullmatch(rf"{re.escape(self.base)}/s/[A-Za-z0-9_-]{{22}}#[A-Za-z0-9_-]{{43}}", link), link
        return link

    def metadata_status(self, link: str) -> int:
        """Status of the non-consuming metadata route for this link (200 while it is readable)."""
        page, key = link.split("#")
        secret_id = page.rsplit("/", 1)[1]
        # T = HKDF-SHA-256(salt = "", ikm = K, info = "burnlink v1 claim"), computed here with hmac.
        import hmac
        k = base64.urlsafe_b64decode(key + "=")
        prk = hmac.new(b"\0" * 32, k, hashlib.sha256).digest()
        token = hmac.new(prk, b"burnlink v1 claim\x01", hashlib.sha256).digest()
        request = urllib.request.Request(
            f"{self.base}/api/v1/secrets/{secret_id}",
            headers={"Authorization": "Bearer " + base64.urlsafe_b64encode(token).decode().rstrip("=")})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


@pytest.fixture
def server():
    for name in ("burnlink-server", "burnlink"):
        assert (BIN_DIR / name).is_file(), f"build first: {BIN_DIR / name} is missing (swift build)"
    directory = Path(tempfile.mkdtemp(prefix="burnlink-browser-"))
    instance = Server(directory)
    yield instance
    instance.stop()
    shutil.rmtree(directory, ignore_errors=True)


# ---- the browser ----------------------------------------------------------------------

def chromium_driver():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1000,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


class Browser:
    def __init__(self, driver, downloads: Path):
        self.driver = driver
        self.downloads = downloads
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})

    def open(self, url):
        self.driver.get(url)

    def visible(self, element_id, timeout=60):
        return WebDriverWait(self.driver, timeout).until(EC.visibility_of_element_located((By.ID, element_id)))

    def text(self, element_id):
        return self.driver.find_element(By.ID, element_id).text

    def shot(self, name, width=1000, height=900):
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.set_window_size(width, height)
        time.sleep(0.2)
        self.driver.save_screenshot(str(SHOTS / f"{name}.png"))
        self.driver.set_window_size(1000, 900)

    def console(self):
        return self.driver.get_log("browser")


@pytest.fixture(scope="module")
def driver():
    instance = chromium_driver()
    yield instance
    instance.quit()


@pytest.fixture
def browser(driver, tmp_path):
    driver.get("about:blank")
    driver.get_log("browser")  # start each test with an empty console
    yield Browser(driver, tmp_path)


def assert_console_clean(entries, allowed_statuses=()):
    """No console message at all, except the network line Chromium itself prints for an
    HTTP error status the test expects (a 404 for a gone secret, a 403 for a wrong password)."""
    unexpected = []
    for entry in entries:
        message = entry.get("message", "")
        network = re.search(r"Failed to load resource: the server responded with a status of (\d+)", message)
        if network and int(network.group(1)) in allowed_statuses:
            continue
        unexpected.append(entry)
    assert unexpected == [], f"console messages: {unexpected}"


def page_of(link):
    return link.split("#")[0]


# ---- tests ----------------------------------------------------------------------------

def test_text_secret_opens_after_the_click_and_is_gone_on_a_second_visit(server, browser):
    text = "db password: Tr0ub4dor&3 <script>alert(1)</script>\n  second line, ünïcødé ☃\n"
    link = server.send_text(text)

    browser.open(link)
    browser.visible("details")
    assert "#" not in browser.driver.current_url, "the key must leave the address bar"
    assert browser.driver.current_url == page_of(link)
    assert browser.text("reveal") == "Reveal secret"
    assert "viewed only once" in browser.text("view-warning")
    assert browser.text("detail-views") == "1"
    assert not browser.driver.find_element(By.ID, "password-block").is_displayed()
    browser.shot("1-before-reveal")
    browser.shot("1-before-reveal-phone", 390, 844)
    assert server.metadata_status(link) == 200, "showing the page must not consume the secret"

    browser.driver.find_element(By.ID, "reveal").click()
    browser.visible("revealed")
    area = browser.driver.find_element(By.ID, "secret-text")
    assert area.get_property("value") == text
    assert area.get_attribute("readonly") is not None
    assert "now destroyed" in browser.text("destroyed-note")
    # The text stayed text: nothing from it became markup.
    assert browser.driver.execute_script("return document.scripts.length") == 4
    browser.shot("2-revealed")
    browser.shot("2-revealed-phone", 390, 844)
    assert server.metadata_status(link) == 404, "the reveal must consume the secret"
    assert_console_clean(browser.console())

    # Copy puts the exact text on the clipboard.
    browser.driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": server.base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    browser.driver.find_element(By.ID, "copy").click()
    WebDriverWait(browser.driver, 10).until(lambda d: d.find_element(By.ID, "copy-status").text == "Copied.")
    copied = browser.driver.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, (e) => done('error: ' + e));")
    assert copied == text

    browser.open(link)
    browser.visible("problem")
    assert browser.text("problem-title") == "This secret is gone"
    browser.shot("3-gone")
    assert_console_clean(browser.console(), allowed_statuses=(404,))


def test_loading_the_page_without_clicking_consumes_nothing(server, browser):
    text = "still here after two visits"
    link = server.send_text(text)
    for _ in range(2):
        browser.open(link)
        browser.visible("details")
    assert_console_clean(browser.console())

    opened = server.cli(["open", "--yes", link])
    assert opened.stdout.decode() == text


def test_the_page_is_the_same_for_every_id_and_never_looks_anything_up(server):
    link = server.send_text("untouched")
    bodies = set()
    for path in (page_of(link), f"{server.base}/s/AAAAAAAAAAAAAAAAAAAAAA", f"{server.base}/s/not-even-an-id"):
        with urllib.request.urlopen(path) as response:
            assert response.status == 200
            bodies.add(response.read())
    assert len(bodies) == 1
    assert server.metadata_status(link) == 200
    assert server.cli(["open", "--yes", link]).stdout.decode() == "untouched"


def test_security_headers_and_subresource_integrity(server):
    expected_csp = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
                    "require-trusted-types-for 'script'")
    with urllib.request.urlopen(f"{server.base}/s/AAAAAAAAAAAAAAAAAAAAAA") as response:
        html = response.read().decode("utf-8")
        headers = response.headers
    assert headers["Content-Security-Policy"] == expected_csp
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Type"] == "text/html; charset=utf-8"

    # Every script is external, from this origin, with an integrity value that matches
    # the bytes actually served; there is no inline script and no other origin.
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert len(scripts) == 4
    references = re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"[^>]*?integrity="([^"]+)"', html)
    assert {src for src, _ in references} == {
        "/assets/nacl-fast.min.js", "/assets/argon2id.js", "/assets/burnlink-common.js", "/assets/reveal.js",
        "/assets/reveal.css"}
    for attributes, body in scripts:
        assert body.strip() == "" and 'src="/assets/' in attributes and "integrity=" in attributes
    assert not re.search(r"https?://", html), "no absolute URL, so no third-party origin"
    for src, integrity in references:
        with urllib.request.urlopen(server.base + src) as response:
            body = response.read()
            assert response.headers["Content-Security-Policy"] == expected_csp
            assert response.headers["Cache-Control"] == "no-store"
            assert response.headers["Referrer-Policy"] == "no-referrer"
        assert integrity == "sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode()

    # tweetnacl is Debian's file, served as installed, not a copy of ours.
    with urllib.request.urlopen(f"{server.base}/assets/nacl-fast.min.js") as response:
        assert response.read() == Path("/usr/share/nodejs/tweetnacl/nacl-fast.min.js").read_bytes()

    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{server.base}/assets/../../etc/passwd")
    assert missing.value.code == 404


def test_a_file_downloads_byte_identical_under_its_sanitised_name(server, browser):
    # Four chunks of the envelope, and bytes that are not UTF-8.
    content = secrets.token_bytes(200_000) + b"\xff\xfe\x00end"
    path = server.directory / "quarterly report: final?.bin"
    path.write_bytes(content)
    link = server.cli(["send", str(path)]).stdout.decode().strip()

    browser.open(link)
    browser.visible("details")
    browser.driver.find_element(By.ID, "reveal").click()
    browser.visible("file-result")
    expected_name = "quarterly report_ final_.bin"
    assert browser.text("file-name") == expected_name
    browser.shot("4-file-revealed")
    browser.driver.find_element(By.ID, "download").click()

    target = browser.downloads / expected_name
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (target.is_file() and target.stat().st_size == len(content)):
        time.sleep(0.1)
    assert target.read_bytes() == content
    assert server.metadata_status(link) == 404
    assert_console_clean(browser.console())


def test_a_tampered_key_shows_an_error_and_burns_nothing(server, browser):
    text = "tamper-proof"
    link = server.send_text(text)
    page, key = link.split("#")
    # Another valid-looking key: the claim token no longer matches.
    flipped = ("B" if key[0] != "B" else "C") + key[1:]
    browser.open(f"{page}#{flipped}")
    browser.visible("problem")
    assert browser.text("problem-title") == "This secret is gone"
    assert "Nothing was revealed" in browser.text("problem-text")
    browser.shot("5-error-wrong-key")
    assert_console_clean(browser.console(), allowed_statuses=(404,))

    # A key cut short never reaches the server at all.
    browser.open(f"{page}#{key[:-3]}")
    browser.visible("problem")
    assert browser.text("problem-title") == "This link is damaged"
    assert "#" not in browser.driver.current_url
    browser.shot("5-error-damaged-link")
    browser.open(page)
    browser.visible("problem")
    assert browser.text("problem-title") == "This link is incomplete"
    assert_console_clean(browser.console())

    assert server.metadata_status(link) == 200
    assert server.cli(["open", "--yes", link]).stdout.decode() == text


def test_a_password_secret_opens_with_the_right_password_and_counts_wrong_ones(server, browser):
    text = "behind a password ✓"
    password_file = server.directory / "password.txt"
    # The CLI stores the NFC form; the page is given the decomposed form and must normalise it.
    password_file.write_text("Ca\u0301fe\u0301 au lait\n", encoding="utf-8")
    link = server.send_text(text, ["--password-file", str(password_file)])

    browser.open(link)
    password = browser.visible("password")
    browser.shot("6-password-prompt")
    password.send_keys("not the password")
    browser.driver.find_element(By.ID, "reveal").click()
    error = browser.visible("password-error", timeout=PASSWORD_TIMEOUT)
    assert "Wrong password. 4 attempts left" in error.text
    browser.shot("6-password-wrong")
    assert server.metadata_status(link) == 200
    assert_console_clean(browser.console(), allowed_statuses=(403,))

    password.clear()
    password.send_keys("Ca\u0301fe\u0301 au lait")
    browser.driver.find_element(By.ID, "reveal").click()
    browser.visible("revealed", timeout=PASSWORD_TIMEOUT)
    assert browser.driver.find_element(By.ID, "secret-text").get_property("value") == text
    browser.shot("6-password-revealed")
    assert server.metadata_status(link) == 404
    assert_console_clean(browser.console())


def test_altered_ciphertext_fails_the_integrity_check_and_shows_nothing(server, browser):
    import sqlite3
    link = server.send_text("the server must not be able to change this")
    # What a malicious or broken store could do: flip one bit of the stored envelope.
    with sqlite3.connect(server.directory / "burnlink.sqlite") as db:
        key, data = db.execute("SELECT key, data FROM secret_chunk ORDER BY key DESC LIMIT 1").fetchone()
        altered = bytearray(data)
        altered[-1] ^= 0x01
        db.execute("UPDATE secret_chunk SET data = ? WHERE key = ?", (bytes(altered), key))

    browser.open(link)
    browser.visible("details")
    browser.driver.find_element(By.ID, "reveal").click()
    browser.visible("problem")
    assert browser.text("problem-title") == "The secret could not be decrypted"
    assert "integrity check" in browser.text("problem-text")
    assert browser.driver.find_element(By.ID, "secret-text").get_property("value") == ""
    browser.shot("7-error-integrity")
    assert_console_clean(browser.console())


def test_a_secret_with_two_views_says_how_many_remain_and_opens_twice(server, browser):
    text = "shared with two people"
    link = server.send_text(text, ["--views", "2"])
    browser.open(link)
    browser.visible("details")
    assert browser.text("detail-views") == "2"
    assert "2 more times" in browser.text("view-warning")
    browser.driver.find_element(By.ID, "reveal").click()
    browser.visible("revealed")
    assert browser.driver.find_element(By.ID, "secret-text").get_property("value") == text
    assert browser.text("destroyed-note").startswith("1 view left")

    browser.open(link)
    browser.visible("details")
    assert browser.text("detail-views") == "1"
    browser.driver.find_element(By.ID, "reveal").click()
    browser.visible("revealed")
    assert "now destroyed" in browser.text("destroyed-note")
    assert_console_clean(browser.console())


def reveal_through(proxy_for, text, server, browser, receipt_name):
    """Sends `text`, reveals its link in the page through the proxy `proxy_for(port)` makes,
    and checks that the page shows it whole and that the receipt comes to say delivered.
    Returns the proxy (closed) for the caller's own checks."""
    receipt = server.directory / receipt_name
    link = server.cli(["send", "--receipt-file", str(receipt)], stdin=text.encode()).stdout.decode().strip()
    proxy = proxy_for(server.port)
    try:
        browser.open(link.replace(f":{server.port}/", f":{proxy.port}/", 1))
        browser.visible("details")
        browser.driver.find_element(By.ID, "reveal").click()
        browser.visible("revealed")
        assert browser.driver.find_element(By.ID, "secret-text").get_property("value") == text

        def delivery():
            status = server.cli(["status", "--json", "--receipt-file", str(receipt)], check=False)
            return [view["delivery"] for view in json.loads(status.stdout.decode())["views"]]
        deadline = time.monotonic() + 30
        while delivery() != ["delivered"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert delivery() == ["delivered"]
    finally:
        proxy.close()
    return proxy


def test_a_cut_download_resumes_and_the_receipt_says_delivered(server, browser):
    """The page claims through a proxy that cuts the envelope 1 MiB in: it fetches the rest
    again within its claim session, shows the secret whole, and confirms the delivery."""
    text = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789 \n") for _ in range(3 << 20))
    proxy = reveal_through(lambda port: CuttingProxy(port, [1 << 20]), text, server, browser, "receipt")
    assert proxy.cut_count == 1 and proxy.envelope_requests == 2, "one cut claim, then one fetch of the rest"
    # Chromium reports the cut body as a failed load; nothing else may reach the console.
    assert all("net::ERR" in entry.get("message", "") for entry in browser.console()), browser.console()


def test_a_gateway_timeout_after_a_granted_claim_still_shows_the_secret(server, browser):
    """A proxy answers 504 to the page's claim after the server granted it: the page fetches
    the envelope through the claim session it chose, shows the secret and confirms it."""
    text = "a secret behind an impatient gateway"
    proxy = reveal_through(lambda port: CuttingProxy(port, claim_timeouts=1), text, server, browser, "gateway-receipt")
    assert proxy.claim_timeouts == 0 and proxy.envelope_requests == 2, "the claim, then its session's fetch"
    # The 504 is reported as a failed load; nothing else may reach the console.
    assert all("504" in entry.get("message", "") for entry in browser.console()), browser.console()


def test_a_file_name_with_a_bidi_override_is_refused_and_nothing_offered(server, browser):
    # The known-answer vector: a valid envelope whose file name holds U+202E, which would
    # show 'invoice<RLO>fdp.exe' as 'invoiceexe.pdf'. Uploaded as any client could.
    raw = (Path(__file__).resolve().parents[1] / "Vectors" / "envelope-metadata-bidi-in-name.vector").read_bytes()
    head, _, envelope = raw.partition(b"\n\n")
    fields = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
                  for line in head.decode().splitlines())
    token = base64.urlsafe_b64decode(fields["claim-token"] + "=")
    verifier = base64.urlsafe_b64encode(hashlib.sha256(token).digest()).decode().rstrip("=")
    request = urllib.request.Request(f"{server.base}/api/v1/secrets", data=envelope, method="POST", headers={
        "Content-Type": "application/octet-stream", "Burnlink-Claim-Verifier": verifier})
    with urllib.request.urlopen(request) as response:
        secret_id = json.load(response)["id"]

    browser.open(f"{server.base}/s/{secret_id}#{fields['key']}")
    browser.visible("details")
    browser.driver.find_element(By.ID, "reveal").click()
    browser.visible("problem")
    assert browser.text("problem-title") == "The secret could not be decrypted"
    assert "invalid-metadata" in browser.text("problem-text")
    assert not browser.driver.find_element(By.ID, "file-result").is_displayed()
    assert_console_clean(browser.console())
