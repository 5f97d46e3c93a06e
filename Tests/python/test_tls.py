"""HTTPS served by burnlink-server itself (--tls-cert, --tls-key), end to end with the real
CLI, against a throwaway certificate authority made here by openssl:

- send and open over HTTPS, trusting the CA through --cacert, the config file's `cacert`
  and SSL_CERT_FILE;
- a server the CLI cannot vouch for (no CA given, another CA, a certificate for another
  name) is refused with exit 6 and a message that says why, and nothing is stored;
- TLS 1.1 is refused, TLS 1.2 spoken;
- SIGHUP swaps the certificate for new connections while an open connection keeps going,
  and a broken replacement keeps the old one in service;
- the server refuses to start on unusable TLS files, with a message naming the problem.

    python3 -m pytest -q Tests/python/test_tls.py
"""

import http.client
import os
import signal
import ssl
import subprocess

import pytest

from server_process import CLI, SERVER, Server, wait_until


def openssl(*arguments, cwd):
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True, timeout=60)


class Authority:
    """A CA key and certificate, and leaf certificates it signs."""

    def __init__(self, directory, name):
        self.directory = directory
        self.name = name
        self.certificate = directory / f"{name}.pem"
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", self.certificate.name, "-days", "2", "-subj", f"/CN={name}",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
                cwd=directory)

    def issue(self, stem, serial, names="DNS:localhost,IP:127.0.0.1", days=2):
        """Writes stem.pem (leaf then CA) and stem.key; returns both paths."""
        extensions = self.directory / f"{stem}.ext"
        extensions.write_text(f"subjectAltName={names}\nextendedKeyUsage=serverAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", "/CN=localhost", cwd=self.directory)
        openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", self.certificate.name, "-CAkey", f"{self.name}.key",
                "-set_serial", str(serial), "-days", str(days), "-extfile", extensions.name, "-out", f"{stem}.leaf",
                cwd=self.directory)
        chain = self.directory / f"{stem}.pem"
        chain.write_bytes((self.directory / f"{stem}.leaf").read_bytes() + self.certificate.read_bytes())
        return chain, self.directory / f"{stem}.key"


@pytest.fixture
def pki(tmp_path):
    directory = tmp_path / "pki"
    directory.mkdir()
    return Authority(directory, "burnlink-test-ca")


@pytest.fixture
def machine(tmp_path):
    home = tmp_path / "home"
    (home / "config" / "burnlink").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BURNLINK_") and k != "SSL_CERT_FILE"}
    env.update(XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"), HOME=str(home))
    return env


@pytest.fixture
def servers():
    started = []
    yield started
    for server in started:
        server.stop()


def tls_server(servers, tmp_path, certificate, key, *arguments):
    server = Server(tmp_path / "data" / "burnlink.sqlite", "--tls-cert", str(certificate), "--tls-key", str(key),
                    *arguments)
    servers.append(server)
    assert server.scheme == "https", server.log.decode()
    return server


def cli(env, *arguments, stdin=b""):
    return subprocess.run([str(CLI), *arguments], input=stdin, env=env, capture_output=True, timeout=60)


def peer_serial(port, authority):
    """The serial number of the certificate a new connection is shown."""
    context = ssl.create_default_context(cafile=str(authority.certificate))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    connection.connect()
    try:
        return _serial_of(connection.sock.getpeercert(binary_form=True))
    finally:
        connection.close()


def _serial_of(der):
    text = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                          capture_output=True, check=True, timeout=30).stdout.decode()
    return int(text.strip().split("=")[1], 16)


def stored_secrets(server, authority):
    context = ssl.create_default_context(cafile=str(authority.certificate))
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("burnlink_secrets_created_total"))


@pytest.mark.parametrize("trust", ["flag", "config", "environment"])
def test_send_and_open_over_https(pki, machine, servers, tmp_path, trust):
    certificate, key = pki.issue("server", serial=1)
    server = tls_server(servers, tmp_path, certificate, key)
    extra = []
    if trust == "flag":
        extra = ["--cacert", str(pki.certificate)]
    elif trust == "config":
        (tmp_path / "home" / "config" / "burnlink" / "config").write_text(f"cacert = {pki.certificate}\n")
    else:
        machine["SSL_CERT_FILE"] = str(pki.certificate)
    sent = cli(machine, "send", "--server", server.url, *extra, stdin=b"over tls")
    assert sent.returncode == 0, sent.stderr.decode()
    link = sent.stdout.decode().strip()
    assert link.startswith(f"https://127.0.0.1:{server.port}/s/"), link
    opened = cli(machine, "open", "--yes", *extra, stdin=link.encode())
    assert opened.returncode == 0, opened.stderr.decode()
    assert opened.stdout == b"over tls"


