"""Bad input on the TLS and HTTP/2 paths: each gets its answer (an alert, a close, a GOAWAY or
RST_STREAM with the right code, a 431), the server stays alive, a normal request succeeds
afterwards, and the server's descriptors come back to where they were (no leak).

The module's servers (conftest): hello over TLS and plain hello (h2c), HS_IDLE_MS=1000,
HS_MAX_HEADER_BYTES=8192, HS_MAX_BODY_BYTES=4096, HS_H2_MAX_STREAMS=10.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time

import pytest

from h2client import (
    CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, H2, HEADERS, PING, PREFACE,
    RST_STREAM, SETTINGS, SETTINGS_MAX_CONCURRENT_STREAMS, WINDOW_UPDATE, RawH2, frame,
    goaway_error, hpack_literal, request_block, rst_errors, settings_frame,
)
from support import IO_TIMEOUT, curl, read_until_closed, tls_connect, tls_context

IDLE_S = 1.0


def healthy(srv, certs, tls: bool) -> None:
    """A normal HTTP/2 request on a new connection still works."""
    if tls:
        r = curl(f"https://127.0.0.1:{srv.port}/whoami", "--http2", ca=certs["ca"])
    else:
        r = curl(f"http://127.0.0.1:{srv.port}/whoami", "--http2-prior-knowledge")
    assert (r.status, r.http_version) == (200, "2")
    assert srv.alive()


@pytest.fixture
def fd_check(hello_tls, hello_plain, certs):
    """Both servers' descriptor counts before the test; after it, both must come back."""
    for srv, tls in ((hello_tls, True), (hello_plain, False)):
        healthy(srv, certs, tls)
    before = {s: s.fds() for s in (hello_tls, hello_plain)}
    yield
    for srv, tls in ((hello_tls, True), (hello_plain, False)):
        healthy(srv, certs, tls)
        # connections still open at the idle timeout are cut then: allow that long
        after = srv.wait_fds(before[srv], timeout=IDLE_S + 3)
        assert after <= before[srv], f"{srv.name}: {after} descriptors, {before[srv]} before"


@pytest.fixture(params=["tls", "h2c"])
def target(request, hello_tls, hello_plain, certs):
    """(server, CA or None) for the HTTP/2 violations: over TLS and as h2c."""
    if request.param == "tls":
        return hello_tls, certs["ca"]
    return hello_plain, None


def raw(srv, data: bytes) -> tuple[bytes, bool]:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT) as s:
        s.sendall(data)
        return read_until_closed(s, IDLE_S + 3)


# ---- the TLS layer --------------------------------------------------------------------------

def test_plain_http_to_tls_port(hello_tls, fd_check):
    """A plain-text request on the TLS port is not served: a clear-text 400 that says to use
    https, then the connection closes."""
    got, closed = raw(hello_tls, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert closed, got
    assert got.startswith(b"HTTP/1.1 400 "), got
    assert b"https://" in got and b"Hello" not in got, got


def test_garbage_instead_of_client_hello(hello_tls, fd_check):
    got, closed = raw(hello_tls, bytes(range(256)) * 4)
    assert closed and b"Hello" not in got, got
    # a TLS record header claiming a handshake but holding nonsense
    got, closed = raw(hello_tls, b"\x16\x03\x01\x00\x10" + b"\xff" * 16)
    assert closed, got


def test_stalled_handshake_cut_at_idle_timeout(hello_tls, fd_check):
    """Connected, then nothing (or half a ClientHello): cut near HS_IDLE_MS, like a slowloris."""
    for opening in (b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):
        t0 = time.monotonic()
        got, closed = raw(hello_tls, opening)
        took = time.monotonic() - t0
        assert closed, f"still open after {took:.1f}s"
        assert IDLE_S * 0.8 <= took <= IDLE_S + 2.5, f"cut after {took:.2f}s, idle is {IDLE_S}s"


def test_handshake_then_silence_cut(hello_tls, certs, fd_check):
    """A finished handshake and no request is the ordinary idle timeout."""
    with tls_connect(hello_tls.port, tls_context(certs["ca"], alpn=["http/1.1"])) as s:
        t0 = time.monotonic()
        _, closed = read_until_closed(s, IDLE_S + 3)
        assert closed and time.monotonic() - t0 >= IDLE_S * 0.8


def test_many_failed_handshakes(hello_tls, certs, fd_check):
    """50 clients that refuse the server's certificate (they do not trust the CA)."""
    ctx = ssl.create_default_context()
    for _ in range(50):
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_connect(hello_tls.port, ctx)


# ---- HTTP/2 frames that break the protocol ----------------------------------------------------

def test_bad_preface(target, certs, fd_check):
    srv, ca = target
    conn = RawH2(srv.port, ca, preface=False)
    conn.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + settings_frame())
    frames = conn.frames_until_close()
    conn.close()
    assert all(f[0] != HEADERS for f in frames)


