#!/usr/bin/env python3
"""make sanitize: the C examples, the C ABI test programs and the Rust ABI test binaries under
Valgrind memcheck, driven by real clients over 127.0.0.1, then stopped the way a user stops
them, so that the leak check at exit sees every hs_* allocation released.

Programs (each its own Valgrind run, its own log in the output directory):
  hello             curl and raw sockets: every route, 400, 404, 413, 431, a malformed request,
                    keep-alive, a client vanishing mid-body; SIGTERM
  ws_echo           websockets: text, binary, two paths, a client open at shutdown; curl 404;
                    SIGTERM
  chat              curl: the page; websockets: join, a broadcast, echo, a timer tick, a binary
                    frame refused with 1003; SIGINT
  rooms             rooms.c: a token refused with 401, messages published to a channel's two
                    members, a presence channel with two tabs of one user, members and presence
                    over HTTP, an anonymous echo, a client open at shutdown; SIGTERM
  socketio          socketio.c with python-socketio clients: polling upgraded to WebSocket and
                    WebSocket only, events with acks, binary, a room, a server-to-client ack, a
                    refused connect, an unknown session (400), a client open at shutdown; SIGTERM
  hello_tls         hello over TLS (certificates from tests/tls/certs.py, a client CA optional):
                    curl over HTTP/1.1 and HTTP/2 (routes, POST, 404, 413, 431), a client
                    certificate, an untrusted client, plain HTTP and garbage on the TLS port, a
                    reload (SIGHUP) and a failed reload; SIGTERM
  ws_echo_tls       ws_echo over wss (websockets): text, binary, a client open at shutdown; SIGTERM
  fork_after_start  curl against two forked children serving one port; SIGTERM to the parent
                    (forwarded); every process's log is checked
  abi_alloc         tests/c/abi_alloc.c: every allocating call and its release, every error path,
                    an in-process server and client (it checks itself and exits non-zero)
  rust:<test>       cargo's integration test binaries, which drive the C ABI from Rust with real
                    clients (lifecycle, http, websocket, faults, cluster, smoke), one test at a
                    time; a test listed in RUST_SKIPS is skipped, with its reason

Leak policy (see docs/RELIABILITY.md):
  - a Valgrind error of any kind (invalid read/write, uninitialised value, bad free, ...) fails;
  - "definitely", "indirectly" and "possibly lost" bytes fail (--errors-for-leak-kinds): every
    program frees its server and joins its threads before exit, so even an interior pointer
    left at exit is a leak to explain. The one explained case, Rust std's handle of the main
    thread, is in valgrind.supp with its reason;
  - "still reachable" is reported: what lives in statics until exit (tokio's signal registry,
    Rust std's and glibc's buffers, std's backtrace cache after the faults tests' panics, the
    test harness's kept user_data), not per server, released by the OS. For the C programs it
    must stay under REACHABLE_LIMIT, so that per-server state kept in a static still fails;
  - a descriptor open at exit that the process did not inherit fails (--track-fds=yes), except
    tokio's process-wide signal socket pair (PROCESS_WIDE_FD), opened once per process;
  - the TLS runs (hello_tls, ws_echo_tls) check everything above but uninitialised values
    (TLS_MEMCHECK): memcheck takes the bytes of ring's ECDSA signing nonce
    (ring::ec::suite_b::ecdsa::signing::NonceRandom::fill_impl, seen with --track-origins) for
    undefined; the signature enters the TLS 1.3 transcript, so every traffic key, every
    decrypted byte and every branch of the HTTP parsers on it would be reported (73 and 100
    reports in 3 contexts, all rooted there: ring's open_within, the writev of TLS records,
    hyper's content-length). Invalid reads and writes, leaks and descriptors are still checked.

Usage: run.py [--only NAME ...] [--out DIR]     exit 0 when every program passed.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import re
import signal
import shutil
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "pysupport"))
from ready import NotReady, read_listening_port  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "tls"))
from certs import make_certs  # noqa: E402

from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402
from wss_client import connect as wss_connect  # noqa: E402

BUILD = ROOT / "c-examples" / "build"
DEPS = ROOT / "target" / "release" / "deps"

VALGRIND_ERROR = 99  # --error-exitcode: tells a Valgrind finding from the program's own failure
READY_TIMEOUT = 120.0  # Valgrind start-up of a Rust cdylib takes seconds on a loaded machine
EXIT_TIMEOUT = 120.0  # graceful exit plus the leak check
CLIENT_TIMEOUT = 30.0  # one HTTP request or WebSocket receive under Valgrind
RUST_TIMEOUT = 420.0  # one whole Rust test binary

SUPPRESSIONS = Path(__file__).resolve().parent / "valgrind.supp"
VALGRIND = [
    "valgrind",
    "--tool=memcheck",
    "--leak-check=full",
    "--show-leak-kinds=definite,indirect,possible",
    "--errors-for-leak-kinds=definite,indirect,possible",
    f"--error-exitcode={VALGRIND_ERROR}",
    "--track-fds=yes",
    "--num-callers=40",
    f"--suppressions={SUPPRESSIONS}",
]

# The one descriptor pair allowed open at exit: tokio's signal registry (a static, created with
# the first runtime of the process whether or not signals are handled, never closed). Valgrind
# cannot suppress descriptor reports, so the parser recognises its opening stack.
PROCESS_WIDE_FD = ("globals_init", "tokio::signal::registry::Globals")

# "Still reachable" is not a leak, but it must not grow with the work done: a per-server or
# per-connection entry kept in a static would show here first. The C programs stay near 25 KB
# per process (abi_alloc after about 300 servers too); a process above this limit fails. Not
# applied to the Rust test binaries (std's backtrace cache after a panic is tens of MB).
REACHABLE_LIMIT = 64 * 1024

# Extra Valgrind options of the TLS runs: see the leak policy in the docstring.
TLS_MEMCHECK = ["--undef-value-errors=no"]

# Every Rust integration test binary: they drive the exported hs_* functions as a C host would
# (lifecycle: hs_new/hs_free, run, poll, shutdown, timers, threads; http: every request and
# response accessor; websocket; faults: panicking callbacks; cluster; smoke).
RUST_TESTS = ["lifecycle", "http", "websocket", "faults", "cluster", "smoke"]

# Tests skipped under Valgrind, by exact name, each with its reason; everything else runs. None
# so far: every test passes under Valgrind, and all six binaries take about a minute together
# (Valgrind slows these I/O-bound tests far less than CPU-bound code). A test that turns out too
# slow or timing-sensitive goes here, never silently.
RUST_SKIPS: dict[str, dict[str, str]] = {name: {} for name in RUST_TESTS}


# --------------------------------------------------------------------------------------------
# Valgrind logs
# --------------------------------------------------------------------------------------------


@dataclass
class Leaks:
    pid: int
    errors: int = 0
    definitely: int = 0
    indirectly: int = 0
    possibly: int = 0
    reachable: int = 0
    fds_leaked: list[str] = field(default_factory=list)
    fds_process_wide: int = 0  # tokio's signal registry pair (PROCESS_WIDE_FD)
    complete: bool = False  # the log has its ERROR SUMMARY (the process ended normally)


def _bytes(text: str, kind: str) -> int:
    m = re.search(kind + r": ([\d,]+) bytes in", text)
    return int(m.group(1).replace(",", "")) if m else 0


def parse_log(path: Path) -> Leaks:
    """Reads one Valgrind log: its error count, leak summary, descriptors open at exit."""
    text = path.read_text(errors="replace")
    m = re.search(r"==(\d+)==", text)
    leaks = Leaks(pid=int(m.group(1)) if m else 0)
    m = re.search(r"ERROR SUMMARY: ([\d,]+) errors", text)
    if m:
        leaks.complete = True
        leaks.errors = int(m.group(1).replace(",", ""))
    leaks.definitely = _bytes(text, "definitely lost")
    leaks.indirectly = _bytes(text, "indirectly lost")
    leaks.possibly = _bytes(text, "possibly lost")
    leaks.reachable = _bytes(text, "still reachable")
    # --track-fds: "Open <what> N: ..." followed by "<inherited from parent>" or the stack of
    # the call that opened it, up to a blank line.
    lines = [re.sub(r"^==\d+== ?", "", line) for line in text.splitlines()]
    for i, line in enumerate(lines):
        fm = re.match(r"Open (.*?)(?:file descriptor|socket) (\d+):?(.*)", line)
        if not fm or int(fm.group(2)) <= 2:
            continue
        stack = []
        for follow in lines[i + 1:]:
            if not follow.strip():
                break
            stack.append(follow.strip())
        if any("inherited from parent" in f for f in stack):
            continue
        if all(any(mark in f for f in stack) for mark in PROCESS_WIDE_FD):
            leaks.fds_process_wide += 1
            continue
        leaks.fds_leaked.append(line.strip())
    return leaks


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    exit_code: int | None = None
    expected_exit: int = 0
    seconds: float = 0.0
    served: str = ""  # what the clients did, for the report
    logs: list[Leaks] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    reachable_limit: int | None = REACHABLE_LIMIT

    def judge(self) -> None:
        if self.exit_code == VALGRIND_ERROR:
            self.problems.append(f"Valgrind reported errors (exit {VALGRIND_ERROR})")
        elif self.exit_code != self.expected_exit:
            self.problems.append(f"exit code {self.exit_code}, expected {self.expected_exit}")
        if not self.logs:
            self.problems.append("no Valgrind log")
        for log in self.logs:
            who = f"pid {log.pid}"
            if not log.complete:
                self.problems.append(f"{who}: log has no ERROR SUMMARY (killed?)")
            if log.errors:
                self.problems.append(f"{who}: {log.errors} Valgrind errors")
            if log.definitely or log.indirectly:
                self.problems.append(
                    f"{who}: {log.definitely} B definitely, {log.indirectly} B indirectly lost"
                )
            if log.possibly:
                self.problems.append(f"{who}: {log.possibly} B possibly lost")
            if self.reachable_limit is not None and log.reachable > self.reachable_limit:
                self.problems.append(f"{who}: {log.reachable} B still reachable at exit "
                                     f"(limit {self.reachable_limit})")
            for fd in log.fds_leaked:
                self.problems.append(f"{who}: descriptor open at exit: {fd}")

    @property
    def ok(self) -> bool:
        return not self.problems

    def total(self, attr: str) -> int:
        return sum(getattr(log, attr) for log in self.logs)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 1),
            "served": self.served,
            "processes": len(self.logs),
            "errors": self.total("errors"),
            "definitely_lost": self.total("definitely"),
            "indirectly_lost": self.total("indirectly"),
            "possibly_lost": self.total("possibly"),
            "still_reachable": self.total("reachable"),
            "fds_leaked": sum(len(log.fds_leaked) for log in self.logs),
            "problems": self.problems,
        }


class Failed(Exception):
    """A client-side expectation did not hold."""


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise Failed(what)


# --------------------------------------------------------------------------------------------
# Running a server under Valgrind
# --------------------------------------------------------------------------------------------


class Served:
    """One server process under Valgrind, started on port 0; stopped by its PID."""

    def __init__(self, name: str, out: Path, args: list[str], env: dict | None = None,
                 extra: list[str] | None = None, tls: bool = False) -> None:
        self.name = name
        self.out = out
        self.log_pattern = out / f"{name}.%p.vg.log"
        for old in out.glob(f"{name}.*.vg.log"):
            old.unlink()
        self.stderr_path = out / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.clients = contextlib.ExitStack()  # WebSocket clients kept open through shutdown
        self.open_client = None
        cmd = [*VALGRIND, *(extra or []), f"--log-file={self.log_pattern}", *args]
        # Its own process group (id = its PID), so that a server which does not stop is killed
        # with the children it forked (fork_after_start), and nothing else.
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        try:
            self.port = read_listening_port(self.proc, name, READY_TIMEOUT)
        except NotReady:
            self.kill()
            raise
        self.base = f"http{'s' if tls else ''}://127.0.0.1:{self.port}"
        self.ws = f"ws{'s' if tls else ''}://127.0.0.1:{self.port}"

    def keep_open(self, url: str, **kw):
        """A WebSocket client that stays connected until the server is stopped."""
        self.open_client = self.clients.enter_context(ws_connect(url, **kw))
        return self.open_client

    def wait_stderr(self, pattern: str, start: int) -> str:
        """The first match of `pattern` in the stderr written after offset `start`."""
        deadline = time.monotonic() + CLIENT_TIMEOUT
        while time.monotonic() < deadline:
            self._stderr.flush()
            m = re.search(pattern, self.stderr_path.read_text(errors="replace")[start:])
            if m:
                return m.group(0)
            time.sleep(0.05)
        raise Failed(f"no {pattern!r} on stderr within {CLIENT_TIMEOUT}s")

    def stderr_len(self) -> int:
        return len(self.stderr_path.read_text(errors="replace"))

    def kill(self) -> None:
        self.clients.close()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()

    def logs(self) -> list[Leaks]:
        prefix = self.name + "."
        paths = sorted(self.log_pattern.parent.glob(f"{prefix}*.vg.log"))
        return [parse_log(p) for p in paths]


def curl(url: str, *args: str, data: bytes | None = None) -> tuple[int, dict, bytes]:
    """One request through curl: status, headers (lower-case names), body."""
    cmd = ["curl", "-sS", "--http1.1", "--max-time", str(int(CLIENT_TIMEOUT)), "-i", *args]
    if data is not None:
        cmd += ["--data-binary", "@-"]
    cmd.append(url)
    out = subprocess.run(cmd, input=data, capture_output=True, timeout=CLIENT_TIMEOUT + 10)
    expect(out.returncode == 0, f"curl {url}: {out.stderr.decode(errors='replace')}")
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):  # a 100 Continue before the real answer
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def raw_http(port: int, data: bytes) -> bytes:
    """Raw bytes on a new connection; everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def expect_close(ws, code: int) -> None:
    """Reads until the server closes; checks the close code it sent."""
    deadline = time.monotonic() + CLIENT_TIMEOUT
    try:
        while True:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as e:
        expect(e.rcvd is not None and e.rcvd.code == code, f"close code {e.rcvd}, want {code}")
    except TimeoutError:
        raise Failed(f"no close {code} within {CLIENT_TIMEOUT}s")


