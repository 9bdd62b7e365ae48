#!/usr/bin/env python3
"""make bench: every benchmark workload of issue #5, against every host, in one invocation.

Runs the servers and load generators (wrk, examples/ws_load) on 127.0.0.1 only, each process
started here and stopped here by its PID; writes bench/results/results.json and BENCHMARKS.md.

Method (see BENCHMARKS.md for the long form):
  - server CPU time per request = utime+stime of the server's process tree (/proc/PID/stat of
    the server and its descendants), sampled right before and right after the measured run,
    divided by the requests (or messages) completed in that run;
  - single-threaded hosts run with the server and the load generator pinned to the same CPU
    (taskset -c 0): the load generator's share then does not depend on the server's speed;
    multi-threaded / multi-process hosts run unpinned (they need both CPUs), and are compared
    with the 2-thread plain hyper run of the same workload;
  - rounds are interleaved (round 1 of every host, then round 2, ...), every ratio is computed
    from the runs of this invocation; each figure is the median of the rounds, with min-max.

Usage: bench/bench.py [--rounds 3] [--duration 2] [--warmup 1] [--callgrind] [--quick] [--only W,W]
       bench/bench.py --report-only bench/results/results.json   (rewrites BENCHMARKS.md)
--quick (1 round of 1 s) and --only write bench/results/BENCHMARKS-partial.md, never BENCHMARKS.md.
--only takes workloads (each with all its hosts) and groups, comma-separated; the baseline a
ratio needs is in every group. Build first (bench/run.sh does: cargo build --release, make -C
c-examples, target/bench/*), then e.g. `python3 bench/bench.py --only php --rounds 5`.
  groups     what runs                                                         about, per round
  http       (1) hello, (2) varied: every host (hyper, C, PHP, PHP+JIT, N)      40 s
  php        (1), (2): plain hyper, PHP 1 worker, PHP 1 worker opcache+JIT     20 s
  c          (1), (2): plain hyper, C host                                     15 s
  workers    (1), (2): plain hyper N threads, PHP N workers (unpinned)         15 s
  scale      (1) and (5) 10 000 connections: plain hyper, C, PHP 1 worker      30 s
  echo       (6) WebSocket echo: tokio-tungstenite, C, PHP                     15 s
  idle       (7) idle RSS and (8) broadcast, 1 000 and 10 000 clients (alias: broadcast)  30 s
  ws         echo + idle
  callgrind      instructions per request: plain hyper, C, PHP, PHP+JIT (no rounds)  1 min
  callgrind-php  the same for plain hyper, PHP, PHP+JIT; callgrind-c: plain hyper, C
  workloads  hello varied post close c10k echo idle tls h2streams handshake deflate
             deflate_idle rooms socketio
A callgrind group runs callgrind without --callgrind; with no --only, --callgrind adds it.
"""
import argparse
import json
import os
import platform
import re
import select
import signal
import statistics
import subprocess
import sys
import time

import bench_tls  # the issue-10 rows: TLS, HTTP/2, WebSocket compression (bench/bench_tls.py)
import rooms  # the issue-11 rows: channels, presence, Redis backplane (bench/rooms.py)
import socketio as sio_bench  # the issue-12 rows: Socket.IO vs Node.js (bench/socketio.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
TICK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
EX = os.path.join(ROOT, "target/release/examples")
HYPER = os.path.join(EX, "hyper_hello")
TUNG = os.path.join(EX, "tungstenite_echo")
WS_LOAD = os.path.join(EX, "ws_load")
C_HELLO = os.path.join(ROOT, "c-examples/build/hello")
C_WS_ECHO = os.path.join(ROOT, "c-examples/build/ws_echo")
C_WS_BCAST = os.path.join(ROOT, "target/bench/ws_bcast")
PHP_HELLO = ["php", os.path.join(ROOT, "php/examples/hello.php"), "0"]
# The PHP host with opcache and its tracing JIT on (the CLI has opcache off by default).
PHP_JIT_FLAGS = ["-d", "opcache.enable_cli=1", "-d", "opcache.jit=tracing",
                 "-d", "opcache.jit_buffer_size=64M"]
PHP_HELLO_JIT = ["php", *PHP_JIT_FLAGS, *PHP_HELLO[1:]]
PHP_WS = ["php", os.path.join(BENCH, "ws_echo.php"), "0"]

# HTTP hosts: key -> (label, command, extra environment, pinned)
HTTP_HOSTS = {
    "hyper": ("plain hyper, current_thread", [HYPER, "0", "1"], {}, True),
    "c": ("C: c-examples/hello", [C_HELLO, "0"], {}, True),
    "php1": ("PHP 1 worker: php/examples/hello.php", PHP_HELLO, {}, True),
    "php1jit": ("PHP 1 worker, opcache+JIT: php -d opcache.enable_cli=1 -d opcache.jit=tracing "
                "hello.php", PHP_HELLO_JIT, {}, True),
    "hyper2": (f"plain hyper, {NCPU} threads", [HYPER, "0", str(NCPU)], {}, False),
    "phpN": (f"PHP {NCPU} workers: WORKERS={NCPU} hello.php", PHP_HELLO, {"WORKERS": str(NCPU)}, False),
}
# HTTP workloads: key -> (title, path, wrk script, headers, connections, hosts, warm-up factor)
HTTP_WORKLOADS = {
    "hello": ("(1) hello world, identical requests: GET /", "/", None, [], 64,
              ["hyper", "c", "php1", "php1jit", "hyper2", "phpN"], 1),
    "varied": ("(2) varied requests: GET /user/{id}?q=..&page=.. + X-Req-Id, JSON answer "
               "(bench/varied.lua)", "/", "varied.lua", [], 64,
               ["hyper", "c", "php1", "php1jit", "hyper2", "phpN"], 1),
    "post": ("(3) POST /echo, 4 KiB body echoed back (bench/post.lua)", "/echo",
             "post.lua", [], 64, ["hyper", "c", "php1"], 1),
    "close": ("(4) Connection: close, GET / (one connection per request)", "/",
              None, ["Connection: close"], 64, ["hyper", "c", "php1"], 1),
    "c10k": ("(5) 10 000 keep-alive connections, GET /", "/", None, [], 10000,
             ["hyper", "c", "php1"], 3),
}
# WebSocket hosts: key -> (label, echo command, broadcast/idle command)
WS_HOSTS = {
    "tung": ("plain tokio-tungstenite, current_thread", [TUNG, "0", "1"], [TUNG, "0", "1"]),
    "c": ("C: c-examples/ws_echo / bench/ws_bcast.c", [C_WS_ECHO, "0"], [C_WS_BCAST, "0"]),
    "php1": ("PHP 1 worker: bench/ws_echo.php", PHP_WS, PHP_WS),
}
WS_ECHO_CONNS, WS_ECHO_SIZE = 100, 32
IDLE_SIZES = (1000, 10000)
# broadcasts per idle run, by clients: server CPU is read in 10 ms ticks, so 20 broadcasts at
# 10 000 clients (about 120 ms of CPU each) read it in steps of 0.5 ms per broadcast (0.4 %): the
# broadcast target compares it with tokio-tungstenite's.
BCAST_REPS = {1000: 5, 10000: 20}

