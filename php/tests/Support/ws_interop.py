"""Interop check with an independent client: the `websockets` package (sync client).

Usage: python3 ws_interop.py ws://127.0.0.1:PORT/echo
Sends a text, a binary and a 100 KiB text message, expects each echoed in the same frame type,
pings, then closes with 1000. Prints "ok" and exits 0, or prints the failure and exits 1.
"""

import sys

from websockets.sync.client import connect


def main() -> int:
    url = sys.argv[1]
    with connect(url, open_timeout=5, close_timeout=5, max_size=2**22) as ws:
        ws.send("hello from python")
        got = ws.recv(timeout=5)
        assert got == "hello from python", repr(got)
        ws.send(b"\x00\x01\xfe\xff binary")
        got = ws.recv(timeout=5)
        assert got == b"\x00\x01\xfe\xff binary", repr(got)
        big = "x" * 100_000
        ws.send(big)
        got = ws.recv(timeout=5)
        assert got == big, len(got)
        ws.ping(b"p").wait(5)
        ws.close(1000, "done")
    print("ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - report anything to the PHP test
        print(f"FAIL {type(e).__name__}: {e}")
        sys.exit(1)
