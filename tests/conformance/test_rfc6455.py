"""RFC 6455 conformance of the WebSocket engine, one case per rule, against both echo servers (the
C example ws_echo and the PHP wrapper's echo_server.php), through a raw-frame client (wsraw.py).

Every case asserts the exact frames the server answers: the echoed message (one frame, same
type, same bytes), the Pong, or the Close and its code followed by the end of the TCP connection.
After every case, the server must take a new connection (conftest.server_still_alive).

Section numbers are RFC 6455's. "Fail the WebSocket Connection" (7.1.7) is checked as: a Close
with the code of 7.4.1 that fits (1002 protocol error, 1007 invalid data, 1009 too big), then EOF.
"""

from __future__ import annotations

import pytest

from conftest import PING_INTERVAL_MS, PING_TIMEOUT_MS, SMALL_LIMIT
from wsraw import BINARY, CLOSE, CONT, PING, PONG, TEXT, Closed, RawWS, close_payload, encode

MiB = 1 << 20
MAX_MESSAGE = 16 * MiB  # the engine's default (src/engine/config.rs: ws_max_message)


def text_of(size: int) -> bytes:
    """`size` bytes of valid UTF-8 with 1- to 4-byte sequences (so that fragment boundaries fall
    inside characters), padded with ASCII to the exact size."""
    unit = "aé€😀".encode()  # 1 + 2 + 3 + 4 bytes
    body = unit * (size // len(unit))
    return body + b"z" * (size - len(body))


def binary_of(size: int) -> bytes:
    return bytes(range(256)) * (size // 256) + bytes(range(size % 256))


# ---------------------------------------------------------------------------------------------
# 5.1-5.3 framing: masking, reserved bits, opcodes
# ---------------------------------------------------------------------------------------------


def test_masked_frame_is_unmasked_and_echoed(srv):
    """5.3: the server unmasks with the frame's key (a fixed non-zero key here) and its own
    frames are not masked (checked by the decoder)."""
    with RawWS(srv.port) as ws:
        ws.send(TEXT, b"Hello, masked world")
        ws.expect_message(TEXT, b"Hello, masked world")
        ws.close_cleanly()


@pytest.mark.parametrize("opcode", [TEXT, CLOSE, PING], ids=["text", "close", "ping"])
def test_unmasked_client_frame_fails_1002(srv, opcode):
    """5.1: a server MUST close the connection upon receiving a frame that is not masked."""
    payload = close_payload(1000) if opcode == CLOSE else b"unmasked"
    with RawWS(srv.port) as ws:
        ws.send(opcode, payload, masked=False)
        ws.expect_close(1002)


@pytest.mark.parametrize("rsv", [4, 2, 1, 7], ids=["rsv1", "rsv2", "rsv3", "rsv123"])
@pytest.mark.parametrize("opcode", [TEXT, PING], ids=["text", "ping"])
def test_reserved_bits_fail_1002(srv, rsv, opcode):
    """5.2: RSV1-3 MUST be 0 unless an extension defines them (none is negotiated)."""
    with RawWS(srv.port) as ws:
        ws.send(opcode, b"rsv", rsv=rsv)
        ws.expect_close(1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF], ids=lambda o: f"op{o:X}")
def test_reserved_opcode_fails_1002(srv, opcode):
    """5.2: reserved opcodes (3-7 data, B-F control) fail the connection."""
    with RawWS(srv.port) as ws:
        ws.send(opcode, b"reserved")
        ws.expect_close(1002)


# ---------------------------------------------------------------------------------------------
# 5.4-5.5 fragmentation and control frames
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE], ids=["ping", "pong", "close"])
def test_control_frame_over_125_bytes_fails_1002(srv, opcode):
    """5.5: control frames MUST have a payload length of 125 bytes or less."""
    payload = close_payload(1000, b"x" * 124) if opcode == CLOSE else b"x" * 126
    assert len(payload) == 126
    with RawWS(srv.port) as ws:
        ws.send(opcode, payload)
        ws.expect_close(1002)


