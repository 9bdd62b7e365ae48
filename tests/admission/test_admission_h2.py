"""WebSocket admission over HTTP/2 (RFC 8441 extended CONNECT, driven with Python h2 through
tests/tls/h2client.py), over TLS (ALPN h2) and cleartext h2c, against c-examples/build/rooms.
A refused CONNECT must get a non-200 :status with the refusal's headers and body, and the
connection must go on serving other streams."""

from __future__ import annotations

import pytest

from h2client import H2, SETTINGS_ENABLE_CONNECT_PROTOCOL, ws_frame, ws_parse

TEXT = 1


class Stream:
    """One extended CONNECT on an HTTP/2 connection: its response, and WebSocket frames when
    it was accepted."""

    def __init__(self, conn: H2, path: str, origin: str | None = None):
        assert conn.wait_settings().get(SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1
        headers = [(":protocol", "websocket"), ("sec-websocket-version", "13")]
        if origin is not None:
            headers.append(("origin", origin))
        self.conn = conn
        self.sid = conn.start("CONNECT", path, headers, end=False)
        self.r = conn.responses[self.sid]
        conn.wait(lambda: self.r.status is not None or self.r.reset is not None,
                  what=f"the answer to CONNECT {path}")
        self.buf = b""

    def refusal(self):
        """The whole refusal: status, headers, body (the stream ended by the server)."""
        assert self.r.status != 200, "the upgrade was accepted"
        self.conn.wait(lambda: self.r.ended or self.r.reset is not None, what="the refusal body")
        return self.r.status, self.r.headers, bytes(self.r.body)

    def echo(self, text: str) -> None:
        assert self.r.status == 200, (self.r.status, self.r.body)
        self.conn.send_data(self.sid, ws_frame(TEXT, text.encode()))

        def ready():
            self.buf += bytes(self.r.body)
            self.r.body = b""
            return ws_parse(self.buf) is not None
        self.conn.wait(ready, what="the echo")
        opcode, payload, self.buf = ws_parse(self.buf)
        assert (opcode, payload) == (TEXT, text.encode())


@pytest.fixture(params=["h2", "h2c"])
def h2_rooms(request, serve, certs):
    """h2_rooms(env) -> (server, connect): rooms with `env`, over TLS or h2c; connect() opens
    an HTTP/2 connection to it (closed at teardown)."""
    conns: list[H2] = []

    def _start(env: dict[str, str] | None = None):
        env = dict(env or {})
        if request.param == "h2":
            env.update(HS_TLS_CERT=certs["server"], HS_TLS_KEY=certs["server_key"])
        srv = serve("rooms", env)

        def connect() -> H2:
            conn = H2(srv.port, certs["ca"] if request.param == "h2" else None)
            conns.append(conn)
            return conn
        return srv, connect

    yield _start
    for c in conns:
        c.close()


def test_bad_token_gets_401_and_the_connection_goes_on(h2_rooms):
    srv, connect = h2_rooms()
    conn = connect()
    status, headers, body = Stream(conn, "/rooms/red?token=bad").refusal()
    assert (status, body) == (401, b"bad token")
    assert headers["www-authenticate"] == "Bearer"
    Stream(conn, "/rooms/red?token=alice").echo("accepted on the same connection")
    assert conn.request("GET", "/").status == 200
    srv.wait_stderr(r'admitted on route \d+: user "alice" .*channels \["red"\]')
    srv.wait_stderr(r"rooms: #\d+ open on /rooms/red over HTTP/2\.0")


def test_failing_authorizer_gets_500(h2_rooms):
    srv, connect = h2_rooms()
    conn = connect()
    status, headers, body = Stream(conn, "/rooms/red?token=fail").refusal()
    assert (status, body) == (500, b"An error occurred on the server.")
    assert headers["x-server-response-type"] == "SERVER_ERROR"
    Stream(conn, "/rooms/red").echo("the server goes on")


def test_origin_refused_with_403_allowed_and_absent(h2_rooms):
    srv, connect = h2_rooms({"HS_WS_ORIGINS": "https://app.example"})
    conn = connect()
    status, headers, body = Stream(conn, "/rooms/red", origin="https://evil.example").refusal()
    assert (status, body) == (403, b"Origin not allowed.")
    assert headers["x-server-response-type"] == "ORIGIN_REFUSED"
    Stream(conn, "/rooms/red", origin="https://app.example").echo("allowed")
    Stream(conn, "/rooms/red").echo("no origin")


def test_route_full_gets_503_while_the_admitted_client_goes_on(h2_rooms):
    srv, connect = h2_rooms({"HS_WS_ROUTE_LIMIT": "2"})
    conn = connect()
    first = Stream(conn, "/rooms/red?token=a")
    first.echo("one")
    second = Stream(connect(), "/rooms/blue?token=b")  # another connection, same route
    second.echo("two")
    status, headers, body = Stream(conn, "/rooms/red?token=c").refusal()
    assert (status, body) == (503, b"Too many clients on this route.")
    assert headers["retry-after"] == "5"
    first.echo("still open")
    second.echo("still open too")
