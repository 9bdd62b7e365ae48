"""The Engine.IO / Socket.IO wire with raw clients (http.client, sockets, websockets' sync
client) against the C app: the handshake and its errors (HTTP 400 with {"code","message"}),
the polling and websocket framings, the upgrade, malformed packets, closed and unknown
sessions, payloads over the limit (413 / close 1009), and a flood of polling requests after
which the server answers and its descriptors are back to what they were."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from sio_support import eio_path, handshake, http_request, poll, split_payload, wait_until

FAST = {"HS_SIO_PING_INTERVAL_MS": "500", "HS_SIO_PING_TIMEOUT_MS": "500"}


@pytest.fixture
def srv(serve):
    return serve("c", {**FAST, "HS_SIO_MAX_PAYLOAD": "2000"})


def get(port, timeout=5.0, **q):
    return http_request(port, "GET", eio_path(**q), timeout=timeout)


def post(port, body: bytes, timeout=5.0, **q):
    return http_request(port, "POST", eio_path(**q), body=body,
                        headers={"Content-Type": "text/plain;charset=UTF-8"}, timeout=timeout)


def error_of(status, body) -> tuple[int, dict]:
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"raw": body[:200]}


def connected_session(port) -> tuple[str, str]:
    """A polling session with namespace "/" connected: (Engine.IO sid, socket sid)."""
    sid = handshake(port)["sid"]
    status, body, _ = post(port, b"40", sid=sid)
    assert (status, body) == (200, b"ok"), (status, body)
    status, packets = poll(port, sid)
    assert status == 200, (status, packets)
    assert packets and packets[0].startswith("40{"), packets
    return sid, json.loads(packets[0][2:])["sid"]


def session_closed(port, sid, timeout=5.0, pong=True) -> None:
    """Polls the session until the server answers 400 "Session ID unknown" (packets it still had,
    a close packet, are read on the way); fails if it keeps it past `timeout`. Pings are answered
    (pong=True: the session cannot end by "ping timeout") or not (the session must expire)."""
    def check():
        if pong:
            status, packets = poll(port, sid, timeout=3)
        else:
            status, body, _ = get(port, sid=sid, timeout=3)
            packets = [body.decode(errors="replace")]
        if status == 400:
            assert json.loads(packets[0]) == {"code": 1, "message": "Session ID unknown"}, packets
            return True
        assert status == 200, (status, packets)
        return False
    wait_until(check, timeout, f"session {sid} closed")


def poll_until(port, sid, n: int, timeout: float = 5.0) -> list[str]:
    """Polls (answering pings) until at least n packets came or `timeout`; returns them."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        status, packets = poll(port, sid, timeout=max(0.5, deadline - time.monotonic()))
        assert status == 200, (status, packets)
        got += [p for p in packets if p != "6"]
    return got


def alive(port) -> None:
    """The server still answers: GET / and a new handshake."""
    status, _, _ = http_request(port, "GET", "/")
    assert status == 200
    assert handshake(port)["sid"]


# ---- the handshake ---------------------------------------------------------------------------

def test_open_packet(serve):
    s = serve("c", {"HS_SIO_PING_INTERVAL_MS": "1500", "HS_SIO_PING_TIMEOUT_MS": "1200",
                    "HS_SIO_MAX_PAYLOAD": "5000"})
    status, body, headers = get(s.port)
    assert status == 200, (status, body)
    assert body[:1] == b"0"
    o = json.loads(body[1:])
    assert isinstance(o["sid"], str) and len(o["sid"]) >= 8
    assert o["upgrades"] == ["websocket"]
    assert (o["pingInterval"], o["pingTimeout"], o["maxPayload"]) == (1500, 1200, 5000)
    assert handshake(s.port)["sid"] != o["sid"], "every handshake is a new session"
    # the websocket transport is not offered as an upgrade to a websocket session
    with ws_connect(f"ws://127.0.0.1:{s.port}{eio_path(transport='websocket')}",
                    open_timeout=5) as ws:
        first = ws.recv(timeout=5)
        assert first[0] == "0"
        o = json.loads(first[1:])
        assert o["upgrades"] == [] and o["pingInterval"] == 1500


