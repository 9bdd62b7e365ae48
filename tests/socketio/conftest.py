"""Fixtures of the Socket.IO suite (tests/socketio): servers of the test app started per module
or per test, always stopped by PID at the end (a failed test prints their stderr); a
redis-server of the module's own for the nodes; skips with the reason when a client is not
installed or the PHP app is not there yet."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sio_support import PHP_APP, Server, node_ready  # noqa: E402

# The shared servers: heartbeats short enough that a dead client is noticed within seconds,
# long enough that a busy machine does not drop a live one.
SHARED_ENV = {"HS_SIO_PING_INTERVAL_MS": "2000", "HS_SIO_PING_TIMEOUT_MS": "3000"}

# kind -> (Server kind, workers): "c" is c-examples/build/socketio, "php" the PHP app in
# simultaneous mode (2 workers: every polling request may land on either)
APPS = {"c": ("c", 1), "php": ("php", 2)}


def php_missing() -> str | None:
    if not PHP_APP.exists():
        return f"{PHP_APP.relative_to(PHP_APP.parents[2])} does not exist yet (helper P's part)"
    return None


@pytest.fixture
def node():
    """Skips the test when Node or socket.io-client is missing."""
    why = node_ready()
    if why:
        pytest.skip(why)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _report(request, servers):
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for s in servers:
            print(f"--- {s.name} (pid {s.pid}) stderr:\n{s.stderr()[-4000:]}")


@pytest.fixture
def serve(tmp_path, request):
    """serve(kind="c", env=None, port=0, workers=1, name=None) -> Server; every server started
    is stopped by PID when the test ends."""
    started: list[Server] = []

    def start(kind: str = "c", env: dict[str, str] | None = None, port: int = 0,
              workers: int = 1, name: str | None = None) -> Server:
        if kind == "php" and php_missing():
            pytest.skip(php_missing())
        s = Server(kind, tmp_path, env, port=port, workers=workers, name=name)
        started.append(s)
        return s

    try:
        yield start
    finally:
        _report(request, started)
        for s in reversed(started):
            s.stop()


@pytest.fixture(scope="module", params=list(APPS))
def app(request, tmp_path_factory):
    """The shared server of a module, once per kind (the C app; the PHP app with 2 workers,
    skipped while it does not exist)."""
    kind, workers = APPS[request.param]
    if kind == "php" and php_missing():
        pytest.skip(php_missing())
    s = Server(kind, tmp_path_factory.mktemp(f"app-{request.param}"), SHARED_ENV,
               workers=workers, name=f"{request.param}-app")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(autouse=True)
def _app_report(request):
    """Prints the shared server's stderr when a test using it failed."""
    yield
    rep = getattr(request.node, "rep_call", None)
    if "app" in request.fixturenames and rep is not None and rep.failed:
        _report(request, [request.getfixturevalue("app")])


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    """A redis-server of this module's own on a free loopback port (tests/rooms' Redis)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rooms"))
    from rooms_support import Redis
    try:
        r = Redis(tmp_path_factory.mktemp("redis"))
    except RuntimeError as e:
        pytest.skip(str(e))
    try:
        yield r
    finally:
        r.stop()
