"""Across hosts, not only across ports: two nodes, each in a network namespace of its own (its own
interfaces, addresses and loopback), joined by veth pairs to a bridge in the root namespace on a
private /24 made for this test; redis-server listens on the bridge's address. The test's clients
reach each node at its namespace's address. A node cut off from Redis (its cable pulled: its
veth down) is gone for the others after the TTL, and back when the cable is. Needs root
(`ip netns`); skipped otherwise. Every namespace and link made here is deleted at the end."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest

from rooms_support import (SETTLE, Client, Netns, Redis, close_all, converge_clients, expect_once,
                           poll, presence_events, run, tagged)


@pytest.fixture(scope="module")
def netns():
    reason = Netns.usable()
    if reason:
        pytest.skip(reason)
    ns = Netns(2)
    try:
        yield ns
    finally:
        left = ns.close()
        assert left == [], f"could not delete {left}"


@pytest.fixture(scope="module")
def bridge_redis(netns, tmp_path_factory):
    r = Redis(tmp_path_factory.mktemp("redis-netns"), host=netns.bridge_addr)
    try:
        yield r
    finally:
        r.stop()


def test_two_nodes_in_their_own_network_namespaces(netns, bridge_redis, nodes):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    ns = [nodes(f"h{i}", redis=bridge_redis.url, prefix=prefix, workers=2, ttl=3,
                address=netns.addrs[i], netns=netns.names[i]) for i in range(2)]
    own = os.readlink("/proc/self/ns/net")
    for n, addr in zip(ns, netns.addrs):
        assert n.host == addr
        for pid in n.pids:
            assert os.readlink(f"/proc/{pid}/ns/net") != own, f"{n.name} pid {pid} not in its netns"
    assert os.readlink(f"/proc/{ns[0].pid}/ns/net") != os.readlink(f"/proc/{ns[1].pid}/ns/net")

    async def body():
        a = [await Client.open(ns[0], "ann", "red,presence-lobby"),
             await Client.open(ns[0], "al", "red")]
        b = [await Client.open(ns[1], "bob", "red,presence-lobby"),
             await Client.open(ns[1], "bea", "blue")]
        everyone = a + b
        try:
            await converge_clients(ns, everyone)
            await a[0].send("publish", channel="red", text="over the bridge")
            await expect_once([a[0], a[1], b[0]], [b[1]], tagged("over the bridge"),
                              what="publish across namespaces")
            ack = await b[1].request("send", to=a[1].id, text="back")
            assert ack["sent"] is True
            await expect_once([a[1]], [a[0], b[0], b[1]], tagged("back"), what="send across")
            want = [{"user": "ann", "info": {"name": "Ann"}}, {"user": "bob", "info": {"name": "Bob"}}]
            await poll(lambda: all(n.get_json("/presence?channel=presence-lobby")["users"] == want
                                   for n in ns), 5, what="presence equal in both namespaces")
        finally:
            await close_all(everyone)

    run(body())


def test_a_node_cut_off_from_redis_leaves_and_comes_back(netns, bridge_redis, nodes):
    ttl = 3
    prefix = f"t{uuid.uuid4().hex[:8]}"
    ns = [nodes(f"h{i}", redis=bridge_redis.url, prefix=prefix, workers=2, ttl=ttl,
                address=netns.addrs[i], netns=netns.names[i]) for i in range(2)]

    def users(n):
        return [u["user"] for u in n.get_json("/presence?channel=presence-lobby")["users"]]

    async def body():
        ann = await Client.open(ns[0], "ann", "presence-lobby,red")
        bob = await Client.open(ns[1], "bob", "presence-lobby,red")
        try:
            await converge_clients(ns, [ann, bob])
            await poll(lambda: users(ns[0]) == ["ann", "bob"], 5, what="presence")
            netns.set_link(1, False)
            t0 = time.monotonic()
            await poll(lambda: users(ns[0]) == ["ann"], ttl + 2, interval=0.05,
                       what=f"h1's users gone from h0 within ttl {ttl} + 2 s of the cut")
            print(f"cut off: bob left h0's presence after {time.monotonic() - t0:.2f} s")
            netns.set_link(1, True)
            t1 = time.monotonic()
            await poll(lambda: users(ns[0]) == ["ann", "bob"] and users(ns[1]) == ["ann", "bob"],
                       10, interval=0.05, what="h1 back in h0's view once the cable is back")
            print(f"healed: bob back on h0 after {time.monotonic() - t1:.2f} s")
            await converge_clients(ns, [ann, bob], 5)
            await ann.send("publish", channel="red", text="healed")
            await expect_once([ann, bob], [], tagged("healed"), what="delivery after the cut")
            await asyncio.sleep(SETTLE)
            assert [e["event"] for e in ns[0].events() if e["event"].startswith("presence-")
                    and e["user"] == "bob"] == ["presence-join", "presence-leave", "presence-join"]
            assert presence_events(ns[1], "ann", "leave", "presence-lobby") == []
        finally:
            netns.set_link(1, True)
            await close_all([ann, bob])

    run(body())
