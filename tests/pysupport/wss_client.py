"""A blocking WebSocket client for wss tests that never touches its TLS socket from two threads.

`websockets.sync.client` reads in a background thread while the caller writes: on a TLS socket
that is concurrent SSL_read/SSL_write on one OpenSSL object, which is not thread-safe and fails now
and then with `ssl.SSLError: [SSL] internal error` (CI saw it; python-socketio #1568 is the same
race). This wraps the asyncio client on a private event loop that runs only inside each call, on
the caller's thread: the same blocking API the tests use (send, recv(timeout), close, `with`)."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect as _connect


class Client:
    def __init__(self, uri: str, **kw):
        self._loop = asyncio.new_event_loop()
        try:
            self._ws = self._loop.run_until_complete(_connect(uri, **kw))
        except BaseException:
            self._loop.close()
            raise

    def send(self, message) -> None:
        self._loop.run_until_complete(self._ws.send(message))

    def recv(self, timeout: float | None = None):
        return self._loop.run_until_complete(asyncio.wait_for(self._ws.recv(), timeout))

    @property
    def response(self):
        return self._ws.response

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self._ws.close(code, reason))
        finally:
            self._loop.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def connect(uri: str, **kw) -> Client:
    return Client(uri, **kw)
