'use strict';
// make bench, issue 12: the Socket.IO load client (bench/socketio.py drives it).
//
//   node load.js echo PORT CONNS INFLIGHT WARMUP_S DURATION_S [SIZE] [--raw]
//     CONNS Socket.IO clients (socket.io-client, transports: ["websocket"], one connection each:
//     forceNew), each keeping INFLIGHT emits of "echo" with an ack in flight (one string argument
//     of SIZE bytes, default 32; a new emit as soon as an ack comes back). Prints "ready CONNS"
//     once every client is connected, "start" after WARMUP_S seconds of load, "stop" DURATION_S
//     seconds later, then one JSON line: acks received inside the window, their rate, latency
//     (emit to ack) p50/p99/max in µs over the window, errors.
//     --raw: the same traffic from plain `ws` clients that write and parse the Engine.IO /
//     Socket.IO text packets themselves (42<id>["echo",".."] -> 43<id>[".."]): about a third of
//     socket.io-client's CPU per message, to check that the client does not set the figure.
//   node load.js idle PORT CONNS [--raw]
//     CONNS clients connect and stay idle (answering the server's pings); prints "ready CONNS";
//     exits when stdin closes or a line is read.
// Everything on 127.0.0.1.
const { performance } = require('perf_hooks');

const argv = process.argv.slice(2);
const raw = argv.includes('--raw');
const pos = argv.filter((a) => !a.startsWith('--'));
const mode = pos[0];
const port = Number(pos[1]);
const conns = Number(pos[2]);
const URL_BASE = `http://127.0.0.1:${port}`;

let errors = 0;
const errorKinds = {};
function error(kind) {
  errors += 1;
  errorKinds[kind] = (errorKinds[kind] || 0) + 1;
}

// ---- one client: connect(onConnect) -> { emit(args, cb), close() } ----------------------------

function sioClient(onReady) {
  const { io } = require('socket.io-client');
  const s = io(URL_BASE, { transports: ['websocket'], forceNew: true, reconnection: false,
                           timeout: 30000 });
  let ready = false;
  s.on('connect', () => { if (!ready) { ready = true; onReady(); } });
  s.on('connect_error', (e) => { error('connect_error ' + e.message); if (!ready) { ready = true; onReady(e); } });
  s.on('disconnect', (reason) => { if (!closing) error('disconnect ' + reason); });
  let closing = false;
  return {
    emit(payload, cb) { s.emit('echo', payload, cb); },
    close() { closing = true; s.disconnect(); },
  };
}

function rawClient(onReady) {
  const WebSocket = require('ws');
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`,
                           { perMessageDeflate: false });
  let ready = false;
  let closing = false;
  let nextId = 0;
  const pending = new Map();
  ws.on('message', (data, isBinary) => {
    if (isBinary) { error('binary frame'); return; }
    const t = data.toString();
    const c = t.charCodeAt(0);
    if (c === 0x32 /* 2 ping */) { ws.send('3'); return; }
    if (c === 0x30 /* 0 open */) { ws.send('40'); return; }
    if (c !== 0x34 /* 4 message */) return;
    const k = t.charCodeAt(1);
    if (k === 0x30 /* 40 connect */) { if (!ready) { ready = true; onReady(); } return; }
    if (k === 0x34 /* 44 connect_error */) { error('connect_error ' + t); if (!ready) { ready = true; onReady(new Error(t)); } return; }
    if (k === 0x33 /* 43 ack */) {
      let i = 2;
      let id = 0;
      while (i < t.length && t.charCodeAt(i) >= 48 && t.charCodeAt(i) <= 57) {
        id = id * 10 + (t.charCodeAt(i) - 48);
        i += 1;
      }
      const cb = pending.get(id);
      if (!cb) { error('unknown ack'); return; }
      pending.delete(id);
      cb(...JSON.parse(t.slice(i)));
    }
  });
  ws.on('error', (e) => { error('ws error ' + e.message); if (!ready) { ready = true; onReady(e); } });
  ws.on('close', () => { if (!closing) error('closed by the server'); });
  return {
    emit(payload, cb) {
      const id = nextId++;
      pending.set(id, cb);
      ws.send(`42${id}${JSON.stringify(['echo', payload])}`);
    },
    close() { closing = true; ws.close(); },
  };
}

const makeClient = raw ? rawClient : sioClient;

function connectAll(n, then) {
  const clients = [];
  let done = 0;
  let started = 0;
  const WAVE = 200; // handshakes in flight at once
  function one() {
    if (started >= n) return;
    started += 1;
    const c = makeClient((err) => {
      done += 1;
      if (err) { console.error('connect failed: ' + err.message); process.exit(2); }
      if (done === n) then(clients);
      else one();
    });
    clients.push(c);
  }
  for (let i = 0; i < Math.min(WAVE, n); i++) one();
}

// ---- echo -------------------------------------------------------------------------------------

function echo() {
  const inflight = Number(pos[3]);
  const warmup = Number(pos[4]) * 1000;
  const duration = Number(pos[5]) * 1000;
  const payload = 'x'.repeat(Number(pos[6] || 32));
  connectAll(conns, (clients) => {
    process.stdout.write(`ready ${clients.length}\n`);
    const t0 = performance.now() + warmup;
    const t1 = t0 + duration;
    let running = true;
    let acks = 0;
    let wrong = 0;
    const lat = [];
    function fire(c) {
      const sent = performance.now();
      c.emit(payload, (...args) => {
        const now = performance.now();
        if (args.length !== 1 || args[0] !== payload) wrong += 1;
        if (now >= t0 && now < t1) {
          acks += 1;
          lat.push(now - sent);
        }
        if (running) fire(c);
      });
    }
    for (const c of clients) for (let k = 0; k < inflight; k++) fire(c);
    setTimeout(() => process.stdout.write('start\n'), Math.max(0, t0 - performance.now()));
    setTimeout(() => {
      running = false;
      process.stdout.write('stop\n');
      lat.sort((a, b) => a - b);
      const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] * 1000 : null);
      const res = {
        conns: clients.length, inflight, size: payload.length, client: raw ? 'raw ws' : 'socket.io-client',
        msgs: acks, seconds: duration / 1000, rate: acks / (duration / 1000),
        p50_us: q(0.5), p99_us: q(0.99), max_us: lat.length ? lat[lat.length - 1] * 1000 : null,
        wrong, errors, error_kinds: errorKinds,
      };
      // the last acks of the in-flight emits are not waited for
      setTimeout(() => {
        process.stdout.write(JSON.stringify(res) + '\n');
        for (const c of clients) c.close();
        setTimeout(() => process.exit(0), 200);
      }, 100);
    }, Math.max(0, t1 - performance.now()));
  });
}

// ---- idle -------------------------------------------------------------------------------------

function idle() {
  connectAll(conns, (clients) => {
    process.stdout.write(`ready ${clients.length}\n`);
    const end = () => {
      for (const c of clients) c.close();
      process.stdout.write(JSON.stringify({ errors, error_kinds: errorKinds }) + '\n');
      setTimeout(() => process.exit(0), 200);
    };
    process.stdin.on('data', end);
    process.stdin.on('end', end);
  });
}

if (mode === 'echo') echo();
else if (mode === 'idle') idle();
else {
  console.error('usage: node load.js echo PORT CONNS INFLIGHT WARMUP_S DURATION_S [SIZE] [--raw] | idle PORT CONNS [--raw]');
  process.exit(2);
}
