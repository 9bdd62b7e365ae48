"""make bench, issue 10 rows: TLS, HTTP/2 and WebSocket compression (imported by bench.py).

Same method as the other rows (bench.py's docstring): a fresh server per run, pinned with its
load generator to CPU 0, the server's CPU time (utime+stime from /proc) sampled at the edges of
a measured window, divided by the requests or messages completed inside it.

  (9)  C hello, GET /, keep-alive: http/1.1 and https/1.1 with wrk (window.lua counts the
       window's responses); h2c and https HTTP/2 with h2load (-m1: one request at a time per
       connection, as wrk does), and http/1.1 through h2load --h1 as a cross-check of the two
       tools. h2load's window: its --warm-up-time, then -D seconds; the CPU time is sampled
       when h2load prints that its warm-up is over and that its main duration is over.
  (10) HTTP/2 with many streams per connection: h2load -c4 -m100, h2c and https.
  (11) TLS handshakes: wrk with `Connection: close`, a new connection (and, over https, a full
       TLS 1.3 handshake: wrk resumes no session) per request; per handshake = https minus
       http CPU per request.
  (12) WebSocket echo of JSON chat messages (bench/ws_deflate.py, Python websockets offering
       permessage-deflate) against c-examples/ws_echo with deflate off, on (default: no
       context takeover) and on with context takeover: server CPU per message, and the bytes
       the server received and sent per message (the kernel's tcp_info byte counters of its
       connections, `ss -ti`: WebSocket frames, without TCP/IP headers) against the JSON text's
       own size.
  (13) Idle RSS per WebSocket connection after one compressed message each, deflate on vs off
       (2 000 clients; per connection = (RSS - RSS before any client) / clients).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "tls"))
from certs import make_certs  # noqa: E402

C_HELLO = os.path.join(ROOT, "c-examples/build/hello")
C_WS_ECHO = os.path.join(ROOT, "c-examples/build/ws_echo")
WS_DEFLATE = os.path.join(ROOT, "bench/ws_deflate.py")

TLS_ENV: dict[str, str] = {}  # HS_TLS_CERT / HS_TLS_KEY, filled by setup()

# key -> (label, tool, tls, connections, streams per connection, headers)
HTTP_RUNS = {
    "http1": ("http, HTTP/1.1 (wrk)", "wrk", False, 64, 1, []),
    "https1": ("https, HTTP/1.1 (wrk)", "wrk", True, 64, 1, []),
    "h1load": ("http, HTTP/1.1 (h2load --h1)", "h2load-h1", False, 64, 1, []),
    "h2c": ("h2c, cleartext HTTP/2 (h2load)", "h2load", False, 64, 1, []),
    "https2": ("https, HTTP/2 (h2load)", "h2load", True, 64, 1, []),
    "h2c_m100": ("h2c, 4 connections × 100 streams (h2load -m100)", "h2load", False, 4, 100, []),
    "https2_m100": ("https HTTP/2, 4 connections × 100 streams (h2load -m100)", "h2load", True,
                    4, 100, []),
    "close": ("http, Connection: close (wrk)", "wrk", False, 64, 1, ["Connection: close"]),
    "close_tls": ("https, Connection: close: a TLS handshake per request (wrk)", "wrk", True, 64,
                  1, ["Connection: close"]),
}
KEEPALIVE = ["http1", "https1", "h1load", "h2c", "https2"]
STREAMS = ["h2c_m100", "https2_m100"]
HANDSHAKE = ["close", "close_tls"]

# key -> (label, environment of ws_echo)
DEFLATE = {
    "off": ("deflate off (HS_WS_DEFLATE=0)", {"HS_WS_DEFLATE": "0"}),
    "on": ("deflate on, no context takeover (default)", {}),
    "takeover": ("deflate on, context takeover (HS_WS_DEFLATE_TAKEOVER=1)",
                 {"HS_WS_DEFLATE_TAKEOVER": "1"}),
}
DEFLATE_CONNS = 20
IDLE_CONNS = 2000


def setup(out_dir: str) -> None:
    c = make_certs(os.path.join(out_dir, "certs"))
    TLS_ENV.update({"HS_TLS_CERT": c["server"], "HS_TLS_KEY": c["server_key"]})


# ---- runs --------------------------------------------------------------------------------------

def h2load(h, port, tls, conns, streams, h1, a, server_pid):
    """One h2load run (time-based); the server's CPU sampled at h2load's own window edges."""
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
    cmd = h.pin(["h2load", "-t1", f"-c{conns}", f"-m{streams}", f"--warm-up-time={a.warmup}",
                 f"-D{a.duration}", *(["--h1"] if h1 else []), url], 0)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    h.children.append(p)
    out = []
    c0 = c1 = None
    t0 = t1 = None
    try:
        deadline = time.time() + a.warmup + a.duration + 60
        while time.time() < deadline:
            line = h.readline(p, max(1, deadline - time.time()))
            if not line:
                break
            out.append(line)
            if c0 is None and "Warm-up phase is over" in line:
                c0, t0 = h.cpu_split(server_pid), time.time()
            elif c0 is not None and c1 is None and "Main benchmark duration is over" in line:
                c1, t1 = h.cpu_split(server_pid), time.time()
        p.wait(timeout=30)
    finally:
        h.stop(p)
    text = "".join(out)
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", text)
    if not m or c0 is None or c1 is None:
        raise RuntimeError(f"h2load output not understood: {text[-1500:]!r}")
    done, failed, errored = int(m.group(3)), int(m.group(5)), int(m.group(6))
    proto = re.search(r"Application protocol: (\S+)", text)
    return done, failed + errored, (c1[0] - c0[0], c1[1] - c0[1]), t1 - t0, \
        proto.group(1) if proto else "?"


def http_run(h, a, key):
    label, tool, tls, conns, streams, headers = HTTP_RUNS[key]
    p, port = h.start_server([C_HELLO, "0"], TLS_ENV if tls else {}, 0)
    try:
        if tool == "wrk":
            t0 = time.time() + a.warmup
            t1 = t0 + a.duration
            done, bad, sock, (user, sys_) = h.wrk(port, "/", None, headers, conns, 0, (t0, t1),
                                                  p.pid, scheme="https" if tls else "http")
            bad += sock
            window, proto = t1 - t0, "http/1.1"
        else:
            done, bad, (user, sys_), window, proto = h2load(h, port, tls, conns, streams,
                                                            tool == "h2load-h1", a, p.pid)
    finally:
        h.stop(p)
    if done == 0:
        raise RuntimeError("no request completed in the window")
    used = user + sys_
    return {"rps": done / window, "cpu_us": used / done * 1e6, "reqs": done, "errors": bad,
            "sys_share": sys_ / used if used else 0, "protocol": proto}


def tcp_bytes(port):
    """(received, sent) payload bytes of the server's established connections on `port`, from
    the kernel's tcp_info (ss -ti): the WebSocket frames both ways, without TCP/IP headers.
    (/proc/PID/io does not see them: the engine uses send/recv, not write/read.)"""
    out = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return (sum(int(x) for x in re.findall(r"bytes_received:(\d+)", out)),
            sum(int(x) for x in re.findall(r"bytes_sent:(\d+)", out)))


def deflate_echo_run(h, a, key):
    _, env = DEFLATE[key]
    p, port = h.start_server([C_WS_ECHO, "0"], env, 0)
    try:
        load = subprocess.Popen(h.pin([sys.executable, WS_DEFLATE, "echo", str(port),
                                       str(DEFLATE_CONNS), str(a.warmup), str(a.duration)], 0),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        h.children.append(load)
        try:
            if h.readline(load, 60).strip() != "start":
                raise RuntimeError("ws_deflate echo did not start")
            c0, io0 = h.cpu_split(p.pid), tcp_bytes(port)
            load.stdin.write("go\n")  # the client counts messages from here
            load.stdin.flush()
            if h.readline(load, a.duration + 30).strip() != "stop":
                raise RuntimeError("ws_deflate echo did not stop")
            c1, io1 = h.cpu_split(p.pid), tcp_bytes(port)
            load.stdin.write("go\n")  # the clients stay connected until the counters are read
            load.stdin.flush()
            res = json.loads(h.readline(load, 60))
            load.wait(timeout=30)
        finally:
            h.stop(load)
    finally:
        h.stop(p)
    n = max(res["msgs"], 1)
    user, sys_ = c1[0] - c0[0], c1[1] - c0[1]
    return {"rate": res["rate"], "msgs": res["msgs"], "cpu_us": (user + sys_) / n * 1e6,
            "sys_share": sys_ / (user + sys_) if user + sys_ else 0,
            "payload_b": res["payload_bytes"] / n, "read_b": (io1[0] - io0[0]) / n,
            "written_b": (io1[1] - io0[1]) / n, "extensions": res["extensions"]}


def deflate_idle_run(h, a, key):
    _, env = DEFLATE[key]
    p, port = h.start_server([C_WS_ECHO, "0"], env, 0)
    try:
        time.sleep(0.3)
        rss0 = h.rss_kib(p.pid)
        load = subprocess.Popen(h.pin([sys.executable, WS_DEFLATE, "idle", str(port),
                                       str(IDLE_CONNS)], 1 if h.NCPU > 1 else 0),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        h.children.append(load)
        try:
            line = h.readline(load, 120).strip()
            if line != f"ready {IDLE_CONNS}":
                raise RuntimeError(f"ws_deflate idle: {line!r}")
            time.sleep(0.5)
            rss1 = h.rss_kib(p.pid)
            load.stdin.write("go\n")
            load.stdin.flush()
            res = json.loads(h.readline(load, 60))
            load.wait(timeout=30)
        finally:
            h.stop(load)
    finally:
        h.stop(p)
    return {"rss0_kib": rss0, "rss_kib": rss1, "per_conn_kib": (rss1 - rss0) / IDLE_CONNS,
            "extensions": res["extensions"]}


def run_round(h, a, R, r, want, attempt):
    """Round r of every issue-10 workload that `want` selects; results into R["tls"]."""
    T = R.setdefault("tls", {"http": {}, "deflate": {}, "deflate_idle": {}})
    keys = ([k for k in KEEPALIVE if want("tls")] + [k for k in STREAMS if want("h2streams")]
            + [k for k in HANDSHAKE if want("handshake")])
    for k in keys:
        res = attempt(f"round {r + 1} tls {k}", lambda: http_run(h, a, k))
        T["http"].setdefault(k, []).append(res)
        if "error" not in res:
            print(f"round {r + 1} tls     {k:12} {res['rps']:>9,.0f} req/s "
                  f"{res['cpu_us']:6.2f} us CPU/req errors {res['errors']} ({res['protocol']})",
                  flush=True)
    if want("deflate"):
        for k in DEFLATE:
            res = attempt(f"round {r + 1} deflate echo {k}", lambda: deflate_echo_run(h, a, k))
            T["deflate"].setdefault(k, []).append(res)
            if "error" not in res:
                print(f"round {r + 1} deflate {k:9} {res['rate']:>8,.0f} msg/s "
                      f"{res['cpu_us']:6.2f} us CPU/msg wrote {res['written_b']:.0f} B/msg "
                      f"of {res['payload_b']:.0f} B payload [{res['extensions']}]", flush=True)
    if want("deflate_idle"):
        for k in ("off", "on"):
            res = attempt(f"round {r + 1} deflate idle {k}", lambda: deflate_idle_run(h, a, k))
            T["deflate_idle"].setdefault(k, []).append(res)
            if "error" not in res:
                print(f"round {r + 1} deflate-idle {k:4} {res['per_conn_kib']:6.2f} KiB/conn "
                      f"[{res['extensions']}]", flush=True)


# ---- report ------------------------------------------------------------------------------------

def targets(h, R):
    """Rows for the Targets table: (target, measured, status, callgrind column)."""
    T = R.get("tls")
    if not T:
        return []
    out = []
    http = T["http"]
    a, b = h.vals(http.get("https1", []), "cpu_us"), h.vals(http.get("http1", []), "cpu_us")
    if a and b:
        r = h.med(a) / h.med(b)
        pr = h.paired(http["https1"], http["http1"], "cpu_us")
        out.append(("C hello, TLS keep-alive (https HTTP/1.1) CPU/request ≤ 1.3 × plain http "
                    "(9)", f"{r:.2f}× (rounds {min(pr):.2f}-{max(pr):.2f})",
                    "met" if r <= 1.3 else "**not met**", ""))
    a = h.vals(http.get("https2", []), "cpu_us")
    if a and b:
        r = h.med(a) / h.med(b)
        out.append(("C hello, HTTP/2 over TLS CPU/request ≤ 1.3 × plain http HTTP/1.1 (9; "
                    "h2load vs wrk)", f"{r:.2f}×", "met" if r <= 1.3 else "**not met**", ""))
    on = h.vals(T["deflate_idle"].get("on", []), "per_conn_kib")
    off = h.vals(T["deflate_idle"].get("off", []), "per_conn_kib")
    if on and off:
        d = h.med(on) - h.med(off)
        out.append((f"idle compressed WebSocket ≤ 1 KiB above uncompressed (13), "
                    f"{IDLE_CONNS:,} clients", f"{d:+.2f} KiB per connection",
                    "met" if d <= 1.0 else "**not met**", ""))
    return out


NOT_MEASURED = [
    "No PHP host in these rows (the PHP wrapper's TLS goes through the same engine path) and no "
    "multi-worker host; no wss echo (WebSocket over TLS) CPU row.",
    "HTTP/2 keep-alive rows use h2load and HTTP/1.1 rows wrk: the h2load --h1 row shows how far "
    "the two tools differ on the same protocol.",
    "TLS handshakes are full TLS 1.3 handshakes with an ECDSA P-256 key (wrk resumes no "
    "session): no resumption, no RSA certificate, no TLS 1.2.",
    "The compression client is Python websockets (its zlib, level and window of its own): the "
    "server's CPU per message is the figure; msg/s is the client's speed.",
]


def report(h, R, P):
    T = R.get("tls")
    if not T:
        return
    f2, f0, spread, vals, med = h.f2, h.f0, h.spread, h.vals, h.med
    P("## TLS, HTTP/2 and WebSocket compression (issue 10)")
    P("")
    for line in __doc__.split("\n\n", 2)[2].strip().splitlines():
        P(line[2:] if line.startswith("  ") else line)
    P("")
    P("TLS: rustls 0.23 (ring), TLS 1.3 with an ECDSA P-256 certificate (tests/tls/certs.py); "
      "wrk and h2load use OpenSSL. Every row pinned to one CPU with its load generator.")
    P("")
    http = T["http"]
    base = vals(http.get("http1", []), "cpu_us")

    def rows(keys, title):
        P(f"### {title}")
        P("")
        P("| run | protocol | req/s | CPU µs/request | vs http HTTP/1.1 (wrk) | of it kernel |")
        P("|---|---|---|---|---|---|")
        for k in keys:
            runs = http.get(k, [])
            if not vals(runs, "cpu_us"):
                continue
            errs = sum(x.get("errors", 0) for x in runs if "error" not in x)
            ratio = (f"{med(vals(runs, 'cpu_us')) / med(base):.2f}×" if base and k != "http1"
                     else "—")
            P(f"| {HTTP_RUNS[k][0]}{' (' + str(errs) + ' errors)' if errs else ''} | "
              f"{runs[0].get('protocol', '?') if 'error' not in runs[0] else '?'} | "
              f"{spread(vals(runs, 'rps'), f0)} | {spread(vals(runs, 'cpu_us'), f2)} | {ratio} | "
              f"{med(vals(runs, 'sys_share')) * 100:.0f} % |")
        P("")

    rows(KEEPALIVE, "(9) hello world over TLS and HTTP/2, 64 keep-alive connections")
    rows(STREAMS, "(10) HTTP/2, many streams per connection")
    rows(HANDSHAKE, "(11) a new connection per request: TLS handshakes")
    c, t = vals(http.get("close", []), "cpu_us"), vals(http.get("close_tls", []), "cpu_us")
    if c and t:
        P(f"TLS handshakes per second (one CPU shared with wrk): "
          f"{f0(med(vals(http['close_tls'], 'rps')))}; server CPU per handshake (https minus "
          f"http, Connection: close): {med(t) - med(c):.1f} µs.")
        P("")
    if T["deflate"]:
        P(f"### (12) WebSocket echo, JSON chat messages, {DEFLATE_CONNS} connections, "
          f"permessage-deflate")
        P("")
        P("| server | negotiated | msg/s | CPU µs/message | vs off | JSON bytes/message | "
          "server sent B/message | server received B/message |")
        P("|---|---|---|---|---|---|---|---|")
        off = vals(T["deflate"].get("off", []), "cpu_us")
        for k in DEFLATE:
            runs = T["deflate"].get(k, [])
            if not vals(runs, "cpu_us"):
                continue
            ext = next((x["extensions"] for x in runs if "error" not in x), "") or "(none)"
            vs = f"{med(vals(runs, 'cpu_us')) / med(off):.2f}×" if off and k != "off" else "—"
            P(f"| {DEFLATE[k][0]} | `{ext}` | {spread(vals(runs, 'rate'), f0)} | "
              f"{spread(vals(runs, 'cpu_us'), f2)} | {vs} | {med(vals(runs, 'payload_b')):.0f} | "
              f"{med(vals(runs, 'written_b')):.0f} | {med(vals(runs, 'read_b')):.0f} |")
        P("")
    if T["deflate_idle"]:
        P(f"### (13) idle WebSocket connections after one compressed message, "
          f"{IDLE_CONNS:,} clients")
        P("")
        P("| server | negotiated | RSS MiB | KiB per connection |")
        P("|---|---|---|---|")
        for k in ("off", "on"):
            runs = T["deflate_idle"].get(k, [])
            if not vals(runs, "per_conn_kib"):
                continue
            ext = next((x["extensions"] for x in runs if "error" not in x), "") or "(none)"
            P(f"| {DEFLATE[k][0]} | `{ext}` | "
              f"{spread([x / 1024 for x in vals(runs, 'rss_kib')], h.f1)} | "
              f"{spread(vals(runs, 'per_conn_kib'), f2)} |")
        P("")
    P("Not measured in this section:")
    P("")
    for x in NOT_MEASURED:
        P(f"- {x}")
    P("")
