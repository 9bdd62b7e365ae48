"""Raw-socket HTTP/1.1 client and server processes for the bad-input corpus (tests/http_corpus).

Everything here is bounded: every socket read has a timeout (a bound, never a synchronisation),
every process is started on port 0, announces itself with its `listening on` line, and is
stopped by its own PID.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1] / "pysupport"))
from ready import NotReady, read_listening_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "c-examples" / "build"
PHP_EXAMPLES = ROOT / "php" / "examples"

READY_TIMEOUT = 10.0  # seconds for a server to print its listening line
EXIT_TIMEOUT = 10.0  # seconds for a graceful exit after SIGTERM
IO_TIMEOUT = 3.0  # bound on any single read; answers come in milliseconds

# The small limits the corpus servers run with (hello.c / hello.php read them from the env).
LIMITS = {"HS_MAX_HEADER_BYTES": "8192", "HS_MAX_BODY_BYTES": "4096", "HS_IDLE_MS": "1000"}
IDLE_S = 1.0

# The two implementations of the same example: (HTTP server command, WebSocket server command,
# WebSocket path).
SERVERS = {
    "c": ([str(BUILD / "hello")], [str(BUILD / "ws_echo")], "/ws"),
    "php": (
        ["php", str(PHP_EXAMPLES / "hello.php")],
        ["php", str(PHP_EXAMPLES / "chat.php")],
        "/chat",
    ),
}


class Server:
    """One server process on 127.0.0.1, port 0; stopped by its PID."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None, prefix: list[str] | None = None):
        if not Path(cmd[-1]).exists():
            raise RuntimeError(f"{cmd[-1]} is missing: run `make examples` first")
        self.name = Path(cmd[-1]).name
        self.proc = subprocess.Popen(
            [*(prefix or []), *cmd, "0", "127.0.0.1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self.port = self._read_port()

    def _read_port(self) -> int:
        try:
            return read_listening_port(self.proc, self.name, READY_TIMEOUT)
        except NotReady as e:
            self.kill()
            raise RuntimeError(f"{e}: {self.stderr()}" if e.exited else str(e)) from e

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read().decode(errors="replace")

    def terminate(self) -> int:
        """SIGTERM (to our own PID), then the exit code within EXIT_TIMEOUT."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=EXIT_TIMEOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=EXIT_TIMEOUT)

    def close(self) -> None:
        self.kill()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


def connect(port: int, timeout: float = IO_TIMEOUT) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def send_all(s: socket.socket, data: bytes) -> None:
    """Sends what the peer accepts; a peer that already answered and closed is not an error."""
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


@dataclass
class Reply:
    status: int
    version: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


class Closed(Exception):
    """The peer closed (FIN or RST) before a whole response arrived; `data` is what came."""

    def __init__(self, data: bytes):
        super().__init__(f"connection closed after {len(data)} byte(s): {data[:200]!r}")
        self.data = data


class Reader:
    """Reads responses off one socket, keeping what it read past the current one."""

    def __init__(self, s: socket.socket):
        self.s = s
        self.buf = b""

    def _more(self) -> None:
        try:
            chunk = self.s.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Closed(self.buf)
        self.buf += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def head(self) -> Reply:
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ", 2)[:2]
        reply = Reply(int(status), version)
        for line in lines[1:]:
            name, _, value = line.partition(":")
            reply.headers.setdefault(name.strip().lower(), []).append(value.strip())
        return reply

    def response(self, head_request: bool = False, skip_interim: bool = True) -> Reply:
        """One response; 1xx interim responses are skipped unless skip_interim is false."""
        while True:
            reply = self.head()
            if not (skip_interim and 100 <= reply.status < 200 and reply.status != 101):
                break
        if head_request or reply.status in (101, 204, 304) or 100 <= reply.status < 200:
            return reply
        te = (reply.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._take(size)
                self._take(2)
            reply.body = body
        elif reply.header("content-length") is not None:
            reply.body = self._take(int(reply.header("content-length")))
        else:  # delimited by the close
            try:
                while True:
                    self._more()
            except Closed:
                reply.body, self.buf = self.buf, b""
        return reply

    def closed(self) -> bytes:
        """Waits (bounded) for the peer to close; returns any bytes that came first."""
        try:
            while True:
                self._more()
        except Closed as c:
            self.buf = b""
            return c.data


def get_root(port: int) -> Reply:
    """A normal GET / on a new connection: the server-alive check."""
    with connect(port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return Reader(s).response()


def assert_alive(server: Server) -> None:
    assert server.alive(), f"{server.name} died: {server.stderr()}"
    r = get_root(server.port)
    assert (r.status, r.body) == (200, b"Hello, World!"), r
