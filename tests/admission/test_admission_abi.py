"""The admission C ABI with bad arguments (tests/c/admission_abi.c, built by c-examples/Makefile):
each call returns its documented status with a message, inside a real server; and what its
authorizer sees of a real client's upgrade request."""

from __future__ import annotations

import re

from websockets.sync.client import connect

from support import IO_TIMEOUT


def test_startup_calls_with_bad_arguments(serve):
    srv = serve("admission_abi")
    m = srv.wait_stderr(r"admission_abi: startup: (\d+) checks, (\d+) failed")
    assert "FAIL" not in srv.stderr(), srv.stderr()
    assert (int(m.group(1)), int(m.group(2))) == (21, 0)


def test_admission_calls_in_the_authorizer(serve):
    srv = serve("admission_abi")
    mark = len(srv.stderr())
    with connect(f"ws://127.0.0.1:{srv.port}/abi/red?x=1&y=%20", open_timeout=IO_TIMEOUT,
                 additional_headers={"Cookie": "session=abc"}) as ws:
        ws.send("after the checks")
        assert ws.recv(timeout=IO_TIMEOUT) == "after the checks"
    m = srv.wait_stderr(r"admission_abi: authorizer: (\d+) checks, (\d+) failed", mark)
    assert "FAIL" not in srv.stderr(), srv.stderr()
    assert (int(m.group(1)), int(m.group(2))) == (20, 0)
    # The whole upgrade request: path, query, capture, Cookie (also in the packed head), peer.
    req = srv.wait_stderr(r"request: ([^\n]*)\n", mark).group(1)
    fields = dict(kv.split("=", 1) for kv in req.split(" ", 4)[:4])
    assert fields == {"path": "/abi/red", "query": "x=1&y=%20", "room": "red",
                      "cookie": "session=abc"}, req
    assert re.search(r"peer=127\.0\.0\.1 route=1 conn=\d+ packed_cookie=1$", req), req
    # What the authorizer finally named is what the engine keeps: user "checked", 100 channels.
    adm = srv.wait_stderr(r"admitted on route 1: user \"checked\" \(2 bytes of info\), "
                          r"channels \[([^\]]*)\]", mark).group(1)
    channels = re.findall(r'"([^"]*)"', adm)
    assert channels == ["c" * 200] + [f"room-{i}" for i in range(1, 100)]
