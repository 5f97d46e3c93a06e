"""The packages of `make deb` and `make dist` (docs/packaging.md), checked as a user gets them:
the files at their paths, Depends as dpkg-shlibdeps computes it, both .debs installed by dpkg
into a scratch root (maintainer scripts included), the installed server and CLI doing a round
trip, and the tarball's CLI: its checksum, its size, what it links, a round trip of its own.

`make test-packaging` builds the packages first; the files are read from BURNLINK_PACKAGE_DIR.
"""

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest
from server_process import Server

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE_DIR = Path(os.environ.get("BURNLINK_PACKAGE_DIR", ROOT / ".build" / "packages"))
VERSION = re.search(r'current = "([^"]+)"', (ROOT / "Sources/BurnlinkProtocol/Version.swift").read_text()).group(1)
CLI_DEB = PACKAGE_DIR / f"burnlink_{VERSION}_amd64.deb"
SERVER_DEB = PACKAGE_DIR / f"burnlink-server_{VERSION}_amd64.deb"
TARBALL_NAME = f"burnlink-{VERSION}-linux-x86_64"
TARBALL = PACKAGE_DIR / f"{TARBALL_NAME}.tar.gz"

# What a self-contained CLI may ask the dynamic linker for: the C library family, the C++
# runtime and zlib, which every glibc Linux system has.
ALLOWED_LIBRARIES = re.compile(
    r"(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|lib(c|m|dl|rt|pthread|util|resolv)\.so\.\d+"
    r"|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libz\.so\.1)")
WEB_SUFFIXES = {".html", ".js", ".css", ".svg"}


def run(*arguments, **options):
    options.setdefault("capture_output", True)
    options.setdefault("timeout", 120)
    result = subprocess.run([str(a) for a in arguments], **options)
    assert result.returncode == 0, f"{arguments} exited {result.returncode}:\n{result.stderr}"
    return result


def deb_field(deb, field):
    return run("dpkg-deb", "-f", deb, field, text=True).stdout.strip()


def deb_listing(deb):
    """Path to (mode string, owner) from `dpkg-deb --contents`, paths without the leading dot."""
    listing = {}
    for line in run("dpkg-deb", "--contents", deb, text=True).stdout.splitlines():
        mode, owner, _size, _day, _time, path = line.split(None, 5)
        path = path.split(" -> ")[0]
        listing[path[1:].rstrip("/") or "/"] = (mode, owner)
    return listing


def needed(binary):
    """The shared libraries an ELF file asks for."""
    dynamic = run("readelf", "-d", binary, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)


def man_page(path):
    """The page as `man -l` formats it; groff and mdoc must have nothing to warn about."""
    result = run("man", "--warnings", "-l", path, text=True,
                 env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "80", "LC_ALL": "C.UTF-8"})
    assert result.stderr == "", result.stderr
    return result.stdout


def stripped(binary):
    return ".symtab" not in run("readelf", "-S", "-W", binary, text=True).stdout


@pytest.fixture(scope="module", autouse=True)
def packages_exist():
    missing = [p for p in (CLI_DEB, SERVER_DEB, TARBALL, PACKAGE_DIR / "SHA256SUMS") if not p.exists()]
    if missing:
        pytest.fail(f"missing {', '.join(map(str, missing))}: run `make deb dist` first")


def installed_server(binary, database):
    """An installed burnlink-server on a free port, with no BURNLINK_* setting of this machine."""
    return Server(database, binary=binary, env={k: v for k, v in os.environ.items() if not k.startswith("BURNLINK_")})