def ws_connect(url: str, **kw):
    # wss goes through wss_client: the sync client's reader thread races the caller on the TLS
    # socket (see tests/pysupport/wss_client.py).
    opener = wss_connect if url.startswith("wss:") else connect
    return opener(url, open_timeout=CLIENT_TIMEOUT, close_timeout=CLIENT_TIMEOUT,
                  max_size=2**20, **kw)


# --------------------------------------------------------------------------------------------
# The programs
# --------------------------------------------------------------------------------------------


def drive_hello(srv: Served) -> str:
    n = 0
    status, headers, body = curl(srv.base + "/")
    expect((status, body) == (200, b"Hello, World!"), f"GET /: {status} {body!r}")
    n += 1
    status, _, body = curl(srv.base + "/hello/world")
    expect((status, body) == (200, b'{"hello":"world"}'), f"GET /hello/world: {status} {body!r}")
    n += 1
    status, _, body = curl(srv.base + "/hello/a%22b%5Cc%0Ad%C3%A9")
    expect(status == 200 and json.loads(body) == {"hello": 'a"b\\c\nd\u00e9'}, f"{body!r}")
    n += 1
    status, _, body = curl(srv.base + "/hello/%FF")  # not UTF-8 once decoded
    expect(status == 400, f"GET /hello/%FF: {status}")
    n += 1
    status, _, body = curl(srv.base + "/user/7?q=x+y", "-H", "X-Req-Id: r1")
    expect(json.loads(body) == {"id": "7", "q": "x y", "req": "r1"}, f"/user/7: {body!r}")
    n += 1
    payload = bytes(range(256)) * 3  # 768 bytes with NULs: echoed exactly
    status, headers, body = curl(srv.base + "/echo", "-H", "Content-Type: application/x-bin",
                                 data=payload)
    expect(status == 200 and body == payload, f"POST /echo: {status}, {len(body)} bytes")
    expect(headers.get("content-type") == "application/x-bin", f"echo headers {headers}")
    n += 1
    status, _, body = curl(srv.base + "/echo", data=b"x" * 5000)  # HS_MAX_BODY_BYTES=4096
    expect(status == 413, f"POST /echo 5000 B: {status}")
    n += 1
    status, _, body = curl(srv.base + "/echo", "-H", "Transfer-Encoding: chunked",
                           data=b"y" * 3000)
    expect(status == 200 and body == b"y" * 3000, f"chunked POST: {status}")
    n += 1
    status, _, body = curl(srv.base + "/nothing/here")
    expect((status, body) == (404, b"404 Not Found"), f"GET /nothing/here: {status} {body!r}")
    n += 1
    status, _, _ = curl(srv.base + "/", "-X", "DELETE")
    expect(status == 404, f"DELETE /: {status}")
    n += 1
    status, _, body = curl(srv.base + "/", "-H", "X-Big: " + "h" * 9000)  # over 8192 B of head
    expect(status == 431, f"9000-byte header: {status}")
    n += 1
    answer = raw_http(srv.port, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")  # no Host
    expect(answer.startswith(b"HTTP/1.1 400"), f"no Host: {answer[:40]!r}")
    n += 1
    answer = raw_http(srv.port, b"BROKEN\r\n\r\n")
    expect(answer.startswith(b"HTTP/1.1 400"), f"malformed: {answer[:40]!r}")
    n += 1
    # Keep-alive: three requests on one connection, then the client vanishes mid-request.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=CLIENT_TIMEOUT) as s:
        req = b"GET /hello/k HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(req * 3)
        got = b""
        while got.count(b'{"hello":"k"}') < 3:
            chunk = s.recv(65536)
            expect(bool(chunk), "keep-alive connection closed early")
            got += chunk
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf")
    n += 4
    return f"{n} HTTP requests (200, 400, 404, 413, 431, keep-alive, a vanished client)"


def drive_ws_echo(srv: Served) -> str:
    messages = 0
    status, _, _ = curl(srv.base + "/")
    expect(status == 404, f"GET / on ws_echo: {status}")
    with ws_connect(srv.ws + "/ws") as a, ws_connect(srv.ws + "/ws/room/1") as b:
        for i in range(20):
            a.send(f"text {i}")
            expect(a.recv(timeout=CLIENT_TIMEOUT) == f"text {i}", "text echo")
            b.send(bytes([i]) * (i * 100 + 1))
            expect(b.recv(timeout=CLIENT_TIMEOUT) == bytes([i]) * (i * 100 + 1), "binary echo")
            messages += 2
        big = "é" * 40000  # 80 kB of UTF-8 in one message
        a.send(big)
        expect(a.recv(timeout=CLIENT_TIMEOUT) == big, "80 kB echo")
        messages += 1
        b.close(1000, "done")
    # One client stays connected through shutdown: the caller stops the server while it waits.
    srv.keep_open(srv.ws + "/ws")
    srv.open_client.send("before shutdown")
    expect(srv.open_client.recv(timeout=CLIENT_TIMEOUT) == "before shutdown", "last echo")
    messages += 1
    return f"1 HTTP request (404), {messages} WebSocket messages echoed, 3 clients"


def after_stop_close_1001(srv: Served) -> None:
    """The client left open got Close 1001 (going away) from the graceful shutdown."""
    expect_close(srv.open_client, 1001)


def drive_chat(srv: Served) -> str:
    status, headers, body = curl(srv.base + "/")
    expect(status == 200 and b"<title>httpsock chat</title>" in body, f"GET /: {status}")

    def next_of(ws, kind):
        deadline = time.monotonic() + CLIENT_TIMEOUT
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if msg["type"] == kind:
                return msg
        raise Failed(f"no {kind} message")

    sent = 0
    with ws_connect(srv.ws + "/chat") as a:
        me_a = next_of(a, "welcome")["id"]
        with ws_connect(srv.ws + "/chat") as b:
            me_b = next_of(b, "welcome")["id"]
            expect(next_of(a, "join")["id"] == me_b, "join broadcast")
            for i in range(10):
                a.send(f'line {i} "quoted"\n')
                sent += 1
                for ws in (a, b):  # broadcast to b, echo to a
                    m = next_of(ws, "message")
                    expect(m == {"type": "message", "from": me_a, "text": f'line {i} "quoted"\n'},
                           f"message {m}")
            tick = next_of(a, "tick")  # the 1-second timer
            expect(tick["clients"] == 2, f"tick {tick}")
            b.send(b"\x00binary")  # refused: close 1003
            expect_close(b, 1003)
        expect(next_of(a, "leave")["id"] == me_b, "leave broadcast")
    # A client open at shutdown.
    next_of(srv.keep_open(srv.ws + "/chat"), "welcome")
    return f"1 page, {sent} chat lines broadcast, 3 clients, timer ticks, a 1003 refusal"


def drive_fork(srv: Served) -> str:
    pids = set()
    for _ in range(12):
        status, _, body = curl(srv.base + "/", "-H", "Connection: close")
        expect(status == 200 and body.isdigit(), f"GET /: {status} {body!r}")
        pids.add(int(body))
    expect(len(pids) >= 1, "no child answered")
    return f"12 HTTP requests answered by {len(pids)} of 2 forked children"


# ---- over TLS -----------------------------------------------------------------------------------

CERTS: dict[str, str] = {}  # tests/tls/certs.py's set, made in main() under the output directory


def tls_env(out: Path) -> dict:
    """Copies of the default certificate (so that a reload can be failed by deleting the key)
    and the test CA as an optional client CA."""
    live = out / "tls-live"
    live.mkdir(exist_ok=True)
    shutil.copy(CERTS["server"], live / "cert.pem")
    shutil.copy(CERTS["server_key"], live / "key.pem")
    return {"HS_TLS_CERT": str(live / "cert.pem"), "HS_TLS_KEY": str(live / "key.pem"),
            "HS_TLS_CLIENT_CA": CERTS["ca"], "HS_TLS_CLIENT_REQUIRED": "0"}


def drive_hello_tls(srv: Served) -> str:
    ca = ["--cacert", CERTS["ca"]]
    n = 0
    for proto in ("--http1.1", "--http2"):
        status, _, body = curl(srv.base + "/whoami", *ca, proto)
        want = "HTTP/2.0" if proto == "--http2" else "HTTP/1.1"
        expect(status == 200 and json.loads(body) == {"version": want, "secure": True},
               f"{proto} /whoami: {status} {body!r}")
        status, _, body = curl(srv.base + "/user/7?q=x+y", *ca, proto, "-H", "X-Req-Id: r1")
        expect(json.loads(body) == {"id": "7", "q": "x y", "req": "r1"}, f"/user/7: {body!r}")
        payload = bytes(range(256)) * 3
        status, headers, body = curl(srv.base + "/echo", *ca, proto, "-H",
                                     "Content-Type: application/x-bin", data=payload)
        expect(status == 200 and body == payload, f"{proto} POST /echo: {status}")
        status, _, _ = curl(srv.base + "/echo", *ca, proto, data=b"x" * 5000)
        expect(status == 413, f"{proto} POST 5000 B: {status}")
        status, _, _ = curl(srv.base + "/nothing", *ca, proto)
        expect(status == 404, f"{proto} 404: {status}")
        status, _, _ = curl(srv.base + "/", *ca, proto, "-H", "X-Big: " + "h" * 9000)
        expect(status == 431, f"{proto} 9000-byte header: {status}")
        n += 6
    status, _, _ = curl(srv.base + "/", *ca, "--cert", CERTS["client"], "--key",
                        CERTS["client_key"])
    expect(status == 200, f"with a client certificate: {status}")
    n += 1
    # an untrusted client and a rogue client certificate fail their handshakes
    for args in ([], ["--cacert", CERTS["ca"], "--cert", CERTS["rogue"], "--key",
                      CERTS["rogue_key"]]):
        out = subprocess.run(["curl", "-sS", "--max-time", str(int(CLIENT_TIMEOUT)), *args,
                              srv.base + "/"], capture_output=True, timeout=CLIENT_TIMEOUT + 10)
        expect(out.returncode != 0, f"curl {args} should have failed")
    # plain HTTP and garbage on the TLS port: no 200, closed (a reset counts as closed)
    for data in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256))):
        try:
            answer = raw_http(srv.port, data)
        except ConnectionResetError:
            answer = b""
        expect(not answer.startswith(b"HTTP/1.1 200"), f"TLS port answered {answer[:40]!r}")
    # a reload, then a failed one (key deleted), then the old certificate still serves
    mark = srv.stderr_len()
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_stderr(r"reloaded", mark)
    (srv.out / "tls-live" / "key.pem").unlink()
    mark = srv.stderr_len()
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_stderr(r"reload failed: [^\n]*key\.pem", mark)
    status, _, _ = curl(srv.base + "/", *ca, "--http2")
    expect(status == 200, f"after a failed reload: {status}")
    n += 1
    return f"{n} HTTPS requests (HTTP/1.1 and HTTP/2), mTLS, 4 refused handshakes, 2 reloads"


