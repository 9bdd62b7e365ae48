// Real-browser test of the C chat over TLS: the page over https with a self-signed chain
// (Chromium started with --ignore-certificate-errors), loaded over HTTP/2 (the navigation
// entry's nextHopProtocol), the room over wss, two pages talking. What the browser did with
// the WebSocket is read from the DevTools protocol (Network.webSocket* events: the handshake's
// status and headers) and from the server's log (c-examples/chat.c logs, per join, the protocol
// the upgrade came over: HTTP/2.0 means a WebSocket over HTTP/2, RFC 8441).
//
//   node --test tests/browser/      (with c-examples/build/chat built: make examples)
//
// Certificates: tests/tls/certs.py (openssl) into a temporary directory. TLS_CHAT_CMD
// overrides the server command (it must honour HS_TLS_CERT / HS_TLS_KEY and print
// "listening on https://127.0.0.1:PORT"). Every wait is bounded; the server is stopped by its
// pid. Set EXPECT_WS_H2=0 to accept a WebSocket over HTTP/1.1 (see the assertion below).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { READY_MS, ROOT, STOP_MS, enter, launch, startServer, stopServer } from './support.mjs';

const CMD = process.env.TLS_CHAT_CMD ?? 'c-examples/build/chat 0';
const EXPECT_WS_H2 = (process.env.EXPECT_WS_H2 ?? '1') !== '0';
const SCREENSHOT = process.env.SCREENSHOT_TLS ?? join(tmpdir(), 'httpsock-chat-tls.png');
const ENGINE_HAS_DEFLATE = readFileSync(join(ROOT, 'include/httpsock.h'), 'utf8')
  .includes('hs_set_ws_deflate(');

/** Collects the WebSocket handshakes a page makes, from the DevTools protocol. */
async function watchWebSockets(context, page) {
  const cdp = await context.newCDPSession(page);
  const sockets = new Map(); // requestId -> { url, request, response }
  cdp.on('Network.webSocketCreated', (e) => sockets.set(e.requestId, { url: e.url }));
  cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => {
    (sockets.get(e.requestId) ?? sockets.set(e.requestId, {}).get(e.requestId)).request = e.request;
  });
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    (sockets.get(e.requestId) ?? sockets.set(e.requestId, {}).get(e.requestId)).response = e.response;
  });
  await cdp.send('Network.enable');
  return sockets;
}

/** A header's value from a DevTools header object, by case-insensitive name. */
function header(headers, name) {
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (k.toLowerCase() === name.toLowerCase()) return v;
  }
  return undefined;
}

/** Test certificates (tests/tls/certs.py) and the chat over https; both cleaned up after `t`. */
async function startTlsChat(t) {
  if (!process.env.TLS_CHAT_CMD && !existsSync(join(ROOT, 'c-examples/build/chat'))) {
    assert.fail('c-examples/build/chat is missing: run `make examples` first');
  }
  const certDir = mkdtempSync(join(tmpdir(), 'httpsock-certs-'));
  t.after(() => rmSync(certDir, { recursive: true, force: true }));
  const certs = JSON.parse(execFileSync('python3', [join(ROOT, 'tests/tls/certs.py'), certDir],
    { timeout: 60_000 }).toString());
  const server = await startServer(CMD, { HS_TLS_CERT: certs.server, HS_TLS_KEY: certs.server_key });
  t.after(async () => {
    const end = await stopServer(server.proc);
    assert.equal(end.forced, false,
      `the server did not stop within ${STOP_MS} ms of SIGTERM:\n${server.output.text}`);
  });
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
  return server;
}

