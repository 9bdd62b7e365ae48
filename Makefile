# httpsock - the front door.
#
#   make test      everything CI checks: deps, build, header-check, lint, cargo tests,
#                  C examples and their end-to-end tests, TLS / HTTP/2 with real clients,
#                  WebSocket admission (authorizer, origins, route limit), rooms across
#                  workers and nodes on a real Redis, Socket.IO with real clients (Node,
#                  Python, Chromium), the PHP wrapper's PHPUnit tests, the chat page in
#                  headless Chromium
#   make demo      builds and runs the PHP chat example on http://127.0.0.1:8080 (Ctrl-C stops it)
#   make demo-c    the same chat room written in C (c-examples/chat.c)
#   make bench     runs the benchmarks (bench/run.sh, about 7 minutes) and writes BENCHMARKS.md
#   make soak      SOAK_SECONDS (default 300) of mixed HTTP + WebSocket load on the PHP server;
#                  writes tests/soak/last.json and the latest soak in docs/RELIABILITY.md
#   make sanitize  the C examples and the ABI tests under Valgrind memcheck (about 10 minutes)
#   make fuzz      runs each fuzz target (fuzz/) for FUZZ_SECONDS (60) from the committed corpus
#
# Other targets: deps, build, header-check, lint, examples, test-examples, test-tls, test-admission,
# test-deflate, test-rooms, test-socketio, test-php, test-soak-smoke, test-browser, fuzz-deps,
# fuzz-corpus, clean.
# Works as root (CI) or as a user with sudo; apt-get never asks questions.

SHELL        := /bin/bash
.SHELLFLAGS  := -euo pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := build

PYTHON       ?= python3
CARGO        ?= cargo
DEMO_PORT    ?= 8080
SOAK_SECONDS ?= 300
CFLAGS_HDR   := -Wall -Wextra -Werror -pedantic -Iinclude
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export DEBIAN_FRONTEND := noninteractive

# command to look for -> Debian package that provides it
APT_TOOLS    := curl:curl gcc:gcc g++:g++ make:make php:php-cli phpunit:phpunit wrk:wrk \
                openssl:openssl redis-server:redis-server ip:iproute2
# the browser test (tests/browser) needs Debian's Chromium and Node.js with npm
BROWSER_DIR  := tests/browser
ifneq ($(wildcard $(BROWSER_DIR)/package.json),)
APT_TOOLS    += chromium:chromium node:nodejs npm:npm
endif
# permessage-deflate's Node ws client (tests/deflate; Node comes with the browser test's tools)
DEFLATE_DIR  := tests/deflate
# socket.io-client (and npm socket.io, the suite's reference server) for tests/socketio
SOCKETIO_DIR := tests/socketio
PHPUNIT      ?= phpunit
# what make sanitize needs beyond the build (command -> Debian package)
SANITIZE_TOOLS := valgrind:valgrind curl:curl openssl:openssl

# make fuzz: seconds per target, the targets, and per target the largest input libFuzzer makes.
FUZZ_SECONDS   ?= 60
FUZZ_TARGETS   ?= route_pattern raw_response http_request
FUZZ_MAX_LEN_route_pattern := 1024
FUZZ_MAX_LEN_raw_response  := 4096
FUZZ_MAX_LEN_http_request  := 4096
# How fast libFuzzer lets inputs grow toward the max length (its default, 100, keeps a 60 s run
# below ~120 bytes, too short for a long path or a request with a body).
FUZZ_LEN_CONTROL ?= 10
# The code under test is safe Rust: `none` runs about 7 times as many inputs per second as
# ASan (measured on http_request). FUZZ_SANITIZER=address works too, on stable.
FUZZ_SANITIZER ?= none
# cargo-fuzz passes nightly-only flags (-Z...): RUSTC_BOOTSTRAP lets stable rustc take them.
FUZZ_CARGO     := cd fuzz && RUSTC_BOOTSTRAP=1 CARGO_BUILD_JOBS=2 $(CARGO) fuzz

.PHONY: deps build header-check lint examples test test-examples test-tls test-admission test-conformance test-deflate test-http-corpus test-rooms test-socketio test-php test-soak-smoke test-browser demo demo-c bench soak sanitize fuzz fuzz-deps fuzz-corpus clean

