"""Processes and clients for the rooms suite (tests/rooms): a real redis-server, nodes of
php/examples/rooms.php, network namespaces, and an asyncio WebSocket client that keeps every
message it gets.

Everything is bounded (each wait has a deadline) and every process is stopped by its own PID:
redis-server by SIGTERM (SIGKILL after EXIT_TIMEOUT), a node by SIGTERM to its supervisor and
SIGKILL to whatever of its process tree is left after EXIT_TIMEOUT. Readiness is a signal, never a
sleep: redis-server answers PING, a node prints `listening on http://ADDRESS:PORT` once bound.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the app every node runs; ROOMS_APP names another (a stand-in speaking the same protocol, e.g.
# to check this harness itself); a .py app runs with this Python, anything else with php
ROOMS_PHP = Path(os.environ.get("ROOMS_APP") or ROOT / "php" / "examples" / "rooms.php")
LIB = ROOT / "target" / "release" / "libhttpsock.so"

READY_TIMEOUT = 20.0  # a node (PHP + FFI load + workers) or redis-server to be ready
EXIT_TIMEOUT = 15.0  # a graceful exit after SIGTERM (the engine's shutdown grace is 10 s)
IO_TIMEOUT = 10.0  # one HTTP request or WebSocket handshake
CONVERGE_TIMEOUT = 10.0  # the world view (clients, members, presence) to agree everywhere
SETTLE = 0.5  # how long to keep listening for a copy too many once the expected ones are in


# ---- process trees -----------------------------------------------------------------------------

def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def process_tree(root: int) -> list[int]:
    """`root` and its descendants (a node's supervisor and its workers), root first."""
    parents = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            pp = _ppid(int(e))
            if pp is not None:
                parents[int(e)] = pp
    out, todo = [root], [root]
    while todo:
        p = todo.pop()
        for c, pp in parents.items():
            if pp == p and c not in out:
                out.append(c)
                todo.append(c)
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids, timeout: float) -> list[int]:
    """Polls until none of `pids` is alive or `timeout`; returns those still alive."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ---- redis-server ------------------------------------------------------------------------------

def resp_command(host: str, port: int, *args: str, timeout: float = 2.0):
    """One Redis command over a fresh connection (RESP2, no client library): the decoded reply
    (str, int, None, list), or raises OSError / RuntimeError(-ERR ...)."""
    out = b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(out)
        f = s.makefile("rb")
        return _resp_read(f)


def _resp_read(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise OSError("connection closed mid-reply")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise OSError(f"unexpected reply {line!r}")


class Redis:
    """One redis-server of our own: `--port N --bind HOST --save '' --appendonly no`, its log and
    working directory in `tmp`. `restart()` brings it back on the same port (the outage test)."""

    def __init__(self, tmp: Path, host: str = "127.0.0.1", port: int | None = None):
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is missing: `make deps` installs it (Debian redis-server)")
        self.host = host
        self.port = port or free_port(host if host != "0.0.0.0" else "127.0.0.1")
        self.dir = tmp / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.start()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = open(self.dir / f"redis.{self.starts}.log", "wb")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", self.host, "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.dir),
             "--protected-mode", "no", "--logfile", ""],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}): {self.log()}")
            try:
                if self.command("PING") == "PONG":
                    return
            except (OSError, RuntimeError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING within {READY_TIMEOUT}s: "
                                   f"{self.log()}")
            time.sleep(0.02)

    def command(self, *args: str):
        return resp_command(self.host, self.port, *args)

    def log(self) -> str:
        p = self.dir / f"redis.{self.starts}.log"
        return p.read_text(errors="replace")[-2000:] if p.exists() else ""

    def stop(self) -> None:
        """SIGTERM by PID (no persistence: it exits at once), SIGKILL if it has not exited."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=EXIT_TIMEOUT)

    def restart(self) -> None:
        """Stops it and starts a new redis-server on the same port (empty: no persistence)."""
        self.stop()
        self.start()


# ---- nodes: php/examples/rooms.php -------------------------------------------------------------

