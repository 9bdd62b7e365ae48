"""The bad-input corpus (corpus.py) against both hello servers: each case on a fresh connection,
its exact answer, what happens to the connection after it, then a normal GET / on a new
connection (the server is alive)."""

from __future__ import annotations

import pytest

from corpus import CASES, WS_CASES, Case, WsCase, upgrade
from rawhttp import Closed, Reader, assert_alive, connect, send_all


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(server, case: Case):
    with connect(server.port) as s:
        send_all(s, case.raw)
        reader = Reader(s)
        if case.status is None:
            rest = reader.closed()
            assert rest == b"", f"expected no answer, got {rest[:200]!r}"
        else:
            try:
                reply = reader.response(head_request=case.head_request)
            except Closed as c:
                pytest.fail(f"no complete response: {c}")
            assert reply.status == case.status, (reply, case.ref, case.note)
            assert reply.version == case.version, reply
            if case.body is not None:
                assert reply.body == case.body, reply
            for name, value in case.headers.items():
                assert reply.header(name) == value, (name, reply)
            if case.then == "close":
                rest = reader.closed()
                assert rest == b"", f"bytes after the answer: {rest[:200]!r}"
            elif case.then == "open":
                assert reply.header("connection") != "close", reply
                s.sendall(case.follow)
                again = reader.response()
                assert (again.status, again.body) == (200, b"Hello, World!"), again
    assert_alive(server)


@pytest.mark.parametrize("case", WS_CASES, ids=[c.id for c in WS_CASES])
def test_websocket_upgrade(ws_server, case: WsCase):
    srv, path = ws_server
    with connect(srv.port) as s:
        s.sendall(upgrade(path, case.key, case.version, case.method))
        reply = Reader(s).response()
        assert reply.status == case.status, (reply, case.ref)
        for name, value in case.headers.items():
            assert reply.header(name) == value, (name, reply)
        if case.body is not None:
            assert reply.body == case.body, reply
    assert srv.alive(), srv.stderr()
    # The server is alive: a valid upgrade on a new connection still gets its 101.
    with connect(srv.port) as s:
        s.sendall(upgrade(path))
        assert Reader(s).response().status == 101