def drive_ws_echo_tls(srv: Served) -> str:
    ctx = ssl.create_default_context(cafile=CERTS["ca"])
    messages = 0
    with ws_connect(srv.ws + "/ws", ssl=ctx) as a:
        for i in range(20):
            a.send(f"text {i}")
            expect(a.recv(timeout=CLIENT_TIMEOUT) == f"text {i}", "text echo")
            a.send(bytes([i]) * (i * 100 + 1))
            expect(a.recv(timeout=CLIENT_TIMEOUT) == bytes([i]) * (i * 100 + 1), "binary echo")
            messages += 2
        big = "é" * 40000
        a.send(big)
        expect(a.recv(timeout=CLIENT_TIMEOUT) == big, "80 kB echo")
        messages += 1
    srv.keep_open(srv.ws + "/ws", ssl=ctx)
    srv.open_client.send("before shutdown")
    expect(srv.open_client.recv(timeout=CLIENT_TIMEOUT) == "before shutdown", "last echo")
    return f"{messages + 1} wss messages echoed, 2 clients"


def drive_rooms(srv: Served) -> str:
    import urllib.request
    from websockets.exceptions import InvalidStatus
    try:
        ws_connect(srv.ws + "/rooms/red?token=bad").close()
        raise Failed("a bad token was admitted")
    except InvalidStatus as e:
        expect(e.response.status_code == 401, f"bad token: {e.response.status_code}")
    sent = 0
    with ws_connect(srv.ws + "/rooms/red?token=ann") as a, \
            ws_connect(srv.ws + "/rooms/red?token=bob") as b, \
            ws_connect(srv.ws + "/rooms/presence-x?token=ann") as p1, \
            ws_connect(srv.ws + "/rooms/presence-x?token=ann") as p2, \
            ws_connect(srv.ws + "/rooms/blue") as anon:
        for i in range(10):
            a.send(f"line {i}")
            sent += 1
            for ws in (a, b):
                expect(ws.recv(timeout=CLIENT_TIMEOUT) == f"line {i}", "published to red")
        anon.send("echo")
        expect(anon.recv(timeout=CLIENT_TIMEOUT) == "echo", "anonymous echo")
        body = urllib.request.urlopen(srv.base + "/presence?channel=presence-x",
                                      timeout=CLIENT_TIMEOUT).read()
        expect(body == b'["ann"]', f"presence {body!r}")
        body = urllib.request.urlopen(srv.base + "/members?channel=red",
                                      timeout=CLIENT_TIMEOUT).read()
        expect(len(json.loads(body)) == 2, f"members {body!r}")
        p1.close()
        p2.send("x")
        expect(p2.recv(timeout=CLIENT_TIMEOUT) == "x", "presence channel publish")
    srv.keep_open(srv.ws + "/rooms/red?token=zed")
    return f"{sent} messages published to 2 members, presence, a 401, 5 clients"


