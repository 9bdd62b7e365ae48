"""Servers and real clients for the TLS / HTTP/2 suite (tests/tls).

Servers are the C examples (c-examples/build/{hello,ws_echo,chat}) configured through their
environment (c-examples/env_tls.h), started on port 0; their first stdout line
`listening on https://127.0.0.1:PORT` is the readiness signal. Every process is stopped by its
own PID. Clients: curl, `openssl s_client`, Python's ssl module (OpenSSL), websockets, h2.
Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pysupport"))
from ready import NotReady, read_listening_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "c-examples" / "build"

READY_TIMEOUT = 10.0  # seconds for a server to print its listening line
EXIT_TIMEOUT = 10.0  # seconds for a graceful exit after SIGTERM
IO_TIMEOUT = 5.0  # bound on one client operation; answers come in milliseconds
CLIENT_TIMEOUT = 10  # bound on one curl / openssl process


class Server:
    """One C example on 127.0.0.1, port 0, with `env` added to the environment."""

    def __init__(self, name: str, env: dict[str, str] | None, tmp: Path):
        binary = BUILD / name
        if not binary.exists():
            raise RuntimeError(f"{binary} is missing: run `make examples` first")
        self.name = name
        self.stderr_path = tmp / f"{name}-{os.getpid()}-{time.monotonic_ns()}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "0", "127.0.0.1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, **(env or {})},
        )
        self.pid = self.proc.pid
        try:
            self.port = read_listening_port(self.proc, name, READY_TIMEOUT)
        except NotReady as e:
            self.kill()
            raise RuntimeError(f"{e}: {self.stderr()}") from e

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def wait_stderr(self, pattern: str, start: int = 0, timeout: float = IO_TIMEOUT) -> re.Match:
        """The first match of `pattern` in the stderr written after offset `start` (a length of
        an earlier stderr()); polls the log file until `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.compile(pattern).search(self.stderr(), start)
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {pattern!r} on stderr within {timeout}s: "
                                     f"{self.stderr()[start:]!r}")
            if not self.alive():
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}): {self.stderr()}")
            time.sleep(0.02)

    def sighup(self) -> int:
        """SIGHUP to our own PID; returns the stderr offset to look for its answer after."""
        mark = len(self.stderr())
        os.kill(self.pid, signal.SIGHUP)
        return mark

    def reload(self) -> str:
        """SIGHUP and the line it printed: 'reloaded' or 'reload failed: ...'."""
        mark = self.sighup()
        return self.wait_stderr(r"(reloaded|reload failed: [^\n]*)\n", mark).group(1)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def wait_fds(self, expected: int, timeout: float = IO_TIMEOUT) -> int:
        """The server's descriptor count once it is back to `expected` (connections the clients
        closed are closed by the server asynchronously), or the last count after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.fds()
            if n <= expected or time.monotonic() > deadline:
                return n
            time.sleep(0.05)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=EXIT_TIMEOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=EXIT_TIMEOUT)

    def close(self) -> None:
        self.kill()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()


def start_failing(name: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Runs an example that must refuse to start (bad certificate settings): its exit status
    and stderr. Bounded: a server that does start is killed after READY_TIMEOUT."""
    proc = subprocess.run([str(BUILD / name), "0", "127.0.0.1"], env={**os.environ, **env},
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=READY_TIMEOUT)
    return proc


# ---- curl --------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    http_version: str  # curl's %{http_version}: "1.1", "2"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    rc: int = 0
    stderr: str = ""

    @property
    def json(self):
        import json
        return json.loads(self.body)


def curl(url: str, *args: str, data: bytes | None = None, ca: str | None = None,
         check: bool = True) -> Reply:
    """One request with curl. `ca`: the CA file to trust (https). check=False returns a Reply
    with status 0 and curl's exit code instead of failing when curl fails."""
    with tempfile.TemporaryDirectory() as d:
        head, body = Path(d) / "head", Path(d) / "body"
        cmd = ["curl", "-sS", "--max-time", str(CLIENT_TIMEOUT - 2), "-D", str(head),
               "-o", str(body), "-w", "%{http_version} %{response_code}"]
        if ca:
            cmd += ["--cacert", ca]
        cmd += list(args)
        if data is not None:
            cmd += ["--data-binary", "@-"]
        cmd.append(url)
        out = subprocess.run(cmd, input=data, capture_output=True, timeout=CLIENT_TIMEOUT)
        if out.returncode != 0:
            if check:
                raise AssertionError(f"curl {' '.join(args)} {url} failed ({out.returncode}): "
                                     f"{out.stderr.decode(errors='replace')}")
            return Reply(0, "", rc=out.returncode, stderr=out.stderr.decode(errors="replace"))
        version, code = out.stdout.decode().split()
        headers = {}
        if head.exists():
            blocks = head.read_bytes().decode("latin-1").strip().split("\r\n\r\n")
            for line in blocks[-1].split("\r\n")[1:]:  # the last head (after any 100 Continue)
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return Reply(int(code), version, headers, body.read_bytes() if body.exists() else b"",
                     stderr=out.stderr.decode(errors="replace"))


# ---- openssl s_client --------------------------------------------------------------------------


@dataclass
class Handshake:
    ok: bool  # a session was established
    protocol: str | None  # "TLSv1.3"
    alpn: str | None  # "h2", "http/1.1", None when none was negotiated
    subject_cn: str | None  # the leaf certificate's CN
    verified: bool  # "Verify return code: 0 (ok)"
    chain_length: int  # certificates the server sent
    output: str


def s_client(port: int, *args: str, ca: str | None = None, send: bytes = b"") -> Handshake:
    """One `openssl s_client` handshake with 127.0.0.1:port; `send` is written once the
    connection is up, then stdin closes (s_client then ends the connection)."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-showcerts"]
    if ca:
        cmd += ["-CAfile", ca]
    cmd += list(args)
    out = subprocess.run(cmd, input=send, capture_output=True, timeout=CLIENT_TIMEOUT)
    text = out.stdout.decode(errors="replace") + out.stderr.decode(errors="replace")
    proto = re.search(r"^\s*Protocol\s*:\s*(\S+)", text, re.M) or \
        re.search(r"^New, (TLSv[\d.]+), Cipher is (?!\(NONE\))", text, re.M)
    cipher_ok = re.search(r"^New, \S+, Cipher is (\S+)", text, re.M)
    ok = bool(cipher_ok and cipher_ok.group(1) != "(NONE)")
    alpn = re.search(r"^ALPN protocol: (\S+)", text, re.M)
    cn = re.search(r"^subject=.*?CN\s*=\s*([^,\n]+)", text, re.M)
    return Handshake(
        ok=ok,
        protocol=proto.group(1) if proto and ok else None,
        alpn=alpn.group(1) if alpn else None,
        subject_cn=cn.group(1).strip() if cn and ok else None,
        verified="Verify return code: 0 (ok)" in text,
        chain_length=len(re.findall(r"-----BEGIN CERTIFICATE-----", text)),
        output=text,
    )


# ---- Python's ssl ------------------------------------------------------------------------------


def tls_context(ca: str, alpn: list[str] | None = None, cert: tuple[str, str] | None = None
                ) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


def tls_connect(port: int, ctx: ssl.SSLContext, server_name: str | None = "localhost",
                timeout: float = IO_TIMEOUT) -> ssl.SSLSocket:
    """A TLS connection to 127.0.0.1:port; `server_name` is the SNI (and the name checked)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_name)
    except BaseException:
        raw.close()
        raise


def peer_cn(sock: ssl.SSLSocket) -> str:
    """The CN of the certificate the server presented (binary form, parsed by openssl x509)."""
    der = sock.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                         capture_output=True, timeout=CLIENT_TIMEOUT, check=True)
    return re.search(r"CN\s*=\s*(.+)", out.stdout.decode()).group(1).strip()


def http11_get(sock: socket.socket, path: str = "/", host: str = "localhost") -> tuple[int, bytes]:
    """One keep-alive GET on an open connection (the answers carry Content-Length)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head).group(1))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        rest += chunk
    return int(head.split()[1]), rest[:length]


def read_until_closed(sock: socket.socket, timeout: float = IO_TIMEOUT) -> tuple[bytes, bool]:
    """Everything the peer sends until it closes: (data, closed). closed is False when the
    peer kept the connection open for `timeout` seconds."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False
