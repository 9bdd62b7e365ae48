"""HTTP/2 clients for tests/tls: a well-behaved one on Python's `h2` state machine (requests,
RFC 8441 WebSocket streams), and a raw one that writes any frame, valid or not, and reads the
server's frames without judging them (protocol violations). Both over TLS (ALPN h2) or
cleartext (h2c, prior knowledge). Every read is bounded.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from support import IO_TIMEOUT, tls_connect, tls_context

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# frame types and error codes (RFC 9113)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
          4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM",
          8: "CANCEL", 9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM",
          12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6
SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8


def open_socket(port: int, ca: str | None, server_name: str = "localhost") -> socket.socket:
    """TCP to 127.0.0.1:port; with `ca`, TLS with ALPN h2 (asserted)."""
    if ca:
        sock = tls_connect(port, tls_context(ca, alpn=["h2"]), server_name)
        assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
    else:
        sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(IO_TIMEOUT)
    return sock


def frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream & 0x7FFFFFFF) + payload


def settings_frame(**values: int) -> bytes:
    ids = {"max_concurrent_streams": 3, "initial_window_size": 4, "max_header_list_size": 6,
           "enable_push": 2}
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in values.items()))


def hpack_literal(name: bytes, value: bytes) -> bytes:
    """A header as an HPACK literal without indexing, new name, no Huffman coding (names and
    values below 127 bytes use one length byte, longer ones the integer continuation)."""
    def string(s: bytes) -> bytes:
        n = len(s)
        if n < 127:
            return bytes([n]) + s
        out, n = bytearray([127]), n - 127
        while n >= 128:
            out.append((n % 128) + 128)
            n //= 128
        out.append(n)
        return bytes(out) + s
    return b"\x00" + string(name) + string(value)


def request_block(method: str, path: str, authority: str = "localhost", scheme: str = "https",
                  extra: list[tuple[bytes, bytes]] = ()) -> bytes:
    block = b"".join(hpack_literal(n, v) for n, v in [
        (b":method", method.encode()), (b":scheme", scheme.encode()), (b":path", path.encode()),
        (b":authority", authority.encode())])
    return block + b"".join(hpack_literal(n, v) for n, v in extra)


class RawH2:
    """Writes bytes as given; reads frames as (type, flags, stream, payload)."""

    def __init__(self, port: int, ca: str | None = None, preface: bool = True):
        self.sock = open_socket(port, ca)
        self.buf = b""
        self.closed = False
        if preface:
            self.send(PREFACE + settings_frame())

    def send(self, data: bytes) -> None:
        """Writes `data`; a server that already closed (TCP reset, TLS close) sets `closed`."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            self.closed = True

    def next_frame(self, timeout: float = IO_TIMEOUT):
        """The next frame, or None when the server closed the connection (or timed out: then
        `timed_out` is set)."""
        deadline = time.monotonic() + timeout
        self.timed_out = False
        while True:
            if len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + length:
                    ftype, flags = self.buf[3], self.buf[4]
                    stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                    payload = self.buf[9:9 + length]
                    self.buf = self.buf[9 + length:]
                    return ftype, flags, stream, payload
            left = deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                self.timed_out = True
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self.buf += chunk

    def frames_until_close(self, timeout: float = IO_TIMEOUT) -> list:
        """Every frame until the server closes (settings are acknowledged on the way, so that
        only the test's own violation counts). Fails if the server keeps it open `timeout`."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            f = self.next_frame(max(0.01, deadline - time.monotonic()))
            if f is None:
                assert not self.timed_out, f"the server kept the connection open: {out}"
                return out
            out.append(f)
            self.acknowledge(f)

    def acknowledge(self, f) -> None:
        """Acknowledges a SETTINGS or PING frame of the server's (as any client must)."""
        if f[0] == SETTINGS and not f[1] & ACK:
            self.send(frame(SETTINGS, ACK, 0))
        elif f[0] == PING and not f[1] & ACK:
            self.send(frame(PING, ACK, 0, f[3]))

    def server_settings(self, timeout: float = IO_TIMEOUT) -> dict[int, int]:
        """The server's first SETTINGS frame (acknowledged), as {id: value}."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.next_frame(max(0.01, deadline - time.monotonic()))
            assert f is not None, "no SETTINGS from the server"
            if f[0] == SETTINGS and not f[1] & ACK:
                self.send(frame(SETTINGS, ACK, 0))
                p = f[3]
                return {struct.unpack(">H", p[i:i + 2])[0]: struct.unpack(">I", p[i + 2:i + 6])[0]
                        for i in range(0, len(p), 6)}

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def goaway_error(frames: list) -> str | None:
    """The error code name of the last GOAWAY among `frames`, or None."""
    codes = [struct.unpack(">I", f[3][4:8])[0] for f in frames if f[0] == GOAWAY]
    return ERRORS.get(codes[-1], str(codes[-1])) if codes else None


def rst_errors(frames: list) -> dict[int, str]:
    """{stream: error name} of the RST_STREAM frames among `frames`."""
    return {f[2]: ERRORS.get(struct.unpack(">I", f[3][:4])[0], "?") for f in frames
            if f[0] == RST_STREAM}


class Response:
    def __init__(self):
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""
        self.ended = False
        self.reset: str | None = None


class H2:
    """A well-behaved HTTP/2 client on the `h2` package."""

    def __init__(self, port: int, ca: str | None = None, server_name: str = "localhost"):
        self.sock = open_socket(port, ca, server_name)
        self.scheme = "https" if ca else "http"
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.responses: dict[int, Response] = {}
        self.data_events: dict[int, bytearray] = {}
        self.remote_settings: dict[int, int] = {}
        self.goaway: str | None = None
        self.closed = False

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, timeout: float) -> bool:
        """Reads once (up to `timeout`), feeds h2, records the events. False when closed."""
        self.sock.settimeout(max(timeout, 0.01))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        for ev in self.conn.receive_data(chunk):
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                for k, v in ev.changed_settings.items():
                    self.remote_settings[int(k)] = v.new_value
            elif isinstance(ev, h2.events.ResponseReceived):
                r = self.responses.setdefault(ev.stream_id, Response())
                r.headers = {k: v for k, v in ev.headers}
                r.status = int(r.headers[":status"])
            elif isinstance(ev, h2.events.DataReceived):
                self.responses.setdefault(ev.stream_id, Response()).body += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.responses.setdefault(ev.stream_id, Response()).ended = True
            elif isinstance(ev, h2.events.StreamReset):
                self.responses.setdefault(ev.stream_id, Response()).reset = \
                    ERRORS.get(int(ev.error_code), str(ev.error_code))
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ERRORS.get(int(ev.error_code), str(ev.error_code))
        self.flush()
        return True

    def wait(self, cond, timeout: float = IO_TIMEOUT, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"HTTP/2: no {what} within {timeout}s")
            if not self.pump(left):
                if cond():
                    return
                raise AssertionError(f"HTTP/2: connection closed before {what} "
                                     f"(GOAWAY {self.goaway})")

    def wait_settings(self) -> dict[int, int]:
        self.wait(lambda: self.remote_settings, what="server SETTINGS")
        return self.remote_settings

    def start(self, method: str, path: str, headers: list[tuple[str, str]] = (),
              body: bytes | None = None, end: bool = True) -> int:
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", self.scheme), (":path", path),
                (":authority", "localhost"), *headers]
        self.conn.send_headers(sid, hdrs, end_stream=end and body is None)
        if body is not None:
            self.send_data(sid, body, end=end)
        self.flush()
        self.responses[sid] = Response()
        return sid

    def send_data(self, sid: int, data: bytes, end: bool = False) -> None:
        """Sends `data` within the flow-control window (waits for WINDOW_UPDATEs as needed)."""
        view = memoryview(data)
        while True:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0 and len(view):
                self.flush()
                self.pump(IO_TIMEOUT)
                continue
            n = min(window, len(view))
            self.conn.send_data(sid, bytes(view[:n]), end_stream=end and n == len(view))
            self.flush()
            view = view[n:]
            if not len(view):
                return

    def finish(self, sid: int, timeout: float = IO_TIMEOUT) -> Response:
        r = self.responses[sid]
        self.wait(lambda: r.ended or r.reset is not None, timeout, f"end of stream {sid}")
        return r

    def request(self, method: str, path: str, headers: list[tuple[str, str]] = (),
                body: bytes | None = None) -> Response:
        return self.finish(self.start(method, path, headers, body))

    def close(self) -> None:
        try:
            self.conn.close_connection()
            self.flush()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        self.sock.close()


# ---- WebSocket frames inside DATA (RFC 8441) ---------------------------------------------------

def ws_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 5.2)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_parse(buf: bytes):
    """(opcode, payload, rest) of the first whole unmasked server frame in buf, or None."""
    if len(buf) < 2:
        return None
    opcode, n, i = buf[0] & 0x0F, buf[1] & 0x7F, 2
    assert not buf[1] & 0x80, "a server frame must not be masked"
    if n == 126:
        if len(buf) < 4:
            return None
        n, i = struct.unpack(">H", buf[2:4])[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, i = struct.unpack(">Q", buf[2:10])[0], 10
    if len(buf) < i + n:
        return None
    return opcode, buf[i:i + n], buf[i + n:]
