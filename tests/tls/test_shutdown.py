"""Graceful shutdown (SIGTERM) with HTTP/2 and TLS clients connected: GOAWAY, streams in flight
finish, idle connections do not hold the exit back (the engine's grace period is 10 s; a prompt
exit here is well under it)."""

from __future__ import annotations

import signal
import time

import hpack
import pytest

from conftest import tls_env
from h2client import (DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, RawH2, frame, goaway_error,
                      request_block)
from support import tls_connect, tls_context

PROMPT_S = 3.0  # an exit slower than this waited for something it should not have


def exit_time(srv) -> float:
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(timeout=20)
    assert rc == 0
    return time.monotonic() - t0


def status_of(block: bytes) -> int:
    return int(dict(hpack.Decoder().decode(block))[":status"])


@pytest.mark.parametrize("tls", [True, False], ids=["h2", "h2c"])
def test_in_flight_stream_finishes_after_goaway(serve, certs, tls):
    """A POST whose body is half sent at SIGTERM: GOAWAY comes, the stream still completes
    (200 with the whole body echoed), then the server closes and exits."""
    srv = serve("hello", tls_env(certs) if tls else {})
    conn = RawH2(srv.port, certs["ca"] if tls else None)
    conn.server_settings()
    conn.send(frame(HEADERS, END_HEADERS, 1, request_block(
        "POST", "/echo", scheme="https" if tls else "http",
        extra=[(b"content-type", b"text/plain"), (b"content-length", b"10")])))
    conn.send(frame(DATA, 0, 1, b"01234"))
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    seen = []
    while GOAWAY not in [f[0] for f in seen]:
        f = conn.next_frame()
        assert f is not None, f"no GOAWAY: {seen}"
        conn.acknowledge(f)
        seen.append(f)
    conn.send(frame(DATA, END_STREAM, 1, b"56789"))
    seen += conn.frames_until_close(PROMPT_S)
    conn.close()
    heads = [f[3] for f in seen if f[0] == HEADERS and f[2] == 1]
    body = b"".join(f[3] for f in seen if f[0] == DATA and f[2] == 1)
    assert heads and status_of(heads[0]) == 200, seen
    assert body == b"0123456789"
    assert srv.proc.wait(timeout=15) == 0
    assert time.monotonic() - t0 < PROMPT_S


@pytest.mark.parametrize("tls", [True, False], ids=["h2", "h2c"])
def test_idle_http2_client_that_answers(serve, certs, tls):
    """An idle HTTP/2 connection whose client reads (and so acknowledges the shutdown PING):
    GOAWAY NO_ERROR, close, prompt exit."""
    srv = serve("hello", tls_env(certs) if tls else {})
    conn = RawH2(srv.port, certs["ca"] if tls else None)
    conn.server_settings()
    conn.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block(
        "GET", "/", scheme="https" if tls else "http")))
    first = conn.next_frame()
    while first is not None and first[0] != HEADERS:  # the SETTINGS ack may come first
        first = conn.next_frame()
    assert first is not None and status_of(first[3]) == 200, first
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    frames = conn.frames_until_close(PROMPT_S)
    conn.close()
    assert goaway_error(frames) == "NO_ERROR", frames
    assert srv.proc.wait(timeout=15) == 0
    assert time.monotonic() - t0 < PROMPT_S


def test_preconnected_h2_socket_does_not_hold_shutdown(serve, certs):
    srv = serve("hello", tls_env(certs))
    with tls_connect(srv.port, tls_context(certs["ca"], alpn=["h2"])) as s:
        assert s.selected_alpn_protocol() == "h2"
        took = exit_time(srv)
    assert took < PROMPT_S, f"exit took {took:.1f}s"


def test_idle_tls_http11_socket_does_not_hold_shutdown(serve, certs):
    """The same over HTTP/1.1 (the reference the h2 case is held to)."""
    srv = serve("hello", tls_env(certs))
    with tls_connect(srv.port, tls_context(certs["ca"], alpn=["http/1.1"])):
        assert exit_time(srv) < PROMPT_S