def drive_socketio(srv: Served) -> str:
    import socketio
    import urllib.error
    import urllib.request
    try:
        urllib.request.urlopen(srv.base + "/socket.io/?EIO=4&transport=polling&sid=nope",
                               timeout=CLIENT_TIMEOUT)
        raise Failed("an unknown session was answered")
    except urllib.error.HTTPError as e:
        expect(e.code == 400, f"unknown sid: {e.code}")
    bad = socketio.Client(reconnection=False)
    try:
        bad.connect(srv.base, auth={"token": "bad"}, wait_timeout=CLIENT_TIMEOUT)
        raise Failed("a bad token was admitted")
    except socketio.exceptions.ConnectionError:
        pass
    calls = 0
    for transports in (["polling", "websocket"], ["websocket"]):
        c = socketio.Client(reconnection=False)
        asked = []
        c.on("question", lambda *a: asked.append(a) or "yes")
        got = []
        c.on("news", lambda *a: got.append(a))
        c.connect(srv.base, transports=transports, wait_timeout=CLIENT_TIMEOUT)
        for i in range(5):
            r = c.call("echo", (i, "two", {"three": [3]}), timeout=CLIENT_TIMEOUT)
            expect(r == (i, "two", {"three": [3]}), f"echo ack {r!r}")
            calls += 1
        r = c.call("echo", b"\x00\x01" * 500, timeout=CLIENT_TIMEOUT)
        expect(r == b"\x00\x01" * 500, "binary echo")
        expect(c.call("join", "red", timeout=CLIENT_TIMEOUT) is True, "join")
        c.emit("to", ("red", "news", "hello"))
        c.emit("ask", ("question", 1))
        deadline = time.monotonic() + CLIENT_TIMEOUT
        while (not got or not asked) and time.monotonic() < deadline:
            c.sleep(0.05)
        expect(got == [("hello",)], f"room emit {got!r}")
        expect(asked == [(1,)], f"server ask {asked!r}")
        c.disconnect()
    keep = socketio.Client(reconnection=False)
    keep.connect(srv.base, transports=["websocket"], wait_timeout=CLIENT_TIMEOUT)
    srv.clients.callback(keep.disconnect)
    return f"{calls} acked events on 2 transports, binary, a room, an ask, a refusal, a 400"


