"""A blocking socket read side for the raw-frame WebSocket clients (tests/conformance/wsraw.py,
tests/deflate/wsdeflate.py): bytes are buffered in `self.buf` and taken by exact counts."""


class Closed(Exception):
    """The server closed the connection (EOF or reset)."""


class SocketReader:
    """Mixin: the class sets `self.sock` (a connected socket) and `self.buf` (a bytearray)."""

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(1 << 20)
        except ConnectionResetError as e:
            raise Closed("connection reset") from e
        if not chunk:
            raise Closed("EOF")
        self.buf += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out
