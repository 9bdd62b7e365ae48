"""npm socket.io-client 4.x (Node) against the Socket.IO test app: the C app, and the PHP app in
simultaneous mode (2 workers) when it exists. Each case runs one scenario of client.mjs (a real
client, bounded by its own timeout) and asserts on the JSON it prints; the server's stderr
shows what it saw of disconnects."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from sio_support import NodeProcess, bin_, run_node, wait_until

pytestmark = pytest.mark.usefixtures("node")

VALUES = ["text", 42, -1.5, True, False, None, {"a": [1, "x", {"b": None}]}, [1, [2, [3]]],
          "héllo ✓ 😀", ""]
TRANSPORTS = {
    "upgrade": None,  # polling first, then the upgrade to websocket
    "websocket": ["websocket"],
    "polling": ["polling"],
}


def transports_opt(name: str) -> dict:
    t = TRANSPORTS[name]
    return {"transports": t} if t else {"expectUpgrade": True}


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_events_and_acks(app, transport):
    """Connect (polling + upgrade, websocket only, polling only); a burst of acked emits at
    once (during the upgrade), emit with and without ack, every JSON type, no arguments, a
    100 kB string, the server asking the client (ack from the client), whoami."""
    r = run_node("basic", app.url, **transports_opt(transport))
    if transport == "upgrade":
        assert r["first"] == "polling"
        assert r["upgraded"] is True, r
        assert r["final"] == "websocket" and r["final2"] == "websocket"
    else:
        assert r["first"] == r["final"] == r["final2"] == TRANSPORTS[transport][0]
    assert r["burst"] == [[i, f"n{i}"] for i in range(30)]
    assert r["echoAck"] == VALUES
    assert r["echoEmpty"] == []
    assert r["echoNoAck"] == ["no ack", 7, {"k": "v"}]
    assert r["bigLength"] == 100000
    assert r["answer"] == [["reply", 5, {"ok": True}]]
    who = r["whoami"]
    assert who["sid"] == r["id"], who
    assert who["user"] is None and who["rooms"] == [] and who.get("node"), who
    assert r["id"] != r["engineId"], "the socket id is not the Engine.IO session id"
    assert r["connected"] is True


def test_server_ack_times_out(app):
    """`ask` with a client that never acknowledges: `answer` null after the 2000 ms timeout."""
    r = run_node("basic", app.url, transports=["websocket"], askTimeout=True)
    assert r["silentAnswer"] == [None]
    assert 1500 <= r["silentMs"] <= 5000, r["silentMs"]


@pytest.mark.parametrize("transport", ["upgrade", "websocket", "polling"])
def test_binary(app, transport):
    """Buffers both ways, mixed with JSON and nested in objects, empty, 200 kB; in an ack, an
    event, the client's ack to the server, and a room emit."""
    opts = {"transports": TRANSPORTS[transport]} if TRANSPORTS[transport] else {}
    r = run_node("binary", app.url, **opts)
    assert r["ackMixed"] == [bin_(bytes([0, 1, 2, 253, 254, 255])),
                             {"nested": bin_(b"abc"), "list": [bin_(b"\x09"), "x"]}, "text", 5]
    assert r["ackEmpty"] == [bin_(b"")]
    assert r["bigOk"] is True
    assert r["noAck"] == ["lead", bin_(b"\x04\x02")]
    assert r["answer"] == [[bin_(b"\x01\x02\x63"), "label", "ok"]]
    assert r["roomBinary"] == [bin_(b"\x07\x07"), {"b": bin_(b"\x08")}]


@pytest.mark.parametrize("transport", ["upgrade", "polling"])
def test_rooms(app, transport):
    """join / to / leave: members get the room's events (the sender too when it is one), others
    do not; /members and whoami agree."""
    opts = {"transports": TRANSPORTS[transport]} if TRANSPORTS[transport] else {}
    room = f"red-{transport}"
    r = run_node("rooms", app.url, room=room, **opts)
    a, b, c = r["ids"]
    assert r["joinAck"] == [True] and r["leaveAck"] == [True]
    assert sorted(r["membersAfterJoin"]) == sorted([a, b])
    assert r["whoamiA"]["rooms"] == [room]
    assert r["round1"] == {"a": [[1, "one"]], "b": [[1, "one"]], "c": []}
    assert r["membersAfterLeave"] == [a]
    assert r["round2"] == {"a": [[1, "one"], [2], [3]], "b": [[1, "one"]], "c": []}
    assert r["membersAtEnd"] == [], "the room is gone with its last member"


