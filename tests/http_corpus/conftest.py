"""Fixtures of the bad-input corpus: the example servers, started once per module and kind."""

from __future__ import annotations

import pytest

from rawhttp import LIMITS, SERVERS, Server


@pytest.fixture(scope="module", params=sorted(SERVERS))
def kind(request) -> str:
    """The implementation under test: "c" (c-examples) or "php" (php/examples)."""
    return request.param


@pytest.fixture(scope="module")
def server(kind):
    """hello (C or PHP) with small limits: head 8192 bytes, body 4096 bytes, idle 1 s."""
    srv = Server(SERVERS[kind][0], env=LIMITS)
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def ws_server(kind):
    """The WebSocket example of the same implementation (ws_echo, chat.php) and its path."""
    srv = Server(SERVERS[kind][1])
    yield srv, SERVERS[kind][2].encode()
    srv.close()