class Node:
    """One node of the rooms example: `php php/examples/rooms.php 0 ADDRESS` (port 0: a free
    port), its supervisor and `workers` worker processes, configured through its environment:
    HS_REDIS, HS_PREFIX, HS_NODE, HS_TTL, HS_WORKERS, HS_EVENTS_DIR. `netns`: run it inside that
    network namespace (`ip netns exec`)."""

    _seq = itertools.count()

    def __init__(self, name: str, tmp: Path, *, redis: str | None = None,
                 prefix: str | None = None, workers: int = 2, ttl: float | None = None,
                 address: str = "127.0.0.1", netns: str | None = None,
                 env: dict[str, str] | None = None, script: Path = ROOMS_PHP):
        if not LIB.exists() and script.suffix == ".php":
            raise RuntimeError(f"{LIB} is missing: run `cargo build --release`")
        self.name = name
        self.workers = workers
        self.dir = tmp / f"node-{name}-{next(self._seq)}"
        self.dir.mkdir(parents=True)
        self.events_dir = self.dir / "events"
        self.events_dir.mkdir()
        e = {"HS_NODE": name, "HS_WORKERS": str(workers), "HS_EVENTS_DIR": str(self.events_dir)}
        if redis:
            e["HS_REDIS"] = redis
        if prefix:
            e["HS_PREFIX"] = prefix
        if ttl is not None:
            e["HS_TTL"] = str(ttl)
        e.update(env or {})
        interp = sys.executable if script.suffix == ".py" else "php"
        cmd = [interp, str(script), "0", address]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.stderr_path = self.dir / "stderr.log"
        stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=stderr, env={**os.environ, **e})
        stderr.close()
        self.pid = self.proc.pid
        self.pids: list[int] = [self.pid]
        try:
            self.host, self.port = self._read_listening()
            self.pids = self._wait_workers()
        except BaseException:
            self.kill9()
            raise

    def _read_listening(self) -> tuple[str, int]:
        deadline = time.monotonic() + READY_TIMEOUT
        fd = self.proc.stdout.fileno()
        data = b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"node {self.name}: no listening line within {READY_TIMEOUT}s: "
                                   f"{data!r} {self.stderr()}")
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(f"node {self.name} exited before listening: {self.stderr()}")
                data += chunk
        line = data.split(b"\n", 1)[0].decode(errors="replace")
        m = re.search(r"listening on http://([0-9.]+):(\d+)", line)
        if not m:
            raise RuntimeError(f"node {self.name}: unexpected first line {line!r}")
        return m.group(1), int(m.group(2))

    def _wait_workers(self) -> list[int]:
        """In simultaneous mode, the supervisor's worker processes (forked by run()): polled
        until `workers` children exist, so that kill9() and stop() know every PID."""
        if self.workers <= 1:
            return [self.pid]
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            tree = process_tree(self.pid)
            if len(tree) >= self.workers + 1:
                return tree
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited ({self.proc.returncode}): "
                                   f"{self.stderr()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {self.name}: {len(tree) - 1} of {self.workers} workers "
                                   f"after {READY_TIMEOUT}s: {self.stderr()}")
            time.sleep(0.02)

    # -- HTTP
    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def ws_url(self, user: str | None = None, room: str | None = None, name: str | None = None,
               path: str = "/rooms") -> str:
        q = {k: v for k, v in (("user", user), ("room", room), ("name", name)) if v is not None}
        return self.url(path).replace("http://", "ws://", 1) + (
            "?" + urllib.parse.urlencode(q) if q else "")

    def get_json(self, path: str):
        """GET `path` on a new connection (so that the kernel may hand it to either worker)."""
        req = urllib.request.Request(self.url(path), headers={"Connection": "close"})
        with urllib.request.urlopen(req, timeout=IO_TIMEOUT) as r:
            return json.loads(r.read())

    def get_json_all_workers(self, path: str, tries: int = 8) -> list:
        """The answer of `path` `tries` times over new connections: with SO_REUSEPORT each lands
        on a worker the kernel picks, so a view that differs between workers shows up."""
        return [self.get_json(path) for _ in range(tries)]

    def events(self) -> list[dict]:
        return self.get_json("/events")["events"]

    # -- lifecycle
    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM to the supervisor (it stops its workers), then SIGKILL to whatever of the
        tree is still there after EXIT_TIMEOUT, each by PID."""
        pids = [p for p in set(self.pids) | set(process_tree(self.pid)) if alive(p)]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        for p in wait_gone(pids, 1.0 if self.proc.poll() is not None else 0):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap()

    def kill9(self) -> None:
        """The crash: SIGKILL to every process of the node, the supervisor first (so that it
        restarts no worker), no one gets to say goodbye."""
        pids = list(dict.fromkeys([self.pid] + self.pids + process_tree(self.pid)))
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap()
        left = wait_gone(pids, EXIT_TIMEOUT)
        assert not left, f"node {self.name}: {left} survived SIGKILL"

    def _reap(self) -> None:
        try:
            self.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=EXIT_TIMEOUT)
        if self.proc.stdout:
            self.proc.stdout.close()


# ---- network namespaces ------------------------------------------------------------------------

def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


class Netns:
    """`count` network namespaces, each joined by a veth pair to a bridge in the root namespace,
    on a private /24 of our own (10.X.Y.0/24, chosen not to overlap any route here): the bridge
    is .1 (redis-server binds there), namespace i is .(10+i). Everything created is recorded
    and deleted by close(), also after a failure half-way."""

    def __init__(self, count: int):
        self.sweep()
        tag = str(os.getpid())  # pid_max is at most 4194304: names stay within 15 bytes
        self.bridge = f"hsbr{tag}"
        self.names: list[str] = []
        self.links: list[str] = []
        self.subnet = self._pick_subnet()
        self.bridge_addr = f"{self.subnet}.1"
        self.addrs: list[str] = []
        self.host_ends: list[str] = []
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self.links.append(self.bridge)
            _ip("addr", "add", f"{self.bridge_addr}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i in range(count):
                ns = f"hsrooms-{tag}-{i}"
                _ip("netns", "add", ns)
                self.names.append(ns)
                host_end, ns_end = f"hsv{tag}h{i}", f"hsv{tag}n{i}"
                _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
                self.links.append(host_end)  # deleting one end deletes the pair
                self.host_ends.append(host_end)
                _ip("link", "set", ns_end, "netns", ns)
                _ip("link", "set", host_end, "master", self.bridge)
                _ip("link", "set", host_end, "up")
                addr = f"{self.subnet}.{10 + i}"
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", ns_end)
                _ip("-n", ns, "link", "set", ns_end, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                self.addrs.append(addr)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def sweep() -> list[str]:
        """Deletes namespaces and links of this suite's naming (hsrooms-PID-N, hsbrPID,
        hsvPIDhN) left by a run whose process is gone (killed before its cleanup ran)."""
        gone = []
        for line in _ip("netns", "list").stdout.splitlines():
            m = re.match(r"(hsrooms-(\d+)-\d+)\b", line)
            if m and not alive(int(m.group(2))):
                _ip("netns", "del", m.group(1), check=False)
                gone.append(m.group(1))
        for line in _ip("-o", "link", "show").stdout.splitlines():
            m = re.match(r"\d+: ((?:hsbr|hsv)(\d+)(?:[hn]\d+)?)[@:]", line)
            if m and not alive(int(m.group(2))):
                _ip("link", "del", m.group(1), check=False)
                gone.append(m.group(1))
        return gone

    @staticmethod
    def _pick_subnet() -> str:
        used = _ip("-4", "addr").stdout + _ip("-4", "route").stdout
        for n in range(200, 250):
            for m in range(0, 256, 17):
                cand = f"10.{n}.{m}"
                if f"{cand}." not in used and "10.0.0.0/8" not in used:
                    return cand
        raise RuntimeError("no free 10.x.y.0/24")

    def set_link(self, i: int, up: bool) -> None:
        """Cuts (or restores) namespace i's cable: its veth end on the bridge down (up)."""
        _ip("link", "set", self.host_ends[i], "up" if up else "down")

    def exec(self, ns: str, *cmd: str, timeout: float = 10) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                              timeout=timeout)

    def close(self) -> list[str]:
        """Deletes every namespace and link this object made; returns what it could not."""
        failed = []
        for ns in self.names:
            # processes still inside would keep the namespace alive: the caller stops its nodes
            # first; `ip netns del` then removes the mount and the kernel frees the namespace.
            if _ip("netns", "del", ns, check=False).returncode != 0:
                failed.append(ns)
        for link in reversed(self.links):
            r = _ip("link", "del", link, check=False)
            if r.returncode != 0 and "Cannot find device" not in r.stderr:
                failed.append(link)
        self.names, self.links = [], []
        return failed

    @staticmethod
    def usable() -> str | None:
        """None when namespaces can be made here, else the reason to skip."""
        if os.geteuid() != 0:
            return "network namespaces need root (ip netns add)"
        if shutil.which("ip") is None:
            return "no `ip` command (Debian iproute2)"
        probe = f"hsprobe{os.getpid()}"
        r = _ip("netns", "add", probe, check=False)
        if r.returncode != 0:
            return f"`ip netns add` failed here: {r.stderr.strip()}"
        _ip("netns", "del", probe, check=False)
        r = _ip("link", "add", f"hsprb{os.getpid() % 100000}", "type", "bridge", check=False)
        if r.returncode != 0:
            return f"`ip link add ... type bridge` failed here: {r.stderr.strip()}"
        _ip("link", "del", f"hsprb{os.getpid() % 100000}", check=False)
        return None


