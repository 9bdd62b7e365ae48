"""Fixtures of the TLS / HTTP/2 suite: the certificate set (tests/tls/certs.py, made once per
session with openssl) and the C examples started with TLS settings in their environment."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from certs import make_certs  # noqa: E402
from support import Server  # noqa: E402

# The limits the shared hello servers run with (env_tls.h reads them).
LIMITS = {"HS_MAX_HEADER_BYTES": "8192", "HS_MAX_BODY_BYTES": "4096", "HS_IDLE_MS": "1000",
          "HS_H2_MAX_STREAMS": "10"}


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> dict[str, str]:
    return make_certs(tmp_path_factory.mktemp("certs"))


def tls_env(certs: dict[str, str], **extra: str) -> dict[str, str]:
    """The default certificate (localhost) plus `extra` variables."""
    return {"HS_TLS_CERT": certs["server"], "HS_TLS_KEY": certs["server_key"], **extra}


@pytest.fixture
def serve(tmp_path):
    """serve(name, env) -> Server; every server is killed (by its PID) at teardown."""
    started: list[Server] = []

    def _serve(name: str, env: dict[str, str] | None = None) -> Server:
        srv = Server(name, env, tmp_path)
        started.append(srv)
        return srv

    yield _serve
    for srv in started:
        srv.close()


@pytest.fixture(scope="module")
def hello_tls(certs, tmp_path_factory):
    """hello over TLS (HTTP/2 and HTTP/1.1 by ALPN) with small limits, shared by a module."""
    srv = Server("hello", tls_env(certs, **LIMITS), tmp_path_factory.mktemp("hello_tls"))
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def hello_plain(tmp_path_factory):
    """hello without TLS (HTTP/1.1 and h2c by prior knowledge), same limits."""
    srv = Server("hello", dict(LIMITS), tmp_path_factory.mktemp("hello_plain"))
    yield srv
    srv.close()
