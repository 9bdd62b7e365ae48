// permessage-deflate with Node's `ws` client (perMessageDeflate) against the C echo example:
// negotiation, large compressible and incompressible messages byte-exact, a fragmented
// compressed message, and bytes on the wire smaller than the message (the server compressed).
//
//   npm ci --prefix tests/deflate && node --test tests/deflate/
//
// ECHO_CMD (default `c-examples/build/ws_echo 0`, built by `make examples`) starts the server,
// which prints "listening on http://127.0.0.1:PORT". Every wait is bounded; the server is
// stopped by its pid.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ECHO_CMD = process.env.ECHO_CMD ?? 'c-examples/build/ws_echo 0';
const WAIT_MS = 15_000;
const NCT = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

let server;
let url;

function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

before(async () => {
  const [cmd, ...args] = ECHO_CMD.split(/\s+/);
  server = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  url = await within(WAIT_MS, `readiness line of '${ECHO_CMD}'`, new Promise((resolve, reject) => {
    server.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      const m = /listening on http:\/\/(127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(`ws://${m[1]}/ws`);
    });
    server.on('error', reject);
    server.on('exit', (code) => reject(new Error(`'${ECHO_CMD}' exited (${code}): ${out}`)));
  }));
});

after(async () => {
  if (server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((resolve) => server.on('exit', resolve));
    server.kill('SIGTERM');
    await within(WAIT_MS, 'server exit', exited).catch(() => server.kill('SIGKILL'));
  }
});

/** Opens a client; resolves once open, with a `next()` that resolves with the next message. */
async function open(options = {}) {
  const ws = new WebSocket(url, { perMessageDeflate: { threshold: 0 }, maxPayload: 0, ...options });
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const m = { data: Buffer.from(data), isBinary };
    const w = waiters.shift();
    if (w) w(m); else queue.push(m);
  });
  await within(WAIT_MS, 'open', new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }));
  ws.next = () => within(WAIT_MS, 'echo', new Promise((resolve) => {
    const m = queue.shift();
    if (m) resolve(m); else waiters.push(resolve);
  }));
  ws.done = () => within(WAIT_MS, 'close', new Promise((resolve) => {
    ws.once('close', (code) => resolve(code));
    ws.close(1000);
  }));
  return ws;
}

function chat(n) {
  const words = 'hello team the build is green again meeting at noon shipping tonight thanks'.split(' ');
  const lines = [];
  for (let i = 0; i < n; i++) {
    const text = Array.from({ length: 5 + (i * 7) % 35 }, (_, j) => words[(i * 13 + j * 5) % words.length]);
    lines.push(JSON.stringify({ type: 'message', room: 'general', user: { id: i, name: `user${i}` }, text: text.join(' ') }));
  }
  return lines.join('\n');
}

test('ws negotiates permessage-deflate with the default server', async () => {
  const ws = await open();
  assert.equal(ws.extensions, 'permessage-deflate');
  // What ws accepted from our answer (NCT): no context takeover either way.
  const params = ws._extensions['permessage-deflate'].params;
  assert.deepEqual(
    [params.server_no_context_takeover, params.client_no_context_takeover],
    [true, true],
    `answer ${NCT} expected`,
  );
  assert.equal(await ws.done(), 1000);
});

test('large compressible and incompressible messages come back byte-exact', async () => {
  const ws = await open();
  const text = chat(20_000); // about 2 MB
  const noise = randomBytes(300_000);
  for (const [data, binary] of [[text, false], [noise, true], ['tiny', false], [Buffer.alloc(0), true]]) {
    ws.send(data, { binary });
    const m = await ws.next();
    assert.equal(m.isBinary, binary);
    assert.ok(m.data.equals(Buffer.from(data)), `${m.data.length} bytes back`);
  }
  assert.equal(await ws.done(), 1000);
});

test('the server compresses: far fewer bytes on the wire than the message', async () => {
  const ws = await open();
  const text = chat(10_000);
  const before = ws._socket.bytesRead;
  ws.send(text);
  const m = await ws.next();
  assert.equal(m.data.toString(), text);
  const wire = ws._socket.bytesRead - before;
  assert.ok(wire < text.length / 3, `${wire} bytes on the wire for ${text.length}`);
  assert.equal(await ws.done(), 1000);
});

test('a fragmented compressed message', async () => {
  const ws = await open();
  const parts = [chat(100), chat(50), chat(200)];
  parts.forEach((p, i) => ws.send(p, { fin: i === parts.length - 1, compress: true }));
  const m = await ws.next();
  assert.equal(m.data.toString(), parts.join(''));
  assert.equal(await ws.done(), 1000);
});

test('without an offer, no extension', async () => {
  const ws = await open({ perMessageDeflate: false });
  assert.equal(ws.extensions, '');
  ws.send(chat(100));
  assert.equal((await ws.next()).data.toString(), chat(100));
  assert.equal(await ws.done(), 1000);
});
