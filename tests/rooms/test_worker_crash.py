"""kill -9 of one worker of a node (its supervisor starts a replacement): the clients it held
leave every channel and presence list on every node, once; the users of the node's other worker
stay, without a leave or a second join anywhere; the replacement serves new clients. Run for
the worker that fires the node's presence events (slot 0) and for the other one."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid

import pytest

from rooms_support import (SETTLE, Client, close_all, converge_clients, open_spread, poll,
                           process_tree, run)

TTL = 3


# slot 0 fires the node's presence events: when it dies the next live worker takes over (and
# tells the leaves of its users), and its replacement catches up without firing joins again.
@pytest.mark.parametrize("victim", ["other", "slot0"])
def test_kill9_of_one_worker(redis, nodes, victim):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    ns = [nodes(f"n{i}", redis=redis.url, prefix=prefix, workers=2, ttl=TTL) for i in range(2)]

    async def body():
        ann = await Client.open(ns[0], "ann", "presence-lobby")
        bs = await open_spread(ns[1], lambda k: (f"b{k}", "presence-lobby", None), 2)
        everyone = [ann] + bs
        try:
            await converge_clients(ns, everyone)
            await poll(lambda: len([e for e in ns[1].events() if e["event"] == "presence-join"])
                       == len(everyone), 5, what="n1's presence joins")
            slot0 = {e["pid"] for e in ns[1].events() if e["event"].startswith("presence-")}
            assert len(slot0) == 1 and slot0 <= {b.pid for b in bs} | set(ns[1].pids), slot0
            pid = slot0.pop() if victim == "slot0" else next(b.pid for b in bs if b.pid not in slot0)
            dead = [b for b in bs if b.pid == pid]
            kept = [ann] + [b for b in bs if b.pid != pid]
            assert dead and len(kept) > 1, "open_spread put clients on both workers"
            before = {n.name: len(n.events()) for n in ns}

            os.kill(pid, signal.SIGKILL)
            for c in dead:
                await c.wait_closed(5)
            want = sorted([{"user": c.user, "info": {"name": c.user.title()}} for c in kept],
                          key=lambda u: u["user"])
            await poll(lambda: all(n.get_json("/presence?channel=presence-lobby")["users"] == want
                                   for n in ns), 5, what="the dead worker's users leave everywhere")
            await poll(lambda: len(process_tree(ns[1].pid)) == 3, 10,
                       what="the supervisor replaces the worker")
            await converge_clients(ns, kept, 5)
            newcomer = await Client.open(ns[1], "cy", "presence-lobby")
            everyone.append(newcomer)
            kept.append(newcomer)
            await converge_clients(ns, kept, 5)
            await asyncio.sleep(SETTLE)
            for n in ns:
                after = [(e["event"], e["user"]) for e in n.events()[before[n.name]:]
                         if e["event"].startswith("presence-")]
                assert sorted(after) == sorted([("presence-leave", c.user) for c in dead]
                                               + [("presence-join", "cy")]), (n.name, after)
        finally:
            await close_all(everyone)

    run(body())