@dataclass
class ServerCase:
    name: str
    binary: str
    drive: object
    stop_signal: int
    env: dict = field(default_factory=dict)
    after_stop: object = None
    extra: list = field(default_factory=list)
    tls: bool = False  # env gets tls_env(): certificates, listener https/wss


SERVER_CASES = [
    ServerCase("hello", "hello", drive_hello, signal.SIGTERM,
               env={"HS_MAX_BODY_BYTES": "4096", "HS_MAX_HEADER_BYTES": "8192",
                    "HS_IDLE_MS": "60000"}),
    ServerCase("ws_echo", "ws_echo", drive_ws_echo, signal.SIGTERM,
               after_stop=after_stop_close_1001),
    ServerCase("chat", "chat", drive_chat, signal.SIGINT, after_stop=after_stop_close_1001),
    ServerCase("rooms", "rooms", drive_rooms, signal.SIGTERM, after_stop=after_stop_close_1001),
    ServerCase("socketio", "socketio", drive_socketio, signal.SIGTERM),
    # fork() needs no --trace-children (no exec): Valgrind follows the children and writes a log
    # per process (%p in --log-file). --child-silent-after-fork=no is the default: kept explicit.
    ServerCase("fork_after_start", "fork_after_start", drive_fork, signal.SIGTERM,
               extra=["--child-silent-after-fork=no"]),
    ServerCase("hello_tls", "hello", drive_hello_tls, signal.SIGTERM,
               env={"HS_MAX_BODY_BYTES": "4096", "HS_MAX_HEADER_BYTES": "8192",
                    "HS_IDLE_MS": "60000"}, tls=True, extra=TLS_MEMCHECK),
    ServerCase("ws_echo_tls", "ws_echo", drive_ws_echo_tls, signal.SIGTERM,
               after_stop=after_stop_close_1001, tls=True, extra=TLS_MEMCHECK),
]


