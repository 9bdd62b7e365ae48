"""make bench, issue 11 rows: channels, presence and the Redis backplane (imported by bench.py;
`bench/bench.py --only rooms` runs these alone and writes bench/results/BENCHMARKS-partial.md).

Hosts: bench/rooms_host.c (the C ABI: hs_ws_publish, hs_ws_join/leave, hs_redis; no PHP in the
path), bench/rooms_host.php (its twin for the publish row: publish() from a PHP handler) and,
for the latency row, php/examples/rooms.php (the message goes through a PHP handler on the
sending node). Every node is a fresh process per run, started and stopped by its PID;
redis-server is one of our own on a free loopback port (tests/rooms/rooms_support.py), no
persistence.

  (14) Publish to a channel of 10 000 members: ws_load (examples/ws_load.rs) opens 10 000
       clients, the host's authorizer joins each to channel "bench"; one client sends a 32-byte
       text starting with "broadcast", the host publishes it to the channel (sender included);
       the time from the send until the last of the 10 000 has it, 20 times per run, 100 ms
       apart. On one node (no Redis; server on CPU 0, clients on CPU 1), the same with a plain
       loop of hs_ws_send() over the clients instead of the publish (the target's baseline),
       the PHP twin on one node, and spread over three nodes (3 334/3 333/3 333 clients; one
       redis-server; unpinned). Server
       CPU per delivered message: the nodes' CPU time (utime+stime from /proc) over the 20
       publishes, divided by 20 × 10 000; redis-server's CPU is given apart.
  (15) Presence join/leave per second: 2 000 clients (2 000 users) on node A, idle; GET
       /presence/join makes A join each to "presence-bench" (hs_ws_join, 2 000 calls in one
       handler), then GET /presence/leave takes them out, 5 times; node B counts the presence
       events it gets (on_presence) with the wall-clock time of the last. Rate = 2 000 / (B's
       last event - the request's start): events per second seen on another node, end to end
       (median of the 5); on node A, the same to A's own last event. CPU: over all 5 cycles.
  (16) Cross-node latency at 1 000 messages/s: one client on node A sends a message every
       millisecond (an absolute schedule, no catch-up burst) for the window, stamped with
       its send time; A publishes it to a channel whose only member is a client on node B;
       latency = receive time - send time (one Python asyncio process holds both clients,
       same clock); p50, p99, max over the window; messages lost (none expected). For
       reference, the same with both clients on one node without Redis: the floor that the
       client, the machine's load and one WebSocket hop each way set.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "rooms"))
from rooms_support import Redis  # noqa: E402

C_ROOMS = os.path.join(ROOT, "target/bench/rooms_host")
PHP_HOST = ["php", os.path.join(ROOT, "bench/rooms_host.php"), "0"]
PHP_ROOMS = ["php", os.path.join(ROOT, "php/examples/rooms.php"), "0"]
WS_LOAD = os.path.join(ROOT, "target/release/examples/ws_load")

PUBLISH_CONNS = 10000
PUBLISH_REPS = 20
PRESENCE_CONNS = 2000
PRESENCE_CYCLES = 5  # join all, leave all; repeated (CPU time is counted in 10 ms ticks)
LATENCY_RATE = 1000  # messages per second

# key -> (label, command, nodes, environment)
PUBLISH = {
    "c1_loop": ("C, one node: a loop of hs_ws_send() over the 10 000 clients (baseline)",
                [C_ROOMS, "0"], 1, {"HS_BENCH_SEND": "loop"}),
    "c1_publish": ("C, one node: hs_ws_publish() to the channel", [C_ROOMS, "0"], 1, {}),
    "php1_publish": ("PHP, one node (1 worker): publish() from the handler (bench/rooms_host.php)",
                     PHP_HOST, 1, {}),
    "c3_publish": ("C, three nodes + Redis: hs_ws_publish(), members spread over the nodes",
                   [C_ROOMS, "0"], 3, {}),
}
# key -> (label, command, nodes)
LATENCY = {
    "c": ("C: bench/rooms_host.c on both nodes", [C_ROOMS, "0"], 2),
    "php": ("PHP: php/examples/rooms.php (1 worker) on both nodes", PHP_ROOMS, 2),
    "c_local": ("reference: C, sender and receiver on the same node, no Redis", [C_ROOMS, "0"], 1),
}

_redis: list = []  # one redis-server for the whole invocation, started on first use


def redis_server(h):
    if not _redis:
        tmp = Path(h.BENCH) / "results" / "redis"
        tmp.mkdir(parents=True, exist_ok=True)
        _redis.append(Redis(tmp))
    return _redis[0]


def stop_redis():
    while _redis:
        _redis.pop().stop()


def get_json(port, path, timeout=30):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return json.loads(r.read())


def start_nodes(h, cmd, count, env, cpu=None, redis=None):
    """`count` nodes; with Redis when count > 1 (or `redis` given), a fresh prefix per run."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    out = []
    try:
        for i in range(count):
            e = dict(env)
            if count > 1 or redis:
                e.update({"HS_REDIS": (redis or redis_server(h)).url, "HS_PREFIX": prefix,
                          "HS_NODE": f"n{i}", "HS_EVENTS_DIR": os.path.join(h.BENCH, "results")})
            out.append(h.start_server(cmd, e, cpu))
    except BaseException:
        for p, _ in out:
            h.stop(p)
        raise
    return out