# ---- clients -----------------------------------------------------------------------------------

class Refused(Exception):
    """The upgrade was answered with an HTTP status instead of 101."""

    def __init__(self, status: int, body: bytes):
        super().__init__(f"HTTP {status}: {body!r}")
        self.status, self.body = status, body


class Client:
    """A WebSocket client of the rooms example (websockets' asyncio client) that records every
    JSON message it gets, in order. `welcome` is the first message: the client's id, node and
    the PID of the worker that holds it."""

    _refs = itertools.count(1)

    def __init__(self, ws, label: str):
        self.ws = ws
        self.label = label
        self.inbox: list[dict] = []
        self.closed: tuple[int, str] | None = None
        self._cond = asyncio.Condition()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.welcome: dict = {}

    @classmethod
    async def open(cls, node: Node, user: str | None, room: str | None = None,
                   name: str | None = None, label: str | None = None) -> "Client":
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus
        try:
            ws = await connect(node.ws_url(user, room, name), open_timeout=IO_TIMEOUT,
                               ping_interval=None, max_queue=None, close_timeout=2)
        except InvalidStatus as e:
            raise Refused(e.response.status_code, e.response.body or b"") from None
        c = cls(ws, label or f"{user}@{node.name}")
        c.welcome = await c.wait_for(lambda m: m.get("type") == "welcome", IO_TIMEOUT)
        c.id, c.node, c.pid = c.welcome["id"], c.welcome["node"], c.welcome["pid"]
        c.user = user
        return c

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                async with self._cond:
                    self.inbox.append(msg)
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            async with self._cond:
                self.closed = (self.ws.close_code or 1006, self.ws.close_reason or "")
                self._cond.notify_all()

    async def wait_for(self, pred, timeout: float) -> dict:
        """The first message (already in or still to come) for which pred(message) is true."""
        try:
            async with asyncio.timeout(timeout):
                async with self._cond:
                    while True:
                        for m in self.inbox:
                            if pred(m):
                                return m
                        if self.closed:
                            raise AssertionError(f"{self.label}: closed {self.closed} while "
                                                 f"waiting; got {self.inbox[-5:]}")
                        await self._cond.wait()
        except TimeoutError:
            raise AssertionError(f"{self.label}: nothing matching within {timeout}s; "
                                 f"last messages {self.inbox[-5:]}") from None

    async def wait_count(self, pred, n: int, timeout: float) -> list[dict]:
        """Waits until at least n messages match or `timeout`; returns all that match (fewer
        than n after a timeout, more than n when copies came)."""
        try:
            async with asyncio.timeout(timeout):
                async with self._cond:
                    while len([m for m in self.inbox if pred(m)]) < n and not self.closed:
                        await self._cond.wait()
        except TimeoutError:
            pass
        return [m for m in self.inbox if pred(m)]

    async def wait_closed(self, timeout: float) -> tuple[int, str]:
        try:
            async with asyncio.timeout(timeout):
                async with self._cond:
                    while self.closed is None:
                        await self._cond.wait()
        except TimeoutError:
            raise AssertionError(f"{self.label}: still open after {timeout}s") from None
        return self.closed

    def got(self, pred) -> list[dict]:
        return [m for m in self.inbox if pred(m)]

    async def send(self, op: str, **fields) -> int:
        """Sends one operation ({"op": ..., "ref": N, ...}); returns its ref (the server acks
        every operation with {"type": "ack", "ref": N, ...} to this client)."""
        ref = next(self._refs)
        await self.ws.send(json.dumps({"op": op, "ref": ref, **fields}))
        return ref

    async def request(self, op: str, timeout: float = IO_TIMEOUT, **fields) -> dict:
        """An operation and its ack."""
        ref = await self.send(op, **fields)
        return await self.wait_for(lambda m: m.get("type") == "ack" and m.get("ref") == ref,
                                   timeout)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except Exception:
            pass
        self._reader.cancel()
        try:
            await self._reader
        except BaseException:
            pass


