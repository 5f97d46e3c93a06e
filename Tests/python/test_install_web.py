"""`make install-web` puts every page and asset where an installed server looks, and the
server serves all three pages from there (a missing file would make them answer 503)."""

import subprocess
import urllib.request

from server_process import ROOT, Server


def test_installed_pages_are_served(tmp_path):
    destination = tmp_path / "root"
    subprocess.run(["make", "-s", "-C", str(ROOT), "install-web", f"DESTDIR={destination}", "PREFIX=/usr"],
                   check=True, capture_output=True, timeout=60)
    web = destination / "usr" / "share" / "burnlink" / "web"
    installed = {path.name for path in web.iterdir()}
    shipped = {path.name for path in (ROOT / "Web").iterdir() if path.suffix in {".html", ".js", ".css", ".svg"}}
    assert installed == shipped
    server = Server(tmp_path / "burnlink.sqlite", "--web-directory", str(web))
    try:
        for path in ("/s/anything", "/r/anything", "/new", "/assets/burnlink-common.js"):
            with urllib.request.urlopen(server.url + path) as response:
                assert response.status == 200, path
    finally:
        assert server.stop() == 0
