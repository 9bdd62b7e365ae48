"""WebSocket over TLS (wss, Python websockets) and over HTTP/2 (RFC 8441 extended CONNECT,
driven with Python h2: SETTINGS_ENABLE_CONNECT_PROTOCOL, CONNECT + :protocol websocket, 200,
WebSocket frames in DATA frames), over TLS and h2c, against c-examples/ws_echo."""

from __future__ import annotations

import json
import re

import pytest
from websockets.exceptions import ConnectionClosed

from conftest import tls_env
from h2client import H2, SETTINGS_ENABLE_CONNECT_PROTOCOL, ws_frame, ws_parse
from support import IO_TIMEOUT, Server, tls_context
from wss_client import connect  # one thread on the TLS socket: see its docstring

TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


@pytest.fixture(scope="module")
def wss(certs, tmp_path_factory):
    srv = Server("ws_echo", tls_env(certs), tmp_path_factory.mktemp("wss"))
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def ws_plain(tmp_path_factory):
    srv = Server("ws_echo", {}, tmp_path_factory.mktemp("ws_plain"))
    yield srv
    srv.close()


def wss_connect(srv, certs, path="/ws", **kw):
    return connect(f"wss://localhost:{srv.port}{path}", ssl=tls_context(certs["ca"]),
                   open_timeout=IO_TIMEOUT, close_timeout=IO_TIMEOUT, max_size=2**22, **kw)


def test_wss_echo(wss, certs):
    mark = len(wss.stderr())
    with wss_connect(wss, certs, compression=None) as ws:
        for i in range(20):
            ws.send(f"text {i} é")
            assert ws.recv(timeout=IO_TIMEOUT) == f"text {i} é"
            ws.send(bytes([i]) * (i * 97 + 1))
            assert ws.recv(timeout=IO_TIMEOUT) == bytes([i]) * (i * 97 + 1)
        big = bytes(range(256)) * 4096  # 1 MiB through TLS records
        ws.send(big)
        assert ws.recv(timeout=IO_TIMEOUT) == big
    wss.wait_stderr(r"open  #\d+ /ws from 127\.0\.0\.1:\d+ over HTTP/1\.1", mark)


def test_wss_two_clients_and_paths(wss, certs):
    with wss_connect(wss, certs) as a, wss_connect(wss, certs, "/ws/room/1") as b:
        a.send("to a")
        b.send("to b")
        assert (a.recv(timeout=IO_TIMEOUT), b.recv(timeout=IO_TIMEOUT)) == ("to a", "to b")


def test_wss_refused_without_trust(wss):
    """A client that does not trust the test CA cannot open the wss connection."""
    import ssl
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(f"wss://localhost:{wss.port}/ws", ssl=ssl.create_default_context(),
                open_timeout=IO_TIMEOUT)


def test_wss_with_http2_off(serve, certs):
    srv = serve("ws_echo", tls_env(certs, HS_HTTP2="0"))
    with wss_connect(srv, certs) as ws:
        ws.send("hi")
        assert ws.recv(timeout=IO_TIMEOUT) == "hi"


def test_wss_shutdown_sends_1001(serve, certs):
    srv = serve("ws_echo", tls_env(certs))
    with wss_connect(srv, certs) as ws:
        ws.send("x")
        assert ws.recv(timeout=IO_TIMEOUT) == "x"
        srv.proc.send_signal(15)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=IO_TIMEOUT)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    assert srv.proc.wait(timeout=IO_TIMEOUT * 2) == 0


# ---- RFC 8441: WebSocket over HTTP/2 --------------------------------------------------------