@pytest.mark.parametrize("transport", ["upgrade", "websocket", "polling"])
def test_namespaces(app, transport):
    """/admin with the right token, without, with a wrong one; an unknown namespace; "/" refused
    by its connect handler; a user from auth; two namespaces multiplexed on one session, and a
    refusal on a session that goes on."""
    opts = {"transports": TRANSPORTS[transport]} if TRANSPORTS[transport] else {}
    r = run_node("namespaces", app.url, **opts)
    assert r["adminNsp"] == "/admin"
    assert r["adminEcho"] == ["admin", 1]
    assert r["adminRefused"]["message"] == "Not authorized"
    assert r["adminNoAuth"]["message"] == "Not authorized"
    assert r["unknown"]["message"] == "Invalid namespace"
    assert r["rootRefused"]["message"] == "bad token"
    assert r["alice"]["user"] == "alice"
    assert r["anon"]["user"] is None
    assert r["sharedEngine"] is True
    assert r["multiplexed"] == [["root"], ["adm"]]
    assert r["multiplexedRefused"] == "Not authorized"
    assert r["rootAfterRefusal"] == ["still"]
    assert r["rootStillShared"] is True


def test_broadcast_to_others(app):
    """broadcast reaches every other socket of "/", not the sender, not /admin's sockets."""
    r = run_node("broadcast", app.url)
    assert r["ack"] == [True]
    assert r["got"] == [[], [[7, {"x": "y"}]], [[7, {"x": "y"}]], []]


def test_disconnects(app):
    """bye: the client sees "io server disconnect" and does not reconnect; the server logs
    "server namespace disconnect". A client's disconnect() is "client namespace disconnect"."""
    r = run_node("disconnects", app.url)
    assert r["byeReason"] == "io server disconnect"
    assert r["byeConnected"] is False and r["byeActiveAfter"] is False
    assert r["clientConnected"] is False
    assert r["after"] == ["alive"]
    app.wait_stderr(rf"^socketio: disconnect {re.escape(r['byeId'])} server namespace disconnect$")
    app.wait_stderr(
        rf"^socketio: disconnect {re.escape(r['clientId'])} client namespace disconnect$")


@pytest.mark.parametrize("mix", ["split", "upgrade"])
def test_many_sockets(app, mix):
    """100 clients (split: half polling only, half websocket only; upgrade: all start polling
    and upgrade at once): all connect with distinct ids, each echoes 4 times, all join a room,
    a room emit reaches every one exactly once."""
    n = 100
    opts = {"transports": ["polling", "websocket"]} if mix == "upgrade" else {}
    r = run_node("many", app.url, n=n, rounds=3, room=f"many-{mix}", timeout=40000, **opts)
    assert r["connected"] == n and r["distinctIds"] == n
    assert r["echoOk"] == n and r["roundsOk"] == 3 * n
    assert r["members"] == n
    assert r["received"] == n
    if mix == "split":
        assert r["pollingFinal"] == n // 2


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_heartbeat_keeps_idle_clients(serve, transport):
    """With a 300 ms ping interval and 400 ms timeout, an idle client stays connected for 2 s
    (the pings are answered), then still echoes."""
    srv = serve("c", {"HS_SIO_PING_INTERVAL_MS": "300", "HS_SIO_PING_TIMEOUT_MS": "400"})
    r = run_node("idle", srv.url, transports=[transport], idleMs=2000)
    assert r["disconnects"] == []
    assert r["transport"] == transport
    assert r["echo"] == ["after idle"]


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_killed_client_is_noticed(serve, transport):
    """A client process killed (SIGKILL, by its PID) mid-session: the server drops its socket
    ("transport close", or "ping timeout" / "transport error" for a poller) within the
    heartbeat, and serves others."""
    srv = serve("c", {"HS_SIO_PING_INTERVAL_MS": "300", "HS_SIO_PING_TIMEOUT_MS": "400"})
    p = NodeProcess("hold", srv.url, transports=[transport], timeout=30000)
    try:
        sid = p.wait_for("connected")["id"]
    finally:
        p.kill()
    m = srv.wait_stderr(rf"^socketio: disconnect {re.escape(sid)} (.+)$", timeout=5)
    allowed = {"transport close"} if transport == "websocket" else {
        "transport close", "transport error", "ping timeout"}
    assert m.group(1) in allowed, m.group(0)
    assert run_node("idle", srv.url, idleMs=0)["echo"] == ["after idle"]


@pytest.mark.parametrize("kind", ["c", "php"])
@pytest.mark.parametrize("transport", ["upgrade", "websocket", "polling"])
def test_reconnect_after_server_restart(serve, kind, transport):
    """The server is killed (SIGKILL by PID) and a new one started on the same port: a client
    with reconnection on sees the disconnect, reconnects on its own (a new socket id) and
    exchanges again."""
    opts = {"transports": TRANSPORTS[transport]} if TRANSPORTS[transport] else {}
    workers = 2 if kind == "php" else 1
    srv = serve(kind, workers=workers)
    port = srv.port
    p = NodeProcess("reconnect", srv.url, timeout=30000, **opts)
    try:
        first = p.wait_for("connected")
        assert first["echo"] == ["before"]
        srv.kill()
        disc = p.wait_for("disconnected", timeout=10)
        assert disc["reason"] in ("transport close", "transport error", "ping timeout"), disc
        srv2 = wait_until(lambda: _restart(serve, kind, port, workers), 10,
                          f"a new {kind} server on port {port}")
        again = p.wait_for("reconnected", timeout=20)
        assert again["echo"] == ["after"]
        assert again["id"] != first["id"]
        assert again["attempts"] >= 1
        assert srv2.alive()
    finally:
        p.kill()


