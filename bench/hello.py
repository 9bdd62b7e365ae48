#!/usr/bin/env python3
"""Hello-world benchmark: c-examples/hello (through libhttpsock) against a plain hyper server.

Every server is measured in the same invocation, rounds interleaved, so ratios compare like with
like. Per run: requests/s from wrk (keep-alive, 64 connections) and the server's CPU time per
request (utime+stime of its process from /proc, divided by the requests wrk completed).

Usage: bench/hello.py [--duration 5] [--rounds 3] [--connections 64] [--pin] [--out FILE]
--pin puts the server and wrk on the same CPU (taskset -c 0), so that requests/s measures the
server's cost rather than the load generator's share of two cores.
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")

PHP_HELLO = ["php", os.path.join(ROOT, "php/examples/hello.php"), "0"]
# name -> (command, extra environment, may be pinned to one CPU)
SERVERS = {
    "hyper (plain, current_thread)": ([os.path.join(ROOT, "target/release/examples/hyper_hello"), "0", "1"], {}, True),
    "httpsock C hello": ([os.path.join(ROOT, "c-examples/build/hello"), "0"], {}, True),
    "httpsock PHP hello, 1 worker": (PHP_HELLO, {}, True),
    # N workers on one pinned CPU would measure nothing useful: unpinned runs only.
    f"httpsock PHP hello, {os.cpu_count()} workers": (PHP_HELLO, {"WORKERS": str(os.cpu_count())}, False),
}


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(root):
    """utime+stime of `root` and all its descendants (workers of the PHP supervisor)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(stat(entry)[1])  # field 4 of stat(5): ppid
            except (OSError, IndexError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for pid in tree:
        try:
            fields = stat(pid)
        except OSError:
            continue
        # fields[11], [12]: utime, stime (fields 14 and 15 of stat(5), counted after the name)
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def start(cmd, env, pin):
    full = (["taskset", "-c", "0"] if pin else []) + cmd
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         env={**os.environ, **env})
    line = p.stdout.readline()  # readiness: the server prints its URL once it listens
    m = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        raise SystemExit(f"{cmd[0]} did not start: {line!r}")
    return p, int(m.group(1))


def wrk(port, duration, connections, pin):
    cmd = (["taskset", "-c", "0"] if pin else []) + [
        "wrk", "-t1", f"-c{connections}", f"-d{duration}s", f"http://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(errors.group(1)) if errors else 0
    # "Socket errors: connect 0, read 0, write 0, timeout 0": any of them counts as a failure.
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        bad += sum(int(x) for x in sock.groups())
    return reqs, rps, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--pin", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    servers = {n: s for n, s in SERVERS.items() if s[2] or not a.pin}
    results = {name: [] for name in servers}
    for r in range(a.rounds):
        for name, (cmd, env, _) in servers.items():
            p, port = start(cmd, env, a.pin)
            try:
                # Warm-up; also covers a supervisor's workers still binding after its first line
                # (its errors are not counted).
                wrk(port, 2, a.connections, a.pin)
                before = cpu_seconds(p.pid)
                reqs, rps, bad = wrk(port, a.duration, a.connections, a.pin)
                cpu = cpu_seconds(p.pid) - before
            finally:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            if bad:
                raise SystemExit(f"{name}: {bad} failed requests (non-2xx or socket errors)")
            results[name].append((rps, cpu / reqs * 1e6))
            print(f"round {r + 1} {name}: {rps:,.0f} req/s, {cpu / reqs * 1e6:.2f} us CPU/request", flush=True)
    base = statistics.median(x[0] for x in results["hyper (plain, current_thread)"])
    base_cpu = statistics.median(x[1] for x in results["hyper (plain, current_thread)"])
    lines = [
        f"wrk -t1 -c{a.connections} -d{a.duration}s, keep-alive, {a.rounds} rounds interleaved, "
        f"{'server and wrk pinned to CPU 0' if a.pin else 'unpinned (2 cores shared with wrk)'}; "
        f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores",
        "",
        "| server | req/s median (min-max) | vs hyper | CPU us/request median | vs hyper |",
        "|---|---|---|---|---|",
    ]
    for name, xs in results.items():
        rps = [x[0] for x in xs]
        cpu = [x[1] for x in xs]
        lines.append(
            f"| {name} | {statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) | "
            f"{statistics.median(rps) / base:.2f}x | {statistics.median(cpu):.2f} | "
            f"{statistics.median(cpu) / base_cpu:.2f}x |")
    text = "\n".join(lines)
    print("\n" + text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
