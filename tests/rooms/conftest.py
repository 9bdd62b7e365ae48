"""Fixtures of the rooms suite: one redis-server per test module, nodes per test, all stopped by
PID at the end, also when the test failed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rooms_support import Node, Redis  # noqa: E402


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    """A redis-server of this module's own on a free loopback port, no persistence."""
    r = Redis(tmp_path_factory.mktemp("redis"))
    try:
        yield r
    finally:
        r.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def nodes(tmp_path, request):
    """start(name, **options) -> Node; every node started is stopped (SIGTERM, then SIGKILL to
    what is left of its process tree) when the test ends, whatever happened. A failed test
    prints every node's stderr."""
    started: list[Node] = []

    def start(name: str, **kw) -> Node:
        n = Node(name, tmp_path, **kw)
        started.append(n)
        return n

    try:
        yield start
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(node_report(started))
        for n in reversed(started):
            n.stop()


def node_report(nodes_: list[Node]) -> str:
    """The nodes' stderr, for an assertion message."""
    return "\n".join(f"--- {n.name} stderr:\n{n.stderr()}" for n in nodes_)
