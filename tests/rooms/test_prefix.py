"""Two apps on one Redis, told apart by their prefix only (the same node names, the same channel
names, possibly the same client ids): nothing crosses from one to the other, and every key and
pub/sub channel either app made in Redis starts with its prefix."""

from __future__ import annotations

import uuid

from rooms_support import Client, close_all, converge_clients, expect_once, poll, run, tagged


def test_a_prefix_separates_two_apps_on_one_redis(redis, nodes):
    tag = uuid.uuid4().hex[:6]
    prefixes = {"alpha": f"alpha{tag}", "beta": f"beta{tag}"}
    apps = {app: [nodes(f"n{i}", redis=redis.url, prefix=p, workers=1, ttl=3) for i in range(2)]
            for app, p in prefixes.items()}

    async def body():
        clients = {app: [] for app in apps}
        user = {"alpha": "ann", "beta": "bob"}
        for app, ns in apps.items():
            for n in ns:
                clients[app].append(await Client.open(n, user[app], "red,presence-lobby"))
                clients[app].append(await Client.open(n, f"{user[app]}2", "red"))
        alpha, beta = clients["alpha"], clients["beta"]
        try:
            for app, ns in apps.items():
                await converge_clients(ns, clients[app])  # its own clients, and only them

            await alpha[0].send("publish", channel="red", text="alpha red")
            await expect_once(alpha, beta, tagged("alpha red"), what="alpha's publish")
            await beta[1].send("broadcast", text="beta all")
            await expect_once(beta, alpha, tagged("beta all"), what="beta's broadcast")

            # a beta id sent to from alpha reaches no beta client (ids may collide: the
            # alpha client with the same id, if any, is alpha's and may get it)
            alpha_ids = {c.id for c in alpha}
            for target in beta:
                await alpha[0].send("send", to=target.id, text=f"to beta {target.id}")
            for target in beta:
                await expect_once([c for c in alpha if c.id == target.id], beta,
                                  tagged(f"to beta {target.id}"), what="alpha send to a beta id")
            print(f"alpha ids {sorted(alpha_ids)}, beta ids {sorted(c.id for c in beta)}")

            for app, ns in apps.items():
                want = [{"user": user[app], "info": {"name": user[app].title()}}]
                await poll(lambda ns=ns, want=want: all(
                    n.get_json("/presence?channel=presence-lobby")["users"] == want for n in ns),
                    5, what=f"{app}'s presence holds only its own user")

            keys = redis.command("KEYS", "*")
            chans = redis.command("PUBSUB", "CHANNELS", "*")
            assert keys or chans, "the apps left no trace in Redis at all?"
            foreign = [k for k in keys + chans if not any(k.startswith(p) for p in prefixes.values())]
            assert foreign == [], f"keys or channels outside the prefixes: {foreign}"
            for p in prefixes.values():
                assert any(k.startswith(p) for k in keys + chans), f"nothing under {p}"
        finally:
            await close_all(alpha + beta)

    run(body())
