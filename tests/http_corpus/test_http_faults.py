"""Slow, stuck and vanishing clients, descriptor exhaustion, shutdown under load.

Pacing sleeps (a slowloris client sending one byte per 200 ms) are the client's behaviour, not
synchronisation; every wait for the server is a bounded socket read.
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import signal
import socket
import struct
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from corpus import upgrade
from rawhttp import (
    BUILD,
    EXIT_TIMEOUT,
    IDLE_S,
    IO_TIMEOUT,
    SERVERS,
    Reader,
    Server,
    assert_alive,
    connect,
)

# The idle watchdog samples every quarter of the timeout: a silent connection is closed between
# 1 and 1.25 timeouts after its last byte; allow scheduling slack on top.
CUT_MIN = 0.9 * IDLE_S
CUT_MAX = 1.25 * IDLE_S + 0.75


def wait_closed(s: socket.socket, bound: float) -> tuple[bytes, float]:
    """Reads until the peer closes, at most `bound` seconds; returns (bytes, seconds taken)."""
    t0 = time.monotonic()
    data = b""
    s.settimeout(bound)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    except socket.timeout:
        pytest.fail(f"the server did not close the connection within {bound}s")
    return data, time.monotonic() - t0


def rst_close(s: socket.socket) -> None:
    """Closes with a RST (SO_LINGER 0): the client vanishes without a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


@pytest.fixture(scope="module")
def plain_server(kind):
    """hello with the default limits (16 MiB bodies), for the large responses."""
    srv = Server(SERVERS[kind][0])
    yield srv
    srv.close()


# ---- slow and stuck clients ---------------------------------------------------------------------


def test_slowloris_headers(server):
    """A head sent one byte per 200 ms never completes: the engine's request-head timeout (the
    idle timeout, 1 s, counted from the head's first byte) closes the connection, without an
    answer, while the client is still sending."""
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200  # 40 s at this pace
    with connect(server.port) as s:
        t0 = time.monotonic()
        got = None
        for byte in head:
            try:
                s.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                got = b""
                break
            # The pacing of the client, and the check: has the server closed?
            ready, _, _ = select.select([s], [], [], 0.2)
            if ready:
                try:
                    got = s.recv(4096)
                except ConnectionResetError:
                    got = b""
                break
        took = time.monotonic() - t0
    assert got == b"", f"expected a close without answer, got {got!r}"
    assert CUT_MIN <= took <= CUT_MAX, took
    assert_alive(server)