def run_server_case(case: ServerCase, out: Path) -> Result:
    result = Result(case.name)
    binary = BUILD / case.binary
    start = time.monotonic()
    srv = None
    try:
        env = {**case.env, **(tls_env(out) if case.tls else {})}
        srv = Served(case.name, out, [str(binary), "0"], env=env, extra=case.extra, tls=case.tls)
        result.served = case.drive(srv)
        # Reading the stop answer (close 1001) must overlap the exit, so signal first.
        srv.proc.send_signal(case.stop_signal)
        if case.after_stop:
            case.after_stop(srv)
        try:
            result.exit_code = srv.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            result.problems.append(f"no exit within {EXIT_TIMEOUT}s of the signal")
    except (Failed, NotReady, ConnectionClosed, TimeoutError, OSError, json.JSONDecodeError,
            subprocess.TimeoutExpired) as e:
        result.problems.append(f"client: {type(e).__name__}: {e}")
    finally:
        if srv is not None:
            srv.kill()
            result.logs = srv.logs()
    result.seconds = time.monotonic() - start
    result.judge()
    return result


def run_abi_alloc(out: Path) -> Result:
    result = Result("abi_alloc")
    log = out / "abi_alloc.%p.vg.log"
    for old in out.glob("abi_alloc.*.vg.log"):
        old.unlink()
    start = time.monotonic()
    try:
        proc = subprocess.run([*VALGRIND, f"--log-file={log}", str(BUILD / "abi_alloc")],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=400)
        result.exit_code = proc.returncode
        (out / "abi_alloc.stdout").write_bytes(proc.stdout)
        (out / "abi_alloc.stderr").write_bytes(proc.stderr)
        text = proc.stdout.decode(errors="replace")
        served = re.findall(r"abi_alloc: (served .*|2 worker threads.*|\d+ checks.*)", text)
        result.served = "; ".join(served)
        if proc.returncode not in (0, VALGRIND_ERROR):
            result.problems.append("abi_alloc's own checks failed: "
                                   + proc.stderr.decode(errors="replace")[-2000:])
    except subprocess.TimeoutExpired:
        result.problems.append("abi_alloc did not finish within 400 s")
    result.logs = [parse_log(Path(p)) for p in sorted(glob.glob(str(out / "abi_alloc.*.vg.log")))]
    result.seconds = time.monotonic() - start
    result.judge()
    return result