def cli_environment(home):
    """A home of its own: no configuration, state or server setting of the machine applies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BURNLINK_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"))
    return env


def round_trip(sender, opener, server, home, secret):
    """`echo SECRET | sender send --server URL`, then `opener open` with the link on stdin."""
    env = cli_environment(home)
    sent = run(sender, "send", "--server", server.url, input=secret, env=env, timeout=60)
    link = sent.stdout.decode().strip()
    assert link.startswith(f"{server.url}/s/"), link
    opened = run(opener, "open", "--yes", input=(link + "\n").encode(), env=env, timeout=60)
    assert opened.stdout == secret
    again = subprocess.run([str(opener), "open", "--yes"], input=(link + "\n").encode(), env=env,
                           capture_output=True, timeout=60)
    assert again.returncode == 3, again.stderr  # opened once: gone


# --- The .deb files as files -------------------------------------------------------------

def test_control_fields_and_computed_depends(tmp_path):
    for deb, package in ((CLI_DEB, "burnlink"), (SERVER_DEB, "burnlink-server")):
        assert deb_field(deb, "Package") == package
        assert deb_field(deb, "Version") == VERSION
        assert deb_field(deb, "Architecture") == "amd64"
        depends = deb_field(deb, "Depends")
        assert re.search(r"\blibsodium23 \(>= [^)]+\)", depends), depends
        assert re.search(r"\blibc6 \(>= [^)]+\)", depends), depends

        # Depends is what dpkg-shlibdeps computes for the packaged binary (the server adds
        # init-system-helpers for its maintainer scripts), not a list written by hand.
        root = tmp_path / package
        run("dpkg-deb", "-x", deb, root)
        scratch = tmp_path / f"shlibdeps-{package}"
        (scratch / "debian").mkdir(parents=True)
        (scratch / "debian" / "control").write_text(f"Source: burnlink\n\nPackage: {package}\nArchitecture: any\n")
        computed = run("dpkg-shlibdeps", "-O", "-e", root / "usr" / "bin" / package, cwd=scratch, text=True).stdout
        computed = [p.strip() for p in re.search(r"^shlibs:Depends=(.*)$", computed, re.M).group(1).split(",")]
        parts = [p.strip() for p in depends.split(",")]
        if package == "burnlink":
            assert parts == computed
        else:
            assert parts == computed + ["init-system-helpers (>= 1.54~)"]
            assert "libsqlite3-0" in depends
            assert deb_field(deb, "Recommends") == "node-tweetnacl"


def test_cli_package_contents():
    listing = deb_listing(CLI_DEB)
    expected = {
        "/usr/bin/burnlink": "-rwxr-xr-x",
        "/usr/share/man/man1/burnlink.1.gz": "-rw-r--r--",
        "/usr/share/bash-completion/completions/burnlink": "-rw-r--r--",
        "/usr/share/zsh/vendor-completions/_burnlink": "-rw-r--r--",
        "/usr/share/fish/vendor_completions.d/burnlink.fish": "-rw-r--r--",
        "/usr/share/doc/burnlink/copyright": "-rw-r--r--",
        "/usr/share/doc/burnlink/changelog.gz": "-rw-r--r--",
        "/usr/share/lintian/overrides/burnlink": "-rw-r--r--",
    }
    for path, mode in expected.items():
        assert listing.get(path) == (mode, "root/root"), (path, listing.get(path))
    files = {p for p, (mode, _) in listing.items() if not mode.startswith("d")}
    assert files == set(expected), files ^ set(expected)


def test_server_package_contents():
    listing = deb_listing(SERVER_DEB)
    web = {f"/usr/share/burnlink/web/{p.name}" for p in (ROOT / "Web").iterdir() if p.suffix in WEB_SUFFIXES}
    expected = {
        "/usr/bin/burnlink-server", "/usr/share/man/man1/burnlink-server.1.gz",
        "/lib/systemd/system/burnlink-server.service", "/etc/default/burnlink-server",
        "/usr/share/doc/burnlink-server/copyright", "/usr/share/doc/burnlink-server/changelog.gz",
        "/usr/share/bash-completion/completions/burnlink-server",
        "/usr/share/zsh/vendor-completions/_burnlink-server",
        "/usr/share/fish/vendor_completions.d/burnlink-server.fish",
        "/usr/share/lintian/overrides/burnlink-server",
    } | web
    files = {p for p, (mode, _) in listing.items() if not mode.startswith("d")}
    assert files == expected, files ^ expected
    assert listing["/usr/bin/burnlink-server"] == ("-rwxr-xr-x", "root/root")
    # The unit and the settings are the ones in packaging/, byte for byte.
    control = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(SERVER_DEB)], capture_output=True, check=True).stdout
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(SERVER_DEB)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        unit = tar.extractfile("./lib/systemd/system/burnlink-server.service").read()
        default = tar.extractfile("./etc/default/burnlink-server").read()
    assert unit == (ROOT / "packaging/burnlink-server.service").read_bytes()
    assert default == (ROOT / "packaging/burnlink-server.default").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(control)) as tar:
        names = {m.name.lstrip("./") for m in tar.getmembers() if m.isfile()}
        assert {"control", "md5sums", "conffiles", "postinst", "prerm", "postrm"} <= names
        assert tar.extractfile("./conffiles").read().decode().split() == ["/etc/default/burnlink-server"]
        for script in ("postinst", "prerm", "postrm"):
            member = tar.getmember(f"./{script}")
            assert member.mode & 0o777 == 0o755, script


def test_deb_binaries_are_stripped_and_link_debian_libsodium(tmp_path):
    for deb, package in ((CLI_DEB, "burnlink"), (SERVER_DEB, "burnlink-server")):
        root = tmp_path / package
        run("dpkg-deb", "-x", deb, root)
        binary = root / "usr" / "bin" / package
        assert stripped(binary), package
        libraries = needed(binary)
        assert "libsodium.so.23" in libraries, libraries
        assert not [lib for lib in libraries if lib.startswith("libswift")], libraries


def test_lintian_reports_only_the_tags_docs_packaging_explains():
    """Errors and warnings of lintian (overrides applied): the ones docs/packaging.md explains."""
    result = subprocess.run(["lintian", "--fail-on", "none", str(CLI_DEB), str(SERVER_DEB)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    tags = sorted(line for line in result.stdout.splitlines() if re.match(r"[EWX]: ", line))
    assert tags == [
        "E: burnlink-server: embedded-library zlib [usr/bin/burnlink-server]",
        "E: burnlink: embedded-library zlib [usr/bin/burnlink]",
    ]
    explained = (ROOT / "docs" / "packaging.md").read_text()
    for tag in ("embedded-library", "hardening-no-bindnow", "hardening-no-fortify-functions",
                "spelling-error-in-binary", "package-contains-documentation-outside-usr-share-doc",
                "package-supports-alternative-init-but-no-init.d-script"):
        assert tag in explained, tag


# --- Installed by dpkg into a scratch root ----------------------------------------------

@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Both packages installed by dpkg into a scratch root of their own (its own database),
    maintainer scripts run outside a chroot: they act on DPKG_ROOT, never on this machine."""
    root = tmp_path_factory.mktemp("root")
    admin = root / "var" / "lib" / "dpkg"
    for directory in ("info", "updates", "triggers"):
        (admin / directory).mkdir(parents=True)
    (admin / "status").touch()
    (admin / "available").touch()
    dpkg = ["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends", "--log=/dev/null"]
    run(*dpkg, "--install", CLI_DEB, SERVER_DEB)
    return root, dpkg