class H2WebSocket:
    """One WebSocket on an extended CONNECT stream of an HTTP/2 connection."""

    def __init__(self, h2: H2, path: str):
        settings = h2.wait_settings()
        assert settings.get(SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1, settings
        self.h2 = h2
        self.sid = h2.start("CONNECT", path, [(":protocol", "websocket"),
                                              ("sec-websocket-version", "13")], end=False)
        self.response = h2.responses[self.sid]
        h2.wait(lambda: self.response.status is not None or self.response.reset is not None,
                what="the CONNECT response")
        self.buf = b""

    def send(self, opcode: int, payload: bytes) -> None:
        self.h2.send_data(self.sid, ws_frame(opcode, payload))

    def recv(self) -> tuple[int, bytes]:
        def ready():
            self.buf += bytes(self.response.body)
            self.response.body = b""
            return ws_parse(self.buf) is not None
        self.h2.wait(ready, what="a WebSocket frame")
        opcode, payload, self.buf = ws_parse(self.buf)
        return opcode, payload


@pytest.fixture(params=["h2", "h2c"])
def h2ws(request, wss, ws_plain, certs):
    if request.param == "h2":
        conn = H2(wss.port, certs["ca"])
        srv = wss
    else:
        conn = H2(ws_plain.port)
        srv = ws_plain
    yield conn, srv
    conn.close()


def test_rfc8441_echo(h2ws):
    conn, srv = h2ws
    mark = len(srv.stderr())
    ws = H2WebSocket(conn, "/ws")
    assert ws.response.status == 200, (ws.response.status, ws.response.reset)
    assert "sec-websocket-accept" not in ws.response.headers  # 200, not 101: no accept key
    ws.send(TEXT, "over h2 ✓".encode())
    assert ws.recv() == (TEXT, "over h2 ✓".encode())
    ws.send(BINARY, b"\x00\x01" * 40000)  # 80 KB: several DATA frames, flow control
    assert ws.recv() == (BINARY, b"\x00\x01" * 40000)
    ws.send(PING, b"p")
    assert ws.recv() == (PONG, b"p")
    srv.wait_stderr(r"open  #\d+ /ws from 127\.0\.0\.1:\d+ over HTTP/2\.0", mark)
    ws.send(CLOSE, b"\x03\xe8bye")
    opcode, payload = ws.recv()
    assert opcode == CLOSE and payload[:2] == b"\x03\xe8"


def test_rfc8441_two_websockets_and_a_request_on_one_connection(h2ws):
    """Two WebSockets multiplexed on one HTTP/2 connection are two clients: two ids in the
    server's log, each gets its own echoes."""
    conn, srv = h2ws
    mark = len(srv.stderr())
    a, b = H2WebSocket(conn, "/ws"), H2WebSocket(conn, "/ws/room/2")
    assert (a.response.status, b.response.status) == (200, 200)
    for i in range(3):
        a.send(TEXT, f"a{i}".encode())
        b.send(TEXT, f"b{i}".encode())
    assert [a.recv() for _ in range(3)] == [(TEXT, f"a{i}".encode()) for i in range(3)]
    assert [b.recv() for _ in range(3)] == [(TEXT, f"b{i}".encode()) for i in range(3)]
    r = conn.request("GET", "/")  # ws_echo has no HTTP route: 404 on the same connection
    assert r.status == 404
    srv.wait_stderr(r"open  #\d+ /ws/room/2", mark)
    ids = re.findall(r"open  #(\d+) ", srv.stderr()[mark:])
    assert len(set(ids)) == 2, f"both WebSockets got the same id: {ids}"


@pytest.fixture
def chat_h2(certs, serve):
    return serve("chat", tls_env(certs))


def test_rfc8441_chat_two_clients_one_connection(chat_h2, certs):
    """The chat room with two members on one HTTP/2 connection (as two tabs of one browser
    are): distinct ids, a line from one reaches the other."""
    conn = H2(chat_h2.port, certs["ca"])
    try:
        a = H2WebSocket(conn, "/chat")
        welcome_a = json.loads(a.recv()[1])
        b = H2WebSocket(conn, "/chat")
        welcome_b = json.loads(b.recv()[1])
        assert welcome_a["id"] != welcome_b["id"], (welcome_a, welcome_b)
        assert welcome_b["clients"] == 2, welcome_b
        a.send(TEXT, b"hello b")

        def next_message(ws):
            while True:
                m = json.loads(ws.recv()[1])
                if m["type"] == "message":
                    return m
        assert next_message(b) == {"type": "message", "from": welcome_a["id"], "text": "hello b"}
    finally:
        conn.close()


def test_rfc8441_unknown_path_404(h2ws):
    conn, _ = h2ws
    ws = H2WebSocket(conn, "/not-a-websocket")
    assert ws.response.status == 404, (ws.response.status, ws.response.reset)


def test_rfc8441_wrong_protocol_refused(h2ws):
    """CONNECT with a :protocol other than websocket is not upgraded."""
    conn, _ = h2ws
    conn.wait_settings()
    sid = conn.start("CONNECT", "/ws", [(":protocol", "not-websocket"),
                                        ("sec-websocket-version", "13")], end=False)
    r = conn.responses[sid]
    conn.wait(lambda: r.status is not None or r.reset is not None, what="an answer")
    assert r.status != 200, r.headers
