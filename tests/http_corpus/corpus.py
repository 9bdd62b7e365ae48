"""The bad-input corpus: raw bytes sent on a fresh connection and the exact expected answer.

Every case says what RFC 9112/9110 (or RFC 6455 for the upgrade cases) asks and where the answer
comes from: `hyper` (its parser answers before our code sees the request), `engine` (src/engine),
or the example's handler. `then` says what must happen to the connection after the answer:
"close" (the server closes it), "open" (a second request on it is served) or "any".
`status=None` means: the connection is closed without any response byte.

Findings (answers that differed from the RFC before this corpus; fixed in src/engine/http.rs,
`malformed()`): a missing, repeated or invalid Host in HTTP/1.1 was served (RFC 9112 §3.2: MUST
400); authority-form for GET was routed as `/` and asterisk-form for GET reached routing (§3.2.3,
§3.2.4); a transfer coding other than chunked (`gzip, chunked`) was decoded as chunked only and
the still-coded bytes handed to the handler as the body (§6.1: SHOULD 501), `chunked, chunked`
likewise (§7: MUST NOT; now 400). In php/examples/hello.php a non-UTF-8 capture made
json_encode fail, a 500; it now answers 400 as hello.c does.

Divergences left as they are (documented per case, `note`): hyper's parser answers 400 to
HTTP/1.2 (RFC 9110 §2.5: SHOULD be processed as 1.1) and to `HTTP/2.0` in an HTTP/1 request line
(505 would name the cause); it accepts raw non-ASCII bytes in the request target (RFC 3986 allows
only ASCII; browsers always percent-encode); a head over the limit is 431 even when it is the
request line that is long (414 names that case). The engine does not resolve `.`/`..` segments:
the path reaches the router as sent, so `..` never moves a request to another route, and a
capture may contain `..` (Luminova's `(.*?)` captures span `/`): a handler using a capture as a
file name must check it. An unknown method (`get`, `FOO`) is 404 (no route; routes belong to the
host, so the engine cannot tell "unknown" from "not routed"; RFC 9110 §9.1 suggests 501).
"""

from __future__ import annotations

from dataclasses import dataclass, field

H = b"Host: x\r\n"


@dataclass(frozen=True)
class Case:
    id: str
    raw: bytes
    status: int | None  # None: closed without a response
    then: str = "any"  # "close", "open" or "any"
    body: bytes | None = None  # exact body when given
    headers: dict[str, str] = field(default_factory=dict)  # exact values (names lower-case)
    ref: str = ""  # what the RFC says
    note: str = ""  # where our answer comes from / why it differs
    head_request: bool = False
    version: str = "HTTP/1.1"  # the response's version
    # A follow-up request for "open" (HTTP/1.0 keep-alive needs its own).
    follow: bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def post(headers: bytes, body: bytes, target: bytes = b"/echo") -> bytes:
    return b"POST " + target + b" HTTP/1.1\r\n" + H + headers + b"\r\n" + body


CHUNKED = b"Transfer-Encoding: chunked\r\n"
OK = b"Hello, World!"

