"""Idle memory per WebSocket client with and without permessage-deflate (not a test: a
measurement, printed as one JSON line per mode).

    python3 tests/deflate/idle_rss.py [N] [SERVER...]     (N 2000; SERVER c-examples/build/ws_echo 0)

For each mode (no offer; the default offer, no context takeover) a fresh server is started, N
raw clients connect, each sends one message of 1 KiB (compressed when negotiated) and reads the
echo (so that whatever a compressed message allocates has been allocated and given back), then
all stay idle (IDLE_MESSAGE=0: no message); the server's RSS growth divided by N is the cost of one idle client.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "pysupport"))
from ready import read_listening_port  # noqa: E402
from wsdeflate import BINARY, OFFER, DeflateWS  # noqa: E402


# IDLE_MESSAGE=0: the clients only connect (no message each).
SEND = os.environ.get("IDLE_MESSAGE", "1") != "0"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def settle(pid: int) -> int:
    """RSS once it stopped moving (at most 2 s)."""
    last = rss_kib(pid)
    for _ in range(20):
        time.sleep(0.1)
        now = rss_kib(pid)
        if now == last:
            return now
        last = now
    return last


def measure(argv: list[str], n: int, offer: str | None, env: dict[str, str]) -> dict:
    p = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env={**os.environ, **env})
    try:
        port = read_listening_port(p, argv[0], 15)
        # One client first: the per-thread zlib streams and the runtime's first allocations are
        # not per-client costs.
        warm = DeflateWS(port, offer)
        msg = (b"hello, this is an idle client's first and only message. " * 20)[:1024]
        warm.send_message(BINARY, msg, compress=warm.extension is not None)
        assert warm.recv_message()[1] == msg
        rss0 = settle(p.pid)
        clients = []
        for _ in range(n):
            c = DeflateWS(port, offer)
            if SEND:
                c.send_message(BINARY, msg, compress=c.extension is not None)
                assert c.recv_message(want_compressed=c.extension is not None)[1] == msg
            clients.append(c)
        rss1 = settle(p.pid)
        for c in clients:
            c.sock.close()
        warm.sock.close()
        return {"offer": offer, "env": env, "message_each": SEND, "extension": clients[0].extension, "clients": n,
                "rss0_kib": rss0, "rss_kib": rss1, "per_client_bytes": round((rss1 - rss0) * 1024 / n)}
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    argv = sys.argv[2:] or [str(ROOT / "c-examples" / "build" / "ws_echo"), "0"]
    for offer, env in ((None, {}), (OFFER, {}), (OFFER, {"HS_WS_DEFLATE_TAKEOVER": "1"})):
        if env and "deflate_echo" not in argv[0]:
            continue  # only deflate_echo reads the settings from the environment
        print(json.dumps(measure(argv, n, offer, env)), flush=True)


if __name__ == "__main__":
    main()