def test_control_frame_of_125_bytes_is_fine(srv):
    """5.5: 125 bytes is allowed: the Pong carries the same 125 bytes (5.5.3)."""
    with RawWS(srv.port) as ws:
        ws.send(PING, b"p" * 125)
        f = ws.recv()
        assert (f.fin, f.opcode, f.payload) == (True, PONG, b"p" * 125), f
        ws.close_cleanly()


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE], ids=["ping", "pong", "close"])
def test_fragmented_control_frame_fails_1002(srv, opcode):
    """5.5: control frames MUST NOT be fragmented (FIN=0)."""
    payload = close_payload(1000) if opcode == CLOSE else b"frag"
    with RawWS(srv.port) as ws:
        ws.send(opcode, payload, fin=False)
        ws.expect_close(1002)


@pytest.mark.parametrize("fin", [True, False], ids=["fin", "nofin"])
def test_continuation_without_start_fails_1002(srv, fin):
    """5.4: a continuation frame with no message open."""
    with RawWS(srv.port) as ws:
        ws.send(CONT, b"orphan", fin=fin)
        ws.expect_close(1002)


def test_continuation_after_complete_message_fails_1002(srv):
    """5.4: once a message ended (FIN=1), a continuation has nothing to continue."""
    with RawWS(srv.port) as ws:
        ws.send(TEXT, b"done")
        ws.expect_message(TEXT, b"done")
        ws.send(CONT, b"more")
        ws.expect_close(1002)


@pytest.mark.parametrize("second", [TEXT, BINARY], ids=["text", "binary"])
def test_new_data_frame_inside_fragmented_message_fails_1002(srv, second):
    """5.4: the fragments of one message are not interleaved with another message's."""
    with RawWS(srv.port) as ws:
        ws.send(TEXT, b"first half", fin=False)
        ws.send(second, b"intruder")
        ws.expect_close(1002)


def test_ping_between_fragments_is_answered_then_message_echoed(srv):
    """5.4: control frames MAY be injected in the middle of a fragmented message; 5.5.3: the Pong
    has the Ping's payload; the message is then delivered whole."""
    with RawWS(srv.port) as ws:
        ws.send(TEXT, b"Hello, ", fin=False)
        ws.send(PING, b"in between")
        ws.send(CONT, b"fragmented ", fin=False)
        ws.send(PING, b"again")
        ws.send(CONT, b"world", fin=True)
        for payload in (b"in between", b"again"):
            f = ws.recv()
            assert (f.fin, f.opcode, f.payload) == (True, PONG, payload), f
        ws.expect_message(TEXT, b"Hello, fragmented world")
        ws.close_cleanly()


def test_pong_between_fragments_is_ignored(srv):
    with RawWS(srv.port) as ws:
        ws.send(BINARY, b"\x00\x01", fin=False)
        ws.send(PONG, b"unsolicited")
        ws.send(CONT, b"\x02\x03")
        ws.expect_message(BINARY, b"\x00\x01\x02\x03")
        ws.close_cleanly()


@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_frame_type_preserved(srv, opcode):
    """5.6: text comes back as text, binary as binary (the echo servers' contract)."""
    payload = "ünïcödé ✓".encode() if opcode == TEXT else b"\xff\x00\xfe binary"
    with RawWS(srv.port) as ws:
        ws.send(opcode, payload)
        ws.expect_message(opcode, payload)
        other = BINARY if opcode == TEXT else TEXT
        ws.send(other, b"plain")
        ws.expect_message(other, b"plain")
        ws.close_cleanly()


def test_ping_answered_with_same_payload(srv):
    """5.5.2/5.5.3: a Ping gets a Pong with the same application data (here also empty)."""
    with RawWS(srv.port) as ws:
        for payload in (b"", b"\x00\xffping"):
            ws.send(PING, payload)
            f = ws.recv()
            assert (f.fin, f.rsv, f.opcode, f.payload) == (True, 0, PONG, payload), f
        ws.close_cleanly()


