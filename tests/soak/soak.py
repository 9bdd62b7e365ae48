#!/usr/bin/env python3
"""`make soak`: a bounded mixed HTTP + WebSocket load through the PHP server (tests/soak/server.php,
simultaneous mode, 2 workers), with every answer and every WebSocket message checked, and the
server's memory and descriptors sampled from /proc.

    SOAK_SECONDS=300 python3 tests/soak/soak.py [--json PATH] [--write-docs]

Load (all on 127.0.0.1, paced so that the load generator stays light on a shared 2-core machine):
- keep-alive HTTP clients: GET /json/{id}?q= with a header (the JSON must echo all three), POST
  /echo (the body must come back byte for byte), GET /big/{kib}, a 404 path and a handler that
  throws (500), sometimes three requests pipelined in one write; each connection is closed and
  replaced after 20-200 requests;
- `Connection: close` HTTP clients: the same mix, one connection per request, and the server must
  close it after the answer;
- WebSocket clients: sequence-numbered echoes (each must come back, in order), and every tenth
  message a broadcast `b:TAG:SEQ` that every client of every worker receives; each worker also
  broadcasts `t:PID:SEQ` ticks. Per sender (TAG or worker PID), each client checks that the
  sequence numbers it receives are contiguous from the first one it saw (clients join mid-stream),
  and a sender must receive its own broadcasts from 1 on. Each connection lives 5-20 s, then
  waits for its last echo and its own last broadcast, closes (1000) and reconnects: churn.

Samples, every SOAK_SAMPLE_SECONDS (5): RSS (VmRSS summed over the server process and its
workers) and open descriptors (entries of /proc/PID/fd, summed the same way).

Pass criteria (all must hold; the exit code is 0 only then):
1. zero errors: every HTTP answer as expected, no timeout, no exception, no unexpected line on
   the server's stderr, the same worker PIDs from start to end;
2. zero lost, reordered or duplicated WebSocket messages (echoes, broadcasts, ticks), and every
   client that lived long enough saw the ticks of every worker (cross-worker broadcast);
3. every kind of traffic happened (each route answered, echoes, broadcasts and ticks received);
4. descriptors: at most baseline + 2 per client during the load, and back to the baseline once
   every client has closed (baseline: idle, after a warm-up pass over every route);
5. RSS flat: the mean of the last third of the load's samples is at most RSS_TOLERANCE (5 %) above
   the mean of the second third (the first third is warm-up). Enforced for runs of at least
   RSS_MIN_SECONDS (60 s); shorter runs (the smoke test) report it only;
6. SIGTERM to the server: it exits with code 0 within STOP_TIMEOUT seconds, no worker left.

Writes a JSON result (default tests/soak/last.json) and, with --write-docs, replaces the section
between the soak markers of docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from websockets.asyncio.client import connect as ws_connect

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "pysupport"))
from ready import NotReady, read_listening_port  # noqa: E402

SECONDS = float(os.environ.get("SOAK_SECONDS", "300"))
WORKERS = int(os.environ.get("SOAK_WORKERS", "2"))
SAMPLE_SECONDS = float(os.environ.get("SOAK_SAMPLE_SECONDS", "5"))
SEED = int(os.environ.get("SOAK_SEED", "4"))

KEEPALIVE_CLIENTS = 3
CLOSE_CLIENTS = 2
WS_CLIENTS = 6
HTTP_PAUSE = 0.01  # seconds between two requests of a keep-alive client
CLOSE_PAUSE = 0.02  # ... of a Connection: close client
WS_PAUSE = 0.02  # seconds between two messages of a WebSocket client
BROADCAST_EVERY = 10  # every tenth WebSocket message is a broadcast
WS_LIFE = (5.0, 20.0)  # seconds a WebSocket connection lives before it reconnects
REQUEST_TIMEOUT = 10.0
DRAIN_TIMEOUT = 10.0  # for a WebSocket client's last echo and broadcast
READY_TIMEOUT = 20.0
SETTLE_TIMEOUT = 15.0  # for the descriptors to come back to the baseline
STOP_TIMEOUT = 15.0
RSS_TOLERANCE = 0.05
RSS_MIN_SECONDS = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

BIG_PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/\n"
ERROR_500 = b"An error occurred on the server."
NOT_FOUND = b"404 Not Found"
DOC = ROOT / "docs" / "RELIABILITY.md"
DOC_BEGIN = "<!-- soak:begin (written by tests/soak/soak.py --write-docs) -->"
DOC_END = "<!-- soak:end -->"


class Stats:
    def __init__(self) -> None:
        self.count: collections.Counter[str] = collections.Counter()
        self.errors = 0
        self.messages: list[str] = []

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.messages) < 50:
            self.messages.append(f"{time.strftime('%H:%M:%S')} {what}")
        if self.errors <= 10:
            print(f"soak: ERROR {what}", file=sys.stderr, flush=True)


S = Stats()
T0 = 0.0  # monotonic time of the start; sample times are relative to it


# ---- the server process ------------------------------------------------------------------------


class Server:
    """tests/soak/server.php on a free port; its stderr is read by a thread (worker readiness,
    anything unexpected)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["php", str(HERE / "server.php"), "0", str(WORKERS)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.ready_pids: list[int] = []
        self.unexpected: list[str] = []
        self._all_ready = threading.Event()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        try:
            self.port = read_listening_port(self.proc, "soak server", READY_TIMEOUT)
        except NotReady as e:
            self.kill()
            sys.exit(f"soak: {e}")
        if not self._all_ready.wait(READY_TIMEOUT):
            self.kill()
            sys.exit(f"soak: {len(self.ready_pids)} of {WORKERS} workers ready within {READY_TIMEOUT}s: {self.unexpected}")

    def _read_stderr(self) -> None:
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith("soak worker-ready "):
                self.ready_pids.append(int(line.split()[-1]))
                if len(self.ready_pids) >= WORKERS:
                    self._all_ready.set()
            else:
                self.unexpected.append(line)

    def tree(self) -> list[int]:
        """The server process and its descendants, from /proc."""
        pids, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            for path in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    todo.extend(int(k) for k in path.read_text().split())
                except OSError:
                    pass
        return pids

    def sample(self) -> dict:
        rss = fds = ticks = 0
        pids = self.tree()
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                rss += int(next(l for l in status.splitlines() if l.startswith("VmRSS:")).split()[1])
                fds += len(os.listdir(f"/proc/{pid}/fd"))
                stat = Path(f"/proc/{pid}/stat").read_text()
                utime, stime = stat[stat.rindex(")") + 2:].split()[11:13]
                ticks += int(utime) + int(stime)
            except (OSError, StopIteration, ValueError):
                pass  # a process that ended between the listing and the read
        return {"t": round(time.monotonic() - T0, 1), "rss_kib": rss, "fds": fds,
                "cpu_s": round(ticks / CLK_TCK, 2), "workers": sorted(p for p in pids if p != self.proc.pid)}

    def stop(self) -> dict:
        """SIGTERM to the PID started here; bounded wait; SIGKILL only if it did not end."""
        workers = [p for p in self.tree() if p != self.proc.pid]
        t = time.monotonic()
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
            killed = False
        except subprocess.TimeoutExpired:
            self.kill()
            code, killed = self.proc.returncode, True
        left = [p for p in workers if _alive(p)]
        return {"exit_code": code, "seconds": round(time.monotonic() - t, 2), "killed": killed,
                "workers_left": left}

    def kill(self) -> None:
        if self.proc.poll() is None:
            workers = [p for p in self.tree() if p != self.proc.pid]
            self.proc.kill()
            self.proc.wait(timeout=5)
            for pid in workers:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


# ---- HTTP ----------------------------------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.read()
    return status, headers, body


def make_request(rng: random.Random, cid: str, n: int, close: bool) -> tuple[str, bytes, int, bytes]:
    """One request of the mix: (kind, wire bytes, expected status, expected body)."""
    kind = rng.choices(["json", "echo", "big", "missing", "throw"], weights=[50, 20, 5, 15, 10])[0]
    conn = "Connection: close\r\n" if close else ""
    rid = f"{cid}-{n}"
    if kind == "json":
        q, t = f"{rng.getrandbits(48):x}", f"{rng.getrandbits(48):x}"
        wire = f"GET /json/{rid}?q={q} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Soak: {t}\r\n{conn}\r\n".encode()
        body = json.dumps({"id": rid, "q": q, "t": t, "m": "get"}, separators=(",", ":")).encode()
        return kind, wire, 200, body
    if kind == "echo":
        body = rng.randbytes(rng.choice([0, 1, 100, 1000, 4096, 16384]))
        wire = (f"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {len(body)}\r\n{conn}\r\n").encode() + body
        return kind, wire, 200, body
    if kind == "big":
        kib = rng.choice([1, 8, 64])
        wire = f"GET /big/{kib} HTTP/1.1\r\nHost: 127.0.0.1\r\n{conn}\r\n".encode()
        return kind, wire, 200, BIG_PATTERN * 16 * kib
    if kind == "missing":
        wire = f"GET /missing/{rid} HTTP/1.1\r\nHost: 127.0.0.1\r\n{conn}\r\n".encode()
        return kind, wire, 404, NOT_FOUND
    wire = f"GET /throw HTTP/1.1\r\nHost: 127.0.0.1\r\n{conn}\r\n".encode()
    return kind, wire, 500, ERROR_500


def check(kind: str, status: int, body: bytes, want_status: int, want_body: bytes) -> None:
    if status != want_status or body != want_body:
        S.error(f"http {kind}: got {status} {body[:120]!r} ({len(body)} B), "
                f"want {want_status} {want_body[:120]!r} ({len(want_body)} B)")
    else:
        S.count[f"http_{kind}"] += 1


async def keepalive_client(port: int, idx: int, stop: asyncio.Event) -> None:
    rng = random.Random(SEED * 1000 + idx)
    n = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), REQUEST_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            S.error(f"keep-alive client {idx}: connect: {e!r}")
            await asyncio.sleep(0.5)
            continue
        S.count["http_connections"] += 1
        try:
            for _ in range(rng.randint(20, 200)):
                if stop.is_set():
                    break
                batch = [make_request(rng, f"k{idx}", n + i, False) for i in range(3 if rng.random() < 0.1 else 1)]
                n += len(batch)
                writer.write(b"".join(wire for _, wire, _, _ in batch))
                if len(batch) > 1:
                    S.count["http_pipelined_batches"] += 1
                for kind, _, want_status, want_body in batch:
                    status, headers, body = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT)
                    check(kind, status, body, want_status, want_body)
                    if headers.get("connection", "").lower() == "close":
                        S.error(f"keep-alive client {idx}: the server closes after {kind}")
                await asyncio.sleep(HTTP_PAUSE)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as e:
            S.error(f"keep-alive client {idx}: {e!r}")
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


