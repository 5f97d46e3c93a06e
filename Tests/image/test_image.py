"""The container image (`make image`, packaging/image/build.sh), built from the release
binaries and run with podman: its configuration and content, a read-only root with one
data volume, a round trip with the real CLI, a secret that outlives its container, a clean
stop on SIGTERM, and two replicas on one PostgreSQL as docs/deploy/compose.yaml sets them.

Run by `make test-image` (beside a throwaway PostgreSQL cluster, Tests/support/with-postgres.sh).
The binaries come from BURNLINK_BUILD_DIR (default .build/release).

How podman is run here, and why (the test machine is itself a sandbox):
- `--runtime runc`: crun refuses this host's hybrid cgroup set-up ("cgroups in hybrid mode");
- explicit `--ulimit nofile/nproc`: podman's default raises them, which needs CAP_SYS_RESOURCE,
  which the sandbox lacks.
Neither is part of the image; on an ordinary host both can be left out.
"""

import json
import os
import re
import secrets
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
BUILD_DIR = Path(os.environ.get("BURNLINK_BUILD_DIR", ROOT / ".build" / "release"))
SERVER = BUILD_DIR / "burnlink-server"
CLI = BUILD_DIR / "burnlink"
VERSION = re.search(r'current = "([^"]+)"', (ROOT / "Sources/BurnlinkProtocol/Version.swift").read_text()).group(1)
COMPOSE = ROOT / "docs" / "deploy" / "compose.yaml"
UID = 10001

