"""Three nodes (separate server processes on their own ports, two workers each) joined by one
redis-server: clients on every node and worker; publish, send-to-id, broadcast and close across
nodes reach exactly the right clients once; members() and presence() are the same on every node;
presence join/leave fire once per user on every node (a user with tabs on two nodes included);
kill -9 of a node: its users leave presence on the others within the TTL, once."""

from __future__ import annotations

import asyncio
import time
import uuid

from rooms_support import (SETTLE, Client, close_all, converge_clients, expect_once, open_spread,
                           poll, presence_events, run, tagged, views_of_workers)

TTL = 3  # seconds: the nodes' heartbeat expiry, short to keep the crash test short


def start_three(nodes, redis, ttl=TTL):
    prefix = f"t{uuid.uuid4().hex[:8]}"  # each test its own app on the module's Redis
    return [nodes(f"n{i}", redis=redis.url, prefix=prefix, workers=2, ttl=ttl) for i in range(3)]


def members_everywhere(ns, channel, want_ids, want_nodes):
    """Every node (over several connections: both workers) lists exactly `want_ids` as the
    channel's members, each with the node it is on."""
    for n in ns:
        for ans in n.get_json_all_workers(f"/members?channel={channel}", 4):
            got = {m["id"]: m["node"] for m in ans["members"]}
            assert got == dict(zip(want_ids, want_nodes)), f"{n.name}: {got}"
    return True


def presence_everywhere(ns, channel, want):
    for n in ns:
        for ans in n.get_json_all_workers(f"/presence?channel={channel}", 4):
            assert ans["users"] == want, f"{n.name}: {ans['users']} != {want}"
    return True


def test_three_nodes_one_view_and_exact_delivery(redis, nodes):
    ns = start_three(nodes, redis)

    async def body():
        red, blue = [], []
        for i, n in enumerate(ns):
            red += await open_spread(n, lambda k, i=i: (f"u{i}{k}", "red", None), 3)
            blue.append(await Client.open(n, f"b{i}", "blue"))
        ann = [await Client.open(ns[0], "ann", "presence-lobby", "Ann"),
               await Client.open(ns[1], "ann", "presence-lobby", "Ann")]
        bob = await Client.open(ns[2], "bob", "presence-lobby", "Bob")
        everyone = red + blue + ann + [bob]
        try:
            assert len({c.id for c in everyone}) == len(everyone), "ids unique across nodes"
            for i, n in enumerate(ns):
                mine = [c for c in everyone if c.node == n.name]
                assert len({c.pid for c in mine}) == 2, f"{n.name}: clients on both workers"
            assert {c.node for c in everyone} == {"n0", "n1", "n2"}
            await converge_clients(ns, everyone)

            # publish on n0 to red: every red client of every node, once; no one else
            sender = red[0]
            await sender.send("publish", channel="red", text="red across")
            await expect_once(red, blue + ann + [bob], tagged("red across"), what="publish")

            # send to an id taken from n2's payload (its /clients), from a client on n0
            on_n2 = [c for c in ns[2].get_json("/clients")["clients"]
                     if c["node"] == "n2" and c["user"].startswith("u")]
            target_id = on_n2[0]["id"]
            target = next(c for c in everyone if c.id == target_id)
            ack = await sender.request("send", to=target_id, text="to one")
            assert ack["sent"] is True
            await expect_once([target], [c for c in everyone if c is not target],
                              tagged("to one"), what="send to an id on another node")

            # broadcast from n1: everyone everywhere, once
            await blue[1].send("broadcast", text="to all")
            await expect_once(everyone, [], tagged("to all"), what="broadcast")

            # a long text of every UTF-8 width and control characters, from n2, intact
            text = "é中😀\x01\x00\n\"" * 1500  # 19 500 bytes of UTF-8
            await red[-1].send("publish", channel="red", text=text)
            await expect_once(red, blue + ann + [bob], tagged(text), what="a long text")

            # the same members and presence on every node and worker
            members_everywhere(ns, "red", [c.id for c in sorted(red, key=lambda c: c.id)],
                               [c.node for c in sorted(red, key=lambda c: c.id)])
            want = [{"user": "ann", "info": {"name": "Ann"}}, {"user": "bob", "info": {"name": "Bob"}}]
            await poll(lambda: presence_everywhere(ns, "presence-lobby", want), 5,
                       what="presence equal on every node")
            # and from inside each of the six workers, not only those HTTP happened to reach
            for key, ack in (await views_of_workers(everyone, "red")).items():
                assert sorted(ack["members"]) == sorted(c.id for c in red), f"worker {key}"
            for key, ack in (await views_of_workers(everyone, "presence-lobby")).items():
                assert sorted(ack["presence"]) == ["ann", "bob"], f"worker {key}"
            assert len(await views_of_workers(everyone)) == 6

            # presence joins: once per user on every node (ann has a tab on n0 and on n1)
            await poll(lambda: all(presence_events(n, u, "join", "presence-lobby")
                                   for n in ns for u in ("ann", "bob")), 5,
                       what="presence joins on every node")
            await asyncio.sleep(SETTLE)
            for n in ns:
                for u in ("ann", "bob"):
                    assert len(presence_events(n, u, "join", "presence-lobby")) == 1, (n.name, u)
                pids = {e["pid"] for e in n.events() if e["event"].startswith("presence-")}
                assert len(pids) == 1, f"{n.name}: presence events in one worker, not {pids}"

            # close a client of n2 from n0: only it closes, everywhere it is gone
            victim = blue[2]
            ack = await sender.request("close", id=victim.id)
            assert ack["closed"] is True
            code, _ = await victim.wait_closed(5)
            assert code == 4000
            await asyncio.sleep(SETTLE)
            assert [c.label for c in everyone if c.closed and c is not victim] == []
            rest = [c for c in everyone if c is not victim]
            await converge_clients(ns, rest, 5)

            # ann closes her n0 tab: still present through n1, no leave anywhere
            await ann[0].close()
            await converge_clients(ns, [c for c in rest if c is not ann[0]], 5)
            await asyncio.sleep(SETTLE)
            for n in ns:
                assert presence_events(n, "ann", "leave", "presence-lobby") == [], n.name
            presence_everywhere(ns, "presence-lobby", want)
            # and her last tab (on n1): one leave on every node
            await ann[1].close()
            await poll(lambda: all(presence_events(n, "ann", "leave", "presence-lobby") for n in ns),
                       5, what="ann's leave on every node")
            await poll(lambda: presence_everywhere(ns, "presence-lobby", want[1:]), 5,
                       what="ann gone from presence everywhere")
            await asyncio.sleep(SETTLE)
            for n in ns:
                assert len(presence_events(n, "ann", "leave", "presence-lobby")) == 1, n.name
        finally:
            await close_all(everyone)

    run(body())