## deps: install what is missing, and only that (idempotent; apt-get update at most once).
deps:
	@missing=""; \
	for pair in $(APT_TOOLS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if ! $(PYTHON) -m pip --version >/dev/null 2>&1 && ! dpkg -s python3-pip >/dev/null 2>&1; then \
	  missing="$$missing python3-pip"; \
	fi; \
	if [ -n "$$missing" ]; then \
	  echo "deps: apt-get install$$missing"; \
	  $(SUDO) apt-get update -qq; \
	  $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "deps: system packages present"; \
	fi; \
	if $(PYTHON) -c 'import websockets.sync.client, pytest, h2, socketio, websocket, requests' >/dev/null 2>&1; then \
	  echo "deps: websockets, pytest, h2 and python-socketio present"; \
	else \
	  echo "deps: pip install websockets pytest h2 python-socketio[client]"; \
	  $(PYTHON) -m pip install -q --disable-pip-version-check 'websockets>=13' pytest 'h2>=4.1' 'python-socketio[client]>=5.11' \
	    || $(PYTHON) -m pip install -q --disable-pip-version-check --break-system-packages 'websockets>=13' pytest 'h2>=4.1' 'python-socketio[client]>=5.11'; \
	fi; \
	curl --version | grep -qw HTTP2 || { echo "deps: this curl has no HTTP/2 (tests/tls needs it)" >&2; exit 1; }; \
	for ext in FFI pcntl posix; do \
	  php -r "exit(extension_loaded('$$ext') ? 0 : 1);" || { echo "deps: php-cli lacks the $$ext extension" >&2; exit 1; }; \
	done; \
	for dir in $(BROWSER_DIR) $(DEFLATE_DIR) $(SOCKETIO_DIR); do \
	  [ -f $$dir/package-lock.json ] || continue; \
	  if [ -d $$dir/node_modules ] && [ $$dir/node_modules/.package-lock.json -nt $$dir/package-lock.json ]; then \
	    echo "deps: $$dir/node_modules present"; \
	  else \
	    echo "deps: npm ci --prefix $$dir"; \
	    npm ci --prefix $$dir --no-audit --no-fund --loglevel=error; \
	  fi; \
	done

## build: the library (target/release/libhttpsock.so) and, through build.rs, include/*.h.
build:
	$(CARGO) build --release

## header-check: the committed headers match the generated ones; httpsock.h compiles as
## C99 and as C++ without a warning.
header-check: build
	@git diff --exit-code --stat -- include/ \
	  || { echo "include/ is stale: commit the headers regenerated by build.rs" >&2; exit 1; }
	gcc -std=c99 -x c $(CFLAGS_HDR) -fsyntax-only tests/c/header_check.c
	g++ -x c++ $(CFLAGS_HDR) -fsyntax-only tests/c/header_check.c
	@echo "header-check: ok"

## lint: formatting and clippy, warnings as errors.
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

## examples: c-examples/build/{hello,ws_echo,chat} and the fork test helper.
examples: build
	$(MAKE) -C c-examples

## test-examples: the end-to-end tests of the C examples and the header (pytest).
test-examples: examples
	$(PYTHON) -m pytest tests/c_examples -q

## test-tls: TLS, HTTP/2 (ALPN, h2c), wss and WebSocket over HTTP/2 with real clients (curl,
## openssl s_client, Python ssl, websockets, h2) against the C examples, certificates made by
## openssl per run (tests/tls/certs.py); bad input with descriptor-leak checks.
test-tls: examples
	$(PYTHON) -m pytest tests/tls -q

## test-admission: who may open a WebSocket (tests/admission, pytest): the authorizer of
## c-examples/rooms.c (401 with body and header, 500 when it fails), allowed origins (403), the
## per-route client limit (503), over HTTP/1.1 (websockets, raw sockets) and HTTP/2 (h2, TLS and
## h2c); the admission C ABI with bad arguments (tests/c/admission_abi.c).
test-admission: examples
	$(PYTHON) -m pytest tests/admission -q

## test-conformance: RFC 6455 conformance of the WebSocket engine (pytest, tests/conformance): a
## raw-frame client against the C ws_echo and a PHP echo server, one case per rule.
test-conformance: examples
	$(PYTHON) -m pytest tests/conformance -q

## test-deflate: permessage-deflate (RFC 7692) with Python websockets, a raw RFC 7692 client
## (fragments, context takeover, 1002/1007, a decompression bomb closed 1009 with RSS flat) and
## Node ws (perMessageDeflate), against ws_echo and tests/deflate/deflate_echo.c.
test-deflate: examples
	$(PYTHON) -m pytest tests/deflate -q
	node --test $(DEFLATE_DIR)/

## test-http-corpus: malformed HTTP requests (tests/http_corpus/corpus.py, each with its expected
## answer), slow, stuck and vanishing clients, EMFILE, shutdown under load; C and PHP hello.
test-http-corpus: examples
	$(PYTHON) -m pytest tests/http_corpus -q

## test-rooms: channels, presence and the Redis backplane across workers and nodes (pytest,
## tests/rooms): php/examples/rooms.php as 1 node x 2 workers and 3 nodes x 2 workers on a real
## redis-server each test module starts on a free loopback port (no persistence) and stops; kill -9
## of a node, Redis restarted mid-run, two apps on one Redis, and (as root) nodes in network
## namespaces of their own; a worker or node killed, restarted, cut off; the C host
## (c-examples/rooms) as three nodes. About a minute.
test-rooms: examples
	$(PYTHON) -m pytest tests/rooms -q

## test-socketio: Socket.IO (Engine.IO v4 / Socket.IO v5) on /socket.io/ with real clients
## (pytest, tests/socketio): npm socket.io-client in Node (polling, the upgrade, websocket only;
## events, acks both ways, binary, rooms, namespaces, broadcast, disconnects, heartbeats, a server
## restart, connection state recovery, 100 sockets, TLS), python-socketio, the browser client in
## headless Chromium (http, and https over HTTP/2), raw Engine.IO bad input (unknown and closed
## sessions, malformed packets, 413 / 1009, origins, a flood with descriptors checked); against
## c-examples/build/socketio and, when it exists, php/examples/socketio.php with 2 workers and as
## two nodes on a real Redis. About a minute. SIO_APP=reference runs the same cases against npm
## socket.io (tests/socketio/reference_server.mjs) to check the suite itself.
test-socketio: examples
	$(PYTHON) -m pytest tests/socketio -q

## test-php: the PHP wrapper's tests (PHPUnit, php/tests): real server processes, real clients.
test-php: build
	$(PHPUNIT) -c php/phpunit.xml

## test-soak-smoke: the soak driver for 15 s (pytest, tests/soak), so that `make soak` cannot rot.
test-soak-smoke: build
	$(PYTHON) -m pytest tests/soak -q

## test-browser: the chat page in headless Chromium (node --test tests/browser), when present:
## the PHP chat over http, and the C chat over https / HTTP/2 / wss (needs the C examples).
test-browser: examples
	@if [ -f $(BROWSER_DIR)/package.json ]; then \
	  node --test $(BROWSER_DIR)/; \
	else \
	  echo "test-browser: no $(BROWSER_DIR)/package.json, nothing to run"; \
	fi

## test: everything, in this order; ends with the test runners' summaries.
test: deps build header-check lint
	$(CARGO) test --release
	$(MAKE) examples
	$(PYTHON) -m pytest tests/c_examples -q
	$(MAKE) test-conformance
	$(MAKE) test-http-corpus
	$(MAKE) test-tls
	$(MAKE) test-admission
	$(MAKE) test-deflate
	$(MAKE) test-rooms
	$(MAKE) test-socketio
	$(MAKE) test-php
	$(MAKE) test-soak-smoke
	$(MAKE) test-browser

## demo: the PHP chat room on http://127.0.0.1:$(DEMO_PORT); SIGINT/SIGTERM end it cleanly.
demo: deps build
	@if [ ! -f php/examples/chat.php ]; then \
	  echo "php/examples/chat.php is not there yet: running the C chat"; exec $(MAKE) demo-c; \
	fi; \
	echo "open http://127.0.0.1:$(DEMO_PORT)"; \
	exec php php/examples/chat.php $(DEMO_PORT)

## demo-c: the same chat room written in C.
demo-c: deps build examples
	@echo "open http://127.0.0.1:$(DEMO_PORT)"
	exec c-examples/build/chat $(DEMO_PORT)

## bench: every workload of BENCHMARKS.md against plain hyper / tokio-tungstenite, the C host and
## PHP (1 and N workers); writes BENCHMARKS.md and bench/cpu_per_request.svg (bench/run.sh).
bench:
	bash bench/run.sh

## soak: SOAK_SECONDS (default 300) of keep-alive, Connection: close and WebSocket clients on
## tests/soak/server.php (2 workers), every answer and message checked, RSS and descriptors
## sampled; fails on any error, lost or reordered message, fd leak or RSS growth (tests/soak/soak.py).
## Writes tests/soak/last.json and replaces the "Latest soak" section of docs/RELIABILITY.md.
soak: deps build
	SOAK_SECONDS=$(SOAK_SECONDS) $(PYTHON) tests/soak/soak.py --write-docs

## sanitize: the C examples (hello, ws_echo, chat), tests/c/fork_after_start, tests/c/abi_alloc
## and the Rust integration tests (they drive the C ABI) under Valgrind memcheck, driven by curl
## and websockets clients and stopped by SIGTERM/SIGINT; fails on any Valgrind error, lost byte
## or leaked descriptor (tests/sanitize/run.py; logs and summary.json in target/sanitize).
sanitize: build examples
	@missing=""; \
	for pair in $(SANITIZE_TOOLS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "sanitize: apt-get install$$missing"; \
	  $(SUDO) apt-get update -qq; \
	  $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "sanitize: valgrind and curl present"; \
	fi; \
	if ! $(PYTHON) -c 'import websockets.sync.client' >/dev/null 2>&1; then \
	  echo "sanitize: pip install websockets"; \
	  $(PYTHON) -m pip install -q --disable-pip-version-check 'websockets>=13' \
	    || $(PYTHON) -m pip install -q --disable-pip-version-check --break-system-packages 'websockets>=13'; \
	fi
	$(CARGO) test --release --no-run --test lifecycle --test http --test websocket --test faults \
	  --test cluster --test smoke
	$(PYTHON) tests/sanitize/run.py

## fuzz-deps: cargo-fuzz (from crates.io) and a C++ compiler for libFuzzer, when missing.
fuzz-deps:
	@if $(CARGO) fuzz --version >/dev/null 2>&1; then \
	  echo "fuzz-deps: cargo-fuzz present"; \
	else \
	  echo "fuzz-deps: cargo install cargo-fuzz --locked"; \
	  $(CARGO) install cargo-fuzz --locked; \
	fi; \
	if ! command -v c++ >/dev/null 2>&1; then \
	  echo "fuzz-deps: apt-get install g++"; \
	  $(SUDO) apt-get update -qq; \
	  $(SUDO) apt-get install -y -qq --no-install-recommends g++; \
	fi

## fuzz: each target of fuzz/fuzz_targets for FUZZ_SECONDS from the committed corpus
## (fuzz/corpus/<target>, plus fuzz/regressions/<target>); new inputs go to fuzz/target/corpus,
## a crash to fuzz/artifacts/<target>. Runs every target, then fails if any crashed. Logs and
## the summary: fuzz/target/logs.
fuzz: fuzz-deps
	$(FUZZ_CARGO) build -O -s $(FUZZ_SANITIZER)
	@mkdir -p fuzz/target/logs; summary=fuzz/target/logs/summary.txt; \
	echo "make fuzz $$(date -u '+%Y-%m-%d %H:%M UTC'), $(FUZZ_SECONDS) s per target, sanitizer $(FUZZ_SANITIZER)" > $$summary; \
	failed=""; \
	for t in $(FUZZ_TARGETS); do \
	  case $$t in \
	    route_pattern) max_len=$(FUZZ_MAX_LEN_route_pattern) ;; \
	    raw_response) max_len=$(FUZZ_MAX_LEN_raw_response) ;; \
	    *) max_len=$(FUZZ_MAX_LEN_http_request) ;; \
	  esac; \
	  mkdir -p fuzz/target/corpus/$$t fuzz/regressions/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s (log: fuzz/target/logs/$$t.log)"; \
	  rc=0; \
	  ($(FUZZ_CARGO) run -O -s $(FUZZ_SANITIZER) $$t target/corpus/$$t corpus/$$t regressions/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=$$max_len -len_control=$(FUZZ_LEN_CONTROL) \
	    -timeout=10 -print_final_stats=1) \
	    > fuzz/target/logs/$$t.log 2>&1 || rc=$$?; \
	  done_line=$$(grep -E '^#[0-9]+[[:space:]]+DONE' fuzz/target/logs/$$t.log | tail -1 || true); \
	  execs=$$(grep -o 'stat::number_of_executed_units: [0-9]*' fuzz/target/logs/$$t.log | grep -o '[0-9]*$$' || true); \
	  rate=$$(grep -o 'stat::average_exec_per_sec: *[0-9]*' fuzz/target/logs/$$t.log | grep -o '[0-9]*$$' || true); \
	  if [ $$rc -ne 0 ]; then \
	    failed="$$failed $$t"; \
	    line="$$t: FAILED (exit $$rc), see fuzz/target/logs/$$t.log and fuzz/artifacts/$$t"; \
	    grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' fuzz/target/logs/$$t.log | head -5 >&2 || true; \
	  else \
	    line="$$t: no crash; $${execs:-?} execs ($${rate:-?}/s); $$(echo "$$done_line" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*')"; \
	  fi; \
	  echo "$$line" | tee -a $$summary; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crash or failure in:$$failed" >&2; exit 1; fi; \
	echo "fuzz: no crash in $(FUZZ_TARGETS)"

## fuzz-corpus: merges the inputs `make fuzz` found (fuzz/target/corpus) into the committed
## corpus, keeping only those that add coverage (libFuzzer -merge=1); commit fuzz/corpus after.
fuzz-corpus: fuzz-deps
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/target/corpus/$$t; \
	  ($(FUZZ_CARGO) run -O -s $(FUZZ_SANITIZER) $$t corpus/$$t target/corpus/$$t -- -merge=1 -use_counters=0) \
	    2>&1 | grep -E 'MERGE-OUTER: [0-9]+ new files'; \
	done

clean:
	$(MAKE) -C c-examples clean
	$(CARGO) clean
