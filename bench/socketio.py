"""make bench, issue 12 rows: Socket.IO (imported by bench.py; `bench/bench.py --only socketio`
runs these alone and writes bench/results/BENCHMARKS-partial.md; `python3 bench/socketio.py`
runs one round and prints the rows).

Hosts: the reference Node.js server (bench/socketio/node_server.js: npm socket.io 4.8 with its
defaults, on Node's own HTTP server), the PHP host (bench/sio_echo.php: the documented form,
`websocket(true)` and `accept('/socket.io(?:/.*)?', fn (string $message, array $payload) ...)`,
1 worker) and, for reference, the C host (bench/sio_echo.c: hs_sio_namespace() + on_event ->
hs_sio_ack(), no PHP in the path). All three answer event "echo" with an ack carrying the same
arguments. Each run is a fresh server, started and stopped by its PID; the server runs on CPU 0,
the load client on CPU 1.

  (17) Echo with an ack: 50 socket.io-client 4.8 connections (transports: ["websocket"], one
       Engine.IO session each), each keeping 4 emits of "echo" (one 32-byte string argument)
       with an ack in flight; a new emit as soon as an ack comes back. After the warm-up, the
       acks received in the window are counted and timed (emit to ack). Server CPU per message
       = the server's utime+stime (/proc/PID/stat) over the window / acks in the window;
       messages per server CPU-second = its inverse (the target compares that, PHP vs Node).
       The client's CPU time is shown beside it: socket.io-client costs about as much per
       message as the Node.js server, so with one CPU each the client is near saturation and
       msg/s is the client's rate for the cheaper hosts (their server CPU use is below 100 %,
       with fewer messages per wake-up). So every host runs a second time under
       bench/sio_load.c, the same traffic from a light C client (raw WebSocket frames and
       Engine.IO/Socket.IO text packets, one epoll thread, about a third of socket.io-client's
       CPU per message): the check that the client does not set the figures. A third run
       keeps 1 emit in flight on each of 100 connections (socket.io-client): no pipelining,
       so no host can answer several messages of a connection in one write. A fourth runs
       the light client with 16 emits in flight per connection: the servers near 100 % of
       their CPU, so msg/s is the server's capacity on one CPU. CPU per message depends on
       how many messages one read brings (the engine answers them in one write; Node.js
       writes each answer): it falls as a server gets busier, and on a machine shared with
       other work it moves with that work too.
  (18) Idle memory per connected Socket.IO client: 2 000 socket.io-client clients connect
       (websocket transport, namespace "/") and stay idle; the server's RSS (VmRSS) 1 s after
       the last has connected minus its RSS before the first, divided by 2 000. Node runs with
       --expose-gc and a full collection is forced (SIGUSR2 -> gc()) before both readings, so
       that the garbage of the connection phase does not count against it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIO_DIR = os.path.join(ROOT, "bench", "socketio")
LOAD = os.path.join(SIO_DIR, "load.js")
C_SIO = os.path.join(ROOT, "target/bench/sio_echo")
C_LOAD = os.path.join(ROOT, "target/bench/sio_load")

ECHO_SIZE = 32
# the echo runs: group -> (load client, connections, emits in flight per connection)
ECHO_GROUPS = {
    "echo": ("js", 50, 4),        # the target's run
    "echo_light": ("c", 50, 4),   # the same traffic from the light client
    "echo_k1": ("js", 100, 1),    # no pipelining: one message per connection per wake-up
    "echo_sat": ("c", 50, 16),    # the light client, 16 in flight: the servers near 100 % CPU
}
IDLE_CONNS = 2000
SERVER_CPU, LOAD_CPU = 0, 1

# key -> (label, command, environment)
HOSTS = {
    "node": ("Node.js 4.8 socket.io (bench/socketio/node_server.js)",
             ["node", "--expose-gc", os.path.join(SIO_DIR, "node_server.js"), "0"], {}),
    "php1": ("PHP 1 worker: bench/sio_echo.php (the documented accept('/socket.io(?:/.*)?') form)",
             ["php", os.path.join(ROOT, "bench", "sio_echo.php"), "0"], {}),
    "c": ("C: bench/sio_echo.c (hs_sio_namespace + hs_sio_ack)", [C_SIO, "0"], {}),
}


def node_label():
    try:
        v = subprocess.run(["node", "--version"], capture_output=True, text=True,
                           timeout=10).stdout.strip()
        pkg = json.load(open(os.path.join(SIO_DIR, "node_modules", "socket.io", "package.json")))
        return f"Node.js {v}, socket.io {pkg['version']} (bench/socketio/node_server.js)"
    except (OSError, ValueError, subprocess.SubprocessError):
        return HOSTS["node"][0]


def check_deps(key):
    if not shutil.which("node"):
        raise RuntimeError("node not found (apt-get install nodejs npm)")
    if not os.path.isdir(os.path.join(SIO_DIR, "node_modules", "socket.io-client")):
        raise RuntimeError("bench/socketio/node_modules missing: npm ci --prefix bench/socketio")
    if key == "c" and not os.path.exists(C_SIO):
        raise RuntimeError(f"{C_SIO} not built (bench/run.sh builds it)")


# the load clients of (17): key -> (label, command)
CLIENTS = {
    "js": ("socket.io-client 4.8 (bench/socketio/load.js)", ["node", LOAD]),
    "c": ("bench/sio_load.c (light C client)", [C_LOAD]),
}


def load_cmd(h, args, client="js"):
    if client == "c" and not os.path.exists(C_LOAD):
        raise RuntimeError(f"{C_LOAD} not built (bench/run.sh builds it)")
    return h.pin([*CLIENTS[client][1], *map(str, args)], LOAD_CPU if h.NCPU > 1 else 0)


def gc(p, key, h):
    """Node: a full collection before an RSS reading (see (18)); others: nothing to do."""
    if key != "node":
        return
    p.send_signal(signal.SIGUSR2)
    line = h.readline(p, 10).strip()
    if line != "gc":
        raise RuntimeError(f"node_server: {line!r} instead of gc")
    time.sleep(0.2)


# ---- (17) echo with ack -------------------------------------------------------------------------

def echo_run(h, a, key, group="echo"):
    client, conns, inflight = ECHO_GROUPS[group]
    check_deps(key)
    _, cmd, env = HOSTS[key]
    p, port = h.start_server(cmd, env, SERVER_CPU)
    try:
        warm = max(a.warmup, 1)
        args = [port, conns, inflight, warm, a.duration, ECHO_SIZE]
        load = subprocess.Popen(load_cmd(h, (["echo"] if client == "js" else []) + args, client),
                                stdout=subprocess.PIPE, text=True)
        h.children.append(load)
        try:
            line = h.readline(load, 60).strip()
            if line != f"ready {conns}":
                raise RuntimeError(f"{client} load client: {line!r}")
            if h.readline(load, warm + 30).strip() != "start":
                raise RuntimeError(f"{client} load client did not start")
            s0, l0 = h.cpu_split(p.pid), h.cpu_seconds(load.pid)
            if h.readline(load, a.duration + 30).strip() != "stop":
                raise RuntimeError(f"{client} load client did not stop")
            s1, l1 = h.cpu_split(p.pid), h.cpu_seconds(load.pid)
            res = json.loads(h.readline(load, 30))
            load.wait(timeout=30)
        finally:
            h.stop(load)
        if p.poll() is not None:
            raise RuntimeError(f"the server exited ({p.returncode}) during the run")
    finally:
        h.stop(p)
    if res["msgs"] == 0:
        raise RuntimeError(f"no ack in the window ({res})")
    if res["errors"] or res["wrong"]:
        raise RuntimeError(f"{client} load client: {res['errors']} errors {res['error_kinds']}, "
                           f"{res['wrong']} wrong acks")
    user, sys_ = s1[0] - s0[0], s1[1] - s0[1]
    used = user + sys_
    return {"rate": res["rate"], "msgs": res["msgs"], "cpu_us": used / res["msgs"] * 1e6,
            "msgs_per_cpu_s": res["msgs"] / used if used else float("inf"),
            "sys_share": sys_ / used if used else 0, "cpu_util": used / res["seconds"],
            "client_cpu_us": (l1 - l0) / res["msgs"] * 1e6,
            "client_util": (l1 - l0) / res["seconds"],
            "p50_us": res["p50_us"], "p99_us": res["p99_us"], "max_us": res["max_us"]}


# ---- (18) idle memory ---------------------------------------------------------------------------

def idle_run(h, a, key):
    check_deps(key)
    _, cmd, env = HOSTS[key]
    p, port = h.start_server(cmd, env, SERVER_CPU)
    try:
        time.sleep(0.3)
        gc(p, key, h)
        rss0 = h.rss_kib(p.pid)
        t = time.monotonic()
        load = subprocess.Popen(load_cmd(h, ["idle", port, IDLE_CONNS]), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        h.children.append(load)
        try:
            line = h.readline(load, 120).strip()
            if line != f"ready {IDLE_CONNS}":
                raise RuntimeError(f"load.js idle: {line!r}")
            connect_s = time.monotonic() - t
            time.sleep(1)
            gc(p, key, h)
            rss1 = h.rss_kib(p.pid)
            load.stdin.write("done\n")
            load.stdin.flush()
            res = json.loads(h.readline(load, 30))
            load.wait(timeout=30)
        finally:
            h.stop(load)
        if p.poll() is not None:
            raise RuntimeError(f"the server exited ({p.returncode}) during the run")
    finally:
        h.stop(p)
    if res["errors"]:
        raise RuntimeError(f"load.js idle: {res['errors']} errors {res['error_kinds']}")
    return {"rss0_kib": rss0, "rss_kib": rss1, "per_conn_kib": (rss1 - rss0) / IDLE_CONNS,
            "connect_s": connect_s}


# ---- hooks for bench.py ----------------------------------------------------------------------------

def run_round(h, a, R, r, want, attempt):
    if not want("socketio"):
        return
    T = R.setdefault("socketio", {"idle": {}, "node": node_label()})
    for g, k in [(g, k) for g in ECHO_GROUPS for k in HOSTS]:
        res = attempt(f"round {r + 1} socketio {g} {k}", lambda: echo_run(h, a, k, g))
        T.setdefault(g, {}).setdefault(k, []).append(res)
        if "error" not in res:
            print(f"round {r + 1} sio-{g:10} {k:5} {res['rate']:>8,.0f} msg/s "
                  f"{res['cpu_us']:6.2f} us server CPU/msg (use {res['cpu_util'] * 100:3.0f} %) "
                  f"client {res['client_cpu_us']:6.2f} us/msg (use "
                  f"{res['client_util'] * 100:3.0f} %) p50 {res['p50_us']:.0f} p99 "
                  f"{res['p99_us']:.0f} us", flush=True)
    for k in HOSTS:
        res = attempt(f"round {r + 1} socketio idle {k}", lambda: idle_run(h, a, k))
        T["idle"].setdefault(k, []).append(res)
        if "error" not in res:
            print(f"round {r + 1} sio-idle {k:5} {IDLE_CONNS} clients {res['rss_kib'] / 1024:6.1f} "
                  f"MiB ({res['rss0_kib'] / 1024:.1f} before) {res['per_conn_kib']:6.2f} KiB/client",
                  flush=True)


def vs_node(h, runs, base):
    """Messages per server CPU-second of `runs` relative to Node.js's (`base`): the ratio of the
    medians of CPU per message, with the per-round range."""
    a, b = h.vals(runs, "cpu_us"), h.vals(base, "cpu_us")
    if not a or not b:
        return "n/a"
    pr = [y["cpu_us"] / x["cpu_us"] for x, y in zip(runs, base)
          if "error" not in x and "error" not in y]
    return f"{h.med(b) / h.med(a):.2f}×" + (f" ({min(pr):.2f}-{max(pr):.2f})" if pr else "")


def targets(h, R):
    T = R.get("socketio")
    if not T:
        return []
    php, node = T["echo"].get("php1", []), T["echo"].get("node", [])
    name = ("Socket.IO echo with ack (17) through PHP: messages per server CPU-second ≥ 2 × "
            "the Node.js socket.io server (socket.io-client load)")
    a, b = h.vals(php, "cpu_us"), h.vals(node, "cpu_us")
    if not a or not b:
        return [(name, "n/a", "not measured", "")]
    r = h.med(b) / h.med(a)
    extra = ""
    for g, what in (("echo_light", "with the light client"), ("echo_k1", "1 in flight"),
                    ("echo_sat", "at saturation (light client, 16 in flight)")):
        o = T.get(g, {})
        if h.vals(o.get("php1", []), "cpu_us") and h.vals(o.get("node", []), "cpu_us"):
            extra += f"; {what} {vs_node(h, o['php1'], o['node'])}"
    return [(name, f"{vs_node(h, php, node)}: {h.med(a):.2f} vs {h.med(b):.2f} µs/message"
             + extra, "met" if r >= 2 else "**not met**", "")]


NOT_MEASURED = [
    "Socket.IO over the polling transport (every client here is websocket-only); the "
    "polling-to-websocket upgrade; binary attachments; broadcasts and rooms through Socket.IO; "
    "PHP with several workers (simultaneous mode).",
    "The load client is Node.js socket.io-client on the other CPU: for hosts cheaper than it, "
    "msg/s is the client's rate, not the server's capacity (see the client columns).",
    "Node.js runs socket.io's defaults (ws without the optional bufferutil/utf-8-validate "
    "native add-ons, which npm does not install unless asked).",
]


def report(h, R, P):
    T = R.get("socketio")
    if not T:
        return
    med, vals, spread, f2, f0, f1 = h.med, h.vals, h.spread, h.f2, h.f0, h.f1
    label = lambda k: T.get("node", HOSTS[k][0]) if k == "node" else HOSTS[k][0]  # noqa: E731
    P("## Socket.IO (issue 12)")
    P("")
    for line in __doc__.split("\n\n", 2)[2].strip().splitlines():
        P(line[2:] if line.startswith("  ") else line)
    P("")
    if any(vals(T.get(g, {}).get(k, []), "rate") for g in ECHO_GROUPS for k in HOSTS):
        P(f"### (17) echo with ack, {ECHO_SIZE}-byte string")
        P("")
        P("vs Node.js: messages per server CPU-second relative to the Node.js server's in the "
          "same kind of run (ratio of the medians; the range: per round). The 100 × 1 run keeps "
          "one emit in flight per connection: no message waits for another on the same "
          "connection, so each answer is its own write on every host (the others answer the "
          "frames one read brings in one write). The 50 × 16 run is the servers' capacity.")
        P("")
        P("| host | load client | clients × in flight | msg/s | server CPU µs per message | "
          "messages per server CPU-second | vs Node.js | of it kernel | server CPU use | "
          "client CPU µs per message | client CPU use | p50 µs | p99 µs |")
        P("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for g, (client, conns, inflight) in ECHO_GROUPS.items():
            base = T.get(g, {}).get("node", [])
            for k in HOSTS:
                runs = T.get(g, {}).get(k, [])
                if not vals(runs, "rate"):
                    continue
                P(f"| {label(k)} | {CLIENTS[client][0]} | {conns} × {inflight} | "
                  f"{spread(vals(runs, 'rate'), f0)} | "
                  f"{spread(vals(runs, 'cpu_us'), f2)} | "
                  f"{f0(med(vals(runs, 'msgs_per_cpu_s')))} | "
                  f"{vs_node(h, runs, base) if k != 'node' else '—'} | "
                  f"{med(vals(runs, 'sys_share')) * 100:.0f} % | "
                  f"{med(vals(runs, 'cpu_util')) * 100:.0f} % | "
                  f"{f2(med(vals(runs, 'client_cpu_us')))} | "
                  f"{med(vals(runs, 'client_util')) * 100:.0f} % | "
                  f"{med(vals(runs, 'p50_us')):.0f} | {med(vals(runs, 'p99_us')):.0f} |")
        P("")
    if any(vals(T["idle"].get(k, []), "rss_kib") for k in HOSTS):
        P(f"### (18) idle memory, {IDLE_CONNS:,} connected Socket.IO clients")
        P("")
        P("| host | RSS MiB | RSS before clients MiB | KiB per client | connect time s |")
        P("|---|---|---|---|---|")
        for k in HOSTS:
            runs = T["idle"].get(k, [])
            if not vals(runs, "rss_kib"):
                continue
            P(f"| {label(k)} | {spread([x / 1024 for x in vals(runs, 'rss_kib')], f1)} | "
              f"{med([x / 1024 for x in vals(runs, 'rss0_kib')]):.1f} | "
              f"{spread(vals(runs, 'per_conn_kib'), f2)} | "
              f"{med(vals(runs, 'connect_s')):.1f} |")
        P("")
    P("Not measured in this section:")
    P("")
    for x in NOT_MEASURED:
        P(f"- {x}")
    P("")


if __name__ == "__main__":
    # One round of the socketio group, printed (bench.py --only socketio also writes the report).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    os.execvp(sys.executable, [sys.executable, os.path.join(ROOT, "bench", "bench.py"),
                               "--only", "socketio", "--rounds", "1", *sys.argv[1:]])