children = []  # every process started here, so that an interrupt ends them (by PID)


# ---- /proc -------------------------------------------------------------------------------------

def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def tree(root):
    """`root` and all its descendants (the PHP supervisor's workers)."""
    parents = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                parents[int(e)] = int(_stat(e)[1])
            except (OSError, IndexError, ValueError):
                pass
    out, todo = {root}, [root]
    while todo:
        p = todo.pop()
        for c, pp in parents.items():
            if pp == p and c not in out:
                out.add(c)
                todo.append(c)
    return out


def cpu_split(root):
    """(utime, stime) (fields 14 and 15 of stat(5)) of `root`'s process tree, in seconds."""
    user = sys_ = 0
    for pid in tree(root):
        try:
            f = _stat(pid)
            user += int(f[11])
            sys_ += int(f[12])
        except (OSError, IndexError):
            pass
    return user / TICK, sys_ / TICK


def cpu_seconds(root):
    return sum(cpu_split(root))


def rss_kib(root):
    total = 0
    for pid in tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total


# ---- processes ---------------------------------------------------------------------------------

def pin(cmd, cpu):
    return (["taskset", "-c", str(cpu)] if cpu is not None else []) + cmd


def start_server(cmd, env=None, cpu=None):
    p = subprocess.Popen(pin(cmd, cpu), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, env={**os.environ, **(env or {})})
    children.append(p)
    line = readline(p, 20)
    m = re.search(r"127\.0\.0\.1:(\d+)", line or "")
    if not m:
        stop(p)
        raise RuntimeError(f"{cmd[0]} did not start: {line!r}")
    return p, int(m.group(1))


def readline(p, timeout):
    r, _, _ = select.select([p.stdout], [], [], timeout)
    if not r:
        raise RuntimeError(f"no output from {p.args} within {timeout} s")
    return p.stdout.readline()


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            for pid in tree(p.pid):  # a supervisor's workers too, each by its PID
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            p.wait()
    if p in children:
        children.remove(p)


def wrk(port, path, script, headers, conns, cpu, window, server_pid, scheme="http"):
    """One wrk run over `window` = (T0, T1) (Unix time): the requests answered inside it and the
    server's CPU seconds at T0 and T1; wrk starts now (warm-up until T0) and gets SIGINT at T1."""
    code = open(os.path.join(BENCH, "window.lua")).read()
    if script:
        code += "\n" + open(os.path.join(BENCH, script)).read()
    lua = os.path.join(BENCH, "results", f"wrk-{os.getpid()}.lua")
    os.makedirs(os.path.dirname(lua), exist_ok=True)
    with open(lua, "w") as f:
        f.write(code)
    t0, t1 = window
    limit = int(t1 - time.time()) + 30  # wrk's own bound, should the SIGINT not come
    cmd = pin(["wrk", "-t1", f"-c{conns}", f"-d{limit}s", "--timeout", "10s", "-s", lua,
               *sum((["-H", h] for h in headers), []),
               f"{scheme}://127.0.0.1:{port}{path}", "--", f"{t0:.3f}", f"{t1:.3f}"], cpu)
    w = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children.append(w)
    try:
        sleep_until(t0)
        c0 = cpu_split(server_pid)
        sleep_until(t1)
        c1 = cpu_split(server_pid)
        time.sleep(0.05)
        w.send_signal(signal.SIGINT)
        out, _ = w.communicate(timeout=30)
    finally:
        stop(w)
        os.unlink(lua)
    m = re.search(r"window_requests (\d+) (\d+)", out)
    if not m:
        raise RuntimeError(f"wrk output not understood: {out!r}")
    reqs, bad = int(m.group(1)), int(m.group(2))
    s = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    sock = sum(int(x) for x in s.groups()) if s else 0
    return reqs, bad, sock, (c1[0] - c0[0], c1[1] - c0[1])


def sleep_until(t):
    while (d := t - time.time()) > 0:
        time.sleep(min(d, 0.5))


# ---- runs --------------------------------------------------------------------------------------

def http_run(a, host, wl):
    """One wrk run: warm-up, then the measured window of a.duration seconds (its requests counted
    by window.lua, the server's CPU time sampled at its edges), then SIGINT to wrk."""
    label, cmd, env, pinned = HTTP_HOSTS[host]
    _, path, script, headers, conns, _, warm = HTTP_WORKLOADS[wl]
    cpu = 0 if pinned else None
    p, port = start_server(cmd, env, cpu)
    try:
        t0 = time.time() + a.warmup * warm
        t1 = t0 + a.duration
        reqs, bad, sock, (user, sys_) = wrk(port, path, script, headers, conns, cpu, (t0, t1),
                                            p.pid)
        used = user + sys_
    finally:
        stop(p)
    if reqs == 0:
        raise RuntimeError("no request completed in the window")
    return {"rps": reqs / (t1 - t0), "cpu_us": used / reqs * 1e6, "reqs": reqs,
            "errors": bad, "socket_errors": sock, "cpu_util": used / (t1 - t0),
            "sys_share": sys_ / used if used else 0}


def ws_echo_run(a, host):
    _, cmd, _ = WS_HOSTS[host]
    p, port = start_server(cmd, None, 0)
    try:
        load = subprocess.Popen(pin([WS_LOAD, "echo", str(port), str(WS_ECHO_CONNS), str(a.warmup),
                                     str(a.duration), str(WS_ECHO_SIZE)], 0),
                                stdout=subprocess.PIPE, text=True)
        children.append(load)
        try:
            if readline(load, 30).strip() != "start":
                raise RuntimeError("ws_load echo did not start")
            c0 = cpu_split(p.pid)
            if readline(load, a.duration + 30).strip() != "stop":
                raise RuntimeError("ws_load echo did not stop")
            c1 = cpu_split(p.pid)
            res = json.loads(readline(load, 30))
            load.wait(timeout=30)
        finally:
            stop(load)
    finally:
        stop(p)
    user, sys_ = c1[0] - c0[0], c1[1] - c0[1]
    return {"rate": res["rate"], "cpu_us": (user + sys_) / max(res["msgs"], 1) * 1e6,
            "sys_share": sys_ / (user + sys_) if user + sys_ else 0,
            "p50_us": res["p50_us"], "p99_us": res["p99_us"], "msgs": res["msgs"]}


