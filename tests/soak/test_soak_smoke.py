"""The soak driver (tests/soak/soak.py, `make soak`) run for 15 s, so that it cannot rot: the
same server, clients, checks and criteria as the 5-minute soak, with RSS flatness reported only
(too short to judge). The result goes to a temporary file; docs/RELIABILITY.md is not touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def test_soak_smoke(tmp_path):
    if not (ROOT / "target" / "release" / "libhttpsock.so").exists():
        raise AssertionError("target/release/libhttpsock.so is missing: run `cargo build --release`")
    out = tmp_path / "soak.json"
    env = dict(os.environ, SOAK_SECONDS="15", SOAK_SAMPLE_SECONDS="1")
    proc = subprocess.run(
        [sys.executable, str(HERE / "soak.py"), "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.exists(), f"no result written\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    result = json.loads(out.read_text())
    failed = [c for c in result["criteria"] if not c["held"]]
    assert proc.returncode == 0 and result["passed"] and not failed, (
        f"criteria not held: {failed}\nerrors: {result['error_messages'][:10]}\nstdout tail:\n{proc.stdout[-3000:]}"
    )
    counts = result["counts"]
    # The load really ran: every route answered and checked, messages flowed both ways.
    assert counts["http_json"] > 100 and counts["http_echo"] > 20, counts
    assert counts["ws_echo_received"] == counts["ws_echo_sent"] > 100, counts
    assert counts["ws_broadcasts_received"] > counts["ws_broadcasts_sent"] > 10, counts
    assert counts["ws_ticks_received"] > 0 and counts["ws_connections"] >= 6, counts
    assert len(result["samples"]) >= 10, "one sample a second"
    assert result["stop"]["exit_code"] == 0