@pytest.mark.parametrize("method,query,code,message", [
    ("GET", {"sid": "nosuchsession"}, 1, "Session ID unknown"),
    ("POST", {"sid": "nosuchsession"}, 1, "Session ID unknown"),
    ("GET", {"EIO": "3"}, 5, "Unsupported protocol version"),
    ("GET", {"transport": "carrier-pigeon"}, 0, "Transport unknown"),
    ("GET", {"transport": ""}, 0, "Transport unknown"),
    ("POST", {}, 2, "Bad handshake method"),
])
def test_handshake_errors(srv, method, query, code, message):
    """Engine.IO's error answers: HTTP 400, JSON {"code": N, "message": ...}."""
    status, body, headers = http_request(srv.port, method, eio_path(**query),
                                         body=b"40" if method == "POST" else None)
    assert error_of(status, body) == (400, {"code": code, "message": message})
    assert headers.get("content-type", "").startswith("application/json")
    alive(srv.port)


def test_websocket_with_unknown_sid_is_refused(srv):
    """An upgrade naming a session that does not exist: 400, no 101."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall((f"GET {eio_path(transport='websocket', sid='nosuchsession')} HTTP/1.1\r\n"
                   f"Host: 127.0.0.1:{srv.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
    assert head.startswith(b"HTTP/1.1 400"), head[:200]
    alive(srv.port)


# ---- the framings ----------------------------------------------------------------------------

def test_polling_wire(srv):
    """Handshake, namespace connect, several packets in one POST (record separator), ack ids,
    and the answers in order on the next GETs."""
    sid, socket_sid = connected_session(srv.port)
    assert socket_sid and socket_sid != sid
    body = '42["echo",1]\x1e42["echo","two"]\x1e4217["echo",{"three":3}]'.encode()
    assert post(srv.port, body, sid=sid)[:2] == (200, b"ok")
    got = poll_until(srv.port, sid, 3)
    assert got == ['42["echo",1]', '42["echo","two"]', '4317[{"three":3}]']


def test_connect_errors_wire(srv):
    """CONNECT_ERROR packets: `44{"message":...}` for a refusal by the connect handler, an
    unknown namespace, /admin without its token; the session stays usable for "/"."""
    sid = handshake(srv.port)["sid"]
    body = b'40{"token":"bad"}\x1e40/nope,\x1e40/admin,{"token":"x"}'
    assert post(srv.port, body, sid=sid)[:2] == (200, b"ok")
    got = poll_until(srv.port, sid, 3)
    assert sorted(got) == sorted(['44{"message":"bad token"}',
                                  '44/nope,{"message":"Invalid namespace"}',
                                  '44/admin,{"message":"Not authorized"}']), got
    assert post(srv.port, b"40", sid=sid)[:2] == (200, b"ok")
    got = poll_until(srv.port, sid, 1)
    assert got[0].startswith("40{"), got


def test_session_without_namespace_expires(serve):
    """A handshake never followed by a namespace connect is closed after the connect timeout
    (500 ms here, pings every 5 s): polling it then gives 400."""
    s = serve("c", {"HS_SIO_CONNECT_TIMEOUT_MS": "500", "HS_SIO_PING_INTERVAL_MS": "5000",
                    "HS_SIO_PING_TIMEOUT_MS": "5000"})
    sid = handshake(s.port)["sid"]
    session_closed(s.port, sid, timeout=4)


def test_app_http_routes(srv):
    """The test app's own routes: /, /members without a room, /client/ refusing paths outside
    its directory."""
    assert srv.get("/")[0] == 200
    if srv.kind != "reference":
        assert srv.get("/members")[0] == 400
    assert srv.get("/members?room=nobody") == (200, b"[]")
    assert srv.get("/client/socket.io.min.js")[0] == 200
    for bad in ("/client/..%2Fpackage.json", "/client/.hidden", "/client/nosuchfile.js"):
        assert srv.get(bad)[0] == 404, bad


def test_queued_packets_go_out_with_the_next_poll(serve):
    """Packets queued while no GET is pending (the CONNECT answer, an echo) are written by the
    next GET at once, not held until something else (the next ping, 10 s here) is queued: a
    client posts, then polls."""
    s = serve("c", {"HS_SIO_PING_INTERVAL_MS": "10000", "HS_SIO_PING_TIMEOUT_MS": "5000"})
    sid = handshake(s.port)["sid"]
    assert post(s.port, b"40", sid=sid)[:2] == (200, b"ok")
    t0 = time.monotonic()
    status, body, _ = get(s.port, sid=sid, timeout=8)
    took = time.monotonic() - t0
    assert status == 200 and split_payload(body)[0].startswith("40{"), (status, body)
    assert took < 1.0, f"the CONNECT answer waited {took:.2f}s for the next poll"
    assert post(s.port, b'42["echo","queued"]', sid=sid)[:2] == (200, b"ok")
    t0 = time.monotonic()
    status, body, _ = get(s.port, sid=sid, timeout=8)
    took = time.monotonic() - t0
    assert (status, split_payload(body)) == (200, ['42["echo","queued"]'])
    assert took < 1.0, f"the echo waited {took:.2f}s for the next poll"


def test_polling_binary_wire(srv):
    """A binary event over polling: the attachment as a base64 `b` packet after its header."""
    sid, _ = connected_session(srv.port)
    body = b'451-["echo",{"_placeholder":true,"num":0}]\x1ebAAEC/w=='
    assert post(srv.port, body, sid=sid)[:2] == (200, b"ok")
    packets = poll_until(srv.port, sid, 2)
    assert packets == ['451-["echo",{"_placeholder":true,"num":0}]', "bAAEC/w=="], packets


def test_websocket_wire(srv):
    """websocket only: the open packet first, connect, an event, an ack, a binary event, a ping
    answered, then a clean namespace disconnect."""
    url = f"ws://127.0.0.1:{srv.port}{eio_path(transport='websocket')}"
    with ws_connect(url, open_timeout=5) as ws:
        assert ws.recv(timeout=5)[0] == "0"
        ws.send("40")
        c = ws.recv(timeout=5)
        assert c.startswith("40{") and json.loads(c[2:])["sid"]
        ws.send('42["echo","x",1]')
        assert ws.recv(timeout=5) == '42["echo","x",1]'
        ws.send('429["echo",{"y":[null]}]')
        assert ws.recv(timeout=5) == '439[{"y":[null]}]'
        ws.send('451-["echo",{"_placeholder":true,"num":0}]')
        ws.send(b"\x00\x01\xff")
        assert ws.recv(timeout=5) == '451-["echo",{"_placeholder":true,"num":0}]'
        assert ws.recv(timeout=5) == b"\x00\x01\xff"
        # the server pings within its interval (500 ms); a pong keeps the session
        assert ws.recv(timeout=3) == "2"
        ws.send("3")
        ws.send('42["echo","after ping"]')
        msg = ws.recv(timeout=5)
        while msg == "2":
            ws.send("3")
            msg = ws.recv(timeout=5)
        assert msg == '42["echo","after ping"]'
        ws.send("41")
    srv.wait_stderr(r"^socketio: disconnect \S+ client namespace disconnect$")


def test_upgrade_wire(srv):
    """polling -> websocket as a client does it: `2probe` -> `3probe` over the websocket, the
    pending poll ended by the server with a noop (`6`), then `5` (upgrade); events go over the
    websocket afterwards and polling the session is refused."""
    sid, _ = connected_session(srv.port)
    pending: dict = {}

    def long_poll():
        pending["answer"] = get(srv.port, sid=sid, timeout=5)

    t = threading.Thread(target=long_poll)
    t.start()
    try:
        url = f"ws://127.0.0.1:{srv.port}{eio_path(transport='websocket', sid=sid)}"
        with ws_connect(url, open_timeout=5) as ws:
            ws.send("2probe")
            assert ws.recv(timeout=5) == "3probe"
            t.join(5)
            assert "answer" in pending, "the pending poll did not end after the probe"
            status, body, _ = pending["answer"]
            assert status == 200 and split_payload(body)[-1] == "6", pending["answer"]
            ws.send("5")
            ws.send('42["echo","upgraded"]')
            msg = ws.recv(timeout=5)
            while msg == "2":
                ws.send("3")
                msg = ws.recv(timeout=5)
            assert msg == '42["echo","upgraded"]'
            status, body, _ = get(srv.port, sid=sid)
            assert error_of(status, body) == (400, {"code": 3, "message": "Bad request"})
            ws.send('42["echo","still"]')
            msg = ws.recv(timeout=5)
            while msg == "2":
                ws.send("3")
                msg = ws.recv(timeout=5)
            assert msg == '42["echo","still"]', "a poll of an upgraded session ends it"
    finally:
        t.join(6)


def test_poll_arriving_after_the_probe_gets_a_noop(serve):
    """A GET that reaches the server after it answered the probe (`3probe`) is answered with a
    noop (`6`) at once, as npm engine.io does (its 100 ms check): the client waits for its
    pending poll to end before it sends `5`, so a GET held there stalls the upgrade (and every
    packet the client buffered meanwhile). Browsers hit this: their GET often leaves with the
    probe. (Pings every 10 s here: nothing else ends the poll.)"""
    srv = serve("c", {"HS_SIO_PING_INTERVAL_MS": "10000", "HS_SIO_PING_TIMEOUT_MS": "5000"})
    sid, _ = connected_session(srv.port)
    url = f"ws://127.0.0.1:{srv.port}{eio_path(transport='websocket', sid=sid)}"
    with ws_connect(url, open_timeout=5) as ws:
        ws.send("2probe")
        assert ws.recv(timeout=5) == "3probe"
        t0 = time.monotonic()
        try:
            status, body, _ = get(srv.port, sid=sid, timeout=4)
        except TimeoutError:
            pytest.fail("the poll after the probe got no answer within 4 s (no noop)")
        took = time.monotonic() - t0
        assert (status, split_payload(body)[-1:]) == (200, ["6"]), (status, body)
        assert took < 1.0, f"the poll after the probe was held {took:.2f}s"
        ws.send("5")
        ws.send('42["echo","upgraded"]')
        msg = ws.recv(timeout=5)
        while msg == "2":
            ws.send("3")
            msg = ws.recv(timeout=5)
        assert msg == '42["echo","upgraded"]'


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b"x",                            # no such Engine.IO packet type
    b"9hello",                       # no such Engine.IO packet type
    b"\xff\xfe\xfd",                 # not UTF-8
    b'42["echo", unterminated',      # a Socket.IO event whose JSON does not parse
    b"49nonsense",                   # no such Socket.IO packet type
    b'42{"not":"an array"}',         # an event that is not an array
    b'45-["echo",{"_placeholder":true,"num":0}]\x1ex',  # a bad attachment count, then junk
], ids=["type-x", "type-9", "not-utf8", "bad-json", "sio-type-9", "not-array", "attachments"])
def test_malformed_packets_close_the_session(srv, body):
    """A malformed packet in a POST ends that session (polling it then gives 400 "Session ID
    unknown"); the server answers others."""
    sid, _ = connected_session(srv.port)
    status, answer, _ = post(srv.port, body, sid=sid)
    assert status in (200, 400), (status, answer)
    session_closed(srv.port, sid)
    alive(srv.port)
    assert srv.alive()


def test_closed_session(srv):
    """After the client's close packet (`1`) the session is gone: polling it gives 400."""
    sid, socket_sid = connected_session(srv.port)
    assert post(srv.port, b"1", sid=sid)[:2] == (200, b"ok")
    session_closed(srv.port, sid)
    status, body, _ = post(srv.port, b'42["echo",1]', sid=sid)
    assert error_of(status, body) == (400, {"code": 1, "message": "Session ID unknown"})
    srv.wait_stderr(rf"^socketio: disconnect {socket_sid} ")
    alive(srv.port)


def test_overlapping_polls(srv):
    """Two GETs at once on one session: the second is refused with 400 (code 3, "Bad
    request"), the server goes on."""
    sid = handshake(srv.port)["sid"]
    answers = []

    def poll():
        answers.append(get(srv.port, sid=sid, timeout=5)[:2])

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.1)  # not a synchronisation: the first poll is held by the server until a ping
    second = get(srv.port, sid=sid, timeout=5)
    t.join(6)
    statuses = sorted([answers[0][0], second[0]]) if answers else [second[0]]
    assert 400 in statuses, (answers, second)
    bad = second if second[0] == 400 else answers[0]
    if bad[1]:  # npm engine.io answers 400 without a body; a JSON body must name the error
        assert error_of(*bad[:2])[1].get("code") in (1, 3), bad
    alive(srv.port)