def ws_idle_run(a, host, conns):
    """Idle RSS with `conns` clients, then BCAST_REPS[conns] broadcasts to them. Server on CPU 0, the
    clients on CPU 1 (the time until the last client has the message is a latency: the
    clients' reading is not made to queue behind the server)."""
    _, _, cmd = WS_HOSTS[host]
    reps = BCAST_REPS.get(conns, 5)
    p, port = start_server(cmd, None, 0)
    try:
        time.sleep(0.3)
        rss0 = rss_kib(p.pid)
        load = subprocess.Popen(pin([WS_LOAD, "broadcast", str(port), str(conns), str(reps)],
                                    1 if NCPU > 1 else 0),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        children.append(load)
        try:
            line = readline(load, 60).strip()
            if line != f"ready {conns}":
                raise RuntimeError(f"ws_load broadcast: {line!r}")
            time.sleep(0.5)
            rss1 = rss_kib(p.pid)
            s0, l0 = cpu_split(p.pid), cpu_seconds(load.pid)
            load.stdin.write("go\n")
            load.stdin.flush()
            res = json.loads(readline(load, 60 + 11 * reps))
            s1, l1 = cpu_split(p.pid), cpu_seconds(load.pid)
            load.wait(timeout=30)
        finally:
            stop(load)
    finally:
        stop(p)
    return {"rss0_kib": rss0, "rss_kib": rss1, "per_conn_kib": (rss1 - rss0) / conns,
            "bcast_ms": res["ms"],
            "server_cpu_ms": (s1[0] + s1[1] - s0[0] - s0[1]) / reps * 1e3,
            "server_sys_share": (s1[1] - s0[1]) / max(s1[0] + s1[1] - s0[0] - s0[1], 1e-9),
            "client_cpu_ms": (l1 - l0) / reps * 1e3}


# ---- statistics and report ---------------------------------------------------------------------

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs, fmt):
    if not xs:
        return "n/a"
    return f"{fmt(med(xs))} ({fmt(min(xs))}-{fmt(max(xs))})"


def f0(x):
    return f"{x:,.0f}"


def f2(x):
    return f"{x:.2f}"


def f1(x):
    return f"{x:.1f}"


def vals(runs, key):
    return [r[key] for r in runs if "error" not in r]


def paired(runs_a, runs_b, key):
    """Per-round ratios a/b (same round of the same invocation)."""
    return [x[key] / y[key] for x, y in zip(runs_a, runs_b)
            if "error" not in x and "error" not in y and y[key]]


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except Exception:
            return "?"
    model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip()
    mem = sh("grep MemTotal /proc/meminfo | awk '{printf \"%.1f GiB\", $2/1048576}'")
    lock = open(os.path.join(ROOT, "Cargo.lock")).read()

    def crate(name):
        m = re.search(r'name = "' + re.escape(name) + r'"\nversion = "([^"]+)"', lock)
        return m.group(1) if m else "?"
    return {
        "nproc": NCPU, "cpu": model, "mem": mem, "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "rustc": sh("rustc --version"), "php": sh("php -r 'echo PHP_VERSION;'"),
        "wrk": sh("wrk -v 2>&1 | head -1 | cut -d' ' -f2"), "cc": sh("cc --version | head -1"),
        "crates": {c: crate(c) for c in ("hyper", "hyper-util", "tokio", "tokio-tungstenite",
                                          "tungstenite")},
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "virt": sh("systemd-detect-virt 2>/dev/null || true") or "unknown",
        "opcache": sh("php " + " ".join(PHP_JIT_FLAGS) + " -r '$s = opcache_get_status(); echo "
                      "$s === false ? \"opcache off\" : ($s[\"jit\"][\"on\"] ? "
                      "\"JIT on\" : \"opcache on, JIT off\");'"),
    }


