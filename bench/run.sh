#!/usr/bin/env bash
# make bench: builds what the benchmarks need and runs them (bounded: about 2 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
cargo build --release --example hyper_hello
make -C c-examples
mkdir -p bench/results
python3 bench/hello.py --duration 5 --rounds 3 --out bench/results/hello-unpinned.md
python3 bench/hello.py --duration 5 --rounds 3 --pin --out bench/results/hello-pinned.md
