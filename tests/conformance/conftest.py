"""The echo servers of the conformance suite, each started once per session on port 0 and stopped
by its PID: the C example c-examples/build/ws_echo and tests/conformance/echo_server.php (PHP
wrapper) with the engine's defaults; and, for the cases that need other limits, the same two
engines with a small message limit or a short ping interval (echo_server.c, compiled here, and
echo_server.php with arguments). After every test the server it used must still answer a new
connection.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from wsraw import TEXT, RawWS
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1] / "pysupport"))
from clib import build_c_server  # noqa: E402
from ready import NotReady, read_listening_port  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LIBDIR = ROOT / "target" / "release"
READY_TIMEOUT = 15.0
EXIT_TIMEOUT = 5.0

SMALL_LIMIT = 1000  # bytes: the message limit of the `limited` servers
PING_INTERVAL_MS = 200  # the `pinging` servers ping after this much silence...
PING_TIMEOUT_MS = 300  # ...and drop a client that stays silent this long after the ping


class Server:
    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log
        )
        self.port = self._read_port()

    def _read_port(self) -> int:
        try:
            return read_listening_port(self.proc, self.name, READY_TIMEOUT)
        except NotReady as e:
            self.stop()
            pytest.fail(f"{e}: {self.log.read_text()}" if e.exited else str(e))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=EXIT_TIMEOUT)
        self.proc.stdout.close()
        self._log.close()

    def __repr__(self) -> str:
        return f"{self.name}@{self.port}"


def assert_alive(server: Server) -> None:
    """The process runs and a new connection gets an echo and a clean close."""
    assert server.alive(), f"{server.name} died: {server.log.read_text()[-2000:]}"
    with RawWS(server.port) as ws:
        ws.send(TEXT, b"still alive?")
        ws.expect_message(TEXT, b"still alive?")
        ws.close_cleanly()


@pytest.fixture(scope="session")
def c_echo_bin(tmp_path_factory) -> Path:
    """echo_server.c, built against this checkout's library."""
    return build_c_server(HERE / "echo_server.c", tmp_path_factory.mktemp("bin") / "echo_server")


def _start(kind: str, tmp_path_factory, c_bin: Path | None, *limits: int) -> Server:
    """kind 'c' or 'php'; limits: max message, ping interval ms, ping timeout ms (0 = default)."""
    logdir = tmp_path_factory.mktemp("logs")
    args = [str(v) for v in limits]
    if kind == "c":
        if limits:
            argv = [str(c_bin), "0", *args]
        else:
            binary = ROOT / "c-examples" / "build" / "ws_echo"
            if not binary.exists():
                pytest.fail(f"{binary} is missing: run `make examples`")
            argv = [str(binary), "0"]
    else:
        if shutil.which("php") is None:
            pytest.fail("php is missing")
        argv = ["php", str(HERE / "echo_server.php"), "0", *args]
    return Server(kind, argv, logdir / f"{kind}.log")


def _server_fixture(request, tmp_path_factory, *limits: int):
    c_bin = request.getfixturevalue("c_echo_bin") if request.param == "c" and limits else None
    server = _start(request.param, tmp_path_factory, c_bin, *limits)
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["c", "php"])
def srv(request, tmp_path_factory):
    """ws_echo (C ABI) or the PHP echo server, engine defaults (16 MiB messages)."""
    yield from _server_fixture(request, tmp_path_factory)


@pytest.fixture(scope="session", params=["c", "php"])
def limited(request, tmp_path_factory):
    """An echo server whose message limit is SMALL_LIMIT bytes."""
    yield from _server_fixture(request, tmp_path_factory, SMALL_LIMIT, 0, 0)


@pytest.fixture(scope="session", params=["c", "php"])
def pinging(request, tmp_path_factory):
    """An echo server that pings after PING_INTERVAL_MS of silence."""
    yield from _server_fixture(request, tmp_path_factory, 0, PING_INTERVAL_MS, PING_TIMEOUT_MS)


@pytest.fixture(autouse=True)
def server_still_alive(request):
    """After each test, the server it used still takes a new connection."""
    yield
    for name in ("srv", "limited", "pinging"):
        if name in request.fixturenames:
            assert_alive(request.getfixturevalue(name))
