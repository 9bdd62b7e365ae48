"""Fixtures of the admission suite (tests/admission): real server processes of
c-examples/build/rooms (and tests/c/admission_abi.c, built by c-examples/Makefile) on 127.0.0.1,
started and stopped by PID through the TLS suite's `Server` (tests/tls/support.py: port 0, the
`listening on ...` line as the readiness signal, stderr kept in a file), with the TLS suite's
certificates (tests/tls/certs.py) for HTTP/2 over TLS."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "tls"))
sys.path.insert(0, str(ROOT / "tests" / "pysupport"))
from certs import make_certs  # noqa: E402
from support import Server  # noqa: E402


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> dict[str, str]:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def serve(tmp_path):
    """serve(name, env) -> Server with the engine's debug log on; all killed at teardown."""
    started: list[Server] = []

    def _serve(name: str, env: dict[str, str] | None = None) -> Server:
        srv = Server(name, {"HS_DEBUG": "1", **(env or {})}, tmp_path)
        started.append(srv)
        return srv

    yield _serve
    for srv in started:
        srv.close()
