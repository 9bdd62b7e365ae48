"""The C host on the Redis backplane: c-examples/rooms (hs_redis, hs_ws_publish, hs_ws_presence,
room events) as three single-process nodes on one redis-server. A message published on one
node reaches the room's members on every node exactly once; members and presence agree on every
node; presence events fire once per user per node; a node killed with SIGKILL leaves presence
everywhere within the TTL; a Redis restart is survived. What the PHP suite does through the
wrapper, here without it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "pysupport"))
from ready import read_listening_port  # noqa: E402

ROOMS = ROOT / "c-examples" / "build" / "rooms"
TIMEOUT = 5.0
TTL_MS = 2000


class CNode:
    def __init__(self, name: str, redis_url: str, prefix: str, tmp: Path):
        self.name = name
        self.err_path = tmp / f"{name}.err"
        env = dict(os.environ, HS_REDIS=redis_url, HS_REDIS_PREFIX=prefix, HS_NODE=name,
                   HS_REDIS_TTL_MS=str(TTL_MS))
        self.proc = subprocess.Popen([str(ROOMS), "0"], stdout=subprocess.PIPE,
                                     stderr=open(self.err_path, "wb"), env=env)
        self.port = read_listening_port(self.proc, name, TIMEOUT)

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def get(self, what: str, channel: str):
        url = f"http://127.0.0.1:{self.port}/{what}?channel={channel}"
        return json.loads(urllib.request.urlopen(url, timeout=TIMEOUT).read())

    def events(self, kind: str, user: str, channel: str) -> int:
        return len(re.findall(rf"^rooms: presence {kind} {re.escape(user)} {re.escape(channel)} ",
                              self.stderr(), re.M))

    def ws(self, room: str, token: str):
        return connect(f"ws://127.0.0.1:{self.port}/rooms/{room}?token={token}",
                       open_timeout=TIMEOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)


@pytest.fixture
def cnodes(redis, tmp_path):
    if not ROOMS.exists():
        pytest.skip("c-examples/build/rooms is not built (make examples)")
    prefix = f"c{uuid.uuid4().hex[:8]}"
    started: list[CNode] = []

    def start(name: str) -> CNode:
        n = CNode(name, redis.url, prefix, tmp_path)
        started.append(n)
        return n

    yield start
    for n in started:
        n.stop()


async def poll(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is True:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


async def quiet(ws, seconds: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), seconds)
        return False
    except asyncio.TimeoutError:
        return True


def test_three_c_nodes_publish_presence_and_a_kill(cnodes):
    ns = [cnodes(f"c{i}") for i in range(3)]

    async def body():
        reds = [await ns[i].ws("red", f"u{i}") for i in range(3)]
        blue = await ns[0].ws("blue", "b0")
        tabs = [await ns[i].ws("presence-lobby", "ann") for i in (0, 1)]
        zed = await ns[2].ws("presence-lobby", "zed")
        ids = None
        try:
            def agree():
                views = [sorted(n.get("members", "red")) for n in ns]
                return True if len(views[0]) == 3 and views.count(views[0]) == 3 else views
            await poll(agree, TIMEOUT, "red's three members seen from every node")
            ids = ns[0].get("members", "red")
            for i, sender in enumerate(reds):
                await sender.send(f"from c{i} ✓")
                for r in reds:  # every member once, the sender too
                    assert await asyncio.wait_for(r.recv(), TIMEOUT) == f"from c{i} ✓"
            for r in reds:
                assert await quiet(r, 0.2), "exactly once"
            assert await quiet(blue), "blue hears nothing of red"
            await poll(lambda: all(sorted(n.get("presence", "presence-lobby")) == ["ann", "zed"]
                                   for n in ns) or None, TIMEOUT, "presence agrees")
            for n in ns:  # two tabs of ann: one join per node
                await poll(lambda n=n: n.events("join", "ann", "presence-lobby") == 1
                           and n.events("join", "zed", "presence-lobby") == 1 or None,
                           TIMEOUT, f"{n.name}: one join per user")
            await tabs[0].close()
            await asyncio.sleep(0.3)
            assert all(sorted(n.get("presence", "presence-lobby")) == ["ann", "zed"] for n in ns)
            assert all(n.events("leave", "ann", "presence-lobby") == 0 for n in ns)

            # kill -9 of c2: zed (only there) leaves presence on c0 and c1 within the TTL, once
            ns[2].proc.send_signal(signal.SIGKILL)
            ns[2].proc.wait(TIMEOUT)
            t0 = time.monotonic()
            await poll(lambda: all(n.get("presence", "presence-lobby") == ["ann"]
                                   for n in ns[:2]) or None,
                       TTL_MS / 1000 + 2, "the killed node's user leaves")
            took = time.monotonic() - t0
            assert took <= TTL_MS / 1000 + 2, took
            for n in ns[:2]:
                assert n.events("leave", "zed", "presence-lobby") == 1, n.stderr()
                left = n.get("members", "red")  # c2's member of red is gone with it
                assert len(left) == 2 and set(left) <= set(ids), (left, ids)
        finally:
            for w in reds + [blue, zed] + tabs:
                await w.close()

    asyncio.run(asyncio.wait_for(body(), 60))


def test_c_nodes_survive_a_redis_restart(redis, cnodes):
    a, b = cnodes("ca"), cnodes("cb")

    async def body():
        x = await a.ws("red", "x")
        y = await b.ws("red", "y")
        try:
            await poll(lambda: len(a.get("members", "red")) == 2
                       and len(b.get("members", "red")) == 2 or None, TIMEOUT, "both see both")
            redis.restart()
            # delivery resumes by itself: probe until a message crosses again
            deadline = time.monotonic() + 15
            n = 0
            crossed = False
            while time.monotonic() < deadline and not crossed:
                n += 1
                await x.send(f"probe {n}")
                try:
                    while True:
                        m = await asyncio.wait_for(y.recv(), 0.3)
                        if m == f"probe {n}":
                            crossed = True
                            break
                except asyncio.TimeoutError:
                    pass
            assert crossed, "no message crossed after the restart"
            assert "is back" in a.stderr() + b.stderr()
            # steady state: 100 messages each way, exactly once and in order
            for ws in (x, y):
                while not await quiet(ws, 0.3):
                    pass
            for i in range(100):
                await x.send(f"m{i}")
            got = [await asyncio.wait_for(y.recv(), TIMEOUT) for _ in range(100)]
            assert got == [f"m{i}" for i in range(100)]
            own = [await asyncio.wait_for(x.recv(), TIMEOUT) for _ in range(100)]
            assert own == got
            assert await quiet(y) and await quiet(x), "no duplicates"
            await poll(lambda: len(a.get("members", "red")) == 2
                       and len(b.get("members", "red")) == 2 or None, TIMEOUT,
                       "the views converge again")
        finally:
            await x.close()
            await y.close()

    asyncio.run(asyncio.wait_for(body(), 60))