PODMAN = ["podman", "--runtime", os.environ.get("BURNLINK_PODMAN_RUNTIME", "runc")]
RUN = ["run", "--detach", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
# The hardening a deployment can add; the server needs none of what it takes away.
HARDENED = ["--read-only", "--read-only-tmpfs=false", "--cap-drop=all", "--security-opt=no-new-privileges"]

UNIQUE = secrets.token_hex(4)


def podman(*arguments, timeout=120, check=True):
    result = subprocess.run([*PODMAN, *arguments], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(arguments)}: exit {result.returncode}\n{result.stderr}")
    return result


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_healthy(container, url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http_get(url + "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        state = podman("inspect", container, "--format", "{{.State.Status}}", check=False).stdout.strip()
        if state not in ("running", "created", "configured"):
            break
        time.sleep(0.2)
    logs = podman("logs", container, check=False)
    raise AssertionError(f"{container} is not healthy at {url}:\n{logs.stdout}{logs.stderr}")


def stop(container, limit=10):
    """podman stop (SIGTERM); returns (seconds taken, exit status)."""
    started = time.monotonic()
    podman("stop", "--time", str(limit + 5), container, timeout=limit + 30)
    taken = time.monotonic() - started
    status = int(podman("inspect", container, "--format", "{{.State.ExitCode}}").stdout.strip())
    return taken, status


def cli(*arguments, input=b"", env=None, timeout=60):
    return subprocess.run([str(CLI), *arguments], input=input, capture_output=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-home")
    return {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_STATE_HOME": str(home / "state"), "BURNLINK_SERVER": ""}


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """Builds the image under a name of its own (removed afterwards), and its OCI archive."""
    for binary in (SERVER, CLI):
        if not binary.exists():
            pytest.fail(f"{binary} is missing: make release first")
    tag = f"localhost/burnlink-server-test-{UNIQUE}:{VERSION}"
    archive = tmp_path_factory.mktemp("image") / f"burnlink-server-{VERSION}.oci.tar"
    try:
        subprocess.run([str(ROOT / "packaging/image/build.sh"), "--server", str(SERVER), "--tag", tag,
                        "--archive", str(archive)], check=True, timeout=600)
        yield {"tag": tag, "archive": archive}
    finally:
        podman("rmi", "--force", tag, check=False)


@pytest.fixture
def cleanup():
    """Containers and volumes the test registers, removed however it ends."""
    made = {"containers": [], "volumes": []}
    yield made
    for container in made["containers"]:
        podman("rm", "--force", "--volumes", "--time", "0", container, check=False)
    for volume in made["volumes"]:
        podman("volume", "rm", "--force", volume, check=False)


def test_configuration(image):
    config = json.loads(podman("image", "inspect", image["tag"]).stdout)[0]["Config"]
    user, group = config["User"].split(":")
    assert (int(user), int(group)) == (UID, UID)  # numeric, so runAsNonRoot can check it
    assert config["Entrypoint"] == ["/usr/bin/burnlink-server"]
    assert not config.get("Cmd")
    assert "8080/tcp" in config["ExposedPorts"]
    assert list(config["Volumes"]) == ["/var/lib/burnlink"]
    assert config["WorkingDir"] == "/var/lib/burnlink"
    assert config["StopSignal"] == "SIGTERM"
    assert {"BURNLINK_HOST=0.0.0.0", "BURNLINK_PORT=8080",
            "BURNLINK_DATABASE=/var/lib/burnlink/burnlink.sqlite"} <= set(config["Env"])
    # An OCI image configuration has no health check field: compose files and `podman run
    # --health-cmd` name the probe, `burnlink-server healthcheck` (run in the test below).
    assert "Healthcheck" not in config
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert labels["org.opencontainers.image.title"] == "burnlink-server"
    assert re.fullmatch(r"[0-9a-f]{40}", labels["org.opencontainers.image.revision"])

    # The same through skopeo, from local storage and from the OCI archive (with the labels
    # also as manifest annotations there).
    for reference in (f"containers-storage:{image['tag']}", f"oci-archive:{image['archive']}"):
        inspected = json.loads(subprocess.run(["skopeo", "inspect", reference], check=True,
                                              capture_output=True, timeout=120).stdout)
        assert inspected["Labels"]["org.opencontainers.image.version"] == VERSION
        assert inspected["Os"] == "linux" and inspected["Architecture"] == "amd64"
    manifest = json.loads(subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{image['archive']}"],
                                         check=True, capture_output=True, timeout=120).stdout)
    assert manifest["annotations"]["org.opencontainers.image.version"] == VERSION
    assert manifest["annotations"]["org.opencontainers.image.licenses"] == "MIT"


def test_content(image, tmp_path, cleanup):
    """The file system, read from `podman export`: no shell, only the server, its libraries,
    the web pages, certificates and users; root owns everything but the data directory."""
    container = f"burnlink-test-export-{UNIQUE}"
    cleanup["containers"].append(container)
    podman("create", "--name", container, image["tag"])
    exported = tmp_path / "rootfs.tar"
    podman("export", "--output", str(exported), container)
    with tarfile.open(exported) as tar:
        members = {"/" + member.name.lstrip("./").rstrip("/"): member for member in tar.getmembers()}
        passwd = tar.extractfile(members["/etc/passwd"]).read().decode()
    names = set(members)
    for shell in ("/bin/sh", "/bin/bash", "/usr/bin/sh", "/bin/busybox"):
        assert shell not in names
    assert sorted(name for name in names if re.match(r"^/(usr/)?s?bin/[^/]+$", name)) == ["/usr/bin/burnlink-server"]
    shipped = {path.name for path in (ROOT / "Web").iterdir() if path.suffix in {".html", ".js", ".css", ".svg"}}
    served = {name.rsplit("/", 1)[1] for name in names if name.startswith("/usr/share/burnlink/web/")}
    assert served == shipped
    for needed in ("/usr/share/nodejs/tweetnacl/nacl-fast.min.js", "/etc/ssl/certs/ca-certificates.crt",
                   "/etc/group", "/etc/nsswitch.conf", "/lib64/ld-linux-x86-64.so.2"):
        assert needed in names, needed
    assert f"burnlink:x:{UID}:{UID}:" in passwd
    data = members["/var/lib/burnlink"]
    assert data.isdir() and (data.uid, data.gid, data.mode & 0o7777) == (UID, UID, 0o700)
    for name, member in members.items():
        if name in ("/var/lib/burnlink", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/run/.containerenv"):
            continue  # the last four are podman's, made when the container was created
        assert (member.uid, member.gid) == (0, 0), name
        assert not member.mode & 0o6000, f"{name} is setuid/setgid"
        assert not (member.isfile() and member.mode & 0o002), f"{name} is world-writable"


def test_read_only_round_trip_restart_and_stop(image, tmp_path, cleanup, cli_env):
    volume = f"burnlink-test-data-{UNIQUE}"
    cleanup["volumes"].append(volume)
    podman("volume", "create", volume)
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def start(name):
        cleanup["containers"].append(name)
        podman(*RUN, *HARDENED, "--name", name, "--publish", f"127.0.0.1:{port}:8080",
               "--volume", f"{volume}:/var/lib/burnlink", image["tag"])
        wait_healthy(name, url)

    first = f"burnlink-test-a-{UNIQUE}"
    start(first)
    top = podman("top", first, "huser", "args").stdout
    assert str(UID) in top and "burnlink-server" in top
    for page in ("/s/x", "/new", "/assets/nacl-fast.min.js"):  # the pages and tweetnacl were found
        assert http_get(url + page)[0] == 200, page
    # The probe a health check runs inside the container, which has no shell and no curl.
    probe = podman("exec", first, "/usr/bin/burnlink-server", "healthcheck", check=False)
    assert (probe.returncode, probe.stdout.strip()) == (0, "ok"), probe.stderr

    sent = cli("send", "--server", url, input=b"hunter2", env=cli_env)
    assert sent.returncode == 0, sent.stderr
    link = sent.stdout.decode().strip()
    opened = cli("open", input=link.encode(), env=cli_env)
    assert (opened.returncode, opened.stdout) == (0, b"hunter2"), opened.stderr

    # Sent before the restart: a text secret and one over 1 MiB (its chunks go to the
    # -chunks directory beside the database, in the volume too).
    kept = cli("send", "--server", url, input=b"survives a restart", env=cli_env)
    assert kept.returncode == 0, kept.stderr
    big = os.urandom(3 * 1024 * 1024 + 5)
    (tmp_path / "big.bin").write_bytes(big)
    big_sent = cli("send", "--server", url, str(tmp_path / "big.bin"), env=cli_env)
    assert big_sent.returncode == 0, big_sent.stderr

    # One server per volume: a second container on the same data stops at the lock file.
    intruder = f"burnlink-test-intruder-{UNIQUE}"
    cleanup["containers"].append(intruder)
    podman(*RUN, *HARDENED, "--name", intruder, "--volume", f"{volume}:/var/lib/burnlink", image["tag"])
    podman("wait", intruder, timeout=60)
    assert podman("inspect", intruder, "--format", "{{.State.ExitCode}}").stdout.strip() == "1"
    logs = podman("logs", intruder)
    assert "another burnlink-server is using" in logs.stdout + logs.stderr
    assert http_get(url + "/healthz")[0] == 200

    taken, status = stop(first)
    assert status in (0, 143) and taken < 10, (taken, status)
    assert status == 0  # the server stops gracefully on SIGTERM, as pid 1 too
    podman("rm", "--volumes", first)

    second = f"burnlink-test-b-{UNIQUE}"
    start(second)
    reopened = cli("open", input=kept.stdout, env=cli_env)
    assert (reopened.returncode, reopened.stdout) == (0, b"survives a restart"), reopened.stderr
    output = tmp_path / "big.out"
    big_opened = cli("open", "--output", str(output), input=big_sent.stdout, env=cli_env)
    assert big_opened.returncode == 0, big_opened.stderr
    assert output.read_bytes() == big
    again = cli("open", input=link.encode(), env=cli_env)
    assert again.returncode == 3  # gone: read before the restart

    taken, status = stop(second)
    assert status == 0 and taken < 10, (taken, status)
    logs = podman("logs", second).stderr + podman("logs", second).stdout
    assert "burnlink-server stopped" in logs


def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file():
    """docs/deploy/compose.yaml: PostgreSQL and two read-only replicas of the image, on the
    loopback ports docs/deploy/nginx.conf forwards to, with settings the server knows."""
    document = compose()
    services = document["services"]
    assert set(services) == {"db", "burnlink-1", "burnlink-2"}
    help_text = subprocess.run([str(SERVER), "--help"], capture_output=True, text=True, check=True).stdout
    upstreams = re.findall(r"^\s*server (127\.0\.0\.1:\d+);", (ROOT / "docs/deploy/nginx.conf").read_text(), re.M)
    published = []
    for name in ("burnlink-1", "burnlink-2"):
        service = services[name]
        assert "burnlink-server" in service["image"]
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"] and service["security_opt"] == ["no-new-privileges:true"]
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        environment = service["environment"]
        assert environment["BURNLINK_DATABASE_URL"].startswith("postgres://burnlink@db:5432/burnlink")
        assert environment["BURNLINK_TRUST_PROXY"] == "1"
        for variable in environment:
            assert variable == "PGPASSWORD" or variable in help_text, variable
        (port,) = service["ports"]
        address, _, container_port = port.rpartition(":")
        assert container_port == "8080" and address.startswith("127.0.0.1:")
        published.append(address)
    assert published == upstreams
    assert services["db"]["environment"]["POSTGRES_USER"] == "burnlink"
    assert services["db"]["environment"]["POSTGRES_DB"] == "burnlink"


def test_two_replicas_on_postgres(image, cleanup, cli_env):
    """The compose topology by hand: the replicas' settings from compose.yaml, the database
    a throwaway cluster on the host (no postgres image can be pulled here), host networking
    so the containers reach it on loopback. Sent through one replica, opened through the
    other (the link is built on the public URL, which points at the first)."""
    database = os.environ.get("BURNLINK_TEST_POSTGRES_URL")
    if not database:
        if os.environ.get("BURNLINK_REQUIRE_POSTGRES"):
            pytest.fail("BURNLINK_TEST_POSTGRES_URL is not set (run under Tests/support/with-postgres.sh)")
        pytest.skip("no PostgreSQL (run under Tests/support/with-postgres.sh)")
    settings = compose()["services"]["burnlink-1"]["environment"]
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    environment = {**settings, "BURNLINK_DATABASE_URL": database, "PGPASSWORD": "unused (trust)",
                   "BURNLINK_PUBLIC_URL": urls[0], "BURNLINK_HOST": "127.0.0.1"}
    names = [f"burnlink-test-replica{index}-{UNIQUE}" for index in (1, 2)]
    for name, port in zip(names, ports):  # started together: the migration runs once, under a lock
        cleanup["containers"].append(name)
        variables = [f"--env={key}={value}" for key, value in {**environment, "BURNLINK_PORT": port}.items()]
        podman(*RUN, *HARDENED, "--network=host", "--name", name, *variables, image["tag"])
    for name, url in zip(names, urls):
        wait_healthy(name, url)

    sent = cli("send", "--server", urls[1], input=b"across replicas", env=cli_env)
    assert sent.returncode == 0, sent.stderr
    link = sent.stdout.decode().strip()
    assert link.startswith(urls[0] + "/s/")
    opened = cli("open", input=link.encode(), env=cli_env)
    assert (opened.returncode, opened.stdout) == (0, b"across replicas"), opened.stderr
    for name in names:
        taken, status = stop(name)
        assert status == 0 and taken < 10, (name, taken, status)
        logs = podman("logs", name).stderr + podman("logs", name).stdout
        assert "database=postgres://" in logs, logs