def test_kill9_of_a_node_its_users_leave_within_the_ttl(redis, nodes):
    ns = start_three(nodes, redis)

    async def body():
        ann = [await Client.open(ns[0], "ann", "presence-lobby,red", "Ann"),
               await Client.open(ns[2], "ann", "presence-lobby,red", "Ann")]
        cat = await Client.open(ns[2], "cat", "presence-lobby,red", "Cat")
        dan = await Client.open(ns[1], "dan", "presence-lobby,red", "Dan")
        everyone = ann + [cat, dan]
        survivors = [ann[0], dan]
        try:
            await converge_clients(ns, everyone)
            want = [{"user": u, "info": {"name": u.title()}} for u in ("ann", "cat", "dan")]
            await poll(lambda: presence_everywhere(ns, "presence-lobby", want), 5,
                       what="presence before the crash")
            await poll(lambda: all(presence_events(n, u, "join", "presence-lobby")
                                   for n in ns for u in ("ann", "cat", "dan")), 5,
                       what="presence joins before the crash")

            ns[2].kill9()
            t0 = time.monotonic()
            alive = ns[:2]
            after = [w for w in want if w["user"] != "cat"]  # ann still has her n0 tab
            await poll(lambda: presence_everywhere(alive, "presence-lobby", after), TTL + 2,
                       interval=0.05, what=f"n2's users leave presence within ttl {TTL} + 2 s")
            took = time.monotonic() - t0
            print(f"presence after kill -9 converged in {took:.2f} s (ttl {TTL} s)")
            await poll(lambda: all(presence_events(n, "cat", "leave", "presence-lobby")
                                   for n in alive), 2, what="cat's leave event")
            await poll(lambda: members_everywhere(alive, "red", sorted(c.id for c in survivors),
                                                  [c.node for c in sorted(survivors, key=lambda c: c.id)]),
                       2, what="n2's clients leave red")
            await converge_clients(alive, survivors, 2)
            await asyncio.sleep(1.0)  # a late second expiry would fire a second leave
            for n in alive:
                assert len(presence_events(n, "cat", "leave", "presence-lobby")) == 1, n.name
                assert presence_events(n, "ann", "leave", "presence-lobby") == [], n.name
            # the survivors still talk to each other
            await dan.send("publish", channel="red", text="still here")
            await expect_once(survivors, [], tagged("still here"), what="after the crash")
        finally:
            await close_all(everyone)

    run(body())


def test_tabs_opened_and_closed_at_once_on_every_node(redis, nodes):
    """A user's tabs on all three nodes (both workers) open at the same moment, then close at the
    same moment: one presence join and one leave on each node, whatever order the backplane
    delivers the six connections' changes in. Three rounds, three users."""
    ns = start_three(nodes, redis)

    async def body():
        for round_ in range(3):
            user = f"tab{round_}"
            tabs = await asyncio.gather(*(Client.open(n, user, "presence-lobby")
                                          for n in ns for _ in range(2)))
            try:
                await converge_clients(ns, tabs)
            finally:
                await asyncio.gather(*(t.close() for t in tabs))
            await poll(lambda: all(presence_events(n, user, "leave", "presence-lobby")
                                   for n in ns), 5, what=f"{user} leaves on every node")
        await asyncio.sleep(SETTLE)
        for n in ns:
            got = [(e["event"], e["user"]) for e in n.events() if e["event"].startswith("presence-")]
            want = [(ev, f"tab{r}") for r in range(3) for ev in ("presence-join", "presence-leave")]
            assert got == want, f"{n.name}: {got}"

    run(body())
