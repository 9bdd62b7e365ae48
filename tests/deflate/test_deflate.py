"""permessage-deflate (RFC 7692) with real clients: Python `websockets` (which offers it by
default), and a raw client (wsdeflate.py) that sees the wire and sends what a correct client
never would. Servers: c-examples/build/ws_echo (defaults) and deflate_echo (settings from the
environment), see conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import zlib

import pytest
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from wsdeflate import BINARY, CONT, PING, PONG, RSV1, TEXT, DeflateWS, compress

NCT = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
TIMEOUT = 30


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def chat(n: int, seed: int = 1) -> str:
    """n JSON chat messages joined: compressible text like a real app sends."""
    rnd = random.Random(seed)
    words = "hello team the build is green again meeting at noon shipping tonight thanks".split()
    return "\n".join(
        json.dumps({"type": "message", "room": "general", "user": {"id": i, "name": f"user{i}"},
                    "text": " ".join(rnd.choice(words) for _ in range(rnd.randint(5, 40)))})
        for i in range(n)
    )


def negotiated(ws) -> list:
    return [type(e).__name__ for e in ws.protocol.extensions]


# ---- Python websockets ---------------------------------------------------------------------


def test_websockets_negotiates_it_with_the_default_server(ws_echo):
    async def go():
        async with connect(ws_echo.url) as ws:
            assert ws.response.headers["Sec-WebSocket-Extensions"] == NCT
            assert negotiated(ws) == ["PerMessageDeflate"]
            ext = ws.protocol.extensions[0]
            assert (ext.remote_no_context_takeover, ext.local_no_context_takeover) == (True, True)
    run(go())


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 4096, 1 << 20])
def test_websockets_echo_byte_exact(ws_echo, size):
    text = (chat(size // 100 + 1) * 2)[:size]
    noise = os.urandom(size)
    zeros = bytes(size)

    async def go():
        async with connect(ws_echo.url, max_size=None) as ws:
            for msg in (text, noise, zeros, text.encode()):
                await ws.send(msg)
                assert await ws.recv() == msg
    run(go())


def test_websockets_fragmented_compressed_messages(ws_echo):
    parts = [chat(30, seed=s) for s in range(5)]

    async def go():
        async with connect(ws_echo.url) as ws:
            await ws.send(iter(parts))
            assert await ws.recv() == "".join(parts)
            await ws.send(iter([p.encode() for p in parts]))
            assert await ws.recv() == "".join(parts).encode()
            # Fragments interleaved with a ping (websockets sends it between the frames).
            async def frames():
                for i, p in enumerate(parts):
                    yield p
                    await ws.ping(b"between %d" % i)
            await ws.send(frames())
            assert await ws.recv() == "".join(parts)
    run(go())


@pytest.mark.parametrize("takeover", [0, 1])
def test_websockets_context_takeover_on_and_off(start, takeover):
    s = start(HS_WS_DEFLATE_TAKEOVER=takeover)
    msgs = [chat(20, seed=i % 3) for i in range(30)]

    async def go():
        async with connect(s.url) as ws:
            ext = ws.protocol.extensions[0]
            header = ws.response.headers["Sec-WebSocket-Extensions"]
            if takeover:
                assert header == "permessage-deflate"
                assert (ext.remote_no_context_takeover, ext.local_no_context_takeover) == (False, False)
            else:
                assert header == NCT
            for m in msgs:
                await ws.send(m)
                assert await ws.recv() == m
        # The client may still refuse takeover for either side.
        ext = ClientPerMessageDeflateFactory(server_no_context_takeover=True)
        async with connect(s.url, extensions=[ext]) as ws:
            want = NCT if not takeover else "permessage-deflate; server_no_context_takeover"
            assert ws.response.headers["Sec-WebSocket-Extensions"] == want
            for m in msgs:
                await ws.send(m)
                assert await ws.recv() == m
    run(go())


def test_websockets_without_compression(start):
    s = start(HS_WS_DEFLATE=0)

    async def go():
        async with connect(s.url) as ws:
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            assert negotiated(ws) == []
            m = chat(50)
            await ws.send(m)
            assert await ws.recv() == m
    run(go())


def test_websockets_window_bits(start):
    s = start(HS_WS_DEFLATE_BITS=10)
    ext = ClientPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=11)

    async def go():
        async with connect(s.url, extensions=[ext], max_size=None) as ws:
            h = ws.response.headers["Sec-WebSocket-Extensions"]
            assert h == NCT + "; server_max_window_bits=10", h
            m = chat(2000)
            await ws.send(m)
            assert await ws.recv() == m
    run(go())


# ---- on the wire ---------------------------------------------------------------------------


def test_large_messages_go_out_compressed_small_and_incompressible_ones_do_not(ws_echo):
    with DeflateWS(ws_echo.port) as ws:
        assert ws.extension == NCT
        small = b"x" * 255
        ws.send_message(TEXT, small, compress=False)
        assert ws.recv_message(want_compressed=False) == (TEXT, small)
        big = chat(40).encode()
        ws.send_message(TEXT, big, compress=True)
        assert ws.recv_message(want_compressed=True) == (TEXT, big)
        assert ws.wire_in < len(small) + len(big) / 2
        noise = os.urandom(5000)
        ws.send_message(BINARY, noise, compress=True)
        assert ws.recv_message(want_compressed=False) == (BINARY, noise)
        ws.close_cleanly()


def test_min_size_setting(start):
    s = start(HS_WS_DEFLATE_MIN=20)
    with DeflateWS(s.port) as ws:
        ws.send_message(TEXT, b"a" * 19, compress=False)
        assert ws.recv_message(want_compressed=False) == (TEXT, b"a" * 19)
        ws.send_message(TEXT, b"a" * 40, compress=False)
        assert ws.recv_message(want_compressed=True) == (TEXT, b"a" * 40)
        ws.close_cleanly()


def test_no_offer_no_extension(ws_echo):
    with DeflateWS(ws_echo.port, offer=None) as ws:
        assert ws.extension is None
        big = chat(40).encode()
        ws.send_message(TEXT, big, compress=False)
        assert ws.recv_message(want_compressed=False) == (TEXT, big)
        ws.close_cleanly()
    # RSV1 without the extension is still a protocol error.
    with DeflateWS(ws_echo.port, offer=None) as ws:
        ws.send_message(TEXT, big, compress=True)
        ws.expect_close(1002)


@pytest.mark.parametrize(
    "offer,answer",
    [
        ("permessage-deflate; server_max_window_bits=16, permessage-deflate", NCT),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
        ("x-webkit-deflate-frame", None),
        ("permessage-deflate; server_max_window_bits=9", NCT + "; server_max_window_bits=9"),
    ],
)
def test_offers(ws_echo, offer, answer):
    with DeflateWS(ws_echo.port, offer=offer) as ws:
        assert ws.extension == answer
        m = chat(20).encode()
        ws.send_message(TEXT, m, compress=answer is not None)
        assert ws.recv_message(want_compressed=answer is not None) == (TEXT, m)
        ws.close_cleanly()


def test_fragmented_compressed_message_with_pings_between(ws_echo):
    with DeflateWS(ws_echo.port) as ws:
        data = chat(200).encode()
        z = compress(data)
        cuts = [0, 1, len(z) // 3, len(z) // 2, len(z)]
        frames = b""
        for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
            first, last = i == 0, i == len(cuts) - 2
            frames += ws_frame(BINARY if first else CONT, z[a:b], fin=last, rsv=RSV1 if first else 0)
            if not last:
                frames += ws_frame(PING, b"p%d" % i)
        ws.send_raw(frames)
        # The pongs come first: the pings arrived before the message was whole.
        for i in range(len(cuts) - 2):
            assert ws.recv_frame() == (True, 0, PONG, b"p%d" % i)
        assert ws.recv_message(want_compressed=True) == (BINARY, data)
        ws.close_cleanly()


def ws_frame(opcode, payload, **kw):
    from wsdeflate import encode
    return encode(opcode, payload, **kw)


def test_context_takeover_on_the_wire(start):
    """With takeover, the server's second identical message refers to the first (much
    smaller), and it inflates our messages that refer to our previous ones."""
    s = start(HS_WS_DEFLATE_TAKEOVER=1)
    with DeflateWS(s.port, offer="permessage-deflate") as ws:
        assert ws.extension == "permessage-deflate"
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        msg = chat(10).encode()
        sizes = []
        for _ in range(3):
            z = c.compress(msg) + c.flush(zlib.Z_SYNC_FLUSH)
            ws.send(TEXT, z[:-4], rsv=RSV1)
            before = ws.wire_in
            assert ws.recv_message(want_compressed=True) == (TEXT, msg)
            sizes.append(ws.wire_in - before)
        assert sizes[1] < sizes[0] / 4, sizes
        ws.close_cleanly()


def test_broadcast_reaches_every_compressed_client(start):
    s = start()
    clients = [DeflateWS(s.port, offer=o) for o in (None, "permessage-deflate") * 3]
    try:
        msg = b"broadcast:" + chat(30).encode()
        clients[1].send_message(TEXT, msg, compress=True)
        for c in clients:
            assert c.recv_message(want_compressed=c.extension is not None) == (TEXT, msg)
        for c in clients:
            c.close_cleanly()
    finally:
        for c in clients:
            c.sock.close()


# ---- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frames,code",
    [
        (ws_frame(PING, b"x", rsv=RSV1), 1002),
        (ws_frame(TEXT, b"a", fin=False) + ws_frame(CONT, compress(b"b"), rsv=RSV1), 1002),
        (ws_frame(TEXT, compress(b"a" * 300), rsv=RSV1 | 2), 1002),
        (ws_frame(BINARY, b"\xff\xfe\xfd not deflate", rsv=RSV1), 1007),
        (ws_frame(TEXT, compress(b"\xff\xfe invalid utf-8"), rsv=RSV1), 1007),
    ],
    ids=["rsv1-on-ping", "rsv1-on-continuation", "rsv2", "not-deflate", "bad-utf8"],
)
def test_bad_input_fails_the_connection(ws_echo, frames, code):
    with DeflateWS(ws_echo.port) as ws:
        ws.send_raw(frames)
        ws.expect_close(code)


def test_decompression_bomb_closed_1009_memory_flat(start):
    limit = 1 << 20
    s = start(HS_WS_MAX_MESSAGE=limit)
    bomb = compress(bytes(256 << 20), level=9)  # 256 MiB of zeros
    assert len(bomb) < 300_000, len(bomb)
    # Warm up: a message near the limit, so the baseline includes one message's buffers.
    with DeflateWS(s.port) as ws:
        m = bytes(limit - 100)
        ws.send_message(BINARY, m, compress=True)
        assert ws.recv_message() == (BINARY, m)
        ws.close_cleanly()
    base_rss, base_peak = s.rss_kib(), s.rss_kib("VmHWM")
    for _ in range(10):
        with DeflateWS(s.port) as ws:
            ws.send(BINARY, bomb, rsv=RSV1)
            ws.expect_close(1009)
    # Inflated, each bomb would be 256 MiB; the server stopped at the limit (1 MiB).
    peak, rss = s.rss_kib("VmHWM"), s.rss_kib()
    assert peak - base_peak < 8 * 1024, (base_peak, peak)
    assert rss - base_rss < 4 * 1024, (base_rss, rss)
    # Just past the limit when inflated: also 1009; at the limit: echoed.
    with DeflateWS(s.port) as ws:
        ws.send(BINARY, compress(bytes(limit + 1)), rsv=RSV1)
        ws.expect_close(1009)
    with DeflateWS(s.port) as ws:
        ws.send(BINARY, compress(bytes(limit)), rsv=RSV1)
        assert ws.recv_message() == (BINARY, bytes(limit))
        ws.close_cleanly()