CASES: list[Case] = [
    # ---- baseline ------------------------------------------------------------------------
    Case("baseline", b"GET / HTTP/1.1\r\n" + H + b"\r\n", 200, "open", OK),
    Case("head", b"HEAD / HTTP/1.1\r\n" + H + b"\r\n", 200, "open", b"",
         {"content-length": "13"}, "RFC 9110 §9.3.2: HEAD, the GET head without the body",
         head_request=True),
    # ---- request line ----------------------------------------------------------------------
    Case("line-double-space", b"GET /  HTTP/1.1\r\n" + H + b"\r\n", 400, "close",
         ref="RFC 9112 §3: one SP between the parts; hyper rejects"),
    Case("line-no-space", b"GET/ HTTP/1.1\r\n" + H + b"\r\n", 400, "close", ref="RFC 9112 §3"),
    Case("line-no-target", b"GET HTTP/1.1\r\n" + H + b"\r\n", 400, "close", ref="RFC 9112 §3"),
    Case("line-extra-part", b"GET / HTTP/1.1 extra\r\n" + H + b"\r\n", 400, "close",
         ref="RFC 9112 §3"),
    Case("line-leading-space", b" GET / HTTP/1.1\r\n" + H + b"\r\n", 400, "close",
         ref="RFC 9112 §3"),
    Case("line-leading-empty-line", b"\r\nGET / HTTP/1.1\r\n" + H + b"\r\n", 200, "open", OK,
         ref="RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line"),
    Case("bare-lf-line-ends", b"GET / HTTP/1.1\nHost: x\n\n", 200, "open", OK,
         ref="RFC 9112 §2.2: a recipient MAY recognise a single LF as a line terminator"),
    Case("bare-cr-in-line", b"GET / HTTP/1.1\rHost: x\r\n\r\n", 400, "close",
         ref="RFC 9112 §2.2: a bare CR MUST be treated as invalid (or replaced by SP)"),
    Case("method-invalid-byte", b"G(T / HTTP/1.1\r\n" + H + b"\r\n", 400, "close",
         ref="RFC 9110 §9.1: method = token; '(' is a delimiter"),
    Case("method-lower-case", b"get / HTTP/1.1\r\n" + H + b"\r\n", 404, "open",
         ref="RFC 9110 §9.1: methods are case-sensitive, `get` is not GET",
         note="unknown method: no route (404), engine; the RFC suggests 501 (SHOULD), but routes "
              "belong to the host (an ALL route takes any method)"),
    Case("method-unknown", b"FOO / HTTP/1.1\r\n" + H + b"\r\n", 404, "open",
         note="as method-lower-case"),
    Case("version-1.2", b"GET / HTTP/1.2\r\n" + H + b"\r\n", 400, "close",
         ref="RFC 9110 §2.5: SHOULD be processed as HTTP/1.1",
         note="divergence in hyper's parser (httparse knows 1.0 and 1.1 only); not our code"),
    Case("version-2.0-in-h1-line", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 400, "close",
         ref="RFC 9110 §15.6.6: 505 would name the cause (MAY)", note="hyper"),
    Case("version-garbage", b"GET / FOO/1.1\r\n" + H + b"\r\n", 400, "close", ref="RFC 9112 §2.3"),
    Case("tls-client-hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 32, 400,
         "close", note="TLS on the plain port: not HTTP; hyper answers 400"),
    # The exact HTTP/2 preface is served as cleartext HTTP/2 (h2c, on by default; with it off,
    # hyper closes without answering): tests/tls/test_https.py (test_h2c_prior_knowledge,
    # test_h2c_off). A line that starts like it but is not it stays HTTP/1:
    Case("h2-preface-look-alike", b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", 400, "close",
         ref="RFC 9112 §2.3: HTTP/2.0 is not an HTTP/1 version",
         note="not the HTTP/2 preface, so HTTP/1; hyper"),
    # ---- request target ----------------------------------------------------------------------
    Case("target-space", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400, "close",
         ref="RFC 9112 §3.2: no whitespace in the target"),
    Case("target-tab", b"GET /\t HTTP/1.1\r\n" + H + b"\r\n", 400, "close", ref="RFC 9112 §3.2"),
    Case("target-nul", b"GET /\x00 HTTP/1.1\r\n" + H + b"\r\n", 400, "close",
         ref="RFC 3986 §2: NUL is not a URI character"),
    Case("target-del", b"GET /\x7f HTTP/1.1\r\n" + H + b"\r\n", 400, "close", ref="RFC 3986 §2"),
    Case("target-ctl-in-query", b"GET /?\x01 HTTP/1.1\r\n" + H + b"\r\n", 400, "close",
         ref="RFC 3986 §2"),
    Case("target-raw-utf8", b"GET /hello/\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 200, "open",
         '{"hello":"é"}'.encode(), ref="RFC 3986 §2: non-ASCII must be percent-encoded",
         note="hyper's parser accepts bytes >= 0x80 in the target (leniency for old clients); "
              "the handler gets them as sent"),
    Case("absolute-form", b"GET http://x/hello/abs HTTP/1.1\r\nHost: y\r\n\r\n", 200, "open",
         b'{"hello":"abs"}',
         ref="RFC 9112 §3.2.2: a server MUST accept absolute-form; the path is routed"),
    Case("authority-form-get", b"GET hello HTTP/1.1\r\n" + H + b"\r\n", 400, "close",
         ref="RFC 9112 §3.2.3: authority-form is only for CONNECT",
         note="FIXED: was routed as `/` (200); engine malformed()"),
    Case("asterisk-form-get", b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400, "close",
         ref="RFC 9112 §3.2.4: asterisk-form is only for OPTIONS",
         note="FIXED: was 404 after routing; engine malformed()"),
    Case("asterisk-form-options", b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n", 404, "open",
         ref="RFC 9110 §9.3.7: OPTIONS * asks about the server; no answer is required",
         note="no route for `*` (the example has none): the engine's 404"),
    # ---- Host -------------------------------------------------------------------------------
    Case("host-missing-1.1", b"GET / HTTP/1.1\r\n\r\n", 400, "close",
         ref="RFC 9112 §3.2: MUST 400 for an HTTP/1.1 request without Host",
         note="FIXED: was 200; engine malformed()"),
    Case("host-twice", b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "close",
         ref="RFC 9112 §3.2: MUST 400 for more than one Host", note="FIXED: was 200"),
    Case("host-invalid", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "close",
         ref="RFC 9112 §3.2: MUST 400 for an invalid Host value", note="FIXED: was 200"),
    Case("host-userinfo", b"GET / HTTP/1.1\r\nHost: u@x\r\n\r\n", 400, "close",
         ref="RFC 9110 §7.2: Host = uri-host [ \":\" port ], no userinfo", note="FIXED: was 200"),
    Case("host-empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 200, "open", OK,
         ref="RFC 9112 §3.2: an empty Host is valid (no authority)"),
    Case("host-missing-1.0", b"GET / HTTP/1.0\r\n\r\n", 200, "close", OK, version="HTTP/1.0",
         ref="RFC 9112 §3.2: Host is required from HTTP/1.1 on"),
    # ---- header fields -------------------------------------------------------------------------
    Case("header-name-space", b"GET / HTTP/1.1\r\n" + H + b"Ho st: x\r\n\r\n", 400, "close",
         ref="RFC 9110 §5.1: field-name = token"),
    Case("header-space-before-colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "close",
         ref="RFC 9112 §5.1: MUST 400 for whitespace between name and colon"),
    Case("header-empty-name", b"GET / HTTP/1.1\r\n" + H + b": x\r\n\r\n", 400, "close",
         ref="RFC 9110 §5.1"),
    Case("header-no-colon", b"GET / HTTP/1.1\r\n" + H + b"X\r\n\r\n", 400, "close",
         ref="RFC 9112 §5"),
    Case("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n", 400, "close",
         ref="RFC 9112 §5.2: MUST 400 (or replace the fold by SP) outside message/http"),
    Case("header-nul", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400, "close",
         ref="RFC 9110 §5.5: NUL MUST be rejected (or replaced by SP)"),
    Case("header-bare-cr", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400, "close",
         ref="RFC 9110 §5.5: CR MUST be rejected (or replaced by SP)"),
    Case("header-del", b"GET / HTTP/1.1\r\n" + H + b"X-A: \x7f\r\n\r\n", 400, "close",
         ref="RFC 9110 §5.5: field-vchar excludes DEL"),
    Case("header-obs-text", b"GET / HTTP/1.1\r\n" + H + b"X-A: \xff\r\n\r\n", 200, "open", OK,
         ref="RFC 9110 §5.5: obs-text (0x80-0xFF) is allowed in a value"),
    Case("header-too-many", b"GET / HTTP/1.1\r\n" + H + b"X-H: y\r\n" * 200 + b"\r\n", 431,
         "close", ref="RFC 6585 §5", note="hyper's limit of 100 fields"),
    Case("header-too-large", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n",
         431, "close", ref="RFC 6585 §5: 431 for a head over the limit (HS_MAX_HEADER_BYTES 8192)"),
    Case("request-line-too-large", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 431,
         "close", ref="RFC 9112 §3: 414 names a long target; the head limit covers the line",
         note="hyper counts the whole head: 431"),
    # ---- Content-Length ------------------------------------------------------------------------
    Case("cl-conflicting", post(b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"), 400,
         "close", ref="RFC 9112 §6.3 (5): MUST treat as an unrecoverable error: 400, close"),
    Case("cl-list", post(b"Content-Length: 3, 3\r\n", b"abc"), 400, "close",
         ref="RFC 9110 §8.6: MAY reject a list of identical values"),
    Case("cl-duplicate-identical", post(b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"),
         200, "open", b"abc", ref="RFC 9110 §8.6: MAY accept identical duplicates as one"),
    Case("cl-negative", post(b"Content-Length: -1\r\n", b"abc"), 400, "close",
         ref="RFC 9110 §8.6: 1*DIGIT"),
    Case("cl-plus", post(b"Content-Length: +3\r\n", b"abc"), 400, "close", ref="RFC 9110 §8.6"),
    Case("cl-suffix", post(b"Content-Length: 3a\r\n", b"abc"), 400, "close", ref="RFC 9110 §8.6"),
    Case("cl-empty", post(b"Content-Length:\r\n", b"abc"), 400, "close", ref="RFC 9110 §8.6"),
    Case("cl-overflow", post(b"Content-Length: 99999999999999999999999\r\n", b"abc"), 400, "close",
         ref="RFC 9110 §8.6: a value the recipient cannot hold is invalid"),
    Case("cl-leading-zeros", post(b"Content-Length: 00003\r\n", b"abc"), 200, "open", b"abc",
         ref="RFC 9110 §8.6: 1*DIGIT, leading zeros included"),
    # ---- Transfer-Encoding, request smuggling -----------------------------------------------
    Case("cl-and-te", post(b"Content-Length: 3\r\n" + CHUNKED, b"3\r\nabc\r\n0\r\n\r\n"), 200,
         "close", b"abc",
         ref="RFC 9112 §6.1: TE overrides CL; the server MAY 400, else MUST close after the "
             "response (hyper: chunked wins, then close)"),
    Case("cl-and-te-smuggle",
         post(b"Content-Length: 40\r\n" + CHUNKED,
              b"0\r\n\r\nGET /hello/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
         200, "close", b"",
         ref="RFC 9112 §6.1, §11.2: the bytes after the chunked body must not become a second "
             "request: one answer (empty body), then close"),
    Case("te-chunked", post(CHUNKED, b"3\r\nabc\r\n0\r\n\r\n"), 200, "open", b"abc"),
    Case("te-chunked-case", post(b"Transfer-Encoding: Chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"), 200,
         "open", b"abc", ref="RFC 9112 §7: coding names are case-insensitive"),
    Case("te-not-chunked", post(b"Transfer-Encoding: gzip\r\n", b"abc"), 400, "close",
         ref="RFC 9112 §6.3 (4): chunked not final in a request: MUST 400 and close"),
    Case("te-chunked-not-last", post(b"Transfer-Encoding: chunked, gzip\r\n", b"abc"), 400,
         "close", ref="RFC 9112 §6.3 (4)"),
    Case("te-unknown-token", post(b"Transfer-Encoding: xchunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
         400, "close", ref="RFC 9112 §6.3 (4)"),
    Case("te-space-before-colon", post(b"Transfer-Encoding : chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
         400, "close", ref="RFC 9112 §5.1"),
    Case("te-gzip-then-chunked",
         post(b"Transfer-Encoding: gzip\r\n" + CHUNKED, b"3\r\nabc\r\n0\r\n\r\n"), 501, "close",
         ref="RFC 9112 §6.1: a transfer coding the server does not understand: SHOULD 501",
         note="FIXED: was 200 with the still gzip-coded bytes as the body; engine malformed()"),
    Case("te-chunked-twice", post(b"Transfer-Encoding: chunked, chunked\r\n",
                                  b"3\r\nabc\r\n0\r\n\r\n"), 400, "close",
         ref="RFC 9112 §7: chunked MUST NOT be applied more than once",
         note="FIXED: was 200 (one layer decoded); engine malformed()"),
    Case("te-in-http-1.0",
         b"POST /echo HTTP/1.0\r\n" + CHUNKED + b"\r\n3\r\nabc\r\n0\r\n\r\n", 400, "close",
         ref="RFC 9112 §6.1: TE in an HTTP/1.0 message: framing is faulty, close",
         note="hyper answers 400 (in HTTP/1.1: its own version)"),
    # ---- chunked body -------------------------------------------------------------------------
    Case("chunk-size-not-hex", post(CHUNKED, b"zz\r\nabc\r\n0\r\n\r\n"), 400, "close",
         b"Bad Request", ref="RFC 9112 §7.1: chunk-size = 1*HEXDIG",
         note="hyper's body error; the engine answers BAD_REQUEST and closes"),
    Case("chunk-size-overflow", post(CHUNKED, b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n"), 400,
         "close", b"Bad Request", ref="RFC 9112 §7.1: MUST anticipate overflow, treat as error"),
    Case("chunk-size-negative", post(CHUNKED, b"-3\r\nabc\r\n0\r\n\r\n"), 400, "close",
         b"Bad Request", ref="RFC 9112 §7.1"),
    Case("chunk-size-0x", post(CHUNKED, b"0x3\r\nabc\r\n0\r\n\r\n"), 400, "close", b"Bad Request",
         ref="RFC 9112 §7.1"),
    Case("chunk-size-leading-space", post(CHUNKED, b" 3\r\nabc\r\n0\r\n\r\n"), 400, "close",
         b"Bad Request", ref="RFC 9112 §7.1"),
    Case("chunk-data-too-long", post(CHUNKED, b"3\r\nabcX\r\n0\r\n\r\n"), 400, "close",
         b"Bad Request", ref="RFC 9112 §7.1: chunk-data is followed by CRLF"),
    Case("chunk-extension", post(CHUNKED, b"3;ext=1\r\nabc\r\n0\r\n\r\n"), 200, "open", b"abc",
         ref="RFC 9112 §7.1.1: unrecognised extensions MUST be ignored"),
    Case("chunk-trailer", post(CHUNKED, b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"), 200, "open", b"abc",
         ref="RFC 9112 §7.1.2: a trailer section"),
    # ---- body limit (HS_MAX_BODY_BYTES 4096) ---------------------------------------------------
    Case("body-at-limit", post(b"Content-Length: 4096\r\n", b"a" * 4096), 200, "open", b"a" * 4096),
    Case("body-over-limit", post(b"Content-Length: 4097\r\n", b"a" * 4097), 413, "close",
         b"Request body is too large.", {"x-server-response-type": "PAYLOAD_TOO_LARGE"},
         ref="RFC 9110 §15.5.14: 413; the engine closes (the body is not read)"),
    Case("body-over-limit-chunked",
         post(CHUNKED, b"1001\r\n" + b"a" * 4097 + b"\r\n0\r\n\r\n"), 413, "close",
         b"Request body is too large."),
    Case("body-over-limit-expect",
         post(b"Content-Length: 4097\r\nExpect: 100-continue\r\n", b""), 413, "close",
         b"Request body is too large.",
         ref="RFC 9110 §10.1.1: a final status instead of 100 Continue (no body is sent)"),
    # ---- HTTP/1.0 and keep-alive ------------------------------------------------------------------
    Case("http-1.0", b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", 200, "close", OK, version="HTTP/1.0",
         ref="RFC 9112 §9.3: HTTP/1.0 without keep-alive: close after the response"),
    Case("http-1.0-keep-alive", b"GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
         200, "open", OK, {"connection": "keep-alive"}, version="HTTP/1.0",
         ref="RFC 9112 Appendix C.2.2: a 1.0 keep-alive connection persists",
         follow=b"GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"),
    Case("http-1.1-close", b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n", 200, "close",
         OK, ref="RFC 9112 §9.6"),
    # ---- percent-encoding and dot segments (the examples decode their captures) ------------------
    Case("pct-utf8", b"GET /hello/caf%C3%A9 HTTP/1.1\r\n" + H + b"\r\n", 200, "open",
         '{"hello":"café"}'.encode()),
    Case("pct-slash", b"GET /hello/a%2Fb HTTP/1.1\r\n" + H + b"\r\n", 200, "open",
         b'{"hello":"a/b"}', ref="RFC 3986 §2.2: %2F is data, not a delimiter (routed as one segment)"),
    Case("pct-invalid-hex", b"GET /hello/%zz HTTP/1.1\r\n" + H + b"\r\n", 200, "open",
         b'{"hello":"%zz"}', note="a malformed escape is kept as it is (the examples' decoding)"),
    Case("pct-truncated", b"GET /hello/x%2 HTTP/1.1\r\n" + H + b"\r\n", 200, "open",
         b'{"hello":"x%2"}', note="as pct-invalid-hex"),
    Case("pct-not-utf8", b"GET /hello/%ff HTTP/1.1\r\n" + H + b"\r\n", 400, "open",
         b"name is not UTF-8\n",
         note="the example's answer; FIXED in hello.php (was a 500 from json_encode)"),
    Case("pct-nul", b"GET /hello/%00 HTTP/1.1\r\n" + H + b"\r\n", 200, "open",
         b'{"hello":"\\u0000"}', note="a decoded NUL is data; JSON escapes it"),
    Case("pct-query", b"GET /user/1?q=a%20b+c HTTP/1.1\r\n" + H + b"\r\n", 200, "open",
         b'{"id":"1","q":"a b c","req":""}', ref="form decoding of the query: '+' is a space"),
    Case("dotdot-in-capture", b"GET /hello/../user/1 HTTP/1.1\r\n" + H + b"\r\n", 200, "open",
         b'{"hello":"../user/1"}',
         ref="RFC 3986 §5.2.4 removes dot segments when resolving references; a server need not",
         note="the engine routes the path as sent: `..` does not reach /user/{id}; the capture "
              "holds it (handlers must not use it as a file name unchecked)"),
    Case("dotdot-encoded", b"GET /hello/%2e%2e%2f%2e%2e%2fetc HTTP/1.1\r\n" + H + b"\r\n", 200,
         "open", b'{"hello":"../../etc"}', note="as dotdot-in-capture"),
    Case("dotdot-above-root", b"GET /../../etc/passwd HTTP/1.1\r\n" + H + b"\r\n", 404, "open",
         b"404 Not Found", note="no route; nothing is ever read from the file system"),
    Case("dot-segments", b"GET /./hello/./x HTTP/1.1\r\n" + H + b"\r\n", 404, "open",
         note="`.` segments are not removed either: no route"),
]

# WebSocket upgrades that must be refused (RFC 6455 §4.2.1, §4.2.2, §4.4), on the WebSocket
# example of each implementation (c-examples/ws_echo on /ws, php/examples/chat.php on /chat).
# `{path}` is replaced by that path.
WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def upgrade(path: bytes, key: bytes | None = WS_KEY, version: bytes | None = b"13",
            method: bytes = b"GET") -> bytes:
    raw = method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    if key is not None:
        raw += b"Sec-WebSocket-Key: " + key + b"\r\n"
    if version is not None:
        raw += b"Sec-WebSocket-Version: " + version + b"\r\n"
    return raw + b"\r\n"


@dataclass(frozen=True)
class WsCase:
    id: str
    key: bytes | None = WS_KEY
    version: bytes | None = b"13"
    method: bytes = b"GET"
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    ref: str = ""


WS_CASES: list[WsCase] = [
    WsCase("valid", status=101,
           headers={"sec-websocket-accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
           ref="RFC 6455 §4.2.2 (the key and accept value of §1.3)"),
    WsCase("key-missing", key=None, body=b"WebSocket key is missing or invalid.",
           headers={"x-server-response-type": "INVALID_WS_KEY"}, ref="RFC 6455 §4.2.1: 400"),
    WsCase("key-not-base64", key=b"not a key", body=b"WebSocket key is missing or invalid.",
           ref="RFC 6455 §4.2.1: the key is 16 bytes base64-encoded"),
    WsCase("key-wrong-length", key=b"dGhlIHNhbXBsZQ==", body=b"WebSocket key is missing or invalid.",
           ref="RFC 6455 §4.2.1: 16 bytes, not 10"),
    WsCase("version-8", version=b"8", status=426, headers={"sec-websocket-version": "13"},
           ref="RFC 6455 §4.4: 426 with the versions understood"),
    WsCase("version-missing", version=None, status=426, headers={"sec-websocket-version": "13"},
           ref="RFC 6455 §4.2.1/§4.4: version 13 is required"),
    WsCase("method-post", method=b"POST", status=405, ref="RFC 6455 §4.2.1: the method is GET"),
]