async def open_spread(node: Node, make, minimum: int, limit: int = 24) -> list[Client]:
    """Opens clients on `node` with make(i) -> (user, room, name) until at least `minimum` are
    open and they are held by at least two of its workers (the kernel spreads connections over
    the workers' SO_REUSEPORT sockets by a hash: a few more may be needed). `limit` bounds it."""
    clients: list[Client] = []
    i = 0
    while len(clients) < minimum or (node.workers > 1 and len({c.pid for c in clients}) < 2):
        if i >= limit:
            pids = {c.pid for c in clients}
            raise AssertionError(f"{limit} clients on {node.name} all landed on workers {pids}")
        user, room, name = make(i)
        clients.append(await Client.open(node, user, room, name))
        i += 1
    return clients


async def close_all(clients) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


def tagged(tag: str):
    """Predicate: a chat message ({"type": "message"}) carrying `tag` as its text."""
    return lambda m: m.get("type") == "message" and m.get("text") == tag


async def poll(check, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Calls check() (sync or async) until it returns a truthy value, or fails after `timeout`
    with the last value (or exception) in the message. Returns (value, seconds it took)."""
    t0 = time.monotonic()
    last = None
    while True:
        try:
            last = check()
            if asyncio.iscoroutine(last):
                last = await last
            if last:
                return last, time.monotonic() - t0
        except (OSError, urllib.error.URLError, AssertionError, KeyError, ValueError) as e:
            last = e
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what}: not within {timeout}s; last: {last!r}")
        await asyncio.sleep(interval)


def run(coro, timeout: float = 120):
    """Runs a test's coroutine with an overall bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---- assertions shared by the tests ------------------------------------------------------------

async def expect_once(receivers, others, pred, timeout: float = 5.0, what: str = "message"):
    """Every client of `receivers` gets exactly one message matching `pred`, no client of
    `others` gets any: waits (bounded) until each receiver has one, listens SETTLE seconds more
    for late copies, then counts."""
    await asyncio.gather(*(c.wait_count(pred, 1, timeout) for c in receivers))
    await asyncio.sleep(SETTLE)
    bad = {}
    for c in receivers:
        n = len(c.got(pred))
        if n != 1:
            bad[c.label] = f"{n} copies (want 1)"
    for c in others:
        n = len(c.got(pred))
        if n != 0:
            bad[c.label] = f"{n} copies (want 0)"
    assert not bad, f"{what}: {bad}"


async def views_of_workers(clients, channel: str = "") -> dict[tuple[str, int], dict]:
    """One `who` answer per worker that holds one of `clients` (node, pid) -> ack: the world
    as each worker sees it."""
    reps = {}
    for c in clients:
        reps.setdefault((c.node, c.pid), c)
    acks = await asyncio.gather(*(c.request("who", channel=channel) for c in reps.values()))
    return dict(zip(reps.keys(), acks))


async def converge_clients(nodes, clients, timeout: float = CONVERGE_TIMEOUT) -> float:
    """Polls until every worker of every node lists exactly `clients` (ids, and the node each is
    on): /clients over several connections per node, and `who` from a client of each worker.
    Returns the seconds it took."""
    expected = {c.id: c.node for c in clients}

    async def check():
        for n in nodes:
            for ans in n.get_json_all_workers("/clients", 4):
                got = {x["id"]: x["node"] for x in ans["clients"]}
                assert got == expected, f"{n.name} /clients: {got} != {expected}"
        for key, ack in (await views_of_workers(clients)).items():
            assert set(ack["clients"]) == set(expected), f"worker {key}: {ack['clients']}"
        return True

    _, took = await poll(check, timeout, what="every worker of every node sees every client")
    return took


def presence_events(node: Node, user: str, event: str, channel: str) -> list[dict]:
    return [e for e in node.events()
            if e["event"] == f"presence-{event}" and e["user"] == user and e["channel"] == channel]
