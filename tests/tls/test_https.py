"""https and HTTP/2 with curl: the protocol curl used (%{http_version}), what the server saw
(hello's GET /whoami: hs_request_version, hs_request_is_secure), and every kind of route,
body and limit over HTTP/2, over TLS and as h2c."""

from __future__ import annotations

import subprocess

import h2.exceptions
import pytest

from conftest import tls_env
from h2client import H2
from support import curl

ROUTES_BODY = bytes(range(256)) * 8  # 2 KiB with NULs, under the 4 KiB body limit


def https(srv, path="/"):
    return f"https://127.0.0.1:{srv.port}{path}"


def http(srv, path="/"):
    return f"http://127.0.0.1:{srv.port}{path}"


def test_https_http11(hello_tls, certs):
    r = curl(https(hello_tls, "/whoami"), "--http1.1", ca=certs["ca"])
    assert (r.status, r.http_version) == (200, "1.1")
    assert r.json == {"version": "HTTP/1.1", "secure": True}


def test_https_http2_by_alpn(hello_tls, certs):
    r = curl(https(hello_tls, "/whoami"), "--http2", ca=certs["ca"])
    assert (r.status, r.http_version) == (200, "2")
    assert r.json == {"version": "HTTP/2.0", "secure": True}


def test_https_by_host_name(hello_tls, certs):
    """The certificate names localhost too: curl checks the name against it."""
    r = curl(f"https://localhost:{hello_tls.port}/", ca=certs["ca"])
    assert (r.status, r.body) == (200, b"Hello, World!")


def test_https_untrusted_certificate_refused_by_curl(hello_tls):
    """Without the test CA, curl refuses the chain: the server really presents a certificate."""
    r = curl(https(hello_tls), check=False)
    assert r.rc == 60, (r.rc, r.stderr)  # CURLE_PEER_FAILED_VERIFICATION


def test_h2c_prior_knowledge(hello_plain):
    r = curl(http(hello_plain, "/whoami"), "--http2-prior-knowledge")
    assert (r.status, r.http_version) == (200, "2")
    assert r.json == {"version": "HTTP/2.0", "secure": False}


def test_plain_http11_still_plain(hello_plain):
    r = curl(http(hello_plain, "/whoami"), "--http1.1")
    assert (r.status, r.http_version) == (200, "1.1")
    assert r.json == {"version": "HTTP/1.1", "secure": False}


def test_h2c_off(serve):
    """HS_H2C=0: the HTTP/2 preface on a plain port is not HTTP/2; HTTP/1.1 still works."""
    srv = serve("hello", {"HS_H2C": "0"})
    r = curl(http(srv, "/whoami"), "--http2-prior-knowledge", check=False)
    assert r.http_version != "2", r
    assert curl(http(srv, "/whoami"), "--http1.1").json["version"] == "HTTP/1.1"


def test_http2_off_alpn_gives_http11(serve, certs):
    srv = serve("hello", tls_env(certs, HS_HTTP2="0"))
    r = curl(https(srv, "/whoami"), "--http2", ca=certs["ca"])
    assert (r.status, r.http_version) == (200, "1.1")
    assert r.json == {"version": "HTTP/1.1", "secure": True}


