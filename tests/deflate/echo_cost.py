"""Server CPU per echoed message and bytes on the wire, permessage-deflate on and off (not a
test: a measurement, one JSON line per mode).

    python3 tests/deflate/echo_cost.py [MESSAGES] [SERVER...]   (20000; c-examples/build/ws_echo 0)

One raw client sends JSON chat messages of 250-1100 bytes (compressed when negotiated, zlib
level 6 like browsers) with up to 64 in flight and checks every echo; the server's user+system
CPU time (from /proc) is divided by the messages. Bytes: payload bytes each way on the wire.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "pysupport"))
from ready import read_listening_port  # noqa: E402
from wsdeflate import OFFER, RSV1, TEXT, DeflateWS, compress, encode  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def messages(n: int) -> list[bytes]:
    rnd = random.Random(7)
    words = "hello team the build is green again meeting at noon shipping tonight thanks for the review".split()
    return [
        json.dumps({"type": "message", "room": "general", "user": {"id": i, "name": f"user{i % 97}"},
                    "text": " ".join(rnd.choice(words) for _ in range(rnd.randint(30, 160))),
                    "ts": 1_700_000_000 + i}).encode()
        for i in range(n)
    ]


def run(argv: list[str], msgs: list[bytes], offer: str | None) -> dict:
    p = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        port = read_listening_port(p, argv[0], 15)
        ws = DeflateWS(port, offer)
        on = ws.extension is not None
        frames = [encode(TEXT, compress(m), rsv=RSV1) if on else encode(TEXT, m) for m in msgs]
        sent = sum(len(f) for f in frames)
        c0 = cpu_seconds(p.pid)
        window = 64
        for i, f in enumerate(frames):
            ws.send_raw(f)
            if i >= window:
                assert ws.recv_message()[1] == msgs[i - window]
        for i in range(max(0, len(frames) - window), len(frames)):
            assert ws.recv_message()[1] == msgs[i]
        c1 = cpu_seconds(p.pid)
        ws.close_cleanly()
        raw = sum(len(m) for m in msgs)
        return {"extension": ws.extension, "messages": len(msgs), "raw_bytes_per_msg": round(raw / len(msgs)),
                "client_to_server_bytes_per_msg": round(sent / len(msgs)),
                "server_to_client_payload_per_msg": round(ws.wire_in / len(msgs)),
                "server_cpu_us_per_msg": round((c1 - c0) / len(msgs) * 1e6, 1)}
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    argv = sys.argv[2:] or [str(ROOT / "c-examples" / "build" / "ws_echo"), "0"]
    msgs = messages(n)
    for offer in (None, OFFER):
        print(json.dumps(run(argv, msgs, offer)), flush=True)


if __name__ == "__main__":
    main()
