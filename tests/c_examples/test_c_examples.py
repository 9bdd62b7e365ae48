"""End-to-end tests of the C examples (c-examples/) and of the C header, with real clients.

Nothing is built here: `make examples` (make -C c-examples) builds the binaries first and
`cargo build --release` the library. Every example is started on port 0; its one stdout line
`listening on http://127.0.0.1:PORT` is the readiness signal. HTTP goes through curl, WebSocket
through the `websockets` package (sync client). Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1] / "pysupport"))
from ready import NotReady, read_listening_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "c-examples" / "build"
INCLUDE = ROOT / "include"
LIBDIR = ROOT / "target" / "release"

READY_TIMEOUT = 10.0  # seconds for a binary to print its listening line
EXIT_TIMEOUT = 5.0  # seconds for a graceful exit after SIGTERM
WS_TIMEOUT = 5.0  # seconds for one WebSocket receive


# --------------------------------------------------------------------------------------------
# Running an example
# --------------------------------------------------------------------------------------------


class Example:
    """One example process, started on port 0, stopped by its PID."""

    def __init__(self, name: str, tmp_path: Path, *args: str) -> None:
        binary = BUILD / name
        if not binary.exists():
            pytest.fail(f"{binary} is missing: run `make examples` first")
        self.name = name
        self.stderr_path = tmp_path / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.port = self._read_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_base = f"ws://127.0.0.1:{self.port}"

    def _read_port(self) -> int:
        """The port from the listening line, within READY_TIMEOUT."""
        try:
            return read_listening_port(self.proc, self.name, READY_TIMEOUT)
        except NotReady as e:
            if e.exited:
                rc = self.proc.wait(timeout=EXIT_TIMEOUT)
                pytest.fail(f"{e} (exit {rc}): {self.stderr()}")
            self.kill()
            pytest.fail(str(e))

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def terminate(self) -> int:
        """SIGTERM, then the exit code (fails when it takes longer than EXIT_TIMEOUT)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not exit within {EXIT_TIMEOUT}s of SIGTERM")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=EXIT_TIMEOUT)

    def close(self) -> None:
        self.kill()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture
def start(tmp_path):
    """start(name, *args) -> Example; every process is killed (by PID) at teardown."""
    started: list[Example] = []

    def _start(name: str, *args: str) -> Example:
        ex = Example(name, tmp_path, *args)
        started.append(ex)
        return ex

    yield _start
    for ex in started:
        ex.close()


# --------------------------------------------------------------------------------------------
# HTTP through curl
# --------------------------------------------------------------------------------------------


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode()


def curl(url: str, *args: str, data: bytes | None = None) -> Reply:
    """One request with curl; returns status, headers (lower-case names) and body."""
    cmd = ["curl", "-sS", "--http1.1", "--max-time", "5", "-i", *args]
    if data is not None:
        cmd += ["--data-binary", "@-"]
    cmd.append(url)
    out = subprocess.run(cmd, input=data, capture_output=True, timeout=10)
    assert out.returncode == 0, f"curl {url} failed: {out.stderr.decode()}"
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(status, headers, body)


# --------------------------------------------------------------------------------------------
# WebSocket helpers
# --------------------------------------------------------------------------------------------