def test_many_requests_one_http2_connection(hello_tls, certs):
    """Ten URLs in one curl run share one HTTP/2 connection (%{num_connects} of the later
    transfers is 0)."""
    urls = [https(hello_tls, f"/hello/n{i}") for i in range(10)]
    out = subprocess.run(["curl", "-sS", "--http2", "--cacert", certs["ca"], "--max-time", "8",
                          "-w", "%{http_version} %{num_connects} %{response_code}\n",
                          *sum((["-o", "/dev/null", u] for u in urls), [])],
                         capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().split()
    rows = [lines[i:i + 3] for i in range(0, len(lines), 3)]
    assert len(rows) == 10
    assert all(r[0] == "2" and r[2] == "200" for r in rows), rows
    assert sum(int(r[1]) for r in rows) == 1, rows


# ---- everything that works on HTTP/1.1 works on HTTP/2 ------------------------------------------

@pytest.fixture(params=["h2", "h2c"])
def h2url(request, hello_tls, hello_plain, certs):
    """(url builder, curl arguments) for HTTP/2 over TLS and for h2c."""
    if request.param == "h2":
        return (lambda p: https(hello_tls, p)), ["--http2", "--cacert", certs["ca"]]
    return (lambda p: http(hello_plain, p)), ["--http2-prior-knowledge"]


def test_h2_routes_and_captures(h2url):
    url, args = h2url
    r = curl(url("/"), *args)
    assert (r.status, r.http_version, r.body) == (200, "2", b"Hello, World!")
    assert r.headers["content-type"] == "text/plain"
    r = curl(url("/hello/a%22b%C3%A9"), *args)
    assert r.json == {"hello": 'a"b\u00e9'}
    r = curl(url("/user/42?x=1&q=big+cats%21"), *args, "-H", "X-Req-Id: abc-123")
    assert (r.status, r.json) == (200, {"id": "42", "q": "big cats!", "req": "abc-123"})
    assert r.headers["content-type"] == "application/json"


def test_h2_post_body(h2url):
    url, args = h2url
    r = curl(url("/echo"), *args, "-H", "Content-Type: application/x-test", data=ROUTES_BODY)
    assert (r.status, r.http_version) == (200, "2")
    assert r.body == ROUTES_BODY
    assert r.headers["content-type"] == "application/x-test"


def test_h2_head(h2url, hello_tls, hello_plain, certs):
    """HEAD over HTTP/2: the GET's headers and Content-Length, no DATA (curl resets a stream
    that carries a body on a HEAD answer; the h2 client shows the frames as they are)."""
    url, args = h2url
    r = curl(url("/"), *args, "-I")  # -I writes the head where the body would go
    assert (r.status, r.http_version) == (200, "2")
    tls = args[0] == "--http2"
    conn = H2((hello_tls if tls else hello_plain).port, certs["ca"] if tls else None)
    head = conn.request("HEAD", "/")
    conn.close()
    assert (head.status, head.body, head.reset) == (200, b"", None)
    assert head.headers.get("content-length") == "13", head.headers


def test_h2_not_found(h2url):
    url, args = h2url
    r = curl(url("/nothing/here"), *args)
    assert (r.status, r.http_version) == (404, "2")
    r = curl(url("/"), *args, "-X", "DELETE")
    assert r.status == 404


def test_h2_body_over_limit_413(h2url):
    """curl 7.88 sometimes fails (exit 92) on the RST_STREAM(NO_ERROR) that follows an early
    answer while it still uploads (RFC 9113 8.1 allows that reset): the status is read with h2
    in test_h2_body_limit_with_h2, and curl is accepted to fail that way only."""
    url, args = h2url
    r = curl(url("/echo"), *args, data=b"x" * 5000, check=False)  # HS_MAX_BODY_BYTES=4096
    assert (r.status, r.http_version) == (413, "2") or r.rc == 92, (r.status, r.rc, r.stderr)
    assert curl(url("/"), *args).status == 200


@pytest.mark.parametrize("declared", [True, False])
def test_h2_body_limit_with_h2(hello_tls, hello_plain, certs, declared):
    """POST past the 4096-byte body limit: with a content-length (answered before the body) or
    streamed without one (answered when the limit is crossed): 413 with the engine's text, then
    at most a RST_STREAM(NO_ERROR); the connection serves the next request."""
    for srv, ca in ((hello_tls, certs["ca"]), (hello_plain, None)):
        conn = H2(srv.port, ca)
        headers = [("content-length", "6000")] if declared else []
        sid = conn.start("POST", "/echo", headers, end=False)
        r = conn.responses[sid]
        sent = 0
        while r.status is None and r.reset is None and sent < 6000:
            try:
                conn.send_data(sid, b"x" * 1000, end=sent + 1000 == 6000)
            except h2.exceptions.StreamClosedError:
                break
            sent += 1000
            conn.pump(0.05)
        conn.wait(lambda: r.ended or r.reset is not None, what="the 413")
        assert r.status == 413, (r.status, r.reset, conn.goaway)
        assert b"too large" in r.body
        assert r.reset in (None, "NO_ERROR"), r.reset
        if declared:
            assert sent <= 4096, f"the answer waited for {sent} bytes of a body it refuses"
        again = conn.request("GET", "/hello/after")
        assert (again.status, again.body) == (200, b'{"hello":"after"}')
        conn.close()


def test_h2_headers_over_limit_431(h2url):
    url, args = h2url
    r = curl(url("/"), *args, "-H", "X-Big: " + "h" * 9000, check=False)  # head limit 8192
    assert (r.status, r.http_version) == (431, "2"), (r.status, r.rc, r.stderr)
    assert curl(url("/"), *args).status == 200


def test_h2_many_headers_just_under_limit(h2url):
    url, args = h2url
    hdrs = sum((["-H", f"X-H{i}: {'v' * 40}"] for i in range(60)), [])  # ~3.5 KB of fields
    r = curl(url("/user/1"), *args, *hdrs, "-H", "X-Req-Id: last")
    assert (r.status, r.json["req"]) == (200, "last")



@pytest.mark.parametrize("tls", [True, False], ids=["h2", "h2c"])
def test_h2_rate_limit_counts_streams(serve, certs, tls):
    """The per-IP rate limit counts HTTP/2 requests (streams), not connections: on one
    connection the 4th request in the window gets 429 with Retry-After, as on HTTP/1.1."""
    env = {"HS_RATE_LIMIT": "3", "HS_RATE_WINDOW_S": "60"}
    srv = serve("hello", tls_env(certs, **env) if tls else env)
    conn = H2(srv.port, certs["ca"] if tls else None)
    statuses = [conn.request("GET", "/whoami").status for _ in range(3)]
    over = conn.request("GET", "/whoami")
    conn.close()
    assert statuses == [200, 200, 200]
    assert over.status == 429, over
    assert over.headers.get("x-server-response-type") == "REQUEST_LIMIT"
    assert int(over.headers["retry-after"]) > 0


@pytest.mark.parametrize("tls", [True, False], ids=["h2", "h2c"])
def test_h2_connection_required(serve, certs, tls):
    """Luminova's connection-required mode over HTTP/2: refused until GET /connect, served
    after it, refused again after GET /disconnect."""
    env = {"HS_CONNECTION_REQUIRED": "1"}
    srv = serve("hello", tls_env(certs, **env) if tls else env)
    conn = H2(srv.port, certs["ca"] if tls else None)
    before = conn.request("GET", "/whoami")
    connected = conn.request("GET", "/connect")
    served = conn.request("GET", "/whoami")
    conn.request("GET", "/disconnect")
    after = conn.request("GET", "/whoami")
    conn.close()
    assert (before.status, before.headers.get("x-server-response-type")) == (400, "NOT_CONNECTED")
    assert (connected.status, connected.body) == (200, b"Client successfully connected.")
    assert served.status == 200 and b'"HTTP/2.0"' in served.body, served
    assert (after.status, after.headers.get("x-server-response-type")) == (400, "NOT_CONNECTED")
