"""The suite's own machinery, checked against real processes: the redis-server fixture (ready on
PING, restart on the same port, nothing persisted), node processes stopped and killed by PID with
all their workers, and network namespaces made and removed. The rooms tests rely on each."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rooms_support import ROOT, Netns, Node, Redis, alive, process_tree


def test_redis_answers_restarts_on_its_port_and_keeps_nothing(redis):
    assert redis.command("PING") == "PONG"
    assert redis.command("SET", "harness:key", "1") == "OK"
    old_pid, port = redis.proc.pid, redis.port
    redis.restart()
    assert redis.port == port and redis.proc.pid != old_pid
    assert not alive(old_pid)
    assert redis.command("PING") == "PONG"
    assert redis.command("GET", "harness:key") is None, "a restart must come back empty"
    assert redis.command("CONFIG", "GET", "save") == ["save", ""]
    assert redis.command("CONFIG", "GET", "appendonly") == ["appendonly", "no"]
    assert redis.command("CONFIG", "GET", "bind") == ["bind", "127.0.0.1"]


def test_redis_stop_ends_the_process(tmp_path):
    r = Redis(tmp_path)
    pid = r.proc.pid
    r.stop()
    assert not alive(pid)
    with pytest.raises(OSError):
        r.command("PING")


@pytest.mark.parametrize("how", ["stop", "kill9"])
def test_node_process_tree_is_stopped_by_pid(tmp_path, how):
    """A 2-worker PHP server (php/examples/hello.php, the same supervisor as rooms.php): every
    process of its tree is gone after stop() (SIGTERM) and after kill9() (SIGKILL)."""
    n = Node("stub", tmp_path, workers=2, env={"WORKERS": "2"},
             script=ROOT / "php" / "examples" / "hello.php")
    try:
        pids = process_tree(n.pid)
        assert len(pids) == 3, f"supervisor and 2 workers expected: {pids}"
        assert n.get_json("/user/7?q=x")["id"] == "7"
        getattr(n, how)()
        assert not [p for p in pids if alive(p)]
    finally:
        n.stop()


def test_netns_made_reachable_and_removed(tmp_path):
    reason = Netns.usable()
    if reason:
        pytest.skip(reason)
    ns = Netns(2)
    names, links = list(ns.names), list(ns.links)
    r = None
    try:
        r = Redis(tmp_path, host=ns.bridge_addr)
        probe = ("import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), 3);"
                 "s.sendall(b'PING\\r\\n'); print(s.recv(64).decode().strip())")
        for name in names:
            out = ns.exec(name, sys.executable, "-c", probe, ns.bridge_addr, str(r.port))
            assert out.stdout.strip() == "+PONG", (name, out.stdout, out.stderr)
            # the namespace is really apart: the root namespace's loopback is not its own
            lo = ns.exec(name, "ip", "-4", "addr", "show")
            assert ns.addrs[names.index(name)] in lo.stdout and "192.0.2." not in lo.stdout
    finally:
        if r:
            r.stop()
        assert ns.close() == []
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [n for n in names if n in listed], listed
    shown = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert not [link for link in links if f" {link}:" in shown or f" {link}@" in shown], shown


def test_netns_sweep_removes_what_a_killed_run_left():
    reason = Netns.usable()
    if reason:
        pytest.skip(reason)
    dead = 4194304 + 1  # above any pid_max: no live process has it
    subprocess.run(["ip", "netns", "add", f"hsrooms-{dead}-0"], check=True, timeout=10)
    subprocess.run(["ip", "link", "add", f"hsbr{dead}", "type", "bridge"], check=True, timeout=10)
    subprocess.run(["ip", "link", "add", f"hsv{dead}h0", "type", "veth", "peer", "name",
                    f"hsv{dead}n0"], check=True, timeout=10)
    mine = f"hsbr{os.getpid()}"  # a live run's bridge stays
    subprocess.run(["ip", "link", "add", mine, "type", "bridge"], check=True, timeout=10)
    try:
        gone = Netns.sweep()
        assert {f"hsrooms-{dead}-0", f"hsbr{dead}", f"hsv{dead}h0"} <= set(gone), gone
        assert mine not in gone
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert str(dead) not in listed and str(dead) not in links
        assert f" {mine}:" in links
    finally:
        for cmd in (["ip", "netns", "del", f"hsrooms-{dead}-0"], ["ip", "link", "del", f"hsbr{dead}"],
                    ["ip", "link", "del", f"hsv{dead}h0"], ["ip", "link", "del", mine]):
            subprocess.run(cmd, capture_output=True, timeout=10)
