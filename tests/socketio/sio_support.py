"""Servers and clients of the Socket.IO suite (tests/socketio).

Servers: c-examples/build/socketio (one process) and php/examples/socketio.php (HS_WORKERS
workers, optionally a node on Redis), both speaking the test app protocol of
/work/plan-issue12.md (see the header comment of c-examples/socketio.c). Each is started on
127.0.0.1 (port 0, or a given port for the restart test); its first stdout line
`listening on http://127.0.0.1:PORT` is the readiness signal; it is stopped by its own PID
(SIGTERM, SIGKILL to what is left of its process tree after EXIT_TIMEOUT).

Clients: Node scripts (client.mjs, browser.mjs: socket.io-client from this directory's
node_modules, Chromium through tests/browser's playwright-core), each bounded by its own timeout
and printing JSON on stdout; python-socketio; and raw HTTP / WebSocket for bad input.
Every wait has a deadline.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "rooms"))
from rooms_support import alive, process_tree, wait_gone  # noqa: E402

C_APP = ROOT / "c-examples" / "build" / "socketio"
# SIO_PHP_APP names another copy of the PHP app (e.g. a work tree's, with its own php/src)
PHP_APP = Path(os.environ.get("SIO_PHP_APP") or ROOT / "php" / "examples" / "socketio.php")
LIB = ROOT / "target" / "release" / "libhttpsock.so"
CLIENT_DIR = HERE / "node_modules" / "socket.io-client" / "dist"
REFERENCE = HERE / "reference_server.mjs"
NODE_CLIENT = HERE / "client.mjs"
BROWSER = HERE / "browser.mjs"

READY_TIMEOUT = 20.0  # a server to print its listening line (PHP + FFI + workers)
EXIT_TIMEOUT = 12.0  # a graceful exit after SIGTERM (the engine's grace is 10 s)
IO_TIMEOUT = 5.0  # one HTTP request


def node_ready() -> str | None:
    """None when the Node clients can run, else why not (for pytest.skip)."""
    if shutil.which("node") is None:
        return "node is not installed (make deps)"
    if not (HERE / "node_modules" / "socket.io-client").is_dir():
        return "socket.io-client is not installed: npm ci --prefix tests/socketio (make deps)"
    return None


class Server:
    """One Socket.IO test app on 127.0.0.1.

    kind "c": c-examples/build/socketio (with SIO_APP=reference in the environment: the same
    protocol on npm socket.io, reference_server.mjs, to check the suite itself); kind "php":
    php/examples/socketio.php with HS_WORKERS=workers. `env` is added to the environment
    (HS_SIO_CLIENT_DIR is set to the installed socket.io-client's dist/ unless given). `port` 0
    picks a free one; the first stdout line gives the port and the scheme (http or https)."""

    def __init__(self, kind: str, tmp: Path, env: dict[str, str] | None = None, port: int = 0,
                 workers: int = 1, name: str | None = None):
        if kind == "c" and os.environ.get("SIO_APP") == "reference":
            kind = "reference"  # the suite checked against npm socket.io (reference_server.mjs)
        self.kind = kind
        self.name = name or kind
        self.workers = workers if kind == "php" else 1
        e = {"HS_SIO_CLIENT_DIR": str(CLIENT_DIR)}
        if kind == "php":
            if not PHP_APP.exists():
                raise RuntimeError(f"{PHP_APP} does not exist")
            cmd = ["php", str(PHP_APP), str(port), "127.0.0.1"]
            e["HS_WORKERS"] = str(workers)
        elif kind == "reference":
            cmd = ["node", str(REFERENCE), str(port), "127.0.0.1"]
        else:
            if not C_APP.exists():
                raise RuntimeError(f"{C_APP} is missing: run `make examples` first")
            cmd = [str(C_APP), str(port), "127.0.0.1"]
        e.update(env or {})
        self.env = e
        self.stderr_path = tmp / f"{self.name}-{time.monotonic_ns()}.stderr"
        err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=err, env={**os.environ, **e}, cwd=str(ROOT))
        err.close()
        self.pid = self.proc.pid
        self.pids = [self.pid]
        try:
            self.port = self._read_listening()
            if self.workers > 1:
                self.pids = self._wait_workers()
        except BaseException:
            self.kill()
            raise

    def _read_listening(self) -> int:
        deadline = time.monotonic() + READY_TIMEOUT
        fd = self.proc.stdout.fileno()
        data = b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{self.name}: no listening line within {READY_TIMEOUT}s: "
                                   f"{data!r} {self.stderr()}")
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(f"{self.name} exited before listening: {self.stderr()}")
                data += chunk
        line = data.split(b"\n", 1)[0].decode(errors="replace")
        m = re.search(r"listening on (https?)://127\.0\.0\.1:(\d+)", line)
        if not m:
            raise RuntimeError(f"{self.name}: unexpected first line {line!r}")
        self.scheme = m.group(1)
        return int(m.group(2))

    def _wait_workers(self) -> list[int]:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            tree = process_tree(self.pid)
            if len(tree) >= self.workers + 1:
                return tree
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): "
                                   f"{self.stderr()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: {len(tree) - 1} of {self.workers} workers "
                                   f"after {READY_TIMEOUT}s: {self.stderr()}")
            time.sleep(0.02)

    # ---- looking at it
    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_stderr(self, pattern: str, timeout: float = IO_TIMEOUT, start: int = 0) -> re.Match:
        """The first match of `pattern` (multiline) in stderr after offset `start`, polled
        until `timeout`."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.stderr(), start)
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {pattern!r} on stderr within {timeout}s; "
                                     f"stderr ends with {self.stderr()[-1500:]!r}")
            time.sleep(0.02)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fds(self) -> int:
        """Open descriptors of every process of the server."""
        n = 0
        for p in set(self.pids) | set(process_tree(self.pid)):
            try:
                n += len(os.listdir(f"/proc/{p}/fd"))
            except OSError:
                pass
        return n

    def get(self, path: str, timeout: float = IO_TIMEOUT) -> tuple[int, bytes]:
        return http_request(self.port, "GET", path, timeout=timeout)[:2]

    def members(self, room: str) -> list[str]:
        status, body = self.get(f"/members?room={room}")
        assert status == 200, (status, body)
        return json.loads(body)

    # ---- stopping it
    def stop(self) -> None:
        """SIGTERM (the PHP supervisor stops its workers), then SIGKILL to what is left."""
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

    def kill(self) -> None:
        """SIGKILL to every process of the server (the crash), by PID, and waits for them."""
        pids = list(dict.fromkeys([self.pid] + self.pids + process_tree(self.pid)))
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap()
        left = wait_gone(pids, EXIT_TIMEOUT)
        assert not left, f"{self.name}: {left} survived SIGKILL"

    def _reap(self) -> None:
        try:
            self.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=EXIT_TIMEOUT)
        if self.proc.stdout:
            self.proc.stdout.close()