def test_unsolicited_pong_is_ignored(srv):
    """5.5.3: a Pong MAY be sent unsolicited; no response is expected."""
    with RawWS(srv.port) as ws:
        ws.send(PONG, b"heartbeat")
        ws.send(TEXT, b"after pong")
        ws.expect_message(TEXT, b"after pong")
        ws.close_cleanly()


# ---------------------------------------------------------------------------------------------
# 8.1 UTF-8 of text messages
# ---------------------------------------------------------------------------------------------

INVALID_UTF8 = {
    "lone-continuation": b"ab\x80cd",
    "overlong": b"\xc0\xaf",
    "surrogate": b"\xed\xa0\x80",
    "over-U+10FFFF": b"\xf4\x90\x80\x80",
    "byte-FF": b"\xff",
    "truncated-at-end": b"abc\xe2\x82",
}


@pytest.mark.parametrize("payload", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_text_fails_1007(srv, payload):
    """8.1: a text message that is not valid UTF-8 fails the connection; 7.4.1: code 1007."""
    with RawWS(srv.port) as ws:
        ws.send(TEXT, payload)
        ws.expect_close(1007)


def test_utf8_split_across_fragments_is_echoed(srv):
    """5.6/8.1: validity is a property of the message: a character may span frames."""
    text = "κόσμε €😀".encode()
    with RawWS(srv.port) as ws:
        ws.send_fragments(TEXT, text, 1)  # every multi-byte character cut after each byte
        ws.expect_message(TEXT, text)
        ws.close_cleanly()


@pytest.mark.parametrize(
    "fragments",
    [
        [b"\xe2\x82", b"\x28"],  # a 3-byte sequence continued by a non-continuation byte
        [b"ok \xf0\x9f", b"\x98\x80\x80"],  # a 4-byte sequence completed, then a lone continuation
        [b"\xce", b"\xba\xe1", b"\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", b"end"],  # surrogate
        [b"fine so far \xe2\x82"],  # message ends inside a sequence (FIN on the last fragment)
    ],
    ids=["cut-continued-wrongly", "extra-continuation", "surrogate-mid-message", "ends-mid-sequence"],
)
def test_invalid_utf8_across_fragments_fails_1007(srv, fragments):
    """8.1: an invalid sequence spread over fragments fails the connection with 1007."""
    with RawWS(srv.port) as ws:
        frames = fragments + [b""] if len(fragments) == 1 else fragments
        for i, chunk in enumerate(frames):
            ws.send(TEXT if i == 0 else CONT, chunk, fin=i == len(frames) - 1)
        ws.expect_close(1007)


def test_binary_is_not_utf8_checked(srv):
    with RawWS(srv.port) as ws:
        ws.send(BINARY, b"\xff\xfe\xc0\xaf")
        ws.expect_message(BINARY, b"\xff\xfe\xc0\xaf")
        ws.close_cleanly()


# ---------------------------------------------------------------------------------------------
# 5.5.1 / 7 close handshake and codes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 3999, 4000, 4999]
)
def test_close_with_valid_code_is_echoed(srv, code):
    """5.5.1: the endpoint answers a Close with a Close; typically echoing the status code."""
    with RawWS(srv.port) as ws:
        ws.send_close(code, b"bye")
        ws.expect_close(code)


def test_close_1000_echoed_with_reason(srv):
    with RawWS(srv.port) as ws:
        ws.send_close(1000, "normal ✓".encode())
        f = ws.expect_close(1000)
        assert f.payload[2:] in (b"", "normal ✓".encode()), f


def test_close_without_payload_answered_with_empty_close(srv):
    """5.5.1: a Close with no body (no status code: 1005 locally) is answered by a Close; with
    no code to echo, the answer has no body either."""
    with RawWS(srv.port) as ws:
        ws.send_close(None)
        ws.expect_close(None)


