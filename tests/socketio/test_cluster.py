"""Socket.IO across processes: the PHP app in simultaneous mode (2 workers: a polling session's
requests land on either worker and are served by the one that owns the session), and room emits
across nodes on a real redis-server (tests/rooms' Redis: one per module, stopped by PID) with
the C app and the PHP app as nodes."""

from __future__ import annotations

import os
import uuid

import pytest

from sio_support import NodeProcess, bin_, run_node, wait_until

pytestmark = pytest.mark.usefixtures("node")


def test_polling_sessions_with_two_workers(serve):
    """40 polling-only clients on 2 workers: each polling request goes to whichever worker the
    kernel picks; every client connects, echoes 6 times, joins a room and gets the room's emit
    (the requests reaching the other worker are forwarded to the session's owner)."""
    srv = serve("php", workers=2)
    r = run_node("many", srv.url, n=40, rounds=5, transports=["polling"], room="poll2",
                 timeout=40000)
    assert r["connected"] == 40 and r["distinctIds"] == 40
    assert r["echoOk"] == 40 and r["roundsOk"] == 5 * 40
    assert r["members"] == 40 and r["received"] == 40
    assert r["pollingFinal"] == 40
    b = run_node("basic", srv.url, transports=["polling"])
    assert b["burst"] == [[i, f"n{i}"] for i in range(30)]
    assert b["answer"] == [["reply", 5, {"ok": True}]]


@pytest.mark.parametrize("transport", ["upgrade", "polling"])
@pytest.mark.parametrize("kind", ["c", "php"])
def test_room_emit_across_nodes(serve, redis, kind, transport):
    """Nodes A and B on one Redis: a socket on B joins a room; A's /members lists it; a socket
    on A emits to the room (JSON and binary) and broadcasts (not to itself): B's socket gets
    both; then B's socket emits to the room and A's gets it. PHP nodes run 2 workers each."""
    if os.environ.get("SIO_APP") == "reference" and kind == "c":
        pytest.skip("the reference server has no Redis backplane")
    prefix = f"sio{uuid.uuid4().hex[:8]}"
    workers = 2 if kind == "php" else 1

    def env(name):
        return {"HS_REDIS": redis.url, "HS_REDIS_PREFIX": prefix, "HS_PREFIX": prefix,
                "HS_NODE": name}

    a = serve(kind, env("a"), workers=workers, name=f"{kind}-node-a")
    b = serve(kind, env("b"), workers=workers, name=f"{kind}-node-b")
    opts = {"transports": ["polling"]} if transport == "polling" else {}
    r = run_node("crossnode", a.url, b.url, room=f"across-{transport}", **opts)
    assert r["xWhoami"]["node"] == "b" and r["yWhoami"]["node"] == "a"
    assert r["membersOnA"] == [r["xWhoami"]["sid"]]
    assert r["got"] == [["from A", {"n": 1}, bin_(b"\x01\x02\x03")]]
    assert r["hey"] == [["all nodes"]]
    assert r["heySelf"] == []
    assert r["back"] == [["from B"]]


def test_sockets_of_a_killed_node_leave_its_rooms(serve, redis):
    """Node B killed (SIGKILL by PID, no goodbye): its socket leaves the room in A's view
    within the nodes' TTL (1500 ms here), and A goes on serving."""
    if os.environ.get("SIO_APP") == "reference":
        pytest.skip("the reference server has no Redis backplane")
    prefix = f"sio{uuid.uuid4().hex[:8]}"

    def env(name):
        return {"HS_REDIS": redis.url, "HS_REDIS_PREFIX": prefix, "HS_NODE": name,
                "HS_REDIS_TTL_MS": "1500"}

    a = serve("c", env("a"), name="c-node-a")
    b = serve("c", env("b"), name="c-node-b")
    x = NodeProcess("hold", b.url, transports=["websocket"], room="doomed", timeout=30000)
    try:
        sid = x.wait_for("connected")["id"]
        wait_until(lambda: a.members("doomed") == [sid], 5, "A sees B's socket in the room")
        b.kill()
        wait_until(lambda: a.members("doomed") == [], 10, "B's socket gone from A's view")
    finally:
        x.kill()
    assert run_node("idle", a.url, idleMs=0)["echo"] == ["after idle"]