def test_dpkg_installs_removes_and_purges(installed):
    root, dpkg = installed
    status = run(*dpkg, "--status", "burnlink-server", text=True).stdout
    assert "Status: install ok installed" in status
    assert f"Version: {VERSION}" in status
    # postinst enabled the unit, in the scratch root (deb-systemd-helper honours DPKG_ROOT).
    wants = root / "etc/systemd/system/multi-user.target.wants/burnlink-server.service"
    assert wants.is_symlink() and os.readlink(wants) == "/lib/systemd/system/burnlink-server.service"
    conffiles = run(*dpkg, "--status", "burnlink-server", text=True).stdout
    assert "/etc/default/burnlink-server" in conffiles.split("Conffiles:")[1]

    # The CLI from the dpkg-installed tree runs; the server is removed and purged on a copy
    # of the root, so the round-trip tests below keep theirs.
    copy = root.parent / (root.name + "-removal")
    shutil.copytree(root, copy, symlinks=True)
    copy_dpkg = [a.replace(str(root), str(copy)) for a in dpkg]
    state = copy / "var/lib/private/burnlink"
    state.mkdir(parents=True)
    (state / "burnlink.sqlite").write_text("data")
    run(*copy_dpkg, "--remove", "burnlink-server")
    assert not (copy / "usr/bin/burnlink-server").exists()
    assert (copy / "etc/default/burnlink-server").exists()  # a conffile outlives a removal
    assert (copy / "var/lib/private/burnlink/burnlink.sqlite").exists()  # so does the data
    run(*copy_dpkg, "--purge", "burnlink-server")
    assert not (copy / "etc/default/burnlink-server").exists()
    assert not (copy / "var/lib/private/burnlink").exists()
    assert not (copy / "etc/systemd/system/multi-user.target.wants/burnlink-server.service").exists()
    shutil.rmtree(copy)