def newest_test_binary(name: str) -> Path | None:
    """target/release/deps/<name>-<hash>: the newest executable one (cargo test --no-run)."""
    found = [Path(p) for p in glob.glob(str(DEPS / f"{name}-*"))
             if os.access(p, os.X_OK) and not p.endswith(".d") and Path(p).is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def run_rust(name: str, out: Path) -> Result:
    result = Result(f"rust:{name}", reachable_limit=None)
    binary = newest_test_binary(name)
    if binary is None:
        result.problems.append(f"no test binary {DEPS}/{name}-*: run cargo test --release --no-run")
        return result
    for old in out.glob(f"rust-{name}.*.vg.log"):
        old.unlink()
    args = [str(binary), "--test-threads=1"]
    skips = RUST_SKIPS.get(name, {})
    if skips:
        args.append("--exact")  # --skip NAME then matches that test only
    for test in skips:
        args += ["--skip", test]
    start = time.monotonic()
    try:
        proc = subprocess.run(
            # Tests spawn clients (curl, python3) with fork+exec: a child between the two has
            # nothing of ours to check, and its log would end at exec without a summary.
            [*VALGRIND, "--child-silent-after-fork=yes", f"--log-file={out}/rust-{name}.%p.vg.log",
             *args],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=RUST_TIMEOUT,
            cwd=ROOT,
        )
        result.exit_code = proc.returncode
        (out / f"rust-{name}.stdout").write_bytes(proc.stdout)
        (out / f"rust-{name}.stderr").write_bytes(proc.stderr)
        m = re.search(r"test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored; "
                      r"\d+ measured; (\d+) filtered out", proc.stdout.decode(errors="replace"))
        if m:
            result.served = f"{m.group(2)} tests passed, {m.group(3)} failed, " \
                            f"{m.group(5)} skipped"
            if m.group(3) != "0":
                result.problems.append(f"{m.group(3)} tests failed under Valgrind")
        else:
            result.problems.append("no test result line")
    except subprocess.TimeoutExpired:
        result.problems.append(f"did not finish within {RUST_TIMEOUT:.0f}s")
    result.logs = [parse_log(Path(p)) for p in sorted(glob.glob(str(out / f"rust-{name}.*.vg.log")))]
    result.seconds = time.monotonic() - start
    result.judge()
    return result


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="program names (hello, rust:http, ...)")
    parser.add_argument("--out", default=str(ROOT / "target" / "sanitize"),
                        help="where the Valgrind logs go")
    opts = parser.parse_args()
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    CERTS.update(make_certs(out / "certs"))

    names = [c.name for c in SERVER_CASES] + ["abi_alloc"] + [f"rust:{t}" for t in RUST_TESTS]
    chosen = opts.only or names
    unknown = set(chosen) - set(names)
    if unknown:
        parser.error(f"unknown program(s) {sorted(unknown)}; known: {names}")

    results = []
    began = time.monotonic()
    for name in names:
        if name not in chosen:
            continue
        print(f"sanitize: {name} under Valgrind ...", flush=True)
        if name == "abi_alloc":
            r = run_abi_alloc(out)
        elif name.startswith("rust:"):
            r = run_rust(name[5:], out)
        else:
            r = run_server_case(next(c for c in SERVER_CASES if c.name == name), out)
        results.append(r)
        print(f"sanitize: {name}: {'ok' if r.ok else 'FAILED'} in {r.seconds:.1f}s"
              + ("".join(f"\n    - {p}" for p in r.problems)), flush=True)

    total = time.monotonic() - began
    header = (f"{'program':<18} {'result':<6} {'procs':>5} {'errors':>6} {'def.lost':>9} "
              f"{'ind.lost':>9} {'poss.lost':>9} {'reachable':>10} {'fds':>4} {'secs':>6}  served")
    print("\nsanitize summary (bytes; logs in " + str(out) + ")")
    print(header)
    for r in results:
        d = r.as_dict()
        print(f"{d['name']:<18} {'ok' if d['ok'] else 'FAIL':<6} {d['processes']:>5} "
              f"{d['errors']:>6} {d['definitely_lost']:>9} {d['indirectly_lost']:>9} "
              f"{d['possibly_lost']:>9} {d['still_reachable']:>10} {d['fds_leaked']:>4} "
              f"{d['seconds']:>6.1f}  {d['served']}")
    print(f"total {total:.1f}s")
    (out / "summary.json").write_text(json.dumps(
        {"seconds": round(total, 1), "valgrind": VALGRIND, "skips": RUST_SKIPS,
         "results": [r.as_dict() for r in results]}, indent=2) + "\n")
    failed = [r.name for r in results if not r.ok]
    if failed:
        print("sanitize: FAILED: " + ", ".join(failed))
        return 1
    print(f"sanitize: all {len(results)} programs clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