def test_data_on_stream_zero(target, fd_check):
    srv, ca = target
    conn = RawH2(srv.port, ca)
    conn.server_settings()
    conn.send(frame(DATA, 0, 0, b"hello"))
    assert goaway_error(conn.frames_until_close()) == "PROTOCOL_ERROR"
    conn.close()


# RFC 9113 4.3 asks for COMPRESSION_ERROR on a field block that does not decode, 6.5 and 6.7
# for FRAME_SIZE_ERROR on a SETTINGS or PING frame of the wrong length; the h2 crate (hyper's
# HTTP/2, not the engine) answers PROTOCOL_ERROR to both. Either closes with a GOAWAY.
HPACK_ERRORS = ("COMPRESSION_ERROR", "PROTOCOL_ERROR")
FRAME_SIZE_ERRORS = ("FRAME_SIZE_ERROR", "PROTOCOL_ERROR")


def test_invalid_hpack(target, fd_check):
    srv, ca = target
    conn = RawH2(srv.port, ca)
    conn.server_settings()
    # 0x80: indexed header field with index 0, which HPACK forbids; then an index past the
    # static and (empty) dynamic tables
    conn.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x80"))
    assert goaway_error(conn.frames_until_close()) in HPACK_ERRORS
    conn.close()
    conn = RawH2(srv.port, ca)
    conn.server_settings()
    conn.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\x7f"))  # index 254
    assert goaway_error(conn.frames_until_close()) in HPACK_ERRORS
    conn.close()


def test_settings_with_bad_length(target, fd_check):
    srv, ca = target
    conn = RawH2(srv.port, ca)
    conn.server_settings()
    conn.send(frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00"))  # 5 bytes: not a multiple of 6
    assert goaway_error(conn.frames_until_close()) in FRAME_SIZE_ERRORS
    conn.close()


def test_window_update_zero(target, fd_check):
    srv, ca = target
    conn = RawH2(srv.port, ca)
    conn.server_settings()
    conn.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0)))
    assert goaway_error(conn.frames_until_close()) == "PROTOCOL_ERROR"
    conn.close()


def test_even_stream_id_from_client(target, fd_check):
    srv, ca = target
    conn = RawH2(srv.port, ca)
    conn.server_settings()
    conn.send(frame(HEADERS, END_HEADERS | END_STREAM, 2, request_block("GET", "/")))
    assert goaway_error(conn.frames_until_close()) == "PROTOCOL_ERROR"
    conn.close()


def test_continuation_without_headers(target, fd_check):
    srv, ca = target
    conn = RawH2(srv.port, ca)
    conn.server_settings()
    conn.send(frame(CONTINUATION, END_HEADERS, 1, hpack_literal(b"x", b"y")))
    assert goaway_error(conn.frames_until_close()) == "PROTOCOL_ERROR"
    conn.close()


def test_ping_wrong_length(target, fd_check):
    srv, ca = target
    conn = RawH2(srv.port, ca)
    conn.server_settings()
    conn.send(frame(PING, 0, 0, b"1234567"))  # 7 bytes, must be 8
    assert goaway_error(conn.frames_until_close()) in FRAME_SIZE_ERRORS
    conn.close()


# ---- floods and oversized headers -------------------------------------------------------------

def test_stream_limit_advertised_and_enforced(target, fd_check):
    """HS_H2_MAX_STREAMS=10 is advertised; streams past it are refused, the first ten finish."""
    srv, ca = target
    conn = RawH2(srv.port, ca)
    settings = conn.server_settings()
    assert settings.get(SETTINGS_MAX_CONCURRENT_STREAMS) == 10, settings
    # 30 POSTs opened, none finished (no END_STREAM): the body limit is not reached
    scheme = "https" if ca else "http"
    for i in range(30):
        conn.send(frame(HEADERS, END_HEADERS, 1 + 2 * i,
                        request_block("POST", "/echo", scheme=scheme,
                                      extra=[(b"content-type", b"text/plain")])))
    frames = []
    deadline = time.monotonic() + IO_TIMEOUT
    while len(rst_errors(frames)) < 20 and time.monotonic() < deadline:
        f = conn.next_frame(max(0.01, deadline - time.monotonic()))
        if f is None:
            break
        frames.append(f)
    refused = rst_errors(frames)
    assert sorted(refused) == [1 + 2 * i for i in range(10, 30)], refused
    assert set(refused.values()) == {"REFUSED_STREAM"}, refused
    for i in range(10):  # the first ten complete normally
        conn.send(frame(DATA, END_STREAM, 1 + 2 * i, f"body {i}".encode()))
    done = set()
    while len(done) < 10:
        f = conn.next_frame()
        assert f is not None, f"closed or timed out with {sorted(done)} finished"
        if f[0] == DATA and f[1] & END_STREAM:
            done.add(f[2])
    assert done == {1 + 2 * i for i in range(10)}
    conn.close()