def test_oversized_post(srv):
    """A POST over maxPayload (2000 bytes here): 413, the session closed; at the limit: fine."""
    sid, _ = connected_session(srv.port)
    fits = b'42["echo","' + b"a" * 1900 + b'"]'
    assert len(fits) <= 2000
    assert post(srv.port, fits, sid=sid)[:2] == (200, b"ok")
    assert poll_until(srv.port, sid, 1) == [fits.decode()]
    big = b'42["echo","' + b"a" * 5000 + b'"]'
    status, body, _ = post(srv.port, big, sid=sid)
    assert status == 413, (status, body)
    session_closed(srv.port, sid)
    alive(srv.port)


def test_oversized_post_without_reading_it_all(srv):
    """A Content-Length far over maxPayload is refused from the head: 413 before the body."""
    if srv.kind == "reference":
        pytest.skip("npm engine.io reads the body first and closes without a 413 here")
    sid, _ = connected_session(srv.port)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall((f"POST {eio_path(sid=sid)} HTTP/1.1\r\nHost: x\r\n"
                   "Content-Type: text/plain\r\nContent-Length: 50000000\r\n\r\n").encode())
        s.sendall(b"42" * 100)
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
    assert head.startswith(b"HTTP/1.1 413"), head[:100]
    alive(srv.port)


