"""A wss (or ws) client for the TLS tests: the `websockets` package (sync client).

Usage: python3 wss_client.py URL [MESSAGE...]
Connects without verifying the server's certificate (self-signed, made by the test), sends each
message and reads its answer. Prints one JSON line: {"answers": [...], "extensions": header or
null} and exits 0, or "FAIL ..." and exits 1.
"""

import json
import ssl
import sys

from websockets.sync.client import connect


def main() -> int:
    url = sys.argv[1]
    context = None
    if url.startswith("wss://"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    answers = []
    with connect(url, ssl=context, open_timeout=5, close_timeout=5, max_size=2**22) as ws:
        for message in sys.argv[2:]:
            ws.send(message)
            answers.append(ws.recv(timeout=5))
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        ws.close(1000, "done")
    print(json.dumps({"answers": answers, "extensions": extensions}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - report anything to the PHP test
        print(f"FAIL {type(e).__name__}: {e}")
        sys.exit(1)