def _restart(serve, kind, port, workers):
    try:
        return serve(kind, port=port, workers=workers, name=f"{kind}-restarted")
    except RuntimeError as e:  # the port not free yet: tried again until the deadline
        raise AssertionError(str(e)) from None


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_connection_state_recovery(serve, transport):
    """HS_SIO_RECOVERY_MS: a socket whose transport was lost comes back with the same id, its
    rooms, and the events emitted to it while it was away (`socket.recovered` on the client);
    the server reports neither a disconnect nor a new connect for it."""
    srv = serve("c", {"HS_SIO_RECOVERY_MS": "10000"})
    r = run_node("recovery", srv.url, transports=[transport], room="rec")
    assert r["recoveredAtFirst"] is False
    assert r["reason"] in ("forced close", "transport close")  # the client closed its engine
    assert r["missedAck"] == [True] and r["missedAck2"] == [True]
    assert r["recovered"] is True, r
    assert r["secondId"] == r["firstId"]
    assert r["whoami"]["rooms"] == ["rec"]
    expected = [["before"], ["missed", 1], ["missed", 2], ["after"]]
    # with recovery on, each event carries its offset as one more (last) argument, which
    # socket.io-client records and leaves in place (npm socket.io does the same)
    assert [n[:len(e)] for n, e in zip(r["news"], expected)] == expected, r["news"]
    assert len(r["news"]) == len(expected), r["news"]
    if srv.kind != "reference":  # npm socket.io fires disconnect and connection for it
        # the only disconnect is the one at the end, when the client closed for good
        srv.wait_stderr(rf"^socketio: disconnect {r['firstId']} client namespace disconnect$")
        err = srv.stderr()
        assert err.count(f"socketio: connect {r['firstId']} ") == 1, err
        assert err.count(f"socketio: disconnect {r['firstId']} ") == 1, err


def test_no_recovery_by_default(serve):
    """Without HS_SIO_RECOVERY_MS a reconnecting client gets a new socket: a new id, no rooms,
    nothing it missed; the old socket's disconnect is reported."""
    srv = serve("c")
    r = run_node("recovery", srv.url, transports=["websocket"], room="norec",
                 recoveryExpected=False)
    assert r["recovered"] is False
    assert r["secondId"] != r["firstId"]
    assert r["whoami"]["rooms"] == []
    assert r["news"] == [["before"]], "a new socket is in no room"
    srv.wait_stderr(rf"^socketio: disconnect {re.escape(r['firstId'])} "
                    r"(transport close|transport error)$")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """tests/tls's test certificates (openssl, made once per module)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tls"))
    from certs import make_certs
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.mark.parametrize("transport", ["upgrade", "websocket", "polling"])
def test_over_tls(serve, certs, transport):
    """https:// and wss:// (env_tls.h's HS_TLS_CERT): polling, the upgrade to wss, events,
    acks and binary, with the client verifying the server against the test CA."""
    if os.environ.get("SIO_APP") == "reference":
        pytest.skip("the reference server speaks plain HTTP only")
    srv = serve("c", {"HS_TLS_CERT": certs["server"], "HS_TLS_KEY": certs["server_key"]})
    assert srv.url.startswith("https://")
    r = run_node("basic", srv.url, ca=certs["ca"], **transports_opt(transport))
    if transport == "upgrade":
        assert (r["first"], r["upgraded"], r["final"]) == ("polling", True, "websocket"), r
    else:
        assert r["first"] == r["final"] == TRANSPORTS[transport][0]
    assert r["burst"] == [[i, f"n{i}"] for i in range(30)]
    assert r["echoAck"] == VALUES
    assert r["answer"] == [["reply", 5, {"ok": True}]]
    b = run_node("binary", srv.url, ca=certs["ca"], **transports_opt(transport))
    assert b["bigOk"] is True and b["roomBinary"] == [bin_(b"\x07\x07"), {"b": bin_(b"\x08")}]


@pytest.mark.parametrize("kind", ["c", "php"])
def test_graceful_shutdown(serve, kind):
    """SIGTERM with a websocket and a polling client connected: the server tells both (their
    sockets end with "server shutting down"), each client sees its disconnect, and the server
    exits 0 within the grace period."""
    srv = serve(kind, workers=2 if kind == "php" else 1)
    clients = [NodeProcess("hold", srv.url, transports=[t], timeout=30000)
               for t in ("websocket", "polling")]
    try:
        sids = [p.wait_for("connected")["id"] for p in clients]
        srv.proc.send_signal(signal.SIGTERM)
        for p in clients:
            reason = p.wait_for("disconnected", timeout=12)["reason"]
            assert reason in ("transport close", "io server disconnect", "transport error"), reason
        assert srv.proc.wait(timeout=12) == 0
        for sid in sids:
            srv.wait_stderr(rf"^socketio: disconnect {re.escape(sid)} server shutting down$",
                            timeout=1)
    finally:
        for p in clients:
            p.kill()
