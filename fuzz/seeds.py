"""Writes the hand-made seeds of the fuzz corpus into fuzz/corpus/<target>/seed-*.

Run once when the seeds change (`python3 fuzz/seeds.py`); the files are committed. The rest of
the corpus is what `make fuzz-corpus` merged from fuzz runs. Input formats (fuzz/src/lib.rs):

- route_pattern: pattern, then paths, separated by NUL bytes;
- raw_response: the raw response bytes;
- http_request: one set-up byte (bit 0 half-close, 1 connection-required, 2 WebSocket on,
  3 hooks, 4 small limits, 5-6 piece size, 7 rate limit), then what the client sends.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "http_corpus"))
import corpus  # noqa: E402  (tests/http_corpus/corpus.py: the 92 malformed requests)

PATTERNS = [
    "/", "/user/{id}", "/hello/{name}", "/echo", "/chat", "/ws(?:/.*)?", "/item/{kind}/(\\d+)",
    "/a/{x}/b/{y}", "/{a}/{b}", "{a}", "/files/{rest}", "/user/{id}/posts", "/v1.0/{x}",
    "/n/\\d{2,3}", "a|b", "/bad/(", "/{1x}/y", "/{a}/{a}", "/x/{_}/{b2}/z", "/é/{x}",
    "/{a}{b}", "/a{", "/{", "//{x}//",
]
PATHS = [
    "/", "/user/42", "/user/", "/user/42/posts", "/a/1/b/2", "/a/1/b/2/b/3", "/x", "/files/a/b/c",
    "/user/é/posts", "/a//b/", "/ws", "/ws/room/1", "/n/123", "/item/book/12", "/a\nb",
    "/user/4\n2", "//", "", "/hello/wor ld",
]

RAW = [
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nHello",
    b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\\Hello World!",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 302 Found\r\nLocation: /x\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\nbody",
    b"HTTP/1.0 404 Not Found\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 200 OK\n\nbody\r\n",
    b"HTTP/1.1 999 X\r\nX: \x80\xff\r\n\r\n",
    b"HTTP/1.1 099 X\r\n\r\n",
    b"HTTP/1.1 abc\r\n\r\n",
    b"hello",
    b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX:  spaced  \r\n\r\n\r\n\r\n",
]

H = b"Host: x\r\n"
WS = (b"GET /ws/lobby HTTP/1.1\r\n" + H + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
# A masked text frame "hi" and a masked close 1000.
FRAMES = bytes([0x81, 0x82, 1, 2, 3, 4, ord("h") ^ 1, ord("i") ^ 2]) + bytes(
    [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8])

REQUESTS: list[tuple[int, bytes]] = [
    (0, b"GET / HTTP/1.1\r\n" + H + b"\r\n"),
    (1, b"GET / HTTP/1.1\r\n" + H + b"\r\n"),
    (0, b"POST /echo HTTP/1.1\r\n" + H + b"Content-Type: text/x\r\nContent-Length: 5\r\n\r\nhello"),
    (0, b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    (0x20, b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    (0x40, b"GET /user/42 HTTP/1.1\r\n" + H + b"\r\nGET /user/43 HTTP/1.1\r\n" + H + b"\r\n"),
    (0, b"GET /a/1/b/2/end HTTP/1.1\r\n" + H + b"\r\n"),
    (0, b"HEAD /n/123 HTTP/1.1\r\n" + H + b"\r\nGET /n/12?q=1 HTTP/1.1\r\n" + H + b"\r\n"),
    (0, b"POST /raw HTTP/1.1\r\n" + H + b"Content-Length: 40\r\n\r\nHTTP/1.1 201 Created\r\nX-A: 1\r\n\r\nraw!!!"),
    (0, b"POST /headers HTTP/1.1\r\n" + H + b"Content-Length: 17\r\n\r\nX-A: 1\nX-B: 2\r\n\r\n"),
    (0, b"PATCH /wire?x=1 HTTP/1.1\r\n" + H + b"X-Custom: a\r\nContent-Length: 3\r\n\r\nabc"),
    (0, b"DELETE /status/204 HTTP/1.1\r\n" + H + b"\r\nDELETE /status/42 HTTP/1.1\r\n" + H + b"\r\n"),
    (0, b"GET /nowhere HTTP/1.0\r\n\r\n"),
    (0, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\n" + H + b"\r\n"),
    (2, b"GET /user/1 HTTP/1.1\r\n" + H + b"\r\nGET /connect HTTP/1.1\r\n" + H + b"\r\nGET /user/1 HTTP/1.1\r\n" + H + b"\r\nGET /disconnect/x HTTP/1.1\r\n" + H + b"\r\n"),
    (8, b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: x\r\n\r\n"),
    (8, b"GET /nowhere HTTP/1.1\r\n" + H + b"\r\n"),
    (16, b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 33\r\n\r\n" + b"a" * 33),
    (16, b"POST /echo HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\nabcd"),
    (128, (b"GET / HTTP/1.1\r\n" + H + b"\r\n") * 3),
    (4, WS + FRAMES),
    (5, WS + FRAMES[:8]),
    (4, WS.replace(b"13", b"8")),
    (0, WS),
]


def write(target: str, name: str, data: bytes) -> None:
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def main() -> None:
    for target in ("route_pattern", "raw_response", "http_request"):
        for old in (HERE / "corpus" / target).glob("seed-*"):
            old.unlink()
    for i, pat in enumerate(PATTERNS):
        paths = PATHS[i % 5::3] + ["/" + "x/" * 20]
        write("route_pattern", f"{i:02d}", "\0".join([pat, *paths]).encode())
    for i, raw in enumerate(RAW):
        write("raw_response", f"{i:02d}", raw)
    for i, (setup, raw) in enumerate(REQUESTS):
        write("http_request", f"{i:02d}", bytes([setup]) + raw)
    for case in corpus.CASES:
        setup = 4 if b"Upgrade" in case.raw else 0
        digest = hashlib.sha1(case.raw).hexdigest()[:6]
        write("http_request", f"corpus-{case.id}-{digest}", bytes([setup]) + case.raw)


if __name__ == "__main__":
    main()
