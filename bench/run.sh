#!/usr/bin/env bash
# make bench: builds everything the benchmarks need, runs bench/bench.py (about 12 minutes:
# 3 interleaved rounds of every workload and host, then a callgrind profile) and writes
# BENCHMARKS.md and bench/cpu_per_request.svg. Extra arguments go to bench.py
# (e.g. bench/run.sh --quick for a one-round harness check, --only php,callgrind-php --rounds 5;
# the groups are listed at the top of bench/bench.py).
# The opcache+JIT host needs PHP's opcache: Debian's php8.2-cli depends on php8.2-opcache.
# Everything runs on 127.0.0.1; every process is started and stopped by bench.py, by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=""
for pair in wrk:wrk taskset:util-linux valgrind:valgrind cc:gcc php:php-cli h2load:nghttp2-client \
            openssl:openssl redis-server:redis-server node:nodejs npm:npm; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
if [ -n "$missing" ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# bench/ws_deflate.py (the permessage-deflate rows) and bench/rooms.py (the latency row) need
# websockets' asyncio client (>= 13).
if ! python3 -c 'import websockets.asyncio.client' >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check 'websockets>=13' \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages 'websockets>=13'
fi

# bench/socketio.py (issue 12): the reference Node.js server and the load client, npm socket.io and
# socket.io-client 4.8 at the versions of bench/socketio/package-lock.json.
if [ ! -d bench/socketio/node_modules/socket.io-client ] \
   || [ bench/socketio/package-lock.json -nt bench/socketio/node_modules/.package-lock.json ]; then
  npm ci --prefix bench/socketio --no-audit --no-fund
fi

# 10 000 connections: wrk and ws_load need that many descriptors, and so do the servers.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt 10100 ]; then
  echo "bench: the open-files limit is $(ulimit -n) (hard $(ulimit -Hn)); 10 000 connections need ~10 100" >&2
  exit 1
fi

cargo build --release --lib --example hyper_hello --example tungstenite_echo --example ws_load
make -C c-examples
mkdir -p target/bench
cc -O2 -g -std=c99 -Wall -Wextra -Werror -Iinclude bench/ws_bcast.c -o target/bench/ws_bcast \
  -Ltarget/release -Wl,-rpath,"$PWD/target/release" -lhttpsock
cc -O2 -g -std=c99 -Wall -Wextra -Werror -Iinclude bench/rooms_host.c -o target/bench/rooms_host \
  -Ltarget/release -Wl,-rpath,"$PWD/target/release" -lhttpsock
cc -O2 -g -std=c99 -Wall -Wextra -Werror -Iinclude bench/sio_echo.c -o target/bench/sio_echo \
  -Ltarget/release -Wl,-rpath,"$PWD/target/release" -lhttpsock
cc -O2 -g -std=c99 -Wall -Wextra -Werror bench/sio_load.c -o target/bench/sio_load

start=$(date +%s)
python3 bench/bench.py --callgrind "$@"
echo "bench: $(( $(date +%s) - start )) s"