# ---- Node clients --------------------------------------------------------------------------------

class NodeFailed(AssertionError):
    pass


def run_node(scenario: str, *urls: str, **opts) -> dict:
    """Runs `node client.mjs SCENARIO OPTS_JSON URL...` and returns the JSON object it printed
    last. The script bounds itself (opts["timeout"] ms, default 20000) and prints what it had
    when it gave up; a non-zero exit fails with that and its stderr. From the outside it is
    killed 15 s after its own bound."""
    timeout = opts.get("timeout", 20000) / 1000 + 15
    cmd = ["node", str(NODE_CLIENT), scenario, json.dumps(opts), *urls]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=str(HERE))
    except subprocess.TimeoutExpired as e:
        raise NodeFailed(f"node {scenario} did not end within {timeout}s: "
                         f"{(e.stdout or b'')[-2000:]!r} {(e.stderr or b'')[-2000:]!r}") from None
    lines = [ln for ln in out.stdout.decode(errors="replace").splitlines() if ln.strip()]
    result = None
    if lines:
        try:
            result = json.loads(lines[-1])
        except ValueError:
            pass
    if out.returncode != 0 or result is None:
        raise NodeFailed(f"node {scenario} failed ({out.returncode}): stdout {lines[-5:]!r} "
                         f"stderr {out.stderr.decode(errors='replace')[-3000:]}")
    return result


class NodeProcess:
    """A Node client script that talks in JSON lines while it runs (the reconnect and the
    killed-client cases): lines are read with a deadline each; stopped by its PID."""

    def __init__(self, scenario: str, *urls: str, **opts):
        self.proc = subprocess.Popen(["node", str(NODE_CLIENT), scenario, json.dumps(opts),
                                      *urls], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=str(HERE))
        self.lines: list[dict] = []
        self._buf = b""

    def next_line(self, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line from node within {timeout}s; so far "
                                     f"{self.lines} {self._buf!r}")
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() \
                        is not None else ""
                    raise AssertionError(f"node ended ({self.proc.poll()}) after {self.lines} "
                                         f"{self._buf!r}: {err[-2000:]}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        msg = json.loads(line)
        self.lines.append(msg)
        return msg

    def wait_for(self, phase: str, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.next_line(max(0.01, deadline - time.monotonic()))
            if msg.get("phase") == phase:
                return msg
            if msg.get("phase") == "error":
                raise AssertionError(f"node: {msg}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=EXIT_TIMEOUT)
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


def bin_(b: bytes) -> dict:
    """How client.mjs writes a binary value in its JSON output."""
    return {"$bin": b.hex()}


# ---- raw HTTP ------------------------------------------------------------------------------------

def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None,
                 timeout: float = IO_TIMEOUT) -> tuple[int, bytes, dict[str, str]]:
    """One request on a new connection: (status, body, headers with lower-case names)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, data, {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()


def eio_path(**query) -> str:
    q = {"EIO": "4", "transport": "polling"}
    q.update({k: v for k, v in query.items() if v is not None})
    return "/socket.io/?" + "&".join(f"{k}={v}" for k, v in q.items())


def handshake(port: int, **query) -> dict:
    """GET /socket.io/?EIO=4&transport=polling: the open packet's JSON (asserts the answer)."""
    status, body, headers = http_request(port, "GET", eio_path(**query))
    assert status == 200, (status, body)
    assert body[:1] == b"0", body
    return json.loads(body[1:])


def poll(port: int, sid: str, timeout: float = 5.0) -> tuple[int, list[str]]:
    """One GET of a polling session as a client does it: a ping (`2`) in the answer is answered
    with a pong (`3`). Returns (status, the other packets; or the error body as one item)."""
    status, body, _ = http_request(port, "GET", eio_path(sid=sid), timeout=timeout)
    if status != 200:
        return status, [body.decode(errors="replace")]
    packets = split_payload(body)
    if "2" in packets:
        s, b, _ = http_request(port, "POST", eio_path(sid=sid), body=b"3")
        assert (s, b) == (200, b"ok"), (s, b)
    return status, [p for p in packets if p != "2"]


def split_payload(body: bytes) -> list[str]:
    """An Engine.IO v4 polling payload: packets separated by the record separator 0x1e."""
    return body.decode().split("\x1e") if body else []


def wait_until(check, timeout: float, what: str, interval: float = 0.05):
    """Calls check() until it returns something truthy; fails after `timeout` with the last
    value or exception."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = check()
            if last:
                return last
        except (OSError, AssertionError, ValueError, KeyError) as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")
        time.sleep(interval)
