"""Socket.IO in headless Chromium (Debian's chromium through tests/browser's playwright-core):
the page (page.html, served by the app as /page) loads the browser build of socket.io-client
that the server serves from this directory's node_modules, connects to the page's origin, and
exchanges events, acks (both ways) and binary with the server and, through a room, with a Node
client. Against the C app and the PHP app (2 workers)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from sio_support import BROWSER, HERE, ROOT

PAGE = HERE / "page.html"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def run_browser(url: str, **opts) -> dict:
    if shutil.which("node") is None or not os.path.exists(CHROMIUM):
        pytest.skip(f"node or Chromium ({CHROMIUM}) is missing (make deps)")
    out = subprocess.run(["node", str(BROWSER), json.dumps(opts), url], capture_output=True,
                         timeout=60, cwd=str(HERE))
    if out.returncode == 2:
        pytest.skip(out.stderr.decode().strip())
    lines = out.stdout.decode(errors="replace").strip().splitlines()
    assert out.returncode == 0 and lines, \
        f"browser.mjs failed ({out.returncode}): {lines[-3:]} {out.stderr.decode()[-3000:]}"
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """tests/tls's test certificates (openssl)."""
    sys.path.insert(0, str(ROOT / "tests" / "tls"))
    from certs import make_certs
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.mark.parametrize("transport", ["upgrade", "polling"])
def test_page_over_https_and_http2(serve, certs, transport):
    """The page over https: Chromium speaks HTTP/2 (ALPN) to the server, so the polling
    requests go over HTTP/2 and the websocket is opened over it (RFC 8441) or over a new
    HTTP/1.1 connection; either way the upgrade completes and events flow."""
    if os.environ.get("SIO_APP") == "reference":
        pytest.skip("the reference server speaks plain HTTP only")
    srv = serve("c", {"HS_SIO_PAGE": str(PAGE), "HS_TLS_CERT": certs["server"],
                      "HS_TLS_KEY": certs["server_key"]})
    opts = {} if transport == "upgrade" else {"transports": [transport]}
    r = run_browser(srv.url, room=f"tls-{transport}", ca=certs["ca"], **opts)
    assert r["protocols"]["page"] == "h2", r["protocols"]
    assert r["protocols"]["polling"] == ["h2"], r["protocols"]
    assert r["final"] == ("websocket" if transport == "upgrade" else "polling")
    assert r["echo"] == ["from the browser", {"n": 1, "list": [True, None]}]
    assert r["binary"] == [{"$bin": "010203fa"}, "with text"]
    assert r["answer"] == [[42, "doubled"]]
    assert r["browserNews"][0] == ["from node", {"n": 2}]
    assert ["from the browser", {"$bin": "0908"}] in r["peerNews"]
    assert r["errors"] == []


@pytest.mark.parametrize("kind,transport", [
    ("c", "upgrade"), ("c", "polling"), ("c", "websocket"), ("php", "upgrade")])
def test_page_talks_socketio(serve, kind, transport):
    srv = serve(kind, {"HS_SIO_PAGE": str(PAGE)}, workers=2 if kind == "php" else 1)
    status, body = srv.get("/client/socket.io.min.js")
    assert status == 200 and b"io" in body[:2000]
    opts = {} if transport == "upgrade" else {"transports": [transport]}
    r = run_browser(srv.url, room=f"web-{kind}-{transport}", **opts)
    assert r["first"] == ("polling" if transport == "upgrade" else transport)
    assert r["final"] == ("websocket" if transport == "upgrade" else transport)
    assert r["echo"] == ["from the browser", {"n": 1, "list": [True, None]}]
    assert r["binary"] == [{"$bin": "010203fa"}, "with text"]
    assert r["answer"] == [[42, "doubled"]]
    assert r["join"] == [True]
    assert r["whoami"]["sid"] == r["id"] and r["whoami"]["rooms"] == [f"web-{kind}-{transport}"]
    assert r["browserNews"][0] == ["from node", {"n": 2}]
    assert ["from the browser", {"$bin": "0908"}] in r["peerNews"]
    assert r["status"] == f"connected as {r['id']}"
    assert r["errors"] == []