def test_installed_cli_version_man_page_and_completions(installed):
    root, _ = installed
    assert run(root / "usr/bin/burnlink", "--version", text=True).stdout.strip() == VERSION
    assert run(root / "usr/bin/burnlink-server", "--version", text=True).stdout.strip() == VERSION
    for name in ("burnlink", "burnlink-server"):
        page = man_page(root / f"usr/share/man/man1/{name}.1.gz")
        assert "NAME" in page and name in page and "SYNOPSIS" in page, page[:400]
        bash = root / f"usr/share/bash-completion/completions/{name}"
        assert re.search(rf"^complete .* -F _{re.escape(name)} {re.escape(name)}$", bash.read_text(), re.M)
    # The bash completion completes: `burnlink se<TAB>` offers `send`.
    completion = run("bash", "-c", 'source "$1"; COMP_LINE="burnlink se"; COMP_POINT=${#COMP_LINE}; '
                     'COMP_WORDS=(burnlink se); COMP_CWORD=1; _burnlink burnlink se burnlink; '
                     'printf "%s\\n" "${COMPREPLY[@]}"', "bash",
                     root / "usr/share/bash-completion/completions/burnlink", text=True).stdout
    assert completion.split() == ["send"]


def test_installed_server_serves_pages_and_a_round_trip(installed, tmp_path):
    root, _ = installed
    server = installed_server(root / "usr/bin/burnlink-server", tmp_path / "burnlink.sqlite")
    try:
        # The pages come from the installed web directory, found beside the binary
        # (usr/bin/../share/burnlink/web): no flag says where it is.
        with urllib.request.urlopen(server.url + "/s/x", timeout=30) as response:
            assert response.status == 200
            assert b"<html" in response.read().lower()
        round_trip(root / "usr/bin/burnlink", root / "usr/bin/burnlink", server, tmp_path / "home",
                   b"deb secret\n")
    finally:
        assert server.stop() == 0, server.log.decode(errors="replace")


# --- The tarball -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dist")
    with tarfile.open(TARBALL) as tar:
        for member in tar.getmembers():
            assert member.name == TARBALL_NAME or member.name.startswith(TARBALL_NAME + "/"), member.name
            assert member.isfile() or member.isdir(), member.name
            assert member.uid == 0 and member.gid == 0
        tar.extractall(directory, filter="data")
    return directory / TARBALL_NAME


def test_tarball_checksum_and_size():
    sums = (PACKAGE_DIR / "SHA256SUMS").read_text().splitlines()
    assert sums == [f"{hashlib.sha256(TARBALL.read_bytes()).hexdigest()}  {TARBALL.name}"]
    run("sha256sum", "--check", "--strict", "SHA256SUMS", cwd=PACKAGE_DIR)
    assert TARBALL.stat().st_size < 15 * 1024 * 1024


