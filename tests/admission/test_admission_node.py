"""Refusals as Node's `ws` client sees them ('unexpected-response' with status, headers and
body), against c-examples/build/rooms. Needs node and tests/deflate's `ws` (make deps installs
both); skipped without them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "node_client.mjs"


def node_upgrade(srv, path: str, origin: str | None = None) -> dict:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (make deps)")
    out = subprocess.run(["node", str(SCRIPT), f"ws://127.0.0.1:{srv.port}{path}",
                          *([origin] if origin else [])], capture_output=True, timeout=20)
    if out.returncode == 2:
        pytest.skip(out.stderr.decode().strip())
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)


def test_node_ws_sees_the_authorizers_401(serve):
    srv = serve("rooms")
    r = node_upgrade(srv, "/rooms/red?token=bad")
    assert (r["event"], r["status"], r["body"]) == ("unexpected-response", 401, "bad token")
    assert r["headers"]["www-authenticate"] == "Bearer"
    assert node_upgrade(srv, "/rooms/red?token=alice") == {"event": "open", "echo": "node"}


def test_node_ws_sees_the_origin_refusal(serve):
    srv = serve("rooms", {"HS_WS_ORIGINS": "https://app.example"})
    r = node_upgrade(srv, "/rooms/red", origin="https://evil.example")
    assert (r["status"], r["body"]) == (403, "Origin not allowed.")
    assert r["headers"]["x-server-response-type"] == "ORIGIN_REFUSED"
    ok = node_upgrade(srv, "/rooms/red", origin="https://app.example")
    assert ok["event"] == "open"