async def close_client(port: int, idx: int, stop: asyncio.Event) -> None:
    rng = random.Random(SEED * 2000 + idx)
    n = 0
    while not stop.is_set():
        kind, wire, want_status, want_body = make_request(rng, f"c{idx}", n, True)
        n += 1
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), REQUEST_TIMEOUT)
            S.count["http_connections"] += 1
            writer.write(wire)
            status, _, body = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT)
            check(kind, status, body, want_status, want_body)
            rest = await asyncio.wait_for(reader.read(1), REQUEST_TIMEOUT)
            if rest != b"":
                S.error(f"close client {idx}: {rest!r} after the answer instead of EOF")
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as e:
            S.error(f"close client {idx}: {kind}: {e!r}")
        finally:
            if writer is not None:
                writer.close()
                try:
                    await writer.wait_closed()
                except OSError:
                    pass
        await asyncio.sleep(CLOSE_PAUSE)


# ---- WebSocket ---------------------------------------------------------------------------------


class Sequences:
    """Per sender: the last sequence number seen; contiguous from the first one seen."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.last: dict[str, int] = {}

    def see(self, sender: str, seq: int, where: str) -> None:
        last = self.last.get(sender)
        self.last[sender] = max(seq, last or 0)
        if last is None or seq == last + 1:
            S.count[f"ws_{self.what}_received"] += 1
        elif seq > last + 1:
            S.count[f"ws_{self.what}_lost"] += seq - last - 1
            S.error(f"{where}: {self.what} from {sender}: {seq} after {last} ({seq - last - 1} lost)")
        else:
            S.count[f"ws_{self.what}_reordered"] += 1
            S.error(f"{where}: {self.what} from {sender}: {seq} after {last} (reordered or duplicated)")


async def ws_client(port: int, idx: int, stop: asyncio.Event) -> None:
    rng = random.Random(SEED * 3000 + idx)
    generation = 0
    while not stop.is_set():
        generation += 1
        tag = f"{idx}.{generation}"
        where = f"ws client {tag}"
        expected: collections.deque[str] = collections.deque()
        bcasts, ticks = Sequences("broadcasts"), Sequences("ticks")
        sent_bcast = 0
        own_done = asyncio.Event()
        echoes_done = asyncio.Event()
        echoes_done.set()
        opened = time.monotonic()
        try:
            async with ws_connect(f"ws://127.0.0.1:{port}/ws", compression=None, open_timeout=REQUEST_TIMEOUT,
                                  close_timeout=REQUEST_TIMEOUT, max_size=None) as ws:
                S.count["ws_connections"] += 1

                async def receive() -> None:
                    async for msg in ws:
                        if msg.startswith("e:"):
                            if not expected:
                                S.error(f"{where}: echo nobody waits for: {msg[:60]!r}")
                                S.count["ws_echo_reordered"] += 1
                            elif msg == expected[0]:
                                expected.popleft()
                                S.count["ws_echo_received"] += 1
                            elif msg in expected:
                                skipped = expected.index(msg)
                                for _ in range(skipped + 1):
                                    expected.popleft()
                                S.count["ws_echo_lost"] += skipped
                                S.error(f"{where}: echo {msg[:40]!r} came {skipped} too early (lost or reordered)")
                            else:
                                S.count["ws_echo_reordered"] += 1
                                S.error(f"{where}: echo of something not sent: {msg[:60]!r}")
                            if not expected:
                                echoes_done.set()
                        elif msg.startswith("b:"):
                            _, sender, seq = msg.split(":")
                            if sender == tag and sender not in bcasts.last and seq != "1":
                                S.count["ws_broadcasts_lost"] += int(seq) - 1
                                S.error(f"{where}: its own broadcasts start at {seq}")
                            bcasts.see(sender, int(seq), where)
                            if sender == tag and int(seq) >= sent_bcast:
                                own_done.set()
                        elif msg.startswith("t:"):
                            _, pid, seq = msg.split(":")
                            ticks.see(pid, int(seq), where)
                        else:
                            S.error(f"{where}: unexpected message {msg[:60]!r}")

                receiver = asyncio.create_task(receive())
                life = rng.uniform(*WS_LIFE)
                seq = 0
                while not stop.is_set() and time.monotonic() - opened < life and not receiver.done():
                    seq += 1
                    if seq % BROADCAST_EVERY == 0:
                        sent_bcast += 1
                        own_done.clear()
                        await ws.send(f"b:{tag}:{sent_bcast}")
                        S.count["ws_broadcasts_sent"] += 1
                    else:
                        size = 32768 if seq % 100 == 1 else rng.randint(0, 200)
                        msg = f"e:{tag}:{seq}:" + "x" * size
                        expected.append(msg)
                        echoes_done.clear()
                        await ws.send(msg)
                        S.count["ws_echo_sent"] += 1
                    await asyncio.sleep(WS_PAUSE)
                # Before closing: the last echo and this client's own last broadcast.
                waits = [echoes_done.wait()] + ([own_done.wait()] if sent_bcast else [])
                try:
                    await asyncio.wait_for(asyncio.gather(*waits), DRAIN_TIMEOUT)
                except asyncio.TimeoutError:
                    S.count["ws_echo_lost"] += len(expected)
                    S.error(f"{where}: after {DRAIN_TIMEOUT}s, {len(expected)} echoes missing, its own last "
                            f"broadcast {'received' if own_done.is_set() else 'missing'}")
                lived = time.monotonic() - opened
                if lived > 2.0 and len(ticks.last) < WORKERS:
                    S.error(f"{where}: ticks of {len(ticks.last)} worker(s) in {lived:.1f}s, want {WORKERS}")
                if receiver.done() and receiver.exception() is not None:
                    S.error(f"{where}: receiving: {type(receiver.exception()).__name__}: {receiver.exception()}")
                await ws.close()
                receiver.cancel()
                if ws.close_code != 1000:
                    S.error(f"{where}: closed with {ws.close_code} {ws.close_reason!r}")
                else:
                    S.count["ws_clean_closes"] += 1
        except (OSError, asyncio.TimeoutError, ValueError) as e:
            S.error(f"{where}: {e!r}")
            await asyncio.sleep(0.5)
        except Exception as e:  # websockets' ConnectionClosed* and InvalidStatus
            S.error(f"{where}: {type(e).__name__}: {e}")
            await asyncio.sleep(0.5)


# ---- the run -----------------------------------------------------------------------------------


async def warm_up(port: int) -> None:
    """Every route once and one WebSocket client with an echo, a broadcast and both workers'
    ticks: what the first use creates lazily is there before the baseline."""
    rng = random.Random(SEED)
    for kind in ["json", "echo", "big", "missing", "throw"]:
        while True:
            k, wire, want_status, want_body = make_request(rng, "w", 0, True)
            if k == kind:
                break
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(wire)
        status, _, body = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT)
        check(kind, status, body, want_status, want_body)
        writer.close()
    async with ws_connect(f"ws://127.0.0.1:{port}/ws", compression=None) as ws:
        await ws.send("e:warm-up")
        await ws.send("b:warm-up:1")
        seen, pids = set(), set()
        async def until_all() -> None:
            async for msg in ws:
                seen.add(msg[:2])
                if msg.startswith("t:"):
                    pids.add(msg.split(":")[1])
                if {"e:", "b:"} <= seen and len(pids) >= WORKERS:
                    return
        try:
            await asyncio.wait_for(until_all(), REQUEST_TIMEOUT)
        except asyncio.TimeoutError:
            S.error(f"warm-up: saw {sorted(seen)} and ticks of {len(pids)} worker(s)")


def settle_fds(server: Server, target: int) -> dict:
    """Polls /proc (the only signal there is) until the descriptors are back to `target`, bounded."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        sample = server.sample()
        if sample["fds"] <= target or time.monotonic() > deadline:
            return sample
        time.sleep(0.2)