def test_tarball_contents(unpacked):
    files = {str(p.relative_to(unpacked)) for p in unpacked.rglob("*") if p.is_file()}
    assert files == {
        "bin/burnlink", "share/man/man1/burnlink.1", "share/bash-completion/completions/burnlink",
        "share/zsh/site-functions/_burnlink", "share/fish/vendor_completions.d/burnlink.fish",
        "README.md", "LICENSE",
    }
    assert os.access(unpacked / "bin/burnlink", os.X_OK)
    assert (unpacked / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()
    assert "SYNOPSIS" in man_page(unpacked / "share/man/man1/burnlink.1")


def test_tarball_cli_is_self_contained(unpacked):
    binary = unpacked / "bin/burnlink"
    assert stripped(binary)
    libraries = needed(binary)
    assert not [lib for lib in libraries if not ALLOWED_LIBRARIES.fullmatch(lib)], libraries
    resolved = run("ldd", binary, text=True).stdout
    names = [line.split()[0] for line in resolved.splitlines() if line.strip()]
    assert not [n for n in names if not ALLOWED_LIBRARIES.fullmatch(os.path.basename(n))], resolved
    assert "libsodium" not in resolved
    assert run(binary, "--version", text=True).stdout.strip() == VERSION


def test_tarball_cli_round_trip(unpacked, installed, tmp_path):
    root, _ = installed
    server = installed_server(root / "usr/bin/burnlink-server", tmp_path / "burnlink.sqlite")
    try:
        tarball_cli = unpacked / "bin/burnlink"
        round_trip(tarball_cli, tarball_cli, server, tmp_path / "home", b"tarball secret\n")
        # The two builds speak the same format: one sends, the other opens.
        round_trip(tarball_cli, root / "usr/bin/burnlink", server, tmp_path / "home", b"across builds\n")
    finally:
        assert server.stop() == 0, server.log.decode(errors="replace")


def test_tarball_cli_runs_with_nothing_but_the_allowed_libraries(unpacked, installed, tmp_path):
    """A chroot holding only the CLI, the libraries ldd resolves for it, and /proc (which the
    runtime reads at start): --version and a round trip against a server outside it."""
    if os.geteuid() != 0:
        pytest.skip("chroot and a bind mount of /proc need root")
    jail = tmp_path / "jail"
    for directory in ("bin", "proc", "tmp/home"):
        (jail / directory).mkdir(parents=True)
    shutil.copy2(unpacked / "bin/burnlink", jail / "bin/burnlink")
    for library in re.findall(r"(/\S+) \(0x", run("ldd", jail / "bin/burnlink", text=True).stdout):
        assert ALLOWED_LIBRARIES.fullmatch(os.path.basename(library)), library
        (jail / library.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(library), jail / library.lstrip("/"))
    if subprocess.run(["mount", "--bind", "/proc", str(jail / "proc")], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount /proc here")
    root, _ = installed
    try:
        server = installed_server(root / "usr/bin/burnlink-server", tmp_path / "burnlink.sqlite")
        try:
            env = {"PATH": "/bin", "HOME": "/tmp/home", "XDG_CONFIG_HOME": "/tmp/home/config",
                   "XDG_STATE_HOME": "/tmp/home/state"}
            cli = [shutil.which("chroot") or "/usr/sbin/chroot", jail, "/bin/burnlink"]
            assert run(*cli, "--version", env=env, text=True).stdout.strip() == VERSION
            link = run(*cli, "send", "--server", server.url, input=b"jailed\n", env=env).stdout.strip()
            assert run(*cli, "open", "--yes", input=link + b"\n", env=env).stdout == b"jailed\n"
        finally:
            assert server.stop() == 0, server.log.decode(errors="replace")
    finally:
        if subprocess.run(["umount", str(jail / "proc")]).returncode != 0:
            subprocess.run(["umount", "-l", str(jail / "proc")], check=True)
