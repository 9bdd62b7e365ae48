"""Servers of the permessage-deflate suite: c-examples/build/ws_echo (the engine's defaults:
compression negotiated when offered) and deflate_echo.c (compiled here; its deflate settings and
message limit come from the environment). Each server prints `listening on ...` once bound
(tests/pysupport/ready.py) and is stopped by its PID. After every test the server it used must
still echo on a new connection.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LIBDIR = ROOT / "target" / "release"
sys.path.insert(0, str(ROOT / "tests" / "pysupport"))
from clib import build_c_server  # noqa: E402
from ready import NotReady, read_listening_port  # noqa: E402

READY_TIMEOUT = 15.0
EXIT_TIMEOUT = 5.0


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log,
            env={**os.environ, **env},
        )
        try:
            self.port = read_listening_port(self.proc, name, READY_TIMEOUT)
        except NotReady as e:
            self.stop()
            pytest.fail(f"{e}: {log.read_text()}" if e.exited else str(e))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field}")

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


@pytest.fixture(scope="session")
def echo_bin(tmp_path_factory) -> Path:
    """deflate_echo.c, built against this checkout's library."""
    return build_c_server(HERE / "deflate_echo.c", tmp_path_factory.mktemp("bin") / "deflate_echo")


@pytest.fixture
def start(echo_bin, tmp_path):
    """start(**env) -> a deflate_echo Server with those environment variables; stopped after the
    test (after checking that it still echoes)."""
    started: list[Server] = []

    def _start(**env: object) -> Server:
        s = Server("deflate_echo", [str(echo_bin), "0"], {k: str(v) for k, v in env.items()},
                   tmp_path / f"deflate_echo{len(started)}.log")
        started.append(s)
        return s

    yield _start
    for s in started:
        try:
            assert_alive(s)
        finally:
            s.stop()


@pytest.fixture(scope="session")
def ws_echo(tmp_path_factory):
    """c-examples/build/ws_echo: the engine's defaults."""
    binary = ROOT / "c-examples" / "build" / "ws_echo"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `make examples`")
    s = Server("ws_echo", [str(binary), "0"], {}, tmp_path_factory.mktemp("logs") / "ws_echo.log")
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def ws_echo_still_alive(request):
    yield
    if "ws_echo" in request.fixturenames:
        assert_alive(request.getfixturevalue("ws_echo"))


def assert_alive(server: Server) -> None:
    """The process runs and a new compressed connection gets its echo."""
    from wsdeflate import DeflateWS, TEXT

    assert server.alive(), f"{server.name} died: {server.log.read_text()[-2000:]}"
    with DeflateWS(server.port) as ws:
        ws.send_message(TEXT, b"still alive? " * 40, compress=ws.extension is not None)
        assert ws.recv_message() == (TEXT, b"still alive? " * 40)
        ws.close_cleanly()
