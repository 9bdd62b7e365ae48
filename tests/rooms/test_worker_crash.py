"""kill -9 of one worker of a node (its supervisor starts a replacement): the clients it held
leave every channel and presence list on every node, once; the users of the node's other worker
stay, without a leave or a second join anywhere. Run for the worker that fires the node's
presence events (slot 0) and for the other one. Then the replacement's clients: new ids, seen
everywhere."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid

import pytest

from rooms_support import (SETTLE, Client, close_all, converge_clients, expect_once, open_spread,
                           poll, process_tree, run, tagged)

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
            await asyncio.sleep(SETTLE)
            for n in ns:
                after = [(e["event"], e["user"]) for e in n.events()[before[n.name]:]
                         if e["event"].startswith("presence-")]
                assert sorted(after) == sorted([("presence-leave", c.user) for c in dead]), \
                    (n.name, after)
        finally:
            await close_all(everyone)

    run(body())


def test_a_replacement_worker_gives_new_ids(redis, nodes):
    """The replacement's first connection (in the dead worker's slot) gets an id none of the
    dead worker's clients had: a send to a dead client's id reaches no one, and the dead
    client's removal does not take the newcomer out of the other processes' view."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    ns = [nodes(f"n{i}", redis=redis.url, prefix=prefix, workers=2, ttl=TTL) for i in range(2)]

    async def body():
        ann = await Client.open(ns[0], "ann", "presence-lobby")
        # no HTTP request reaches n1 before these: each worker's first connection is a client
        bs = await open_spread(ns[1], lambda k: (f"b{k}", "presence-lobby", None), 2)
        opened = [ann] + bs
        try:
            first = {}
            for b in bs:
                first.setdefault(b.pid, b)  # the first connection of each worker
            victim = bs[0].pid
            dead = [b for b in bs if b.pid == victim]
            os.kill(victim, signal.SIGKILL)
            for c in dead:
                await c.wait_closed(5)
            kept = [ann] + [b for b in bs if b.pid != victim]
            want = sorted(c.user for c in kept)
            await poll(lambda: [u["user"] for u in ns[0].get_json(
                "/presence?channel=presence-lobby")["users"]] == want, 5,
                what="the dead worker's users leave n0's presence")
            await poll(lambda: len(process_tree(ns[1].pid)) == 3, 10,
                       what="the supervisor replaces the worker")
            replacement = (set(process_tree(ns[1].pid)) - {ns[1].pid} - {b.pid for b in bs}).pop()
            newcomers = []
            while not any(c.pid == replacement for c in newcomers):
                assert len(newcomers) < 24, "no connection reached the replacement worker"
                newcomers.append(await Client.open(ns[1], f"cy{len(newcomers)}", "presence-lobby"))
            opened += newcomers
            fresh = next(c for c in newcomers if c.pid == replacement)
            await converge_clients(ns, kept + newcomers, 5)
            await ann.send("send", to=first[victim].id, text="to the dead client's id")
            await expect_once([], kept + newcomers, tagged("to the dead client's id"),
                              what="send to a dead client's id")
            assert fresh.id not in {c.id for c in dead}, \
                f"the replacement gave {fresh.id}, the id of a dead client"
        finally:
            await close_all(opened)

    run(body())
