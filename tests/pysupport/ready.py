"""Readiness of a server under test: every example and fixture prints one line,
`listening on http://127.0.0.1:PORT`, once its socket listens. Shared by the Python suites."""
import os
import re
import select
import time


class NotReady(Exception):
    """The process printed no listening line in time, or exited first (`exited` tells which)."""

    def __init__(self, message, exited):
        super().__init__(message)
        self.exited = exited


def read_listening_port(proc, name, timeout):
    """Reads `proc`'s stdout up to its first newline within `timeout` seconds; returns the port
    in that line. Raises NotReady (the caller cleans up and reports in its own style)."""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotReady(f"{name}: no listening line within {timeout}s: {data!r}", exited=False)
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise NotReady(f"{name} exited before printing its listening line", exited=True)
            data += chunk
    line = data.split(b"\n", 1)[0].decode(errors="replace")
    match = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not match:
        raise NotReady(f"{name}: unexpected first line {line!r}", exited=False)
    return int(match.group(1))