def test_close_right_after_data(srv):
    """5.5.1: on a Close, the server answers with a Close "as soon as practical" and MAY first
    finish the message it is sending; after its Close it MUST NOT send data. A message still
    queued for the echo when our Close arrives may come before the Close or not at all (the
    engine does either, as its event loop picks): exactly these two answers are allowed.
    Regression: the engine used to write the queued echo after reading the Close, which failed
    (tungstenite refuses writes then) and dropped the TCP connection without the echoing Close
    in about one run of four."""
    with RawWS(srv.port) as ws:
        ws.send_raw(encode(TEXT, b"last words") + encode(CLOSE, close_payload(1000)))
        f = ws.recv()
        if f.opcode == TEXT:
            assert (f.fin, f.payload) == (True, b"last words"), f
        else:
            ws.buf[:0] = encode(CLOSE, f.payload, masked=False)  # read it again below
        ws.expect_close(1000)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_close_with_invalid_code_fails_1002(srv, code):
    """7.4.1/7.4.2: 0-999 unused, 1004-1006 and 1015 reserved or never sent on the wire,
    1016-2999 reserved, above 4999 undefined: a protocol error."""
    with RawWS(srv.port) as ws:
        ws.send_close(code, b"bad code")
        ws.expect_close(1002)


def test_close_with_one_byte_payload_fails_1002(srv):
    """5.5.1: a Close body, when present, starts with a 2-byte code: one byte cannot be."""
    with RawWS(srv.port) as ws:
        ws.send(CLOSE, b"\x03")
        ws.expect_close(1002)


