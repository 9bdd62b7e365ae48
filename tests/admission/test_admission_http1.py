"""WebSocket admission over HTTP/1.1 with real clients (Python websockets, raw sockets) against
c-examples/build/rooms: the host's authorizer (401 with a body and a header, anonymous and named
users, a failing authorizer), the allowed origins and the per-route client limit. A refusal must
reach the client as an HTTP answer: websockets raises InvalidStatus carrying the response."""

from __future__ import annotations

import asyncio
import re
import socket
from contextlib import ExitStack

import pytest
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from support import IO_TIMEOUT, start_failing

ORIGINS = "https://app.example,http://localhost:8080"


def open_ws(srv, path: str, **kw):
    return connect(f"ws://127.0.0.1:{srv.port}{path}", open_timeout=IO_TIMEOUT,
                   close_timeout=IO_TIMEOUT, **kw)


def refused(srv, path: str, **kw):
    """The HTTP response of an upgrade the server must refuse."""
    with pytest.raises(InvalidStatus) as info:
        open_ws(srv, path, **kw).close()
    return info.value.response


def echo(ws, text: str) -> None:
    """A round trip: also proves the server registered the client (its session runs)."""
    ws.send(text)
    assert ws.recv(timeout=IO_TIMEOUT) == text


@pytest.fixture
def rooms(serve):
    return serve("rooms")


# ---- the authorizer --------------------------------------------------------------------------


def test_bad_token_gets_401_with_its_body_and_header(rooms):
    mark = len(rooms.stderr())
    r = refused(rooms, "/rooms/red?token=bad")
    assert r.status_code == 401
    assert r.body == b"bad token"
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    rooms.wait_stderr(r"the authorizer refused with 401", mark)
    assert " open on " not in rooms.stderr()[mark:], "a refused client must never open"


def test_named_user_is_admitted_with_the_room_channel(rooms):
    mark = len(rooms.stderr())
    with open_ws(rooms, "/rooms/red?token=alice") as ws:
        echo(ws, "hello")
    # The engine keeps what the authorizer named: the user with its info ({"name":"alice"},
    # 16 bytes) and the channel from the {room} capture (the lead's session joins it).
    rooms.wait_stderr(r'admitted on route \d+: user "alice" \(16 bytes of info\), '
                      r'channels \["red"\]', mark)
    rooms.wait_stderr(r"rooms: #\d+ open on /rooms/red over HTTP/1\.1", mark)


def test_without_token_is_admitted_anonymously(rooms):
    mark = len(rooms.stderr())
    with open_ws(rooms, "/rooms/blue") as ws:
        echo(ws, "anon")
    rooms.wait_stderr(r"admitted on route \d+: user none, channels \[\]", mark)


def test_a_user_id_the_engine_refuses_is_a_400_with_its_reason(rooms):
    r = refused(rooms, "/rooms/red?token=" + "x" * 300)
    assert r.status_code == 400
    assert b"user id is 300 bytes; at most 256" in r.body, r.body


def test_failing_authorizer_gets_500_and_the_server_goes_on(rooms):
    mark = len(rooms.stderr())
    r = refused(rooms, "/rooms/red?token=fail")
    assert r.status_code == 500
    assert r.body == b"An error occurred on the server."
    assert r.headers["X-Server-Response-Type"] == "SERVER_ERROR"
    rooms.wait_stderr(r"the authorizer failed; answering 500", mark)
    for _ in range(3):  # and again: nothing stuck, the next clients get in
        assert refused(rooms, "/rooms/red?token=fail").status_code == 500
        with open_ws(rooms, "/rooms/red?token=carol") as ws:
            echo(ws, "still here")
    assert rooms.alive()


