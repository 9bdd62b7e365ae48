"""A raw RFC 6455 + RFC 7692 client: a blocking socket, the opening handshake with a
permessage-deflate offer of our choosing, and frames written exactly as told (RSV bits,
fragments, control frames in between), so that a test sees what the server puts on the wire
(which messages it compressed) and can send what a correct client never would (bombs, RSV1 on a
ping). Every read is bounded by the socket timeout; nothing sleeps.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import zlib
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1] / "pysupport"))
from sockbuf import Closed, SocketReader  # noqa: E402,F401  (Closed: raised by the reader)

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
RSV1 = 4
TIMEOUT = 10.0
OFFER = "permessage-deflate; client_max_window_bits"


def compress(data: bytes, level: int = 6, wbits: int = 15) -> bytes:
    """One message's payload without context (RFC 7692 7.2.1: sync flush, tail removed)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def encode(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    if n == 0:
        return head + key
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + key + masked




class DeflateWS(SocketReader):
    """One connection to ws://127.0.0.1:port/ws offering `offer` (None: no offer)."""

    def __init__(self, port: int, offer: str | None = OFFER, path: str = "/ws") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.wire_in = 0  # payload bytes of data frames received
        key = base64.b64encode(os.urandom(16)).decode()
        ext = f"Sec-WebSocket-Extensions: {offer}\r\n" if offer else ""
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{ext}\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 101"), head
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        self.extension = self.headers.get("sec-websocket-extensions")
        params = [p.strip() for p in (self.extension or "").split(";")]
        # Our decompressor: one per message unless the server keeps its context.
        self.server_takeover = self.extension is not None and "server_no_context_takeover" not in params
        self.inflater = zlib.decompressobj(-15)

    def __enter__(self) -> "DeflateWS":
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, opcode: int, payload: bytes = b"", **kw) -> None:
        self.sock.sendall(encode(opcode, payload, **kw))

    def send_message(self, opcode: int, data: bytes, *, compress: bool) -> None:
        if compress:
            self.send(opcode, globals()["compress"](data), rsv=RSV1)
        else:
            self.send(opcode, data)

    def recv_frame(self) -> tuple[bool, int, int, bytes]:
        """(fin, rsv, opcode, payload) of the next frame, as on the wire."""
        b0, b1 = self._take(2)
        assert not b1 & 0x80, "the server masked a frame"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, self._take(n)

    def recv_message(self, want_compressed: bool | None = None) -> tuple[int, bytes]:
        """The next data message (control frames skipped), inflated if it came compressed;
        `want_compressed` asserts whether it did."""
        while True:
            fin, rsv, op, payload = self.recv_frame()
            if op in (PING, PONG):
                continue
            assert op != CLOSE, f"closed: {payload!r}"
            assert fin, "the server fragments nothing"
            if want_compressed is not None:
                assert (rsv == RSV1) == want_compressed, f"rsv {rsv}, len {len(payload)}"
            self.wire_in += len(payload)
            if rsv == RSV1:
                if not self.server_takeover:
                    self.inflater = zlib.decompressobj(-15)
                payload = self.inflater.decompress(payload + b"\x00\x00\xff\xff")
            else:
                assert rsv == 0, rsv
            return op, payload

    def expect_close(self, code: int) -> None:
        """The next frame other than a ping/pong is a Close with `code`; then EOF."""
        while True:
            fin, rsv, op, payload = self.recv_frame()
            if op not in (PING, PONG):
                break
        assert op == CLOSE, f"expected Close {code}, got opcode {op} ({len(payload)} bytes)"
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        assert got == code, f"expected close code {code}, got {got} ({payload[2:]!r})"
        try:
            while True:
                self._fill()
                assert False, f"data after the Close: {bytes(self.buf[:64])!r}"
        except Closed:
            pass

    def close_cleanly(self) -> None:
        self.send(CLOSE, struct.pack("!H", 1000))
        self.expect_close(1000)
