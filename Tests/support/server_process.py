"""The real burnlink-server binary as a child process: the one launcher of every Python
suite (Tests/python, Tests/browser, Tests/packaging), as BurnlinkTestSupport is the Swift
suites' one. Each suite's conftest.py puts this folder on the import path.

The binaries come from BURNLINK_BUILD_DIR (default: .build/debug, what `make test` builds);
a suite testing other binaries (the installed packages) names its own.
"""

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BUILD_DIR = Path(os.environ.get("BURNLINK_BUILD_DIR", ROOT / ".build" / "debug"))
SERVER = BUILD_DIR / "burnlink-server"
CLI = BUILD_DIR / "burnlink"

_LISTENING = re.compile(rb"listening on (https?)://127\.0\.0\.1:(\d+)")


class Server:
    """Starts burnlink-server on a free port (port 0) and learns the port from its log."""

    def __init__(self, database, *arguments, binary=SERVER, env=None):
        """`env`: the server's whole environment (default: this process's)."""
        if not Path(binary).exists():
            raise RuntimeError(f"{binary} is missing: build first (swift build)")
        self.process = subprocess.Popen(
            [str(binary), "--port", "0", "--database", str(database), "--rate-limit", "off", *arguments],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        self.log = bytearray()
        self._port = threading.Event()
        self.port = None
        self.scheme = "http"
        threading.Thread(target=self._read_log, daemon=True).start()
        # The event is also set when the log ends without the line (the server exited).
        if not self._port.wait(timeout=60) or self.port is None:
            self.kill()
            raise RuntimeError("burnlink-server did not start:\n" + self.log.decode(errors="replace"))

    def _read_log(self):
        # Keeps draining stderr so the server never blocks on a full pipe.
        for line in self.process.stderr:
            self.log += line
            match = _LISTENING.search(line)
            if match and self.port is None:
                self.scheme = match.group(1).decode()
                self.port = int(match.group(2))
                self._port.set()
            if self.process.poll() is not None and self.port is None:
                break
        self._port.set()

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def kill(self):
        """SIGKILL: the server gets no chance to clean up."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