def cpu_of(h, procs):
    user = sys_ = 0.0
    for p, _ in procs:
        u, s = h.cpu_split(p.pid)
        user += u
        sys_ += s
    return user, sys_


def wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as e:
            last = e
        time.sleep(0.02)
    raise RuntimeError(f"{what}: not within {timeout}s (last {last!r})")


# ---- (14) publish to 10 000 ---------------------------------------------------------------------

def publish_run(h, a, key):
    _, cmd, count, env = PUBLISH[key]
    pinned = count == 1
    nodes = start_nodes(h, cmd, count, env, 0 if pinned else None)
    rd = _redis[0] if count > 1 else None
    try:
        ports = ",".join(str(port) for _, port in nodes)
        load = subprocess.Popen(h.pin([WS_LOAD, "broadcast", ports, str(PUBLISH_CONNS),
                                       str(PUBLISH_REPS)], 1 if pinned and h.NCPU > 1 else None),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        h.children.append(load)
        try:
            line = h.readline(load, 120).strip()
            if line != f"ready {PUBLISH_CONNS}":
                raise RuntimeError(f"ws_load broadcast: {line!r}")
            # every node must know every member before the first publish
            wait_until(lambda: all(get_json(port, "/stats")["members"] == PUBLISH_CONNS
                                   for _, port in nodes), 30, "channel members everywhere")
            c0 = cpu_of(h, nodes)
            r0 = h.cpu_seconds(rd.proc.pid) if rd else 0
            load.stdin.write("go\n")
            load.stdin.flush()
            res = json.loads(h.readline(load, 120))
            c1 = cpu_of(h, nodes)
            r1 = h.cpu_seconds(rd.proc.pid) if rd else 0
            load.wait(timeout=30)
        finally:
            h.stop(load)
    finally:
        for p, _ in nodes:
            h.stop(p)
    used = (c1[0] - c0[0]) + (c1[1] - c0[1])
    delivered = PUBLISH_REPS * PUBLISH_CONNS
    return {"ms": res["ms"], "cpu_us_per_msg": used / delivered * 1e6,
            "sys_share": (c1[1] - c0[1]) / used if used else 0,
            "server_cpu_ms": used / PUBLISH_REPS * 1e3,
            "redis_cpu_ms": (r1 - r0) / PUBLISH_REPS * 1e3}


# ---- (15) presence join/leave per second ----------------------------------------------------------

def presence_run(h, a):
    nodes = start_nodes(h, [C_ROOMS, "0"], 2, {})
    (pa, port_a), (pb, port_b) = nodes
    rd = _redis[0]
    try:
        load = subprocess.Popen([WS_LOAD, "broadcast", str(port_a), str(PRESENCE_CONNS), "0"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        h.children.append(load)
        try:
            line = h.readline(load, 120).strip()
            if line != f"ready {PRESENCE_CONNS}":
                raise RuntimeError(f"ws_load: {line!r}")
            wait_until(lambda: get_json(port_b, "/stats")["members"] == PRESENCE_CONNS, 30,
                       "node B sees A's clients")
            out = {"join": [], "leave": []}
            extra = 0
            c0, r0 = cpu_of(h, nodes), h.cpu_seconds(rd.proc.pid)
            for _ in range(PRESENCE_CYCLES):
                for what, key in (("join", "pjoin"), ("leave", "pleave")):
                    get_json(port_a, "/reset")
                    get_json(port_b, "/reset")
                    t0 = time.time() * 1e3
                    done = get_json(port_a, f"/presence/{what}", timeout=60)["done"]
                    if done != PRESENCE_CONNS:
                        raise RuntimeError(f"/presence/{what} did {done} of {PRESENCE_CONNS}")
                    st = wait_until(lambda: (s := get_json(port_b, "/stats"))[key] >= PRESENCE_CONNS
                                    and s, 60, f"node B sees {PRESENCE_CONNS} presence {what}s")
                    sa = get_json(port_a, "/stats")
                    out[what].append((PRESENCE_CONNS / ((st["last_ms"] - t0) / 1e3),
                                      PRESENCE_CONNS / max((sa["last_ms"] - t0) / 1e3, 1e-6)))
                    extra += st[key] - PRESENCE_CONNS
            c1, r1 = cpu_of(h, nodes), h.cpu_seconds(rd.proc.pid)
            time.sleep(0.2)  # a late duplicate would show in the counters now
            extra += get_json(port_b, "/stats")["pleave"] - PRESENCE_CONNS
            load.stdin.write("go\n")
            load.stdin.flush()
            load.wait(timeout=30)
        finally:
            h.stop(load)
    finally:
        for p, _ in nodes:
            h.stop(p)
    used = (c1[0] - c0[0]) + (c1[1] - c0[1])
    events = 2 * PRESENCE_CONNS * PRESENCE_CYCLES
    m = statistics.median
    return {"join_per_s": m(x[0] for x in out["join"]), "leave_per_s": m(x[0] for x in out["leave"]),
            "join_local_per_s": m(x[1] for x in out["join"]),
            "leave_local_per_s": m(x[1] for x in out["leave"]),
            "extra_events": extra, "cpu_us_per_event": used / events * 1e6,
            "redis_cpu_us_per_event": (r1 - r0) / events * 1e6}


# ---- (16) cross-node latency ---------------------------------------------------------------------

async def _latency(key, port_a, port_b, seconds):
    from websockets.asyncio.client import connect
    php = key == "php"
    if php:
        rx = await connect(f"ws://127.0.0.1:{port_b}/rooms?user=rx&room=lat", max_queue=None)
        tx = await connect(f"ws://127.0.0.1:{port_a}/rooms?user=tx", max_queue=None)
        await rx.recv()  # the welcomes
        await tx.recv()
    else:
        rx = await connect(f"ws://127.0.0.1:{port_b}/lat", max_queue=None)
        tx = await connect(f"ws://127.0.0.1:{port_a}/ws", max_queue=None)

    def frame(text):
        if php:
            return json.dumps({"op": "publish", "channel": "lat", "text": text})
        return "lat " + text

    def text_of(raw):
        return json.loads(raw).get("text", "") if php else raw[4:]

    # until a probe crosses: the two nodes see each other
    deadline = time.monotonic() + 30
    while True:
        await tx.send(frame("probe"))
        try:
            if text_of(await asyncio.wait_for(rx.recv(), 0.2)) == "probe":
                break
        except asyncio.TimeoutError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("no message crossed from node A to node B within 30 s")
    await asyncio.sleep(0.3)
    while True:  # drain late probes
        try:
            await asyncio.wait_for(rx.recv(), 0.05)
        except asyncio.TimeoutError:
            break

    n = int(seconds * LATENCY_RATE)
    lat = {}

    async def receiver():
        while len(lat) < n:
            t = text_of(await rx.recv())
            now = time.perf_counter_ns()
            if t.startswith("m "):
                _, seq, sent = t.split()
                lat.setdefault(int(seq), (now - int(sent)) / 1e3)

    async def sender():
        start = time.perf_counter()
        for i in range(n):
            delay = start + i / LATENCY_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await tx.send(frame(f"m {i} {time.perf_counter_ns()}"))

    rt = asyncio.ensure_future(receiver())
    t0 = time.perf_counter()
    await sender()
    sent_s = time.perf_counter() - t0
    try:
        await asyncio.wait_for(rt, 5)
    except asyncio.TimeoutError:
        pass
    await tx.close()
    await rx.close()
    xs = sorted(lat.values())
    return {"sent": n, "received": len(xs), "send_rate": n / sent_s,
            "p50_us": xs[len(xs) // 2] if xs else None,
            "p99_us": xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else None,
            "max_us": xs[-1] if xs else None}


def latency_run(h, a, key):
    _, cmd, count = LATENCY[key]
    env = {"HS_WORKERS": "1"} if key == "php" else {}
    nodes = start_nodes(h, cmd, count, env)
    try:
        c0 = cpu_of(h, nodes)
        res = asyncio.run(_latency(key, nodes[0][1], nodes[-1][1], max(a.duration, 2) * 2))
        c1 = cpu_of(h, nodes)
    finally:
        for p, _ in nodes:
            h.stop(p)
    used = (c1[0] - c0[0]) + (c1[1] - c0[1])
    res["cpu_us_per_msg"] = used / max(res["received"], 1) * 1e6
    return res


# ---- hooks for bench.py ----------------------------------------------------------------------------

def run_round(h, a, R, r, want, attempt):
    if not want("rooms"):
        return
    T = R.setdefault("rooms", {"publish": {}, "presence": [], "latency": {}})
    try:
        for k in PUBLISH:
            res = attempt(f"round {r + 1} rooms publish {k}", lambda: publish_run(h, a, k))
            T["publish"].setdefault(k, []).append(res)
            if "error" not in res:
                print(f"round {r + 1} rooms-publish {k:10} ms {res['ms']} "
                      f"{res['cpu_us_per_msg']:.3f} us CPU/delivered msg", flush=True)
        res = attempt(f"round {r + 1} rooms presence", lambda: presence_run(h, a))
        T["presence"].append(res)
        if "error" not in res:
            print(f"round {r + 1} rooms-presence join {res['join_per_s']:,.0f}/s leave "
                  f"{res['leave_per_s']:,.0f}/s {res['cpu_us_per_event']:.1f} us CPU/event",
                  flush=True)
        for k in LATENCY:
            res = attempt(f"round {r + 1} rooms latency {k}", lambda: latency_run(h, a, k))
            T["latency"].setdefault(k, []).append(res)
            if "error" not in res:
                print(f"round {r + 1} rooms-latency {k:4} p50 {res['p50_us']:.0f} us p99 "
                      f"{res['p99_us']:.0f} us received {res['received']}/{res['sent']}",
                      flush=True)
    finally:
        stop_redis()


def targets(h, R):
    T = R.get("rooms")
    if not T:
        return []
    out = []
    lat = [x for x in T["latency"].get("c", []) if "error" not in x and x.get("p99_us")]
    if lat:
        p99 = h.med([x["p99_us"] for x in lat]) / 1e3
        lost = sum(x["sent"] - x["received"] for x in lat)
        out.append(("cross-node p99 ≤ 5 ms on loopback at 1 000 messages/s (16), C host",
                    f"{p99:.2f} ms" + (f", {lost} lost" if lost else ""),
                    "met" if p99 <= 5 and not lost else "**not met**", ""))
    pub = h.vals(T["publish"].get("c1_publish", []), "cpu_us_per_msg")
    loop = h.vals(T["publish"].get("c1_loop", []), "cpu_us_per_msg")
    if pub and loop:
        r = h.med(pub) / h.med(loop)
        pr = h.paired(T["publish"]["c1_publish"], T["publish"]["c1_loop"], "cpu_us_per_msg")
        out.append(("channel publish CPU per receiver ≤ a plain loop of hs_ws_send() in C (14), "
                    "10 000 members, one node", f"{r:.2f}× (rounds {min(pr):.2f}-{max(pr):.2f}; "
                    f"{h.med(pub):.2f} vs {h.med(loop):.2f} µs)",
                    "met" if r <= 1.0 else "**not met**", ""))
    return out


NOT_MEASURED = [
    "Publishing across nodes is timed on one machine with 2 CPUs shared by the three nodes, "
    "redis-server and the 10 000 clients: the three-node time is an upper bound of what "
    "separate machines would see, less the network.",
    "Presence rates are for joins and leaves made by the server (hs_ws_join/leave on open "
    "connections), not for clients connecting and disconnecting (the handshake's cost is in "
    "the other rows).",
    "Latency is measured by a Python asyncio client (its scheduling is in the figure); no "
    "latency under a higher rate or with many channels.",
]


def report(h, R, P):
    T = R.get("rooms")
    if not T:
        return
    med, vals, spread, f2, f0 = h.med, h.vals, h.spread, h.f2, h.f0
    P("## Channels, presence, Redis backplane (issue 11)")
    P("")
    for line in __doc__.split("\n\n", 2)[2].strip().splitlines():
        P(line[2:] if line.startswith("  ") else line)
    P("")
    if T["publish"]:
        P(f"### (14) publish to a channel of {PUBLISH_CONNS:,} members")
        P("")
        P("| host | time until the last member has it, ms | server CPU µs per delivered "
          "message | of it kernel | server CPU ms per publish | redis-server CPU ms per "
          "publish |")
        P("|---|---|---|---|---|---|")
        for k, (label, _, _, _) in PUBLISH.items():
            runs = T["publish"].get(k, [])
            if not vals(runs, "cpu_us_per_msg"):
                continue
            ms = [x for r in runs if "error" not in r for x in r["ms"]]
            P(f"| {label} | {spread(ms, f2)} | {spread(vals(runs, 'cpu_us_per_msg'), f2)} | "
              f"{med(vals(runs, 'sys_share')) * 100:.0f} % | "
              f"{spread(vals(runs, 'server_cpu_ms'), f2)} | "
              f"{med(vals(runs, 'redis_cpu_ms')):.2f} |")
        P("")
    runs = [x for x in T["presence"] if "error" not in x]
    if runs:
        P(f"### (15) presence joins and leaves, {PRESENCE_CONNS:,} users")
        P("")
        P("| | joins/s seen on node B | leaves/s seen on node B | joins/s on node A | "
          "leaves/s on node A | server CPU µs per event (A + B) | redis-server CPU µs per "
          "event | events beyond one per user |")
        P("|---|---|---|---|---|---|---|---|")
        P(f"| C host, 2 nodes + Redis | {spread(vals(runs, 'join_per_s'), f0)} | "
          f"{spread(vals(runs, 'leave_per_s'), f0)} | {f0(med(vals(runs, 'join_local_per_s')))} | "
          f"{f0(med(vals(runs, 'leave_local_per_s')))} | "
          f"{spread(vals(runs, 'cpu_us_per_event'), f2)} | "
          f"{med(vals(runs, 'redis_cpu_us_per_event')):.2f} | "
          f"{sum(x['extra_events'] for x in runs)} |")
        P("")
    if T["latency"]:
        P(f"### (16) cross-node latency, node A → node B, {LATENCY_RATE:,} messages/s")
        P("")
        P("| host | p50 µs | p99 µs | max µs | received / sent | achieved send rate /s | "
          "server CPU µs per message (A + B) |")
        P("|---|---|---|---|---|---|---|")
        for k, (label, _, _) in LATENCY.items():
            runs = [x for x in T["latency"].get(k, []) if "error" not in x and x.get("p50_us")]
            if not runs:
                continue
            P(f"| {label} | {spread(vals(runs, 'p50_us'), f0)} | {spread(vals(runs, 'p99_us'), f0)} | "
              f"{f0(max(vals(runs, 'max_us')))} | {sum(x['received'] for x in runs)} / "
              f"{sum(x['sent'] for x in runs)} | {f0(med(vals(runs, 'send_rate')))} | "
              f"{spread(vals(runs, 'cpu_us_per_msg'), f2)} |")
        P("")
    P("Not measured in this section:")
    P("")
    for x in NOT_MEASURED:
        P(f"- {x}")
    P("")