def recv_json(ws, timeout: float = WS_TIMEOUT, skip_ticks: bool = True) -> dict:
    """The next JSON message (chat ticks skipped unless asked for)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no message in time")
        msg = json.loads(ws.recv(timeout=left))
        if skip_ticks and msg.get("type") == "tick":
            continue
        return msg


def expect_close(ws, code: int) -> None:
    """Reads until the server closes; asserts the close code it sent."""
    deadline = time.monotonic() + WS_TIMEOUT
    with pytest.raises(ConnectionClosed) as info:
        while True:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    assert info.value.rcvd is not None, "connection ended without a Close frame"
    assert info.value.rcvd.code == code, info.value


# --------------------------------------------------------------------------------------------
# hello
# --------------------------------------------------------------------------------------------


def test_hello_routes(start):
    ex = start("hello")

    r = curl(ex.base + "/")
    assert (r.status, r.body) == (200, b"Hello, World!")
    assert r.headers["content-type"] == "text/plain"

    r = curl(ex.base + "/hello/world")
    assert (r.status, r.body) == (200, b'{"hello":"world"}')
    assert r.headers["content-type"] == "application/json"

    # Percent-decoded, then JSON-escaped: a quote, a backslash, a newline and UTF-8.
    r = curl(ex.base + "/hello/a%22b%5Cc%0Ad%C3%A9")
    assert r.status == 200
    assert r.body == b'{"hello":"a\\"b\\\\c\\nd\xc3\xa9"}'
    assert json.loads(r.body) == {"hello": 'a"b\\c\nd\u00e9'}

    # Not UTF-8 once decoded: refused rather than echoed as broken JSON.
    assert curl(ex.base + "/hello/%FF").status == 400

    r = curl(ex.base + "/user/42?x=1&q=big+cats%21", "-H", "X-Req-Id: abc-123")
    assert (r.status, r.body) == (200, b'{"id":"42","q":"big cats!","req":"abc-123"}')
    assert r.headers["content-type"] == "application/json"

    r = curl(ex.base + "/user/7")
    assert (r.status, r.body) == (200, b'{"id":"7","q":"","req":""}')

    r = curl(ex.base + '/user/x%22y?q=%22', "-H", 'X-Req-Id: "quoted"')
    assert json.loads(r.body) == {"id": 'x"y', "q": '"', "req": '"quoted"'}

    payload = b"binary\x00body\xff with NUL"
    r = curl(ex.base + "/echo", "-H", "Content-Type: application/x-test", data=payload)
    assert (r.status, r.body) == (200, payload)
    assert r.headers["content-type"] == "application/x-test"

    r = curl(ex.base + "/echo", "-H", "Content-Type: application/json", data=b'{"a":1}')
    assert (r.status, r.body, r.headers["content-type"]) == (200, b'{"a":1}', "application/json")

    for path, method in [("/nope", "GET"), ("/hello", "GET"), ("/echo", "GET"), ("/", "POST")]:
        r = curl(ex.base + path, "-X", method)
        assert (r.status, r.body) == (404, b"404 Not Found"), (method, path)
        assert r.headers["x-server-response-type"] == "NOT_FOUND"

    assert ex.terminate() == 0, ex.stderr()


def test_hello_sigint_exits_cleanly(start):
    ex = start("hello")
    assert curl(ex.base + "/").status == 200
    ex.proc.send_signal(signal.SIGINT)
    assert ex.proc.wait(timeout=EXIT_TIMEOUT) == 0, ex.stderr()


def test_hello_taken_port_reports_error(start):
    ex = start("hello")
    out = subprocess.run(
        [str(BUILD / "hello"), str(ex.port)], capture_output=True, timeout=EXIT_TIMEOUT
    )
    assert out.returncode != 0
    assert out.stdout == b""
    assert b"hs_start failed" in out.stderr and str(ex.port).encode() in out.stderr
    assert ex.terminate() == 0


# --------------------------------------------------------------------------------------------
# ws_echo
# --------------------------------------------------------------------------------------------


def test_ws_echo_text_and_binary(start):
    ex = start("ws_echo")
    with connect(ex.ws_base + "/ws", open_timeout=WS_TIMEOUT) as ws:
        ws.send("hello")
        assert ws.recv(timeout=WS_TIMEOUT) == "hello"  # str: a text frame
        ws.send("h\u00e9llo \U0001f600 \"q\"")
        assert ws.recv(timeout=WS_TIMEOUT) == "h\u00e9llo \U0001f600 \"q\""
        blob = bytes(range(256)) * 4
        ws.send(blob)
        assert ws.recv(timeout=WS_TIMEOUT) == blob  # bytes: a binary frame
        ws.send(b"")
        assert ws.recv(timeout=WS_TIMEOUT) == b""
        big = "x" * 200_000
        ws.send(big)
        assert ws.recv(timeout=WS_TIMEOUT) == big
    # Any path below /ws is accepted too.
    with connect(ex.ws_base + "/ws/room/1", open_timeout=WS_TIMEOUT) as ws:
        ws.send("deep")
        assert ws.recv(timeout=WS_TIMEOUT) == "deep"
    # Other paths have no accept route: the upgrade gets the engine's 404.
    with pytest.raises(InvalidStatus) as info:
        with connect(ex.ws_base + "/other", open_timeout=WS_TIMEOUT):
            pass
    assert info.value.response.status_code == 404
    assert curl(ex.base + "/ws").status == 404  # plain HTTP on the WebSocket path
    assert ex.terminate() == 0, ex.stderr()
    log = ex.stderr()
    assert "open  #" in log and "close #" in log and "/ws/room/1" in log


def test_ws_echo_shutdown_sends_1001(start):
    ex = start("ws_echo")
    with connect(ex.ws_base + "/ws", open_timeout=WS_TIMEOUT) as a, connect(
        ex.ws_base + "/ws", open_timeout=WS_TIMEOUT
    ) as b:
        a.send("ping")
        assert a.recv(timeout=WS_TIMEOUT) == "ping"
        b.send(b"ping")
        assert b.recv(timeout=WS_TIMEOUT) == b"ping"
        ex.proc.send_signal(signal.SIGTERM)
        expect_close(a, 1001)
        expect_close(b, 1001)
    assert ex.proc.wait(timeout=EXIT_TIMEOUT) == 0, ex.stderr()


# --------------------------------------------------------------------------------------------
# chat
# --------------------------------------------------------------------------------------------


def test_chat_page(start):
    ex = start("chat")
    r = curl(ex.base + "/")
    assert r.status == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    page = r.text
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "new WebSocket(" in page and "'/chat'" in page
    assert "<form" in page and "textContent" in page
    assert curl(ex.base + "/missing").status == 404
    assert ex.terminate() == 0, ex.stderr()


def test_chat_messages_joins_and_leaves(start):
    ex = start("chat")
    with connect(ex.ws_base + "/chat", open_timeout=WS_TIMEOUT) as a:
        welcome_a = recv_json(a)
        assert welcome_a["type"] == "welcome" and welcome_a["clients"] == 1
        id_a = welcome_a["id"]

        with connect(ex.ws_base + "/chat", open_timeout=WS_TIMEOUT) as b:
            welcome_b = recv_json(b)
            id_b = welcome_b["id"]
            assert welcome_b == {"type": "welcome", "id": id_b, "clients": 2}
            assert id_b != id_a
            assert recv_json(a) == {"type": "join", "id": id_b, "clients": 2}

            # A -> B (and the sender's own copy), with characters that need JSON escaping.
            text = 'hi "B" \\ \n\t\u00e9 \U0001f600 </script>'
            a.send(text)
            expected = {"type": "message", "from": id_a, "text": text}
            assert recv_json(b) == expected
            assert recv_json(a) == expected

            # B -> A.
            b.send("hello A")
            assert recv_json(a) == {"type": "message", "from": id_b, "text": "hello A"}
            assert recv_json(b) == {"type": "message", "from": id_b, "text": "hello A"}

        # B left (closing with 1000): A is told, with the new head count.
        assert recv_json(a) == {"type": "leave", "id": id_b, "clients": 1}

        # Binary frames are refused with 1003.
        with connect(ex.ws_base + "/chat", open_timeout=WS_TIMEOUT) as c:
            id_c = recv_json(c)["id"]
            assert recv_json(a) == {"type": "join", "id": id_c, "clients": 2}
            c.send(b"\x01\x02")
            expect_close(c, 1003)
        assert recv_json(a) == {"type": "leave", "id": id_c, "clients": 1}
    assert ex.terminate() == 0, ex.stderr()


def test_chat_ticks_every_second(start):
    ex = start("chat")
    with connect(ex.ws_base + "/chat", open_timeout=WS_TIMEOUT) as ws:
        ticks = []
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            try:
                msg = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                break
            if msg["type"] == "tick":
                ticks.append((time.monotonic(), msg))
        assert len(ticks) >= 2, ticks
        assert len(ticks) <= 5, ticks
        for _, msg in ticks:
            assert set(msg) == {"type", "clients", "time"}
            assert msg["clients"] == 1
            assert isinstance(msg["time"], int) and abs(msg["time"] - time.time()) < 5
        gaps = [b[0] - a[0] for a, b in zip(ticks, ticks[1:])]
        assert all(0.5 < g < 1.5 for g in gaps), gaps
    assert ex.terminate() == 0, ex.stderr()


def test_chat_shutdown_sends_1001(start):
    ex = start("chat")
    with connect(ex.ws_base + "/chat", open_timeout=WS_TIMEOUT) as a:
        assert recv_json(a)["type"] == "welcome"
        ex.proc.send_signal(signal.SIGTERM)
        expect_close(a, 1001)
    assert ex.proc.wait(timeout=EXIT_TIMEOUT) == 0, ex.stderr()


# --------------------------------------------------------------------------------------------
# fork after hs_start
# --------------------------------------------------------------------------------------------


def test_fork_after_start_two_children_share_the_port(start):
    ex = start("fork_after_start")
    pids: set[int] = set()
    deadline = time.monotonic() + 20
    attempts = 0
    while len(pids) < 2 and time.monotonic() < deadline and attempts < 200:
        attempts += 1
        r = curl(ex.base + "/", "-H", "Connection: close")
        assert r.status == 200
        pids.add(int(r.body))
    assert len(pids) == 2, f"only {pids} answered in {attempts} requests"
    for pid in pids:
        assert pid != ex.proc.pid
        stat = Path(f"/proc/{pid}/stat").read_text()
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        assert ppid == ex.proc.pid, f"{pid} is not a child of {ex.proc.pid}"
    assert ex.terminate() == 0, ex.stderr()
    for pid in pids:  # reaped by the parent before it exited
        assert not Path(f"/proc/{pid}").exists()
    assert "1 thread after hs_start" in ex.stderr()


def test_abi_alloc_every_allocation_and_error_path():
    """tests/c/abi_alloc.c checks itself (make sanitize also runs it under Valgrind)."""
    binary = BUILD / "abi_alloc"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `make examples` first")
    out = subprocess.run([str(binary)], capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    text = out.stdout.decode(errors="replace")
    assert out.returncode == 0, text + out.stderr.decode(errors="replace")
    checks = re.search(r"abi_alloc: (\d+) checks, 0 failed", text)
    assert checks and int(checks.group(1)) > 1000, text


# --------------------------------------------------------------------------------------------
# The header, from C, C++ and PHP
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "compiler",
    [
        ["gcc", "-std=c99", "-x", "c"],
        ["g++", "-x", "c++"],
        ["g++", "-std=c++11", "-x", "c++"],
    ],
    ids=["c99", "c++", "c++11"],
)
def test_header_compiles_and_links(compiler, tmp_path):
    exe = tmp_path / "header_check"
    cmd = [
        *compiler,
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        f"-I{INCLUDE}",
        str(ROOT / "tests" / "c" / "header_check.c"),
        "-o",
        str(exe),
        f"-L{LIBDIR}",
        f"-Wl,-rpath,{LIBDIR}",
        "-lhttpsock",
    ]
    out = subprocess.run(cmd, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    run = subprocess.run([str(exe)], capture_output=True, timeout=10)
    assert run.returncode == 0, run.stderr.decode()
    version, count = run.stdout.decode().split()
    assert version == cargo_version()
    # header_check.c takes the address of every function: it must list all the header declares.
    declared = set(re.findall(r"^[a-z].*?\b(hs_[a-z0-9_]+)\(", (INCLUDE / "httpsock.h").read_text(), re.M))
    assert int(count) == len(declared), sorted(declared)


def cargo_version() -> str:
    text = (ROOT / "Cargo.toml").read_text()
    return re.search(r'^version\s*=\s*"([^"]+)"', text, re.M).group(1)


PHP_SCRIPT = r"""
$ffi = FFI::cdef(file_get_contents($argv[1]), $argv[2]);
echo $ffi->hs_version(), "\n";
$s = $ffi->hs_new("127.0.0.1", 0);
if ($s === null) { fwrite(STDERR, $ffi->hs_last_error()); exit(1); }
$rc = $ffi->hs_start($s);
if ($rc !== 0) { fwrite(STDERR, $ffi->hs_last_error()); exit(1); }
echo $ffi->hs_port($s) > 0 ? "port ok\n" : "no port\n";
echo $ffi->hs_status_str(-1), "\n";
$ffi->hs_free($s);
echo $ffi->hs_port($s), "\n";
"""


def test_php_ffi_loads_the_ffi_header(tmp_path):
    php = shutil.which("php")
    if php is None:
        if os.environ.get("CI"):
            pytest.fail("php-cli is missing (make deps installs it)")
        pytest.skip("php-cli is not installed (make deps installs it)")
    mods = subprocess.run([php, "-m"], capture_output=True, text=True, timeout=30).stdout
    assert "FFI" in mods.split(), "PHP's FFI extension is not enabled in the CLI"
    script = tmp_path / "ffi.php"
    script.write_text("<?php\n" + PHP_SCRIPT)
    out = subprocess.run(
        [php, str(script), str(INCLUDE / "httpsock_ffi.h"), str(LIBDIR / "libhttpsock.so")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.split("\n")
    assert lines[0] == cargo_version()
    assert lines[1] == "port ok"
    assert lines[2] != ""
    assert int(lines[3]) < 0  # a freed handle is an error, never a crash


def test_ffi_header_has_no_preprocessor_lines():
    text = (INCLUDE / "httpsock_ffi.h").read_text()
    bad = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert bad == []
    assert 'extern "C"' not in text