@pytest.mark.parametrize("mode", ["stuck-after-head", "stuck-mid-body", "trickle-then-stall"])
def test_slow_body_cut_off(server, mode):
    """A body that stops coming is cut off by the idle timeout, counted from the last byte
    (FIXED: the engine counted the wait for the body as the handler being busy, so a client
    that stopped mid-body held its connection forever)."""
    with connect(server.port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        if mode == "stuck-mid-body":
            s.sendall(b"a" * 50)
        elif mode == "trickle-then-stall":
            for _ in range(8):  # 1.6 s of progress: longer than the idle timeout
                time.sleep(0.2)
                s.sendall(b"a")
        data, took = wait_closed(s, CUT_MAX + 1.0)
    assert data == b"", data
    assert CUT_MIN <= took <= CUT_MAX, took
    assert_alive(server)


def test_slow_body_progressing_is_served(server):
    """The idle timeout is between bytes (as nginx's client_body_timeout): a body that keeps
    coming, slower than a request head may take in all, is still served."""
    body = b"slowbody"
    with connect(server.port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n")
        for i in range(len(body)):  # 1.6 s in all, one byte per 200 ms
            s.sendall(body[i : i + 1])
            time.sleep(0.2)
        reply = Reader(s).response()
    assert (reply.status, reply.body) == (200, body)


# ---- clients that vanish ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["fin", "rst"])
@pytest.mark.parametrize(
    "sent",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Half",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"a" * 500,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n" + b"a" * 50,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n",
    ],
    ids=["mid-head", "mid-body", "mid-chunk", "after-expect"],
)
def test_vanish_mid_request(server, sent, how):
    """Clients gone mid-request (FIXED: a reset client made the engine's error answer hit
    writev(2) on a dead socket; SIGPIPE then killed the C host, which had left it at its default.
    The engine now ignores SIGPIPE unless the host installed a handler: src/engine/server.rs)."""
    for _ in range(3):
        s = connect(server.port)
        s.sendall(sent)
        if how == "rst":
            rst_close(s)
        else:
            s.close()
    assert_alive(server)


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_vanish_mid_response(plain_server, how):
    """A 3 MiB response read in part, then the client is gone: the server goes on serving."""
    body = os.urandom(3 << 20)
    for _ in range(3):
        s = connect(plain_server.port)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        reader = Reader(s)
        reply = reader.head()
        assert reply.status == 200 and reply.header("content-length") == str(len(body))
        reader._take(100_000)
        if how == "rst":
            rst_close(s)
        else:
            s.close()
    assert_alive(plain_server)
    # A whole 3 MiB response still comes through after that.
    with connect(plain_server.port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        assert Reader(s).response().body == body


def ws_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client frame (masked)."""
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_open(port: int, path: bytes) -> tuple[socket.socket, Reader]:
    s = connect(port)
    key = base64.b64encode(os.urandom(16))
    s.sendall(upgrade(path, key))
    reader = Reader(s)
    assert reader.response().status == 101
    return s, reader


def ws_assert_alive(port: int, path: bytes) -> None:
    """A new WebSocket client gets its Ping answered with a Pong (RFC 6455 §5.5.2)."""
    s, reader = ws_open(port, path)
    with s:
        s.sendall(ws_frame(0x9, b"alive?"))
        while True:  # skip what the server sends first (chat.php: welcome, ticks)
            b0, b1 = reader._take(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", reader._take(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", reader._take(8))[0]
            payload = reader._take(n)
            if b0 & 0x0F == 0xA:
                assert payload == b"alive?"
                return


@pytest.mark.parametrize("how", ["fin", "rst"])
@pytest.mark.parametrize("where", ["mid-header", "mid-payload", "mid-fragments"])
def test_vanish_mid_frame(ws_server, where, how):
    srv, path = ws_server
    for _ in range(3):
        s, _ = ws_open(srv.port, path)
        frame = ws_frame(0x1, b"x" * 1000)
        if where == "mid-header":
            s.sendall(frame[:3])
        elif where == "mid-payload":
            s.sendall(frame[:500])
        else:
            s.sendall(ws_frame(0x1, b"first", fin=False) + ws_frame(0x0, b"second", fin=False))
        if how == "rst":
            rst_close(s)
        else:
            s.close()
    assert srv.alive(), srv.stderr()
    ws_assert_alive(srv.port, path)


# ---- descriptors exhausted ----------------------------------------------------------------------


def test_emfile_recovery():
    """With RLIMIT_NOFILE 64, connections are accepted until the descriptors run out; then
    accept fails (EMFILE) and new clients wait in the backlog, while the connections already
    open are served; once some close, the waiting ones are accepted and answered."""
    srv = Server([str(BUILD / "hello")], prefix=["prlimit", "--nofile=64:64"])
    fd_dir = f"/proc/{srv.proc.pid}/fd"
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    held: list[tuple[socket.socket, Reader]] = []
    waiting: list[tuple[socket.socket, Reader]] = []
    try:
        # Accepted connections, each proven by an answer, until the server holds 64 fds.
        while len(os.listdir(fd_dir)) < 64:
            assert len(held) < 64, "the descriptor limit was not reached"
            s = connect(srv.port)
            s.sendall(request)
            r = Reader(s)
            assert r.response().status == 200
            held.append((s, r))
        # The next clients connect (the kernel's backlog) but cannot be accepted.
        for _ in range(3):
            s = connect(srv.port)
            s.sendall(request)
            waiting.append((s, Reader(s)))
        for s, _ in waiting:
            ready, _, _ = select.select([s], [], [], 0.3)  # a bound: nothing may come
            assert not ready, "a connection was answered beyond the descriptor limit"
        assert len(os.listdir(fd_dir)) == 64
        # The server is alive: an existing connection is served.
        s, r = held[0]
        s.sendall(request)
        assert r.response().status == 200
        # Descriptors come back: the waiting clients are accepted and answered...
        for s, _ in held[-8:]:
            s.close()
        del held[-8:]
        for s, r in waiting:
            reply = r.response()
            assert (reply.status, reply.body) == (200, b"Hello, World!")
        # ...and a new client too.
        assert_alive(srv)
        for s, _ in held + waiting:
            s.close()
        assert srv.terminate() == 0
    finally:
        for s, _ in held + waiting:
            s.close()
        srv.close()


# ---- shutdown under load ------------------------------------------------------------------------


def test_shutdown_during_load(kind):
    """SIGTERM while requests are in flight: every request the server had begun is answered in
    full (200, whole body), idle keep-alive connections are closed, WebSocket clients get
    Close 1001, and both processes exit 0."""
    with contextlib.ExitStack() as stack:
        http = Server(SERVERS[kind][0])
        stack.callback(http.close)
        ws_srv = Server(SERVERS[kind][1])
        stack.callback(ws_srv.close)

        def conn() -> tuple[socket.socket, Reader]:
            s = stack.enter_context(connect(http.port))
            return s, Reader(s)

        # In flight, reading: the head was read and 100 Continue sent; the body is still to come.
        expecting = []
        for _ in range(8):
            s, r = conn()
            body = os.urandom(2000)
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                      b"Expect: 100-continue\r\n\r\n" % len(body))
            assert r.response(skip_interim=False).status == 100
            expecting.append((s, r, body))
        # In flight, writing: 3 MiB responses read only in part.
        writing = []
        for _ in range(3):
            s, r = conn()
            body = os.urandom(3 << 20)
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            assert r.head().status == 200
            writing.append((r, body, r._take(65536)))
        # Idle keep-alive connections, one request done.
        idle = []
        for _ in range(4):
            s, r = conn()
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert r.response().status == 200
            idle.append(r)
        # WebSocket clients, each past its handshake and a first message.
        url = f"ws://127.0.0.1:{ws_srv.port}{SERVERS[kind][2]}"
        clients = []
        for _ in range(4):
            ws = stack.enter_context(ws_connect(url, open_timeout=IO_TIMEOUT))
            if kind == "c":
                ws.send("hi")
                assert ws.recv(timeout=IO_TIMEOUT) == "hi"
            else:
                assert '"welcome"' in ws.recv(timeout=IO_TIMEOUT)
            clients.append(ws)

        http.proc.send_signal(signal.SIGTERM)
        ws_srv.proc.send_signal(signal.SIGTERM)

        for s, r, body in expecting:
            s.sendall(body)
            reply = r.response()
            assert (reply.status, reply.body) == (200, body)
            assert r.closed() == b""  # shutting down: no keep-alive
        for r, body, part in writing:
            assert part + r._take(len(body) - len(part)) == body
            assert r.closed() == b""
        for r in idle:
            assert r.closed() == b""
        for ws in clients:
            deadline = time.monotonic() + IO_TIMEOUT
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            assert info.value.rcvd is not None, "no Close frame"
            assert info.value.rcvd.code == 1001, info.value
        assert http.proc.wait(timeout=EXIT_TIMEOUT) == 0, http.stderr()
        assert ws_srv.proc.wait(timeout=EXIT_TIMEOUT) == 0, ws_srv.stderr()