def test_oversized_websocket_message(srv):
    """A websocket message over maxPayload: close 1009 (message too big)."""
    url = f"ws://127.0.0.1:{srv.port}{eio_path(transport='websocket')}"
    with ws_connect(url, open_timeout=5, max_size=None) as ws:
        assert ws.recv(timeout=5)[0] == "0"
        ws.send("40")
        assert ws.recv(timeout=5).startswith("40")
        ws.send('42["echo","' + "a" * 5000 + '"]')
        with pytest.raises(ConnectionClosed) as e:
            while True:
                if ws.recv(timeout=5) == "2":
                    ws.send("3")
        assert e.value.rcvd is not None and e.value.rcvd.code == 1009, e.value
    alive(srv.port)


@pytest.mark.parametrize("kind", ["c", "php"])
def test_flood_of_polling_requests(serve, kind):
    """Hundreds of handshakes, polls of unknown sessions, namespace connects and bad requests
    from 32 threads: every one answered; then the server answers, its sessions expire (no pong:
    "ping timeout") and its descriptors are back to the baseline. The PHP app runs 2 workers:
    requests for a session land on either."""
    srv = serve(kind, {**FAST, "HS_SIO_MAX_PAYLOAD": "2000"}, workers=2 if kind == "php" else 1)
    port = srv.port
    alive(port)
    baseline = srv.fds()

    def one(i: int):
        kind = i % 4
        if kind == 0:
            return ("hs", handshake(port)["sid"])
        if kind == 1:
            return ("unknown", get(port, sid=f"nosuch{i}")[0])
        if kind == 2:
            sid = handshake(port)["sid"]
            return ("connect", sid, post(port, b"40", sid=sid)[0])
        return ("bad", get(port, EIO="3")[0])

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one, range(400)))
    assert [r[1] for r in results if r[0] == "unknown"] == [400] * 100
    assert [r[1] for r in results if r[0] == "bad"] == [400] * 100
    assert [r[2] for r in results if r[0] == "connect"] == [200] * 100
    sids = [r[1] for r in results if r[0] in ("hs", "connect")]
    assert len(set(sids)) == 200
    alive(port)
    # every session expires: 500 ms interval + 500 ms timeout without a pong
    for sid in sids[:: 20]:
        session_closed(port, sid, timeout=10, pong=False)
    wait_until(lambda: srv.stderr().count(" ping timeout\n") >= 100, 10,
               "100 namespace sockets dropped by ping timeout")
    wait_until(lambda: srv.fds() <= baseline, 10, f"descriptors back to {baseline}")
    alive(port)
    assert srv.alive()