def test_rapid_reset_flood(target, fd_check):
    """HEADERS + RST_STREAM, 2000 times (CVE-2023-44487 style): the server may GOAWAY
    (ENHANCE_YOUR_CALM) but must stay up and keep serving other connections."""
    srv, ca = target
    conn = RawH2(srv.port, ca)
    conn.server_settings()
    scheme = "https" if ca else "http"
    block = request_block("GET", "/", scheme=scheme)
    burst = b"".join(frame(HEADERS, END_HEADERS | END_STREAM, sid, block) +
                     frame(RST_STREAM, 0, sid, struct.pack(">I", 8))
                     for sid in range(1, 4001, 2))
    conn.send(burst)
    frames = []
    while True:  # read what comes until the server closes or goes quiet
        f = conn.next_frame(1.0)
        if f is None:
            break
        frames.append(f)
    conn.close()
    err = goaway_error(frames)
    assert err in (None, "ENHANCE_YOUR_CALM", "NO_ERROR"), err
    assert srv.alive()


def test_oversized_header_block_431(target, fd_check):
    """A 20 KB header field (limit 8192): 431 on that stream, the connection goes on."""
    srv, ca = target
    h2c = H2(srv.port, ca)
    r = h2c.request("GET", "/", [("x-big", "h" * 20000)])
    assert r.status == 431, (r.status, r.reset, h2c.goaway)
    r = h2c.request("GET", "/hello/again")
    assert (r.status, r.body) == (200, b'{"hello":"again"}')
    h2c.close()


def test_continuation_flood(target, fd_check):
    """A HEADERS frame never ended, then CONTINUATION frames past any sane size (CVE-2024-27316
    style): the server must cut the connection instead of buffering without end."""
    srv, ca = target
    conn = RawH2(srv.port, ca)
    conn.server_settings()
    scheme = "https" if ca else "http"
    conn.send(frame(HEADERS, 0, 1, request_block("GET", "/", scheme=scheme)))
    chunk = frame(CONTINUATION, 0, 1, hpack_literal(b"x-flood", b"f" * 16000))
    sent = 0
    t0 = time.monotonic()
    while not conn.closed and sent < 64 * 1024 * 1024 and time.monotonic() - t0 < 10:
        try:
            conn.send(chunk * 16)
        except socket.timeout:  # the server stopped reading: it must still close, below
            break
        sent += len(chunk) * 16
    frames = [] if conn.closed else conn.frames_until_close(IDLE_S + 3)
    conn.close()
    assert sent < 16 * 1024 * 1024, f"the server took {sent >> 20} MiB of one header block"
    assert goaway_error(frames) in (None, "PROTOCOL_ERROR", "ENHANCE_YOUR_CALM",
                                    "COMPRESSION_ERROR", "FRAME_SIZE_ERROR")
    assert srv.alive()


def test_h2_preface_on_tls_without_alpn(hello_tls, certs, fd_check):
    """HTTP/2 preface on a TLS connection that negotiated no ALPN: the server may treat it as
    HTTP/2 (the preface tells) or refuse; it must not hang or crash."""
    with tls_connect(hello_tls.port, tls_context(certs["ca"])) as s:
        assert s.selected_alpn_protocol() is None
        s.sendall(PREFACE + settings_frame())
        got, _ = read_until_closed(s, 0.5)
    assert hello_tls.alive()
    assert not got.startswith(b"HTTP/1.1 200"), got[:100]


def test_goaway_from_client_is_fine(target, fd_check):
    srv, ca = target
    conn = RawH2(srv.port, ca)
    conn.server_settings()
    conn.send(frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)))
    conn.frames_until_close(IDLE_S + 3)
    conn.close()