test(`chat over https, HTTP/2 and wss in a real browser: ${CMD}`, { timeout: 90_000 }, async (t) => {
  // Alice and Bob in two browsers: two HTTP/2 connections (two tabs of one browser share one,
  // which the last test covers). Launched first so that they close before the server stops
  // (after-hooks run in order): Chromium keeps a preconnected h2 socket open, which once held
  // the engine's shutdown back for its whole grace period (fixed; tests/tls/test_shutdown.py).
  const aliceBrowser = await launch(['--ignore-certificate-errors']);
  t.after(aliceBrowser.close);
  const bobBrowser = await launch(['--ignore-certificate-errors']);
  t.after(bobBrowser.close);
  const server = await startTlsChat(t);
  const alice = await aliceBrowser.context.newPage();
  const bob = await bobBrowser.context.newPage();
  const errors = [];
  for (const page of [alice, bob]) page.on('pageerror', (err) => errors.push(err.message));
  const aliceSockets = await watchWebSockets(aliceBrowser.context, alice);

  const aliceId = await enter(alice, server.url);
  const bobId = await enter(bob, server.url);
  assert.notEqual(aliceId, bobId);

  // The page came over HTTP/2 (ALPN h2), from a secure origin.
  const nav = await alice.evaluate(() => {
    const e = performance.getEntriesByType('navigation')[0];
    return { protocol: e.nextHopProtocol, secure: window.isSecureContext, href: location.href };
  });
  assert.equal(nav.protocol, 'h2', `navigation over ${nav.protocol}`);
  assert.equal(nav.secure, true);
  assert.match(nav.href, /^https:/);

  // Alice and Bob talk over wss.
  const text = `over wss ${Date.now()} ✓`;
  await alice.fill('#text', text);
  await alice.click('#form button');
  const seenByBob = bob.locator('#log li', { hasText: text });
  await seenByBob.waitFor({ timeout: READY_MS });
  assert.equal(await seenByBob.locator('.who').textContent(), aliceId);
  const reply = `back to alice ${Date.now()}`;
  await bob.fill('#text', reply);
  await bob.press('#text', 'Enter');
  await alice.locator('#log li', { hasText: reply }).waitFor({ timeout: READY_MS });

  // What the browser's WebSocket handshake was (DevTools), and what the server saw (its log).
  const ws = [...aliceSockets.values()].find((s) => s.url?.startsWith('wss://'));
  assert.ok(ws, `no wss WebSocket seen by DevTools: ${JSON.stringify([...aliceSockets.values()])}`);
  const joins = [...server.output.text.matchAll(/joined over (HTTP\/[\d.]+) offering extensions '([^']*)'/g)];
  assert.ok(joins.length >= 2, `no join lines in the server log:\n${server.output.text}`);
  const [, serverProtocol, offered] = joins[0];
  const status = ws.response?.status;
  const extensions = header(ws.response?.headers, 'sec-websocket-extensions') ?? '';
  t.diagnostic(`WebSocket: DevTools status ${status}, server saw ${serverProtocol}, ` +
    `offered '${offered}', response extensions '${extensions}'`);

  // Chromium offers permessage-deflate on every WebSocket; an engine with it (the header
  // declares hs_set_ws_deflate) must accept it.
  assert.match(offered, /permessage-deflate/, 'Chromium offered no compression');
  if (ENGINE_HAS_DEFLATE) {
    assert.match(extensions, /permessage-deflate/,
      `compression not negotiated: response headers ${JSON.stringify(ws.response?.headers)}`);
  } else {
    t.diagnostic('this engine has no permessage-deflate yet (no hs_set_ws_deflate in the header)');
  }

  // The server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and the page's connection is h2:
  // Chromium then opens the WebSocket as an extended CONNECT stream (200, not 101).
  if (EXPECT_WS_H2) {
    assert.equal(serverProtocol, 'HTTP/2.0', 'Chromium used a WebSocket over HTTP/1.1');
    assert.equal(status, 200, `DevTools handshake status ${status}`);
  }
  assert.equal(serverProtocol === 'HTTP/2.0', status === 200,
    'the server log and DevTools disagree about the WebSocket protocol');

  await bob.screenshot({ path: SCREENSHOT });
  t.diagnostic(`screenshot: ${SCREENSHOT}`);
  assert.deepEqual(errors, [], 'no JavaScript error on the pages');
});

// Two tabs of one browser share one HTTP/2 connection, so their WebSockets are two extended
// CONNECT streams of it: each must get an id of its own, or the room cannot tell them apart
// (tests/tls/test_websocket.py has the same case with Python h2).
test('two tabs of one browser over one HTTP/2 connection are two chat members',
  { timeout: 60_000 },
  async (t) => {
    const browser = await launch(['--ignore-certificate-errors']);
    t.after(browser.close);
    const server = await startTlsChat(t);
    const first = await browser.context.newPage();
    const second = await browser.context.newPage();
    const firstId = await enter(first, server.url);
    const secondId = await enter(second, server.url);
    assert.notEqual(firstId, secondId, 'both tabs got the same id');
    const text = `tab to tab ${Date.now()}`;
    await first.fill('#text', text);
    await first.click('#form button');
    await second.locator('#log li', { hasText: text }).waitFor({ timeout: READY_MS });
  });