def test_untrusted_servers_are_refused_and_nothing_is_stored(pki, machine, servers, tmp_path):
    certificate, key = pki.issue("server", serial=1)
    server = tls_server(servers, tmp_path, certificate, key)

    unknown = cli(machine, "send", "--server", server.url, stdin=b"never stored")
    assert unknown.returncode == 6, unknown.stderr.decode()
    assert "is not trusted" in unknown.stderr.decode() and "--cacert" in unknown.stderr.decode()

    stranger = Authority(pki.directory, "another-ca")
    wrong = cli(machine, "send", "--server", server.url, "--cacert", str(stranger.certificate), stdin=b"never stored")
    assert wrong.returncode == 6, wrong.stderr.decode()
    assert "is not trusted" in wrong.stderr.decode() and str(stranger.certificate) in wrong.stderr.decode()

    assert stored_secrets(server, pki) == 0


def test_a_certificate_for_another_name_is_refused(pki, machine, servers, tmp_path):
    certificate, key = pki.issue("elsewhere", serial=5, names="DNS:burn.example.com")
    server = tls_server(servers, tmp_path, certificate, key)
    refused = cli(machine, "send", "--server", server.url, "--cacert", str(pki.certificate), stdin=b"x")
    assert refused.returncode == 6, refused.stderr.decode()
    assert "not for that host name" in refused.stderr.decode(), refused.stderr.decode()


def test_bad_certificate_files_for_the_client_are_usage_errors(machine, tmp_path):
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    for path in [not_pem, tmp_path / "missing.pem"]:
        result = cli(machine, "send", "--server", "https://127.0.0.1:1", "--cacert", str(path), stdin=b"x")
        assert result.returncode == 2, result.stderr.decode()
        assert str(path) in result.stderr.decode()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_only_tls_1_2_and_later(pki, servers, tmp_path):
    certificate, key = pki.issue("server", serial=1)
    server = tls_server(servers, tmp_path, certificate, key)

    def handshake(version, ciphers="DEFAULT"):
        context = ssl.create_default_context(cafile=str(pki.certificate))
        # The client side allows old versions and suites too, so only the server can refuse them.
        context.set_ciphers(ciphers + ":@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = version
        connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status
        except ssl.SSLError:
            return None
        finally:
            connection.close()

    assert handshake(ssl.TLSVersion.TLSv1_2) == 200
    assert handshake(ssl.TLSVersion.TLSv1_1) is None
    # TLS 1.2: forward-secret AEAD suites only; no CBC, no static key exchange.
    assert handshake(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256") == 200
    for suite in ["ECDHE-ECDSA-AES128-SHA", "AES128-GCM-SHA256", "AES128-SHA"]:
        assert handshake(ssl.TLSVersion.TLSv1_2, suite) is None, suite


def test_sighup_reloads_the_certificate_without_dropping_connections(pki, servers, tmp_path):
    certificate, key = pki.issue("server", serial=1)
    server = tls_server(servers, tmp_path, certificate, key)

    context = ssl.create_default_context(cafile=str(pki.certificate))
    kept = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    kept.request("GET", "/healthz")
    assert kept.getresponse().read() == b'{"status":"ok"}'
    assert _serial_of(kept.sock.getpeercert(binary_form=True)) == 1

    # Renewed in place, as certbot or an operator would: both files rewritten, then SIGHUP.
    renewed, renewed_key = pki.issue("renewed", serial=2)
    certificate.write_bytes(renewed.read_bytes())
    key.write_bytes(renewed_key.read_bytes())
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: b"TLS certificate reloaded" in server.log), server.log.decode()

    kept.request("GET", "/healthz")
    assert kept.getresponse().status == 200, "the connection opened before the reload was dropped"
    assert _serial_of(kept.sock.getpeercert(binary_form=True)) == 1
    kept.close()
    assert peer_serial(server.port, pki) == 2

    # A key that does not go with the certificate: refused, the renewed pair stays in service.
    _, stray_key = pki.issue("stray", serial=3)
    key.write_bytes(stray_key.read_bytes())
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: b"not reloaded" in server.log), server.log.decode()
    assert server.process.poll() is None
    assert peer_serial(server.port, pki) == 2


def test_sighup_without_tls_leaves_the_server_running(servers, tmp_path):
    server = Server(tmp_path / "data" / "burnlink.sqlite")
    servers.append(server)
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: b"nothing to reload" in server.log), server.log.decode()
    assert server.process.poll() is None


def test_a_renewal_that_cannot_be_served_is_refused_and_the_old_one_stays(pki, servers, tmp_path):
    certificate, key = pki.issue("server", serial=1)
    server = tls_server(servers, tmp_path, certificate, key)
    good_chain, good_key = certificate.read_bytes(), key.read_bytes()
    expired, expired_key = pki.issue("expired", serial=2, days=-1)
    stranger = Authority(pki.directory, "another-ca")
    leaf = (pki.directory / "server.leaf").read_bytes()
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo)
    attempts = {
        "expired": (expired.read_bytes(), expired_key.read_bytes()),
        "CA first": (pki.certificate.read_bytes() + leaf, good_key),
        "another CA after the leaf": (leaf + stranger.certificate.read_bytes(), good_key),
    }
    for name, (chain, key_bytes) in attempts.items():
        certificate.write_bytes(chain)
        key.write_bytes(key_bytes)
        refusals = server.log.count(b"not reloaded")
        server.process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: server.log.count(b"not reloaded") > refusals), (name, server.log.decode())
        assert peer_serial(server.port, pki) == 1, name
    # A key that is a FIFO would block the read: refused without reading it.
    certificate.write_bytes(good_chain)
    key.unlink()
    key.symlink_to(fifo)
    refusals = server.log.count(b"not reloaded")
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: server.log.count(b"not reloaded") > refusals), server.log.decode()
    assert b"not a regular file" in server.log
    key.unlink()
    key.write_bytes(good_key)
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: b"TLS certificate reloaded" in server.log), server.log.decode()
    assert server.process.poll() is None and peer_serial(server.port, pki) == 1