async def load(server: Server, samples: list) -> None:
    stop = asyncio.Event()
    tasks = ([asyncio.create_task(keepalive_client(server.port, i, stop)) for i in range(KEEPALIVE_CLIENTS)]
             + [asyncio.create_task(close_client(server.port, i, stop)) for i in range(CLOSE_CLIENTS)]
             + [asyncio.create_task(ws_client(server.port, i, stop)) for i in range(WS_CLIENTS)])
    end = time.monotonic() + SECONDS
    next_sample = time.monotonic() + SAMPLE_SECONDS
    while time.monotonic() < end:
        await asyncio.sleep(max(0.0, min(next_sample, end) - time.monotonic()))
        if time.monotonic() >= next_sample:
            samples.append(server.sample())
            next_sample += SAMPLE_SECONDS
            s = samples[-1]
            print(f"soak: t={s['t']:6.1f}s rss={s['rss_kib'] / 1024:6.1f} MiB fds={s['fds']:3d} "
                  f"errors={S.errors} http={sum(v for k, v in S.count.items() if k.startswith('http_') and k not in ('http_connections', 'http_pipelined_batches'))} "
                  f"ws_echo={S.count['ws_echo_received']}", flush=True)
    stop.set()
    done, pending = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT + REQUEST_TIMEOUT + 5)
    for t in pending:
        t.cancel()
        S.error(f"a client did not finish within {DRAIN_TIMEOUT + REQUEST_TIMEOUT + 5}s of the stop")
    for t in done:
        if t.exception() is not None:
            S.error(f"client task crashed: {t.exception()!r}")


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def evaluate(result: dict) -> list[tuple[str, bool, str]]:
    c = result["counts"]
    load_samples = result["samples"]
    n = len(load_samples)
    second = [s["rss_kib"] for s in load_samples[n // 3: 2 * n // 3]]
    last = [s["rss_kib"] for s in load_samples[2 * n // 3:]]
    rss_growth = (mean(last) / mean(second) - 1.0) if second and last else 0.0
    rss_enforced = SECONDS >= RSS_MIN_SECONDS and bool(second) and bool(last)
    base = result["baseline"]["fds"]
    fd_cap = base + 2 * (KEEPALIVE_CLIENTS + CLOSE_CLIENTS + WS_CLIENTS)
    fd_max = max((s["fds"] for s in load_samples), default=0)
    lost = c.get("ws_echo_lost", 0) + c.get("ws_broadcasts_lost", 0) + c.get("ws_ticks_lost", 0)
    reordered = c.get("ws_echo_reordered", 0) + c.get("ws_broadcasts_reordered", 0) + c.get("ws_ticks_reordered", 0)
    workers = {tuple(s["workers"]) for s in [result["baseline"], *load_samples, result["end"]]}
    stop = result["stop"]
    kinds = ["http_json", "http_echo", "http_big", "http_missing", "http_throw", "http_pipelined_batches",
             "ws_echo_received", "ws_broadcasts_received", "ws_ticks_received", "ws_clean_closes"]
    missing = [k for k in kinds if c.get(k, 0) == 0]
    result["rss_growth"] = round(rss_growth, 4)
    return [
        ("zero errors", result["errors"] == 0, f"{result['errors']} errors"),
        ("zero lost or reordered WebSocket messages", lost == 0 and reordered == 0,
         f"{lost} lost, {reordered} reordered"),
        ("every kind of traffic", not missing, f"none of: {', '.join(missing)}" if missing else "all"),
        ("same workers throughout", len(workers) == 1, f"{len(workers)} worker set(s)"),
        ("descriptors bounded during the load", fd_max <= fd_cap, f"max {fd_max}, cap {fd_cap}"),
        ("descriptors back to the baseline", result["end"]["fds"] <= base,
         f"{result['end']['fds']} after, {base} before"),
        ("RSS flat" if rss_enforced else "RSS flat (reported only: run < 60 s)",
         rss_growth <= RSS_TOLERANCE or not rss_enforced,
         f"last third {mean(last) / 1024:.1f} MiB vs second third {mean(second) / 1024:.1f} MiB: "
         f"{rss_growth * 100:+.1f} % (tolerance {RSS_TOLERANCE * 100:.0f} %)"),
        ("clean exit on SIGTERM", stop["exit_code"] == 0 and not stop["killed"] and not stop["workers_left"],
         f"exit {stop['exit_code']} in {stop['seconds']} s, workers left {stop['workers_left']}"),
    ]


def write_docs(result: dict, verdicts: list) -> None:
    c = result["counts"]
    s0, s1 = result["samples"][0], result["samples"][-1]
    http = sum(v for k, v in c.items() if k.startswith("http_") and k not in ("http_connections", "http_pipelined_batches"))
    lines = [
        DOC_BEGIN,
        f"## Latest soak ({result['date']}, `make soak`)",
        "",
        f"{result['seconds']:.0f} s of mixed load on `tests/soak/server.php` ({WORKERS} workers, simultaneous mode): "
        f"{KEEPALIVE_CLIENTS} keep-alive and {CLOSE_CLIENTS} `Connection: close` HTTP clients, "
        f"{WS_CLIENTS} WebSocket clients reconnecting every 5-20 s. "
        f"**{'PASSED' if result['passed'] else 'FAILED'}.**",
        "",
        "| measure | value |",
        "|---|---|",
        f"| HTTP requests checked (JSON / POST echo / big / 404 / 500) | {http} ({c.get('http_json', 0)} / "
        f"{c.get('http_echo', 0)} / {c.get('http_big', 0)} / {c.get('http_missing', 0)} / {c.get('http_throw', 0)}) |",
        f"| HTTP connections, pipelined batches | {c.get('http_connections', 0)}, {c.get('http_pipelined_batches', 0)} |",
        f"| WebSocket connections (clean closes) | {c.get('ws_connections', 0)} ({c.get('ws_clean_closes', 0)}) |",
        f"| WebSocket echoes sent / received in order | {c.get('ws_echo_sent', 0)} / {c.get('ws_echo_received', 0)} |",
        f"| broadcasts sent / deliveries checked; worker ticks checked | {c.get('ws_broadcasts_sent', 0)} / "
        f"{c.get('ws_broadcasts_received', 0)}; {c.get('ws_ticks_received', 0)} |",
        f"| RSS, server + workers: baseline, first and last load sample, after | "
        f"{result['baseline']['rss_kib'] / 1024:.1f}, {s0['rss_kib'] / 1024:.1f}, {s1['rss_kib'] / 1024:.1f}, "
        f"{result['end']['rss_kib'] / 1024:.1f} MiB |",
        f"| CPU during the load, share of one core: server (all processes), load generator | "
        f"{result['cpu_share']['server']:.0%}, {result['cpu_share']['driver']:.0%} |",
        f"| descriptors: baseline, load min-max, after | {result['baseline']['fds']}, "
        f"{min(s['fds'] for s in result['samples'])}-{max(s['fds'] for s in result['samples'])}, {result['end']['fds']} |",
        "",
        "| criterion | held | |",
        "|---|---|---|",
        *[f"| {name} | {'yes' if ok else '**no**'} | {detail} |" for name, ok, detail in verdicts],
        "",
        f"RSS is judged on the mean of the last third of the load's samples against the second third (the "
        f"first is warm-up); descriptors are capped at the baseline + 2 per client during the load and must be "
        f"back to the baseline after it. Samples every {SAMPLE_SECONDS:.0f} s and the counters: "
        f"`tests/soak/last.json` after a run.",
        DOC_END,
    ]
    text = DOC.read_text()
    block = "\n".join(lines)
    if DOC_BEGIN in text and DOC_END in text:
        head, rest = text.split(DOC_BEGIN, 1)
        text = head + block + rest.split(DOC_END, 1)[1]
    else:
        marker = "\n## Not done yet"
        if marker in text:
            head, tail = text.split(marker, 1)
            text = head + "\n" + block + "\n" + marker + tail
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)


def main() -> int:
    global T0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default=str(HERE / "last.json"), help="where the result goes")
    parser.add_argument("--write-docs", action="store_true", help="replace the soak section of docs/RELIABILITY.md")
    args = parser.parse_args()

    T0 = time.monotonic()
    server = Server()
    try:
        before = server.sample()
        asyncio.run(warm_up(server.port))
        # Idle again: the warm-up's connections closed (or, if the first use keeps something
        # open for good, that is part of the baseline after SETTLE_TIMEOUT).
        baseline = settle_fds(server, before["fds"])
        print(f"soak: port {server.port}, workers {server.ready_pids}, {SECONDS:.0f} s; baseline "
              f"rss={baseline['rss_kib'] / 1024:.1f} MiB fds={baseline['fds']}", flush=True)
        samples: list[dict] = []
        t_load, cpu_driver = time.monotonic(), os.times()
        asyncio.run(load(server, samples))
        load_seconds = time.monotonic() - t_load
        driver_cpu = (os.times().user - cpu_driver.user) + (os.times().system - cpu_driver.system)
        if not samples:  # a run shorter than one sampling period
            samples.append(server.sample())
        end = settle_fds(server, baseline["fds"])
        stop = server.stop()
        for line in server.unexpected:  # the server says nothing on stderr unless something is wrong
            S.error(f"server stderr: {line}")
    except BaseException:
        server.kill()
        raise

    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(load_seconds, 1), "workers": WORKERS, "seed": SEED,
        "clients": {"keepalive": KEEPALIVE_CLIENTS, "close": CLOSE_CLIENTS, "websocket": WS_CLIENTS},
        "baseline": baseline, "samples": samples, "end": end, "stop": stop,
        "cpu_share": {"server": round((samples[-1]["cpu_s"] - baseline["cpu_s"]) / load_seconds, 3),
                      "driver": round(driver_cpu / load_seconds, 3)},
        "counts": dict(sorted(S.count.items())), "errors": S.errors, "error_messages": S.messages,
    }
    verdicts = evaluate(result)
    result["criteria"] = [{"name": n, "held": ok, "detail": d} for n, ok, d in verdicts]
    result["passed"] = all(ok for _, ok, _ in verdicts)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")

    c = result["counts"]
    print("\nsoak summary")
    for k, v in c.items():
        print(f"  {k:28s} {v}")
    print(f"  {'rss baseline / end (MiB)':28s} {baseline['rss_kib'] / 1024:.1f} / {end['rss_kib'] / 1024:.1f}")
    print(f"  {'fds baseline / end':28s} {baseline['fds']} / {end['fds']}")
    print(f"  {'CPU, share of one core':28s} server {result['cpu_share']['server']:.0%}, "
          f"load generator {result['cpu_share']['driver']:.0%}")
    for name, ok, detail in verdicts:
        print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")
    if args.write_docs:
        write_docs(result, verdicts)
        print(f"soak: {DOC.relative_to(ROOT)} updated")
    print(f"soak: {'PASSED' if result['passed'] else 'FAILED'} (result in {args.json})")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
