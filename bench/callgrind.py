"""Instructions per request under callgrind (called by bench/bench.py --callgrind).

For every host asked for (plain hyper, C, PHP 1 worker, PHP 1 worker with opcache+JIT) and
workload (hello, varied), the server runs twice under `valgrind --tool=callgrind`, serving N1 and
then N2 requests on one keep-alive connection (a sequential Python client); the difference of the two runs divided by N2 - N1 is the cost of
one request, without startup and shutdown. From the same files: calls per request into the
exported C ABI (`hs_*`: for the PHP host, these are the FFI calls), and self cost per shared
object for the PHP varied request. Deterministic, unlike CPU time: no noise from other load.
"""
import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import defaultdict

N1, N2 = 100, 700
# PHP's tracing JIT compiles a function after 127 calls and a loop after 64 iterations (its
# opcache.jit_hot_* defaults), side traces later: the host with the JIT serves more requests
# before the difference is taken, so that compiling stays in both runs and cancels out.
LATE = {"php1jit": (1000, 1600)}


def requests(kind, n):
    for i in range(1, n + 1):
        if kind == "hello":
            yield "/", {}
        else:
            yield f"/user/{i}?q=term{i % 97}&page={i % 7}", {"X-Req-Id": f"req-{i}"}


def serve_under_callgrind(cmd, env, kind, n, out):
    vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no",
          "--compress-strings=yes", "--compress-pos=no"]
    p = subprocess.Popen(vg + cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         env={**os.environ, **env})
    try:
        line = p.stdout.readline()
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not m:
            raise RuntimeError(f"{cmd[0]} under valgrind did not start: {line!r}")
        c = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=60)
        for path, headers in requests(kind, n):
            c.request("GET", path, headers=headers)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"{path}: status {r.status}")
        c.close()
        time.sleep(0.3)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def parse(path):
    """Total Ir, calls into exported hs_* functions, self Ir per object (basename)."""
    names = {"fn": {}, "ob": {}}
    total = 0
    calls = defaultdict(int)
    by_ob = defaultdict(int)
    by_fn = defaultdict(int)
    cur_ob = fn_ob = fn = callee = None
    after_calls = False

    def resolve(kind, rest):
        m = re.match(r"\((\d+)\)(?: (.*))?", rest)
        if not m:
            return rest
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1), "?")
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("ob="):
                cur_ob = resolve("ob", line[3:])
            elif line.startswith("fn="):
                fn = resolve("fn", line[3:])
                fn_ob = cur_ob
            elif line.startswith("cob="):
                resolve("ob", line[4:])
            elif line.startswith("cfn="):
                callee = resolve("fn", line[4:])
            elif line.startswith("calls="):
                calls[callee] += int(line[6:].split()[0])
                after_calls = True
            elif line[0].isdigit() or line[0] in "+-*":
                parts = line.split()
                ir = int(parts[1]) if len(parts) > 1 else 0
                if after_calls:
                    after_calls = False  # inclusive cost of the call: not self cost
                else:
                    by_ob[os.path.basename(fn_ob or "?")] += ir
                    by_fn[(re.sub(r"'\d+$", "", fn or "?"), os.path.basename(fn_ob or "?"))] += ir
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split(":")[1].split()[0])
    # Calls into the C ABI by name (the C host). From PHP they go through libffi, whose
    # trampoline callgrind does not see as a call: there, count libffi's ffi_call (one per FFI
    # call; ffi_call'2 is the same function entered again inside a callback).
    hs = {k: v for k, v in calls.items() if re.fullmatch(r"hs_[a-z0-9_]+", k or "")}
    ffi = sum(v for k, v in calls.items() if re.fullmatch(r"ffi_call(?:'\d+)?", k or ""))
    if ffi:
        hs["FFI calls (libffi ffi_call)"] = ffi
    return total, hs, by_ob, by_fn


def run(hosts, keys=("hyper", "c", "php1")):
    rows = {}
    top = top_fn = None
    with tempfile.TemporaryDirectory() as d:
        for host in keys:
            _, cmd, env, _ = hosts[host]
            n1, n2 = LATE.get(host, (N1, N2))
            for kind in ("hello", "varied"):
                res = []
                for n in (n1, n2):
                    out = os.path.join(d, f"{host}-{kind}-{n}.out")
                    serve_under_callgrind(cmd, env, kind, n, out)
                    res.append(parse(out))
                dn = n2 - n1
                ir = (res[1][0] - res[0][0]) / dn
                ffi = {k: (res[1][1].get(k, 0) - res[0][1].get(k, 0)) / dn
                       for k in set(res[0][1]) | set(res[1][1])}
                ffi = {k: v for k, v in sorted(ffi.items()) if abs(v) >= 0.01}
                rows[f"{host}/{kind}"] = {"ir": ir, "ffi": ffi if host != "hyper" else None}
                print(f"callgrind {host:6} {kind:7} {ir:,.0f} instructions/request, hs_* calls "
                      f"{ffi}", flush=True)
                if host == "php1" and kind == "varied":
                    obs = {k: (res[1][2].get(k, 0) - res[0][2].get(k, 0)) / dn
                           for k in set(res[0][2]) | set(res[1][2])}
                    tot = sum(obs.values()) or 1
                    top = [(k, v, v / tot * 100) for k, v in
                           sorted(obs.items(), key=lambda kv: -kv[1]) if v / tot >= 0.005]
                    fns = {k: (res[1][3].get(k, 0) - res[0][3].get(k, 0)) / dn
                           for k in set(res[0][3]) | set(res[1][3])}
                    top_fn = [(f"{k[0]} ({k[1]})", v, v / tot * 100) for k, v in
                              sorted(fns.items(), key=lambda kv: -kv[1])[:20]]
                    keep = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                        "callgrind.php1-varied.out")
                    os.makedirs(os.path.dirname(keep), exist_ok=True)
                    shutil.copyfile(out, keep)
    method = (f"`valgrind --tool=callgrind`, each server run twice, serving {N1} and {N2} "
              f"requests on one keep-alive connection (sequential client); per request = "
              f"(instructions of run 2 - run 1) / {N2 - N1}, so startup and shutdown cancel out. "
              f"Calls per request: into the exported C ABI (`hs_*`, the C host), and PHP's FFI "
              f"calls (calls of libffi's `ffi_call`; the `hs_poll` slices amortise to ≈ 0 per "
              f"request under load). Deterministic: unaffected by other load on the machine."
              + (f" The opcache+JIT host serves {LATE['php1jit'][0]} and {LATE['php1jit'][1]} "
                 f"requests instead, so that the JIT has compiled its traces before the first "
                 f"count (its code runs under valgrind like any other: valgrind translates code "
                 f"written at run time too; the instruction counts are those of the JIT's "
                 f"machine code)." if "php1jit" in keys else ""))
    return {"method": method, "rows": rows, "top": top, "top_fn": top_fn}