def test_the_client_follows_no_redirect(machine, tmp_path):
    """A server (or a proxy) answering 307 to plain http:// elsewhere gets nothing sent there."""
    import http.server
    import threading

    received = []

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.path)
            self.send_response(201)
            self.end_headers()

        def log_message(self, *arguments):
            pass

    sink = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Sink)

    class Redirector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.2:{sink.server_address[1]}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *arguments):
            pass

    redirector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
    for server in (sink, redirector):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sent = cli(machine, "send", "--server", f"http://127.0.0.1:{redirector.server_address[1]}", stdin=b"x")
        assert sent.returncode == 6, sent.stderr.decode()
        assert received == []
    finally:
        for server in (sink, redirector):
            server.shutdown()


def test_trust_settings_are_read_only_for_https(machine, servers, tmp_path, pki):
    """A stale SSL_CERT_FILE does not stop a command on plain http:// to loopback; a
    config file's relative cacert is found beside the config file."""
    plain = Server(tmp_path / "plain" / "burnlink.sqlite")
    servers.append(plain)
    machine["SSL_CERT_FILE"] = str(tmp_path / "gone.pem")
    sent = cli(machine, "send", "--server", plain.url, stdin=b"plain")
    assert sent.returncode == 0, sent.stderr.decode()
    del machine["SSL_CERT_FILE"]

    certificate, key = pki.issue("server", serial=1)
    secure = tls_server(servers, tmp_path, certificate, key)
    config = tmp_path / "home" / "config" / "burnlink"
    (config / "ca.pem").write_bytes(pki.certificate.read_bytes())
    (config / "config").write_text("cacert = ca.pem\n")
    sent = subprocess.run([str(CLI), "send", "--server", secure.url], input=b"relative", env=machine,
                          capture_output=True, timeout=60, cwd="/")
    assert sent.returncode == 0, sent.stderr.decode()


@pytest.mark.parametrize("case", ["cert-only", "missing-file", "mismatched-key", "not-pem", "expired"])
def test_the_server_will_not_start_on_unusable_tls_files(pki, tmp_path, case):
    certificate, key = pki.issue("server", serial=1)
    _, other_key = pki.issue("other", serial=2)
    expired, expired_key = pki.issue("expired", serial=3, days=-1)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    arguments, expected = {
        "cert-only": (["--tls-cert", str(certificate)], "--tls-cert and --tls-key go together"),
        "missing-file": (["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(key)], "nope.pem"),
        "mismatched-key": (["--tls-cert", str(certificate), "--tls-key", str(other_key)], "does not go with"),
        "not-pem": (["--tls-cert", str(junk), "--tls-key", str(key)], "junk.pem"),
        "expired": (["--tls-cert", str(expired), "--tls-key", str(expired_key)], "expired at"),
    }[case]
    result = subprocess.run([str(SERVER), "--port", "0", "--database", str(tmp_path / "db.sqlite"), *arguments],
                            capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert expected in result.stderr.decode(), result.stderr.decode()
    assert b"listening on" not in result.stderr


def test_healthcheck_probe_over_http_and_https(pki, servers, tmp_path):
    """`burnlink-server healthcheck`, the probe a container runs, finds the server by the same
    settings the server reads."""
    plain = Server(tmp_path / "plain" / "burnlink.sqlite")
    servers.append(plain)
    certificate, key = pki.issue("server", serial=1)
    secure = tls_server(servers, tmp_path, certificate, key)

    def probe(*arguments, env=None):
        return subprocess.run([str(SERVER), *arguments], capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                              env={**os.environ, **(env or {})})

    for result in [probe("--port", str(plain.port), "healthcheck"),
                   probe("healthcheck", env={"BURNLINK_PORT": str(plain.port)}),
                   probe("healthcheck", env={"BURNLINK_PORT": str(secure.port), "BURNLINK_TLS_CERT": str(certificate)})]:
        assert (result.returncode, result.stdout) == (0, b"ok\n"), result.stderr.decode()

    # Plain HTTP to the TLS port, and a port nobody listens on: exit 1, with the reason.
    wrong = probe("--port", str(secure.port), "healthcheck")
    assert wrong.returncode == 1 and f"127.0.0.1:{secure.port}" in wrong.stderr.decode()
    plain.stop()
    gone = probe("--port", str(plain.port), "healthcheck", "--timeout", "2")
    assert gone.returncode == 1 and b"Error:" in gone.stderr