def chart_svg(R):
    """Grouped bars: server CPU µs/request per host, workloads (1) and (2), min-max whiskers."""
    hosts = [h for h in HTTP_HOSTS if any(R["http"].get(w, {}).get(h) for w in ("hello", "varied"))]
    wls = ["hello", "varied"]
    colors = {"hello": "#4e79a7", "varied": "#f28e2b"}
    data = {(w, h): vals(R["http"].get(w, {}).get(h, []), "cpu_us") for w in wls for h in hosts}
    top = max([max(v) for v in data.values() if v] + [1]) * 1.15
    W, H, left, bottom, topm = 900, 390, 60, 90, 50
    pw, ph = W - left - 20, H - bottom - topm
    gw = pw / max(len(hosts), 1)
    bw = gw * 0.32
    y = lambda v: topm + ph - v / top * ph  # noqa: E731
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">Server CPU time per '
         f'request (µs, median of rounds, bars: min-max) — lower is better</text>']
    step = 10 ** int(f"{top:e}".split("e")[1])
    step = step / 2 if top / step < 4 else step
    t = 0.0
    while t <= top:
        o.append(f'<line x1="{left}" x2="{W - 20}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
        t += step
    for i, h in enumerate(hosts):
        gx = left + i * gw + gw / 2
        for j, w in enumerate(wls):
            v = data[(w, h)]
            if not v:
                continue
            x = gx - bw + j * bw
            m = med(v)
            o.append(f'<rect x="{x + 2:.1f}" y="{y(m):.1f}" width="{bw - 4:.1f}" '
                     f'height="{y(0) - y(m):.1f}" fill="{colors[w]}"/>')
            cx = x + bw / 2
            o.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(max(v)):.1f}" y2="{y(min(v)):.1f}" '
                     f'stroke="black"/>')
            o.append(f'<text x="{cx:.1f}" y="{y(max(v)) - 4:.1f}" text-anchor="middle" '
                     f'font-size="11">{m:.2f}</text>')
        label, _, more = HTTP_HOSTS[h][0].split(":")[0].partition(", ")
        mode = "pinned" if HTTP_HOSTS[h][3] else "unpinned"
        o.append(f'<text x="{gx:.1f}" y="{H - bottom + 18}" text-anchor="middle">{label}</text>')
        o.append(f'<text x="{gx:.1f}" y="{H - bottom + 33}" text-anchor="middle" fill="#666">'
                 f'{more + " " if more else ""}({mode})</text>')
    # the PHP targets (issue 13), relative to plain hyper's run of the same workload
    for w, k in (("hello", 1.10), ("varied", 1.15)):
        base = vals(R["http"].get(w, {}).get("hyper", []), "cpu_us")
        if not base:
            continue
        ty = y(med(base) * k)
        o.append(f'<line x1="{left}" x2="{W - 20}" y1="{ty:.1f}" y2="{ty:.1f}" '
                 f'stroke="{colors[w]}" stroke-dasharray="5,4"/>')
        o.append(f'<text x="{W / 2 + (-8 if w == "hello" else 8)}" y="{topm - 6}" '
                 f'text-anchor="{"end" if w == "hello" else "start"}" fill="{colors[w]}" '
                 f'font-size="11">dashed: PHP {w} target, {k:.2f}× plain hyper current_thread '
                 f'{w}</text>')
    o.append(f'<line x1="{left}" x2="{W - 20}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="black"/>')
    for j, w in enumerate(wls):
        lx = left + 10 + j * 260
        o.append(f'<rect x="{lx}" y="{H - 30}" width="14" height="14" fill="{colors[w]}"/>')
        o.append(f'<text x="{lx + 20}" y="{H - 19}">{HTTP_WORKLOADS[w][0].split(":")[0]}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def target_rows(R):
    """The Targets table: (target, measured, status, callgrind ratio) per row."""
    http = R["http"]
    targets = []

    cgrows = (R.get("callgrind") or {}).get("rows", {})

    def cg_ratio(cg):
        if cg and cg[0] in cgrows and cg[1] in cgrows:
            return f"{cgrows[cg[0]]['ir'] / cgrows[cg[1]]['ir']:.2f}×"
        return ""

    def ratio_row(name, a_runs, b_runs, key, limit, better="le", cg=None, note=""):
        if not vals(a_runs, key) or not vals(b_runs, key):
            targets.append((name, "n/a", "not measured", cg_ratio(cg)))
            return
        r = med(vals(a_runs, key)) / med(vals(b_runs, key))
        pr = paired(a_runs, b_runs, key)
        ok = r <= limit if better == "le" else r >= limit
        rng = f" (rounds {min(pr):.2f}-{max(pr):.2f})" if pr else ""
        targets.append((name, f"{r:.2f}×{rng}{note}", "met" if ok else "**not met**",
                        cg_ratio(cg)))

    def cg_row(name, a, b, limit):
        """A target on callgrind's instructions per request (deterministic: no range)."""
        if a not in cgrows or b not in cgrows:
            targets.append((name, "n/a", "not measured", ""))
            return
        r = cgrows[a]["ir"] / cgrows[b]["ir"]
        targets.append((name, f"{r:.2f}× ({cgrows[a]['ir']:,.0f} vs {cgrows[b]['ir']:,.0f} "
                        f"instructions)", "met" if r <= limit else "**not met**", f"{r:.2f}×"))

    g = lambda w, h: http.get(w, {}).get(h, [])  # noqa: E731
    short = lambda label: label.split(":")[0]  # noqa: E731
    # Issue 13: the PHP path at Swoole's cost or below (same workload of plain hyper, same run).
    for h in ("php1", "php1jit"):
        who = short(HTTP_HOSTS[h][0])
        ratio_row(f"{who}, varied (2) CPU/request ≤ 1.15 × plain hyper varied (2)",
                  g("varied", h), g("varied", "hyper"), "cpu_us", 1.15,
                  cg=(f"{h}/varied", "hyper/varied"))
        ratio_row(f"{who}, hello (1) CPU/request ≤ 1.10 × plain hyper hello (1)",
                  g("hello", h), g("hello", "hyper"), "cpu_us", 1.10,
                  cg=(f"{h}/hello", "hyper/hello"))
    for h in ("php1", "php1jit"):
        if h == "php1" or f"{h}/hello" in cgrows:
            who = short(HTTP_HOSTS[h][0])
            cg_row(f"callgrind: {who}, varied (2) instructions/request ≤ 3.0 × plain hyper "
                   f"hello (1)", f"{h}/varied", "hyper/hello", 3.0)
            cg_row(f"callgrind: {who}, hello (1) instructions/request ≤ 2.2 × plain hyper "
                   f"hello (1)", f"{h}/hello", "hyper/hello", 2.2)
    ratio_row("C host, hello (1) CPU/request ≤ 1.15 × plain hyper (1)",
              g("hello", "c"), g("hello", "hyper"), "cpu_us", 1.15,
              cg=("c/hello", "hyper/hello"))
    ratio_row("C host, varied (2) CPU/request ≤ 1.15 × plain hyper varied (2)",
              g("varied", "c"), g("varied", "hyper"), "cpu_us", 1.15,
              cg=("c/varied", "hyper/varied"))
    # Every worker busy: N workers against plain hyper with N threads, the same ratios as 1 worker.
    ratio_row(f"PHP {NCPU} workers, varied (2) CPU/request ≤ 1.15 × plain hyper {NCPU} threads "
              f"varied (2)", g("varied", "phpN"), g("varied", "hyper2"), "cpu_us", 1.15)
    ratio_row(f"PHP {NCPU} workers, hello (1) CPU/request ≤ 1.10 × plain hyper {NCPU} threads "
              f"hello (1)", g("hello", "phpN"), g("hello", "hyper2"), "cpu_us", 1.10)
    # Scale in connections: CPU per request, not req/s (which measures the load generator).
    hy = (g("c10k", "hyper"), g("hello", "hyper"))
    ref = ""
    if vals(hy[0], "cpu_us") and vals(hy[1], "cpu_us"):
        pr = paired(*hy, "cpu_us")
        ref = (f"; plain hyper's own: {med(vals(hy[0], 'cpu_us')) / med(vals(hy[1], 'cpu_us')):.2f}×"
               + (f" ({min(pr):.2f}-{max(pr):.2f})" if pr else ""))
    for h in ("c", "php1"):
        ratio_row(f"{short(HTTP_HOSTS[h][0])}: CPU/request at 10 000 keep-alive connections (5) "
                  f"≤ 1.2 × at 64 (1)", g("c10k", h), g("hello", h), "cpu_us", 1.2, note=ref)
    ws = R["ws_echo"]
    for h in ("php1", "c"):
        ratio_row(f"WebSocket echo (6), {short(WS_HOSTS[h][0])}: server CPU/message ≤ 1.2 × "
                  f"plain tokio-tungstenite", ws.get(h, []), ws.get("tung", []), "cpu_us", 1.2)
    for h in ("c", "php1"):
        runs = R["ws_idle"].get(h, {}).get("10000", [])
        v = vals(runs, "per_conn_kib")
        name = (f"≤ 4 KiB RSS per idle WebSocket connection (7), {short(WS_HOSTS[h][0])}, "
                f"10 000 clients")
        targets.append((name, f"{med(v):.2f} KiB (rounds {min(v):.2f}-{max(v):.2f})" if v else "n/a",
                        ("met" if med(v) <= 4 else "**not met**") if v else "not measured", ""))
    for h in ("c", "php1"):
        runs = R["ws_idle"].get(h, {}).get("10000", [])
        base = R["ws_idle"].get("tung", {}).get("10000", [])
        v = [x for r in runs if "error" not in r for x in r["bcast_ms"]]
        vb = [x for r in base if "error" not in r for x in r["bcast_ms"]]
        note = (f"; {med(vals(runs, 'server_cpu_ms')):.1f} vs "
                f"{med(vals(base, 'server_cpu_ms')):.1f} ms; time to the last client "
                f"{med(v):.1f} vs {med(vb):.1f} ms (information)") if v and vb else ""
        ratio_row(f"broadcast to 10 000 clients (8), {short(WS_HOSTS[h][0])}: server CPU per "
                  f"broadcast ≤ plain tokio-tungstenite's", runs, base, "server_cpu_ms", 1.0,
                  note=note)
    targets.extend(bench_tls.targets(sys.modules[__name__], R))
    targets.extend(rooms.targets(sys.modules[__name__], R))
    targets.extend(sio_bench.targets(sys.modules[__name__], R))
    return targets


def report(R):
    m = R["machine"]
    a = R["args"]
    L = []
    P = L.append
    P("# BENCHMARKS")
    P("")
    P(f"Generated by `make bench` (bench/run.sh → bench/bench.py) on {m['date']}, "
      f"in {R['elapsed_s'] / 60:.1f} minutes. Do not edit: rerun `make bench`.")
    P("")
    P("## Machine")
    P("")
    P(f"- {m['nproc']} CPUs: {m['cpu']}; {m['mem']} RAM; virtualisation: {m['virt']}")
    P(f"- Linux {m['kernel']} ({m['os']}); load average at start {' '.join(m['loadavg'])}")
    P(f"- {m['rustc']}; PHP {m['php']} (CLI, FFI); wrk {m['wrk']}; {m['cc']}")
    P("- crates (Cargo.lock, shared by the engine and the baselines): "
      + ", ".join(f"{k} {v}" for k, v in m["crates"].items()))
    P("")
    P("## Method")
    P("")
    P(f"- **Server CPU time per request**: utime+stime of the server's process tree (the server "
      f"and every descendant, from `/proc/PID/stat`), read right before and right after the "
      f"measured run, divided by the requests (messages) completed in it. With 2 CPUs and the "
      f"load generator on the same machine, requests/s mostly measures the load generator; CPU "
      f"per request is the figure the targets use.")
    P(f"- **Pinning**: single-threaded hosts (plain hyper current_thread, C, PHP 1 worker, plain "
      f"tokio-tungstenite) run with the server and the load generator (wrk -t1, ws_load) pinned "
      f"to the same CPU (`taskset -c 0`). Multi-threaded/multi-process hosts (hyper {NCPU} "
      f"threads, PHP {NCPU} workers) need both CPUs and run unpinned with wrk; they are compared "
      f"with the {NCPU}-thread hyper run. Broadcast: server on CPU 0, clients on CPU 1.")
    P(f"- **Runs**: one unrecorded plain-hyper warm-up run, then {a['rounds']} rounds, "
      f"interleaved (round 1 of every host and workload, then round 2, ...). Each HTTP run: a fresh server, one wrk run: {a['warmup']:g} s of warm-up "
      f"({3 * a['warmup']:g} s with 10 000 connections, which all connect first), then a "
      f"measured window of {a['duration']:g} s; `bench/window.lua` counts the responses that "
      f"arrive inside the window (clock_gettime through LuaJIT's FFI) and the server's CPU time "
      f"is sampled at the window's edges, so warm-up and connection setup stay outside. "
      f"WebSocket echo: {a['warmup']:g} s warm-up, {a['duration']:g} s window. "
      f"Figures: median of the rounds "
      f"(min-max). Ratios: ratio of the medians of this invocation; the range after it is the "
      f"min-max of the per-round ratios (round r of host A / round r of the baseline). "
      f"`python3 bench/bench.py --only GROUP --rounds N` reruns a part with its baselines "
      f"(groups: http, php, c, workers, scale, echo, idle, ws, callgrind, callgrind-php; see "
      f"the usage in bench/bench.py) into bench/results/BENCHMARKS-partial.md.")
    P("- **Load**: wrk 1 thread, 64 keep-alive connections unless stated. WebSocket: "
      "`examples/ws_load.rs` (tokio-tungstenite client, one thread). Everything on 127.0.0.1.")
    P("- **Baselines** (examples/, same crate versions as the engine): `hyper_hello.rs` (plain "
      "hyper 1.x, `Hello, World!`, plus the `/user/{id}` and `POST /echo` routes of the other "
      "hosts so that workloads 2 and 3 are comparable: same JSON bodies; the engine's hosts also "
      "send Luminova's three default CORS headers, which the baseline does not), "
      "`tungstenite_echo.rs` (plain "
      "tokio-tungstenite echo with the engine's WebSocket buffer settings: 2 KiB read buffer, "
      "no write buffer; a text message starting with `broadcast` goes to every client).")
    P("- **Hosts**: C = `c-examples/hello` (HTTP), `c-examples/ws_echo` (echo), "
      "`bench/ws_bcast.c` (idle, broadcast: ws_echo without its logging, plus the broadcast "
      "trigger). PHP = `php/examples/hello.php` (same routes as hello.c; `WORKERS=N` for N "
      "worker processes) and `bench/ws_echo.php` (echo and broadcast through the PHP handler). "
      "PHP runs with the CLI's defaults (opcache off), except the host *PHP 1 worker, "
      "opcache+JIT* (workloads 1 and 2, and callgrind): `php " + " ".join(PHP_JIT_FLAGS)
      + " php/examples/hello.php`" + (f" (opcache_get_status() under these flags: "
                                         f"{m['opcache']})" if m.get("opcache") else "") + ".")
    P(f"- **Targets** (issue 13): every CPU-time target is a ratio of medians of this run "
      f"against the same workload of plain hyper (tokio-tungstenite for WebSocket), with the "
      f"per-round range. PHP 1 worker: hello ≤ 1.10×, varied ≤ 1.15× (the same limits for the "
      f"opcache+JIT host); callgrind instructions per request: PHP hello ≤ 2.2×, varied ≤ 3.0× "
      f"plain hyper *hello*; C host hello and varied ≤ 1.15×. Every worker busy: PHP {NCPU} "
      f"workers against plain hyper with {NCPU} threads, both unpinned, with the 1-worker "
      f"limits (hello ≤ 1.10×, varied ≤ 1.15×). Scale in connections: CPU per request at "
      f"10 000 connections (5) ≤ 1.2× the host's own figure at 64 (1), round by round (plain "
      f"hyper's own ratio beside it, for reference: part of the growth is the kernel's, with "
      f"10 000 sockets). WebSocket: echo CPU per message ≤ 1.2× tokio-tungstenite's; idle "
      f"RSS ≤ 4 KiB per connection at 10 000 clients; server CPU per broadcast to 10 000 "
      f"clients ≤ tokio-tungstenite's (the time until the last client has it is information, "
      f"not a target).")
    P("- **FFI calls per HTTP request on the PHP path: 1** (`hs_respond`): the engine calls one "
      "PHP callback with the whole request packed in one buffer (`hs_route_packed`), and the "
      "callback answers with one `hs_respond` call. WebSocket echo: 1 per message (`hs_ws_send`)."
      + (f" Measured with callgrind: see below." if R.get("callgrind") else ""))
    P("")
    if R.get("errors"):
        P("**Failed runs** (left out of the figures): " + "; ".join(R["errors"]))
        P("")

    # ---- targets
    targets = target_rows(R)
    http, ws = R["http"], R["ws_echo"]
    P("## Targets")
    P("")
    P("Status from the medians of this run (issue 13's targets, then those of issues 10-12). "
      "The last column is the same ratio in callgrind "
      "instructions per request (deterministic; see the end), as a cross-check of the CPU-time "
      "ratio (the callgrind rows are targets on it): it counts user-space instructions only, while the kernel's work per request "
      "(socket reads and writes, epoll), about the same for every host, is in the CPU time: "
      "instruction ratios are larger than CPU-time ratios.")
    P("")
    P("| target | measured | status | callgrind ratio |")
    P("|---|---|---|---|")
    for t in targets:
        P(f"| {t[0]} | {t[1]} | {t[2]} | {t[3]} |")
    P("")
    P("![server CPU per request, workloads 1 and 2](bench/cpu_per_request.svg)")
    P("")

    # ---- HTTP tables
    P("## HTTP")
    P("")
    for w, (title, _, _, _, conns, hosts, _) in HTTP_WORKLOADS.items():
        if w not in http:
            continue
        P(f"### {title}")
        P("")
        P(f"wrk -t1 -c{conns}. CPU µs/request = server CPU time / requests served. Server CPU "
          f"use: CPU seconds per second of the window; of it kernel: stime / (utime + stime).")
        P("")
        P("| host | mode | req/s | vs baseline | CPU µs/request | vs baseline | server CPU use | "
          "of it kernel |")
        P("|---|---|---|---|---|---|---|---|")
        for h in hosts:
            runs = http[w].get(h, [])
            if not runs:
                continue
            base = "hyper" if HTTP_HOSTS[h][3] else "hyper2"
            b = http[w].get(base, [])

            def vs(key):
                if h == base or not vals(b, key) or not vals(runs, key):
                    return "—"
                pr = paired(runs, b, key)
                rng = f" ({min(pr):.2f}-{max(pr):.2f})" if pr else ""
                return f"{med(vals(runs, key)) / med(vals(b, key)):.2f}×{rng}"
            errs = sum(r.get("errors", 0) + r.get("socket_errors", 0) for r in runs
                       if "error" not in r)
            mode = "pinned, 1 CPU" if HTTP_HOSTS[h][3] else f"unpinned, {NCPU} CPUs"
            P(f"| {HTTP_HOSTS[h][0]}{' (' + str(errs) + ' errors)' if errs else ''} | {mode} | "
              f"{spread(vals(runs, 'rps'), f0)} | {vs('rps')} | "
              f"{spread(vals(runs, 'cpu_us'), f2)} | {vs('cpu_us')} | "
              f"{med(vals(runs, 'cpu_util')) * 100:.0f} % | "
              f"{med(vals(runs, 'sys_share')) * 100:.0f} % |")
        P("")
    if "c10k" in http and "hello" in http:
        P("### 64 → 10 000 connections (workloads 1 and 5)")
        P("")
        P("| host | req/s at 64 | req/s at 10 000 | ratio | CPU µs/req at 64 | at 10 000 | ratio |")
        P("|---|---|---|---|---|---|---|")
        for h in HTTP_WORKLOADS["c10k"][5]:
            x, y = http["hello"].get(h, []), http["c10k"].get(h, [])
            if not vals(x, "rps") or not vals(y, "rps"):
                continue
            P(f"| {HTTP_HOSTS[h][0]} | {f0(med(vals(x, 'rps')))} | {f0(med(vals(y, 'rps')))} | "
              f"{med(vals(y, 'rps')) / med(vals(x, 'rps')):.2f}× | {f2(med(vals(x, 'cpu_us')))} | "
              f"{f2(med(vals(y, 'cpu_us')))} | "
              f"{med(vals(y, 'cpu_us')) / med(vals(x, 'cpu_us')):.2f}× |")
        P("")

    # ---- WebSocket
    P("## WebSocket")
    P("")
    if ws:
        P(f"### (6) echo: {WS_ECHO_CONNS} connections × {WS_ECHO_SIZE}-byte text messages")
        P("")
        P("Each connection sends a message and waits for its echo, in a loop (ws_load, pinned with "
          "the server). Latency = send to echo received, over all messages of the run; p50/p99: "
          "median of the rounds.")
        P("")
        P("| host | msg/s | vs tungstenite | CPU µs/message | vs tungstenite | of it kernel | "
          "p50 µs | p99 µs |")
        P("|---|---|---|---|---|---|---|---|")
        for h in WS_HOSTS:
            runs = ws.get(h, [])
            if not vals(runs, "rate"):
                continue
            b = ws.get("tung", [])

            def vs(key):
                if h == "tung" or not vals(b, key):
                    return "—"
                pr = paired(runs, b, key)
                rng = f" ({min(pr):.2f}-{max(pr):.2f})" if pr else ""
                return f"{med(vals(runs, key)) / med(vals(b, key)):.2f}×{rng}"
            P(f"| {WS_HOSTS[h][0]} | {spread(vals(runs, 'rate'), f0)} | {vs('rate')} | "
              f"{spread(vals(runs, 'cpu_us'), f2)} | {vs('cpu_us')} | "
              f"{med(vals(runs, 'sys_share')) * 100:.0f} % | "
              f"{med(vals(runs, 'p50_us')):.0f} | {med(vals(runs, 'p99_us')):.0f} |")
        P("")
    if R["ws_idle"]:
        P("### (7) RSS with idle WebSocket connections, (8) broadcast")
        P("")
        P("The clients connect (ws_load, 256 handshakes at a time), stay idle; the server's RSS "
          "(VmRSS of its process tree) is read 0.5 s after the last handshake; per connection = "
          "(RSS - RSS of the same server before any client) / clients. Then "
          f"{' or '.join(f'{v} (at {k:,} clients)' for k, v in BCAST_REPS.items())} "
          "broadcasts per run: one client sends a 32-byte text message starting "
          "with `broadcast`, the server's handler sends it to every client (the sender "
          "included); the time from the send until the last client has it. Broadcast column: "
          "median (min-max) of all the samples of every round. CPU per broadcast: the "
          "server's and the clients' (ws_load's) CPU time over the broadcasts "
          "(100 ms apart), divided by their number (10 ms clock ticks); a client CPU "
          f"time near the broadcast time would mean the clients limit the measurement.")
        P("")
        P("| host | clients | RSS MiB | RSS before clients MiB | KiB per connection | "
          "broadcast ms | server CPU ms per broadcast | of it kernel | "
          "clients' CPU ms per broadcast |")
        P("|---|---|---|---|---|---|---|---|---|")
        for h in WS_HOSTS:
            for n in IDLE_SIZES:
                runs = R["ws_idle"].get(h, {}).get(str(n), [])
                if not vals(runs, "rss_kib"):
                    continue
                bc = [x for r in runs if "error" not in r for x in r["bcast_ms"]]
                P(f"| {WS_HOSTS[h][0]} | {n:,} | "
                  f"{spread([x / 1024 for x in vals(runs, 'rss_kib')], f1)} | "
                  f"{med([x / 1024 for x in vals(runs, 'rss0_kib')]):.1f} | "
                  f"{spread(vals(runs, 'per_conn_kib'), f2)} | {spread(bc, f2)} | "
                  f"{spread(vals(runs, 'server_cpu_ms'), f1)} | "
                  f"{med(vals(runs, 'server_sys_share')) * 100:.0f} % | "
                  f"{spread(vals(runs, 'client_cpu_ms'), f1)} |")
        P("")

    cg = R.get("callgrind")
    if cg:
        P("## Callgrind: instructions per request")
        P("")
        P(cg["method"])
        P("")
        P("| host | workload | instructions/request | vs plain hyper hello | C ABI / FFI calls per request |")
        P("|---|---|---|---|---|")
        base = cg["rows"].get("hyper/hello", {}).get("ir")
        for k, r in cg["rows"].items():
            host, w = k.split("/")
            ratio = f"{r['ir'] / base:.2f}×" if base else "—"
            ffi = r.get("ffi")
            ffi_s = ", ".join(f"{n} {c:.2f}" for n, c in ffi.items()) if ffi else "—"
            P(f"| {HTTP_HOSTS[host][0]} | {w} | {r['ir']:,.0f} | {ratio} | {ffi_s} |")
        P("")
        if cg.get("top"):
            P("Where the PHP 1-worker varied request goes (self cost, instructions per request, "
              "by shared object):")
            P("")
            P("| object | instructions/request | share |")
            P("|---|---|---|")
            for obj, ir, share in cg["top"]:
                P(f"| {obj} | {ir:,.0f} | {share:.0f} % |")
            P("")
        if cg.get("top_fn"):
            P("The 20 functions with the most self cost on that path (instructions per request; "
              "full profile of the last run: `callgrind_annotate "
              "bench/results/callgrind.php1-varied.out`, which also holds startup):")
            P("")
            P("| function (object) | instructions/request | share |")
            P("|---|---|---|")
            for name, ir, share in cg["top_fn"]:
                name = name.replace("|", "\\|")
                if len(name) > 110:
                    name = name[:107] + "..."
                P(f"| `{name}` | {ir:,.0f} | {share:.1f} % |")
            P("")

    bench_tls.report(sys.modules[__name__], R, P)
    rooms.report(sys.modules[__name__], R, P)
    sio_bench.report(sys.modules[__name__], R, P)

    P("## What is not measured")
    P("")
    for x in R.get("missing", []):
        P(f"- {x}")
    P("")
    return "\n".join(L)


def write_outputs(R, partial=False):
    """BENCHMARKS.md and bench/cpu_per_request.svg; a partial run (--quick, --only) writes to
    bench/results/ instead, so that it never replaces the full run's report."""
    if partial:
        md = os.path.join(BENCH, "results", "BENCHMARKS-partial.md")
        svg = os.path.join(BENCH, "results", "cpu_per_request.svg")
        link = "cpu_per_request.svg"
    else:
        md, svg = os.path.join(ROOT, "BENCHMARKS.md"), os.path.join(BENCH, "cpu_per_request.svg")
        link = "bench/cpu_per_request.svg"
    with open(svg, "w") as f:
        f.write(chart_svg(R))
    with open(md, "w") as f:
        f.write(report(R).replace("](bench/cpu_per_request.svg)", f"]({link})"))
    return md


# --only: a workload (the keys of HTTP_WORKLOADS, echo, idle, and those of bench_tls.py, rooms.py,
# socketio.py) runs with all its hosts; a group runs some workloads with some hosts:
# name -> (workloads, hosts of those HTTP workloads (None: all), callgrind hosts)
GROUPS = {
    "http": (["hello", "varied"], None, []),
    "php": (["hello", "varied"], ["hyper", "php1", "php1jit"], []),
    "c": (["hello", "varied"], ["hyper", "c"], []),
    "scale": (["hello", "c10k"], ["hyper", "c", "php1"], []),
    "workers": (["hello", "varied"], ["hyper2", "phpN"], []),
    "ws": (["echo", "idle"], None, []),
    "broadcast": (["idle"], None, []),
    "callgrind": ([], None, ["hyper", "c", "php1", "php1jit"]),
    "callgrind-php": ([], None, ["hyper", "php1", "php1jit"]),
    "callgrind-c": ([], None, ["hyper", "c"]),
}
ONLY_NAMES = (list(HTTP_WORKLOADS) + ["echo", "idle", "tls", "h2streams", "handshake", "deflate",
                                     "deflate_idle", "rooms", "socketio"] + list(GROUPS))


def selection(only, callgrind_flag):
    """--only's names -> (workload keys, {HTTP workload: set of hosts or None for all}, callgrind
    hosts). No --only: everything (callgrind with --callgrind)."""
    if not only:
        return (set(), {}, GROUPS["callgrind"][2] if callgrind_flag else [])
    sel, hosts, cg = set(), {}, []
    for name in only:
        wls, hs, cgh = GROUPS.get(name, ([name], None, []))
        for w in wls:
            sel.add(w)
            if w in HTTP_WORKLOADS:
                if hs is None or hosts.get(w, set()) is None:
                    hosts[w] = None
                else:
                    hosts[w] = hosts.get(w, set()) | set(hs)
        cg += [h for h in cgh if h not in cg]
    cg = [h for h in GROUPS["callgrind"][2] if h in cg]  # always in the table's order
    return sel, hosts, cg


MISSING = [
    "PHP N workers and plain hyper N threads only in workloads 1 and 2 (HTTP); no multi-process "
    "WebSocket host (the engine's cluster forwarding) in workloads 6-8, and no RSS of N workers.",
    "No broadcast triggered by an HTTP request (the trigger is a WebSocket message through the "
    "handler); no broadcast across worker processes.",
    "The load generator shares the 2 CPUs: requests/s and msg/s are those of server + load "
    "generator on one CPU, not the server's capacity. The targets use CPU per request.",
    "Callgrind covers the HTTP path (hello, varied) only, not POST, Connection: close or "
    "WebSocket messages; it counts user-space instructions, not the kernel's share.",
    "Swoole and Workerman (issue 13's comparison): not here. Debian bookworm packages neither "
    "(no php-swoole), and the bench builds nothing from PECL; the targets use plain hyper in "
    "the same run instead.",
    "opcache+JIT only for the PHP 1-worker HTTP host in workloads 1 and 2 (and callgrind); the "
    "other PHP rows (POST, Connection: close, 10 000 connections, N workers, WebSocket, "
    "Socket.IO, channels) run with the CLI's default, opcache off.",
    "That a broadcast or a channel publish encodes its frame once and shares it (issue 13) is a "
    "property of the code: here it shows only through the server CPU per broadcast (8) and per "
    "receiver (14).",
    "Server CPU per broadcast is read in 10 ms clock ticks over 20 broadcasts at 10 000 clients "
    "(steps of 0.5 ms on about 120 ms per broadcast); the CPU time between the broadcasts "
    "(100 ms apart, the server idle) is in it too.",
    "3 rounds of 2 s are short: on a machine shared with other work the min-max ranges show the "
    "noise; rerun `make bench` (or bench/bench.py --rounds 5 --duration 5) for tighter figures.",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=2)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--only", default="", help="comma list of workloads and groups (see the "
                    "usage at the top of bench/bench.py): " + ",".join(ONLY_NAMES))
    ap.add_argument("--quick", action="store_true", help="1 round, 1 s runs (harness check)")
    ap.add_argument("--callgrind", action="store_true", help="also the callgrind profile")
    ap.add_argument("--report-only")
    a = ap.parse_args()
    if a.report_only:
        with open(a.report_only) as f:
            R = json.load(f)
        print("wrote " + write_outputs(R, R.get("partial", False)))
        return 0
    if a.quick:
        a.rounds, a.duration, a.warmup = 1, 1, 1
    only = set(x for x in a.only.split(",") if x)
    unknown = only - set(ONLY_NAMES)
    if unknown:
        ap.error(f"--only: unknown {', '.join(sorted(unknown))} (known: {', '.join(ONLY_NAMES)})")
    sel, http_hosts, cg_hosts = selection(only, a.callgrind)
    want = lambda k: not only or k in sel  # noqa: E731
    t_start = time.monotonic()
    R = {"machine": machine(), "args": vars(a), "http": {}, "ws_echo": {}, "ws_idle": {},
         "errors": [], "missing": list(MISSING), "partial": bool(a.quick or only)}

    def attempt(what, fn):
        try:
            return fn()
        except Exception as e:  # one failed run is reported, the others go on
            msg = f"{what}: {e}"
            print("FAILED " + msg, file=sys.stderr, flush=True)
            R["errors"].append(msg)
            return {"error": str(e)}

    if any(want(w) for w in ("tls", "h2streams", "handshake")):
        bench_tls.setup(os.path.join(BENCH, "results"))
    if any(want(w) for w in HTTP_WORKLOADS):
        # Not recorded: the first runs after the build were the slowest of their host in trial
        # invocations (caches, CPU clock); one plain-hyper run first takes that.
        attempt("warm-up run", lambda: http_run(a, "hyper", "hello"))
    for r in range(a.rounds):
        for w, spec in HTTP_WORKLOADS.items():
            if not want(w):
                continue
            for h in spec[5]:
                if http_hosts.get(w) is not None and h not in http_hosts[w]:
                    continue
                res = attempt(f"round {r + 1} {w} {h}", lambda: http_run(a, h, w))
                R["http"].setdefault(w, {}).setdefault(h, []).append(res)
                if "error" not in res:
                    print(f"round {r + 1} {w:7} {h:7} {res['rps']:>9,.0f} req/s "
                          f"{res['cpu_us']:6.2f} us CPU/req  errors {res['errors']}/{res['socket_errors']}",
                          flush=True)
        if want("echo"):
            for h in WS_HOSTS:
                res = attempt(f"round {r + 1} ws echo {h}", lambda: ws_echo_run(a, h))
                R["ws_echo"].setdefault(h, []).append(res)
                if "error" not in res:
                    print(f"round {r + 1} ws-echo {h:7} {res['rate']:>9,.0f} msg/s "
                          f"{res['cpu_us']:6.2f} us CPU/msg p50 {res['p50_us']} p99 "
                          f"{res['p99_us']} us", flush=True)
        bench_tls.run_round(sys.modules[__name__], a, R, r, want, attempt)
        rooms.run_round(sys.modules[__name__], a, R, r, want, attempt)
        sio_bench.run_round(sys.modules[__name__], a, R, r, want, attempt)
        if want("idle"):
            for h in WS_HOSTS:
                for n in IDLE_SIZES:
                    res = attempt(f"round {r + 1} ws idle {h} {n}", lambda: ws_idle_run(a, h, n))
                    R["ws_idle"].setdefault(h, {}).setdefault(str(n), []).append(res)
                    if "error" not in res:
                        print(f"round {r + 1} ws-idle {h:7} {n:6} {res['rss_kib'] / 1024:7.1f} MiB "
                              f"{res['per_conn_kib']:6.2f} KiB/conn broadcast ms "
                              f"{res['bcast_ms']}", flush=True)
    if cg_hosts:
        import callgrind  # bench/callgrind.py
        R["callgrind"] = attempt("callgrind", lambda: callgrind.run(HTTP_HOSTS, cg_hosts))
        if "error" in R["callgrind"]:
            del R["callgrind"]
    R["elapsed_s"] = time.monotonic() - t_start
    os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
    name = "results-partial.json" if R["partial"] else "results.json"
    with open(os.path.join(BENCH, "results", name), "w") as f:
        json.dump(R, f, indent=1)
    md = write_outputs(R, R["partial"])
    for t in target_rows(R):  # the targets this invocation measured, for a quick look
        if t[2] != "not measured":
            print(f"target {t[2].strip('*'):8} {t[1]}{'  [callgrind ' + t[3] + ']' if t[3] else ''}"
                  f"  <- {t[0]}", flush=True)
    print(f"wrote {os.path.relpath(md, ROOT)} (data: bench/results/{name}) in "
          f"{R['elapsed_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    def on_signal(signum, frame):
        for p in list(children):
            stop(p)
        sys.exit(1)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sys.exit(main())
    finally:
        for p in list(children):
            stop(p)