def test_close_reason_invalid_utf8_fails_1007(srv):
    """5.5.1: the close reason is UTF-8; 8.1: data that should be UTF-8 and is not MUST fail the
    connection. RFC 6455 leaves the code open; 7.4.1 defines 1007 for data inconsistent with
    its type (Autobahn 7.5.1 accepts 1002 or 1007). The engine answers 1007: asserted exactly."""
    with RawWS(srv.port) as ws:
        ws.send_close(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")
        ws.expect_close(1007)


def test_nothing_is_processed_after_close(srv):
    """5.5.1: after sending a Close, an endpoint sends no more data; the server answers our
    Close and ignores a text frame behind it (no echo), then closes the TCP connection."""
    with RawWS(srv.port) as ws:
        ws.send_raw(encode(CLOSE, close_payload(1000)) + encode(TEXT, b"too late"))
        ws.expect_close(1000)


# ---------------------------------------------------------------------------------------------
# Message sizes: 7/16/64-bit lengths, fragments of any size, the 16 MiB limit (1009)
# ---------------------------------------------------------------------------------------------

SIZES = [0, 1, 125, 126, 127, 65535, 65536, MiB]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_message_sizes_single_frame(srv, size, opcode):
    """5.2: payload lengths in 7 bits (<126), 16 bits (126-65535), 64 bits (>65535)."""
    payload = text_of(size) if opcode == TEXT else binary_of(size)
    with RawWS(srv.port) as ws:
        ws.send(opcode, payload)
        ws.expect_message(opcode, payload)
        ws.close_cleanly()


@pytest.mark.parametrize(
    "size,fragment",
    [(0, 1), (1, 1), (125, 1), (126, 1), (300, 1), (65535, 1000), (65536, 1000), (MiB, 1000),
     (65537, 65536), (MiB, 65536)],
    ids=lambda v: str(v),
)
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_message_sizes_fragmented(srv, size, fragment, opcode):
    """5.4: a message in frames of any size (also empty ones) is delivered whole."""
    payload = text_of(size) if opcode == TEXT else binary_of(size)
    with RawWS(srv.port) as ws:
        ws.send_fragments(opcode, payload, fragment)
        ws.expect_message(opcode, payload)
        ws.close_cleanly()


def test_empty_fragments_inside_message(srv):
    with RawWS(srv.port) as ws:
        for i, chunk in enumerate([b"", b"a", b"", b"", b"b", b""]):
            ws.send(TEXT if i == 0 else CONT, chunk, fin=i == 5)
        ws.expect_message(TEXT, b"ab")
        ws.close_cleanly()


def test_16_mib_exactly_single_frame(srv):
    """The limit is inclusive: a message of exactly 16 MiB passes (64-bit length)."""
    payload = binary_of(MAX_MESSAGE)
    with RawWS(srv.port, timeout=30) as ws:
        ws.send(BINARY, payload)
        ws.expect_message(BINARY, payload)
        ws.close_cleanly()


def test_16_mib_exactly_in_64k_text_fragments(srv):
    payload = text_of(MAX_MESSAGE)
    with RawWS(srv.port, timeout=30) as ws:
        ws.send_fragments(TEXT, payload, 65536)
        ws.expect_message(TEXT, payload)
        ws.close_cleanly()


def test_frame_over_16_mib_fails_1009(srv):
    """7.4.1 1009: a frame announcing 16 MiB + 1 is refused from its header (nothing more is
    sent, so the close is deterministic)."""
    with RawWS(srv.port) as ws:
        head = encode(BINARY, b"", length=MAX_MESSAGE + 1)  # header and mask key only
        ws.send_raw(head)
        ws.expect_close(1009)


def test_fragmented_message_over_16_mib_fails_1009(srv):
    """1009 when the fragments together pass the limit: 16 MiB, then one more byte."""
    with RawWS(srv.port, timeout=30) as ws:
        ws.send(BINARY, binary_of(MAX_MESSAGE), fin=False)
        ws.send(CONT, b"!")
        ws.expect_close(1009)


@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_small_limit_boundary(limited, opcode):
    """With the limit set to SMALL_LIMIT (hs_set_limit / setLimit): exactly the limit passes,
    single frame and fragmented."""
    payload = text_of(SMALL_LIMIT) if opcode == TEXT else binary_of(SMALL_LIMIT)
    with RawWS(limited.port) as ws:
        ws.send(opcode, payload)
        ws.expect_message(opcode, payload)
        ws.send_fragments(opcode, payload, 300)
        ws.expect_message(opcode, payload)
        ws.close_cleanly()


@pytest.mark.parametrize("fragment", [None, 1, 500], ids=["single", "frag1", "frag500"])
def test_small_limit_exceeded_fails_1009(limited, fragment):
    payload = binary_of(SMALL_LIMIT + 1)
    with RawWS(limited.port) as ws:
        if fragment is None:
            ws.send(BINARY, payload)
        else:
            ws.send_fragments(BINARY, payload, fragment)
        ws.expect_close(1009)


# ---------------------------------------------------------------------------------------------
# 5.5.2-5.5.3 server pings (keep-alive)
# ---------------------------------------------------------------------------------------------


def test_server_ping_answered_keeps_connection(pinging):
    """The server pings after PING_INTERVAL_MS of silence; answering with the Pong keeps the
    connection (twice over, so the second ping comes after a full timeout period), and messages
    still echo."""
    with RawWS(pinging.port, timeout=5) as ws:
        for _ in range(3):
            f = ws.recv()
            assert (f.fin, f.rsv, f.opcode) == (True, 0, PING), f
            assert len(f.payload) <= 125
            ws.send(PONG, f.payload)
        ws.send(TEXT, b"still here")
        ws.expect_message(TEXT, b"still here")
        ws.close_cleanly()


def test_server_ping_unanswered_drops_connection(pinging):
    """Not answering the ping (nor sending anything else) gets the client dropped after the
    timeout: the TCP connection ends."""
    with RawWS(pinging.port, timeout=5) as ws:
        f = ws.recv()
        assert f.opcode == PING, f
        with pytest.raises(Closed):
            while True:
                f = ws.recv()
                assert f.opcode in (PING, CLOSE), f
