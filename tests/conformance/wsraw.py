"""A raw RFC 6455 client for the conformance suite: a blocking socket, the opening handshake, and
a frame encoder/decoder that writes exactly what it is told (masked or not, any RSV bits, any
opcode, any FIN, 7/16/64-bit lengths), so that a test can send frames a correct client never
would. Every read is bounded by the socket timeout; nothing sleeps.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
from dataclasses import dataclass
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1] / "pysupport"))
from sockbuf import Closed, SocketReader  # noqa: E402,F401  (Closed: raised by the reader)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

# A fixed mask key (not all zeros, so that unmasking really happens); deterministic runs.
MASK_KEY = b"\x37\xfa\x21\x3d"
TIMEOUT = 10.0  # seconds: the bound of any single socket operation


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR with the repeated 4-byte key (RFC 6455 5.3); fast for 16 MiB through big ints."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def encode(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    key: bytes = MASK_KEY,
    length: int | None = None,
) -> bytes:
    """One frame. `rsv` is the 3-bit RSV1..3 field (4 = RSV1, 2 = RSV2, 1 = RSV3); `length`
    overrides the announced payload length (the payload itself is not changed)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)])
    m = 0x80 if masked else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if masked:
        return head + key + mask(payload, key)
    return head + payload


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        assert self.opcode == CLOSE, f"not a Close frame: {self}"
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def __repr__(self) -> str:  # keep 16 MiB payloads out of assertion messages
        p = self.payload if len(self.payload) <= 64 else self.payload[:64] + b"..."
        return f"Frame(fin={self.fin}, rsv={self.rsv}, opcode={self.opcode:#x}, len={len(self.payload)}, payload={p!r})"




class RawWS(SocketReader):
    """One client connection to ws://127.0.0.1:port/path."""

    def __init__(self, port: int, path: str = "/ws", timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        key = base64.b64encode(b"conformance-key!").decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 101"), f"handshake refused: {head!r}"
        headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        expect = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        assert headers.get("sec-websocket-accept") == expect, headers
        assert "sec-websocket-extensions" not in headers, "no extension was offered"

    def __enter__(self) -> "RawWS":
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    # -- writing ---------------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, opcode: int, payload: bytes = b"", **kw) -> None:
        self.sock.sendall(encode(opcode, payload, **kw))

    def send_fragments(self, opcode: int, payload: bytes, size: int) -> None:
        """`payload` as one message in frames of `size` bytes (at least two frames when
        possible; an empty message as an empty first frame and an empty last one)."""
        chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
        if len(chunks) == 1:
            chunks.append(b"")
        out = bytearray()
        for i, chunk in enumerate(chunks):
            out += encode(opcode if i == 0 else CONT, chunk, fin=i == len(chunks) - 1)
            if len(out) >= 1 << 20:
                self.sock.sendall(out)
                out.clear()
        self.sock.sendall(out)

    def send_close(self, code: int | None = 1000, reason: bytes = b"") -> None:
        self.send(CLOSE, close_payload(code, reason))

    # -- reading ---------------------------------------------------------------------------------

    def recv(self) -> Frame:
        """The next frame; server frames must be unmasked (RFC 6455 5.1)."""
        b0, b1 = self._take(2)
        assert not b1 & 0x80, "the server masked a frame (RFC 6455 5.1 forbids it)"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, self._take(n))

    def expect_eof(self) -> None:
        """After the server's Close: the server ends the TCP connection, nothing more arrives."""
        try:
            while True:
                self._fill()
                raise AssertionError(f"data after the Close frame: {bytes(self.buf[:64])!r}")
        except Closed:
            pass

    def expect_close(self, code: int | None) -> Frame:
        """The next frame is a Close with `code` (None: an empty Close), then the TCP ends."""
        f = self.recv()
        assert f.opcode == CLOSE, f"expected Close {code}, got {f}"
        assert f.fin and f.rsv == 0, f
        assert len(f.payload) != 1 and len(f.payload) <= 125, f
        assert f.close_code == code, f"expected close code {code}, got {f.close_code} ({f.payload[2:]!r})"
        f.payload[2:].decode("utf-8")  # a close reason is UTF-8 (RFC 6455 5.5.1)
        self.expect_eof()
        return f

    def expect_message(self, opcode: int, payload: bytes) -> None:
        """The next frame is one whole message of this type and payload."""
        f = self.recv()
        assert (f.fin, f.rsv, f.opcode) == (True, 0, opcode), f"expected a {opcode:#x} message, got {f}"
        assert len(f.payload) == len(payload), f"length {len(f.payload)} != {len(payload)}"
        assert f.payload == payload, "payload differs"

    def close_cleanly(self) -> None:
        """Our Close 1000, the server's Close 1000 back, then EOF."""
        self.send_close(1000)
        self.expect_close(1000)
