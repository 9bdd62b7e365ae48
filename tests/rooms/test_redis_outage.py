"""Redis stopped and started again under three running nodes: while it is down, delivery within a
node (across its workers) goes on; once it is back, cross-node delivery comes back by itself (no
node is restarted, no client reconnects), every node sees every client again, and messages from
two senders on two nodes reach the receivers on a third exactly once each and in each sender's
order."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from rooms_support import (SETTLE, Client, close_all, converge_clients, expect_once, open_spread,
                           poll, run, tagged)

RESUME_TIMEOUT = 30.0  # the backplane's reconnection (with its backoff) must be within this
STEADY = 500  # messages per sender in the steady-state run


TTL = 3


@pytest.mark.parametrize("down", [0.0, TTL + 1.0], ids=["restart", "down-longer-than-ttl"])
def test_delivery_resumes_after_a_redis_restart_without_loss_or_duplicates(redis, nodes, down):
    """`down`: seconds Redis stays down (beyond the local check): 0, or longer than the nodes'
    TTL, so that no heartbeat is seen for longer than a node may stay silent."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    ns = [nodes(f"n{i}", redis=redis.url, prefix=prefix, workers=2, ttl=TTL) for i in range(3)]

    async def body():
        senders = [await Client.open(ns[0], "s0", "feed"), await Client.open(ns[2], "s2", "feed")]
        receivers = await open_spread(ns[1], lambda k: (f"r{k}", "feed", None), 2)
        everyone = senders + receivers
        try:
            await converge_clients(ns, everyone)
            await senders[0].send("publish", channel="feed", text="before")
            await asyncio.gather(*(r.wait_for(tagged("before"), 5) for r in receivers))

            redis.stop()
            # Redis down: the node's own workers still reach each other (open_spread put the
            # receivers on both workers of n1)
            other = next(r for r in receivers if r.pid != receivers[0].pid)
            await other.send("publish", channel="feed", text="local while down")
            await expect_once(receivers, [], tagged("local while down"), timeout=5,
                              what="delivery within a node while Redis is down")
            assert all(n.running() for n in ns), "a node died when Redis went away"
            await asyncio.sleep(down)  # the outage itself: nothing to wait for but time
            assert all(n.running() for n in ns), "a node died while Redis was away"

            redis.start()
            t0 = time.monotonic()
            # each sender publishes probes until a receiver on n1 has one: delivery is back
            for s in senders:
                sent = []

                async def probe(s=s, sent=sent):
                    tag = f"probe-{s.user}-{len(sent)}"
                    sent.append(tag)
                    await s.send("publish", channel="feed", text=tag)
                    return any(m.get("text") in sent for m in receivers[0].got(lambda m: True))

                await poll(probe, RESUME_TIMEOUT, interval=0.2,
                           what=f"delivery from {s.node} resumes after the Redis restart")
            print(f"cross-node delivery back {time.monotonic() - t0:.2f} s after the restart")
            # the world view survived: every node still sees every client
            await converge_clients(ns, everyone, RESUME_TIMEOUT)

            # steady state: STEADY messages from each sender, counted and ordered per sender
            for s in senders:
                for k in range(STEADY):
                    await s.send("publish", channel="feed", text=f"steady-{s.user}-{k}")
            steady = lambda m: m.get("type") == "message" and str(m.get("text", "")).startswith("steady-")  # noqa: E731
            await asyncio.gather(*(r.wait_count(steady, 2 * STEADY, 20) for r in receivers))
            await asyncio.sleep(SETTLE)
            for r in receivers + senders:
                got = [m["text"] for m in r.got(steady)]
                for s in senders:
                    mine = [t for t in got if t.startswith(f"steady-{s.user}-")]
                    want = [f"steady-{s.user}-{k}" for k in range(STEADY)]
                    assert mine == want, (
                        f"{r.label} from {s.label}: {len(mine)} messages, "
                        f"{len(set(mine))} distinct, first differences "
                        f"{[(i, a, b) for i, (a, b) in enumerate(zip(mine, want)) if a != b][:3]}")
        finally:
            await close_all(everyone)

    run(body(), timeout=150)


def test_a_node_that_dies_while_redis_is_down_leaves_once_redis_is_back(redis, nodes):
    """Redis down for longer than the TTL is no death: no node drops the others' users (no
    presence leave anywhere). A node killed during the outage is gone once Redis is back: its
    users leave presence on the others within ttl + 2 s of the restart, once."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    ns = [nodes(f"n{i}", redis=redis.url, prefix=prefix, workers=2, ttl=TTL) for i in range(3)]

    async def body():
        users = {"ann": ns[0], "bob": ns[1], "cat": ns[2]}
        clients = {u: await Client.open(n, u, "presence-lobby") for u, n in users.items()}
        alive = ns[:2]
        try:
            await converge_clients(ns, list(clients.values()))
            want = [{"user": u, "info": {"name": u.title()}} for u in users]
            await poll(lambda: all(n.get_json("/presence?channel=presence-lobby")["users"] == want
                                   for n in ns), 5, what="presence before the outage")

            redis.stop()
            ns[2].kill9()
            await asyncio.sleep(TTL + 1.0)  # the outage: longer than a node may stay silent
            for n in alive:
                assert n.get_json("/presence?channel=presence-lobby")["users"] == want, \
                    f"{n.name} dropped users while only Redis was away"
            redis.start()
            t0 = time.monotonic()
            await poll(lambda: all(n.get_json("/presence?channel=presence-lobby")["users"]
                                   == want[:2] for n in alive), TTL + 2, interval=0.05,
                       what=f"cat (on the dead n2) leaves within ttl {TTL} + 2 s of Redis' return")
            print(f"dead node's users gone {time.monotonic() - t0:.2f} s after Redis came back")
            await converge_clients(alive, [clients["ann"], clients["bob"]], 2)
            await asyncio.sleep(SETTLE)
            for n in alive:
                events = [(e["event"], e["user"]) for e in n.events()
                          if e["event"].startswith("presence-")]
                assert sorted(events) == sorted([("presence-join", "ann"), ("presence-join", "bob"),
                                                 ("presence-join", "cat"),
                                                 ("presence-leave", "cat")]), (n.name, events)
        finally:
            await close_all(clients.values())

    run(body())
