"""Rooms on one node with two worker processes (no Redis): the new user's trial of issue 11 —
six clients in "red", three in "blue", a message to red reaches all six, once each, and no blue
one, whichever worker holds them; presence with several tabs per user; a refused upgrade."""

from __future__ import annotations

import asyncio

import pytest

from rooms_support import (SETTLE, Client, Refused, close_all, expect_once, open_spread, poll,
                           presence_events, run, tagged, views_of_workers)


@pytest.fixture
def node(nodes):
    return nodes("solo", workers=2)


def test_six_red_three_blue_across_two_workers(node):
    async def body():
        red = await open_spread(node, lambda i: (f"red{i}", "red", None), 6)
        blue = [await Client.open(node, f"blue{i}", "blue") for i in range(3)]
        try:
            everyone = red + blue
            assert len({c.pid for c in red}) == 2, "red must span both workers"
            assert len({c.id for c in everyone}) == len(everyone), "ids are unique"
            assert all(c.welcome["channels"] == ["red"] for c in red)

            # the trial: one red client publishes, every red client (the sender too) gets it
            await red[0].send("publish", channel="red", text="hello red")
            await expect_once(red, blue, tagged("hello red"), what="publish to red")

            # to blue, leaving the sender out
            other = blue[1]
            await other.send("publish", channel="blue", text="hello blue", except_me=True)
            await expect_once([c for c in blue if c is not other], red + [other],
                              tagged("hello blue"), what="publish to blue except the sender")

            # the same member list from both workers, over HTTP and from inside each worker
            red_ids = sorted(c.id for c in red)
            await poll(lambda: all([m["id"] for m in ans["members"]] == red_ids for ans in
                                   node.get_json_all_workers("/members?channel=red")),
                       5, what="red's members the same on both workers")
            for ans in node.get_json_all_workers("/members?channel=red"):
                assert {m["user"] for m in ans["members"]} == {c.user for c in red}
            for key, ack in (await views_of_workers(everyone, "red")).items():
                assert sorted(ack["members"]) == red_ids, f"worker {key}"

            # a client leaves red: no longer a member, no longer gets red's messages
            leaver = red[-1]
            await leaver.request("leave", channel="red")
            stay = red[:-1]
            await red[1].send("publish", channel="red", text="after leave")
            await expect_once(stay, blue + [leaver], tagged("after leave"), what="after a leave")
            await poll(lambda: all([m["id"] for m in ans["members"]] == sorted(c.id for c in stay)
                                   for ans in node.get_json_all_workers("/members?channel=red")),
                       5, what="the leave seen by both workers")

            # a client that closes leaves every channel
            gone = stay[0]
            await gone.close()
            await poll(lambda: all([m["id"] for m in a["members"]] == sorted(c.id for c in stay[1:])
                                   for a in node.get_json_all_workers("/members?channel=red", 4)),
                       5, what="the closed client leaves red on both workers")

            # onJoin / onLeave: once per client and channel, in the worker that holds it
            await asyncio.sleep(SETTLE)
            events = node.events()
            for c in everyone:
                joins = [e for e in events if e["event"] == "join" and e["id"] == c.id]
                assert [e["channel"] for e in joins] == [c.welcome["channels"][0]], (c.label, joins)
                assert {e["pid"] for e in joins} == {c.pid}, "onJoin runs in the client's worker"
            leaves = [(e["id"], e["channel"]) for e in events if e["event"] == "leave"]
            assert sorted(leaves) == sorted([(leaver.id, "red"), (gone.id, "red")]), leaves
        finally:
            await close_all(red + blue)

    run(body())


def test_presence_with_several_tabs_per_user(node):
    async def body():
        ann = await open_spread(node, lambda i: ("ann", "presence-lobby", "Ann"), 3)
        bob = await Client.open(node, "bob", "presence-lobby,red", "Bob")
        try:
            want = [{"user": "ann", "info": {"name": "Ann"}}, {"user": "bob", "info": {"name": "Bob"}}]
            # the other worker learns of a client within the cluster's latency
            await poll(lambda: all(ans["users"] == want for ans in
                                   node.get_json_all_workers("/presence?channel=presence-lobby")),
                       5, what="presence the same on both workers")
            await poll(lambda: presence_events(node, "ann", "join", "presence-lobby")
                       and presence_events(node, "bob", "join", "presence-lobby"),
                       5, what="presence joins")
            # all but one of ann's tabs close: ann is still there, no leave
            for tab in ann[:-1]:
                await tab.close()
            await poll(lambda: all(len(a["members"]) == 2 for a in
                                   node.get_json_all_workers("/members?channel=presence-lobby", 4)),
                       5, what="closed tabs leave the channel's members")
            await asyncio.sleep(SETTLE)
            assert presence_events(node, "ann", "leave", "presence-lobby") == []
            for ans in node.get_json_all_workers("/presence?channel=presence-lobby"):
                assert ans["users"] == want
            # the last tab: one leave
            await ann[-1].close()
            await poll(lambda: presence_events(node, "ann", "leave", "presence-lobby"), 5,
                       what="ann's presence leave")
            await asyncio.sleep(SETTLE)
            for ans in node.get_json_all_workers("/presence?channel=presence-lobby"):
                assert ans["users"] == want[1:]
            events = [e for e in node.events() if e["event"].startswith("presence-")]
            assert [(e["event"], e["user"]) for e in events if e["user"] == "ann"] == \
                [("presence-join", "ann"), ("presence-leave", "ann")], events
            assert len([e for e in events if e["user"] == "bob"]) == 1, events
            assert len({e["pid"] for e in events}) == 1, "presence events fire in one worker"
            # a channel without the presence- prefix lists no users
            assert node.get_json("/presence?channel=red")["users"] == []
        finally:
            await close_all(ann + [bob])

    run(body())


def test_upgrade_without_user_is_refused_before_the_101(node):
    async def body():
        with pytest.raises(Refused) as e:
            await Client.open(node, None, "red")
        assert e.value.status == 401
        assert b"a user is required" in e.value.body
        assert node.get_json("/clients")["clients"] == []

    run(body())