def test_refusal_is_a_plain_http_answer_on_a_kept_alive_connection(rooms):
    """On the wire: a 401 with Content-Length and the body, no 101, and the connection still
    serves the next request."""
    with socket.create_connection(("127.0.0.1", rooms.port), timeout=IO_TIMEOUT) as s:
        s.sendall(b"GET /rooms/red?token=bad HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                  b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"\n"):
            chunk = s.recv(65536)
            assert chunk, f"connection closed early: {data!r}"
            data += chunk
    first, second = data.split(b"HTTP/1.1 ")[1:3]
    assert first.startswith(b"401 "), data
    assert b"\r\ncontent-length: 9\r\n" in first.lower() and first.endswith(b"bad token"), data
    assert second.startswith(b"200 "), data
    assert b"connect a WebSocket to /rooms/{room}" in second


# ---- allowed origins -------------------------------------------------------------------------


def test_origins_allowed_refused_and_absent(serve):
    srv = serve("rooms", {"HS_WS_ORIGINS": ORIGINS})
    for origin in ["https://app.example", "HTTPS://App.Example:443", "http://localhost:8080"]:
        with open_ws(srv, "/rooms/red?token=alice", origin=origin) as ws:
            echo(ws, origin)
    with open_ws(srv, "/rooms/red?token=alice") as ws:  # no Origin header: not a browser
        echo(ws, "no origin")
    mark = len(srv.stderr())
    for origin in ["https://evil.example", "http://localhost:8081", "http://app.example",
                   "null"]:
        r = refused(srv, "/rooms/red?token=mallory", origin=origin)
        assert r.status_code == 403, origin
        assert r.body == b"Origin not allowed."
        assert r.headers["X-Server-Response-Type"] == "ORIGIN_REFUSED"
    srv.wait_stderr(r"origin 'null' is not allowed", mark)
    assert "admitted as 'mallory'" not in srv.stderr()[mark:], \
        "the authorizer ran for a refused origin"


def test_any_origin_with_star(serve):
    srv = serve("rooms", {"HS_WS_ORIGINS": "*"})
    for origin in ["https://evil.example", "null", "http://localhost:1"]:
        with open_ws(srv, "/rooms/red", origin=origin) as ws:
            echo(ws, origin)


def test_a_malformed_origin_setting_is_refused_at_startup():
    out = start_failing("rooms", {"HS_WS_ORIGINS": "https://app.example,https://app.example/chat"})
    assert out.returncode == 1, out
    assert b"'https://app.example/chat' is not an origin" in out.stderr, out.stderr


# ---- the per-route limit ---------------------------------------------------------------------


def test_route_limit_refuses_with_503_until_a_client_leaves(serve):
    srv = serve("rooms", {"HS_WS_ROUTE_LIMIT": "3"})
    with ExitStack() as stack:
        # The limit is the accept route's (/rooms/{room}), whichever room. One client per room:
        # a message is published to the room's members, so each hears only its own here.
        clients = [stack.enter_context(open_ws(srv, path)) for path in
                   ["/rooms/red?token=a", "/rooms/orange?token=b", "/rooms/blue?token=c"]]
        for i, ws in enumerate(clients):
            echo(ws, f"client {i}")
        r = refused(srv, "/rooms/green?token=d")
        assert r.status_code == 503
        assert r.body == b"Too many clients on this route."
        assert r.headers["Retry-After"] == "5"
        assert r.headers["X-Server-Response-Type"] == "ROUTE_FULL"
        srv.wait_stderr(r"route \d+ is full \(3 of 3\)")

        mark = len(srv.stderr())
        clients[0].close()
        # The close callback runs once the client left the engine's client list.
        srv.wait_stderr(r"rooms: #\d+ left with code 1000", mark)
        with open_ws(srv, "/rooms/green?token=d") as ws:
            echo(ws, "room for one more")
        # d left again (the with block closed it): one place, taken by e; then full again.
        srv.wait_stderr(r"rooms: #\d+ left with code 1000 \(2 on the route\)", mark)
        echo(stack.enter_context(open_ws(srv, "/rooms/red?token=e")), "e")
        assert refused(srv, "/rooms/red?token=f").status_code == 503


def test_a_burst_of_upgrades_cannot_pass_the_limit(serve):
    """20 upgrades at once on a route limited to 3: each is checked before any client is
    registered (the 101 goes out first), so the places taken by upgrades in flight count too."""
    srv = serve("rooms", {"HS_WS_ROUTE_LIMIT": "3"})

    async def burst():
        async def one(i):
            try:
                return await aconnect(f"ws://127.0.0.1:{srv.port}/rooms/r{i % 4}",
                                      open_timeout=IO_TIMEOUT)
            except InvalidStatus as e:
                return e.response.status_code
        results = await asyncio.gather(*(one(i) for i in range(20)))
        opened = [r for r in results if not isinstance(r, int)]
        for ws in opened:
            await ws.send("in")
            assert await asyncio.wait_for(ws.recv(), IO_TIMEOUT) == "in"
            await ws.close()
        return len(opened), [r for r in results if isinstance(r, int)]

    for _ in range(3):
        mark = len(srv.stderr())
        assert asyncio.run(burst()) == (3, [503] * 17)
        for _ in range(3):  # all three gone before the next burst
            mark = srv.wait_stderr(r"rooms: #\d+ left with code 1000", mark).end()


def test_no_limit_by_default(rooms):
    with ExitStack() as stack:
        for i in range(20):
            echo(stack.enter_context(open_ws(rooms, f"/rooms/r{i}")), str(i))
    assert not re.search(r"is full", rooms.stderr())
