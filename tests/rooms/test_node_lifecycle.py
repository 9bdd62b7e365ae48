"""Nodes that go away and come back, as in a deploy: a node stopped gracefully (SIGTERM) takes its
users out of presence on the others at once, not after the TTL; a node killed and started again
at once under the same name serves new clients that every node sees, and the dead instance's
users leave within the TTL, once, after which every node agrees."""

from __future__ import annotations

import asyncio
import time
import uuid

from rooms_support import (SETTLE, Client, close_all, converge_clients, expect_once, open_spread,
                           poll, presence_events, run, tagged)


def presence_users(n):
    return [u["user"] for u in n.get_json("/presence?channel=presence-lobby")["users"]]


def test_a_node_stopped_gracefully_leaves_at_once(redis, nodes):
    ttl = 30  # a leave seen well before this cannot come from the heartbeat's expiry
    prefix = f"t{uuid.uuid4().hex[:8]}"
    ns = [nodes(f"n{i}", redis=redis.url, prefix=prefix, workers=2, ttl=ttl) for i in range(2)]

    async def body():
        ann = await Client.open(ns[0], "ann", "presence-lobby")
        bob = await Client.open(ns[1], "bob", "presence-lobby")
        try:
            await converge_clients(ns, [ann, bob])
            await poll(lambda: presence_users(ns[0]) == ["ann", "bob"], 5, what="presence")
            t0 = time.monotonic()
            ns[1].stop()
            assert (await bob.wait_closed(5))[0] == 1001
            _, took = await poll(lambda: presence_users(ns[0]) == ["ann"], 5, interval=0.05,
                                 what="bob leaves at his node's graceful stop")
            print(f"graceful stop to bob's leave on n0: {time.monotonic() - t0:.2f} s (ttl {ttl} s)")
            await converge_clients(ns[:1], [ann], 2)
            await asyncio.sleep(SETTLE)
            assert len(presence_events(ns[0], "bob", "leave", "presence-lobby")) == 1
        finally:
            await close_all([ann, bob])

    run(body())


# A node restarted under its name takes the same node number again; its ids start at the clock,
# so the newcomers do not get the dead instance's ids (a send to an old id reaches no one).
def test_a_node_killed_and_restarted_under_its_name(redis, nodes):
    ttl = 3
    prefix = f"t{uuid.uuid4().hex[:8]}"
    ns = [nodes(f"n{i}", redis=redis.url, prefix=prefix, workers=2, ttl=ttl) for i in range(2)]

    async def body():
        ann = await Client.open(ns[0], "ann", "presence-lobby,red")
        cat = await Client.open(ns[1], "cat", "presence-lobby,red")
        opened = [ann, cat]
        try:
            await converge_clients(ns, opened)
            ns[1].kill9()
            t0 = time.monotonic()
            again = nodes("n1", redis=redis.url, prefix=prefix, workers=2, ttl=ttl)
            # clients on both workers of the new instance: the first of each worker gets the
            # first id of that worker's range
            dans = await open_spread(again, lambda k: (f"dan{k}", "presence-lobby,red", None), 2)
            opened += dans
            assert {d.node for d in dans} == {"n1"}
            users = sorted(["ann"] + [d.user for d in dans])
            # the new instance and the old one's users: within the TTL everyone agrees
            await poll(lambda: all(presence_users(n) == users for n in (ns[0], again)),
                       ttl + 2, interval=0.05, what="presence agrees after the restart")
            print(f"kill -9 and restart: presence agreed after {time.monotonic() - t0:.2f} s")
            await converge_clients([ns[0], again], [ann] + dans, 2)
            await ann.send("publish", channel="red", text="to the new n1")
            await expect_once([ann] + dans, [], tagged("to the new n1"), what="publish after restart")
            await dans[0].send("publish", channel="red", text="from the new n1")
            await expect_once([ann] + dans, [], tagged("from the new n1"), what="and back")
            await asyncio.sleep(SETTLE)
            assert len(presence_events(ns[0], "cat", "leave", "presence-lobby")) == 1
            for d in dans:
                assert len(presence_events(ns[0], d.user, "join", "presence-lobby")) == 1
            assert presence_events(ns[0], "ann", "leave", "presence-lobby") == []
            # ids are unique across nodes and time: a message to the dead client's id (an app
            # that kept it) must not reach a newcomer of the restarted node
            await ann.send("send", to=cat.id, text="to cat's old id")
            await expect_once([], [ann] + dans, tagged("to cat's old id"), what="send to a dead id")
            reused = [d.label for d in dans if d.id == cat.id]
            assert not reused, f"the restarted n1 gave {reused} the id of its dead client {cat.id}"
        finally:
            await close_all(opened)

    run(body())