def test_origins_apply_to_the_handshake(serve):
    """hs_ws_set_origins (HS_WS_ORIGINS) guards the Engine.IO handshake, polling and websocket:
    another Origin gets 403, an allowed one and a client without Origin get the open packet."""
    if os.environ.get("SIO_APP") == "reference":
        pytest.skip("the reference server has no origin list")
    s = serve("c", {"HS_WS_ORIGINS": "https://good.example"})
    status, body, _ = http_request(s.port, "GET", eio_path(),
                                   headers={"Origin": "https://evil.example"})
    assert status == 403, (status, body)
    status, body, _ = http_request(s.port, "GET", eio_path(),
                                   headers={"Origin": "https://good.example"})
    assert status == 200 and body[:1] == b"0", (status, body)
    assert handshake(s.port)["sid"]
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall((f"GET {eio_path(transport='websocket')} HTTP/1.1\r\nHost: x\r\n"
                   "Origin: https://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "\r\n").encode())
        assert c.recv(4096).startswith(b"HTTP/1.1 403"), "a refused origin's upgrade"
    with ws_connect(f"ws://127.0.0.1:{s.port}{eio_path(transport='websocket')}",
                    origin="https://good.example", open_timeout=5) as ws:
        assert ws.recv(timeout=5)[0] == "0"
