// Real-browser test of the chat example: two Chromium pages join the room, one sends a message,
// the other must show it. Also saves a screenshot (see SCREENSHOT below) to look at.
//
//   node --test tests/browser/                                  # the PHP chat (php/examples/chat.php)
//   CHAT_CMD='c-examples/build/chat 0' node --test tests/browser/   # the C chat (make -C c-examples)
//
// CHAT_CMD is a command line (split on spaces, run from the repository root) that starts a chat
// server on 127.0.0.1 with an ephemeral port and prints "listening on http://127.0.0.1:PORT".
// Chromium is Debian's (/usr/bin/chromium, or CHROMIUM=path); playwright-core comes from
// `npm ci` in tests/browser. Every wait is bounded; the server is stopped by its pid
// (support.mjs). chat_tls.test.mjs runs the C chat over https / HTTP/2 / wss.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { READY_MS, STOP_MS, enter, launch, startServer, stopServer } from './support.mjs';

const CHAT_CMD = process.env.CHAT_CMD ?? 'php php/examples/chat.php 0';
const SCREENSHOT = process.env.SCREENSHOT ?? join(tmpdir(), 'httpsock-chat.png');

test(`chat in a real browser: ${CHAT_CMD}`, { timeout: 60_000 }, async (t) => {
  const server = await startServer(CHAT_CMD);
  t.after(async () => {
    const end = await stopServer(server.proc);
    assert.equal(end.forced, false, `the server did not stop within ${STOP_MS} ms of SIGTERM`);
  });

  const browser = await launch();
  t.after(browser.close);
  const { context } = browser;

  const alice = await context.newPage();
  const bob = await context.newPage();
  const errors = [];
  for (const page of [alice, bob]) {
    page.on('pageerror', (err) => errors.push(err.message));
  }

  const aliceId = await enter(alice, server.url);
  const bobId = await enter(bob, server.url);
  assert.notEqual(aliceId, bobId, 'each page is its own client');
  assert.equal(await alice.title() !== '', true, 'the page has a title');

  // Alice types into the form's input and presses its button.
  const text = `hello from alice ${Date.now()} <b>not bold</b> ✓`;
  await alice.fill('#text', text);
  await alice.click('#form button');

  // Bob sees it, attributed to Alice; Alice sees it as her own; the input was cleared.
  const seenByBob = bob.locator('#log li', { hasText: text });
  await seenByBob.waitFor({ timeout: READY_MS });
  assert.equal(await seenByBob.locator('.who').textContent(), aliceId);
  assert.equal(await bob.locator('#log li b').count(), 0, 'message text is not parsed as HTML');
  const seenByAlice = alice.locator('#log li.me', { hasText: text });
  await seenByAlice.waitFor({ timeout: READY_MS });
  assert.equal(await seenByAlice.locator('.who').textContent(), 'you');
  assert.equal(await alice.inputValue('#text'), '');

  // And back: Bob answers, Alice sees it.
  const reply = `hi alice, bob here ${Date.now()}`;
  await bob.fill('#text', reply);
  await bob.press('#text', 'Enter');
  await alice.locator('#log li', { hasText: reply }).waitFor({ timeout: READY_MS });

  await bob.screenshot({ path: SCREENSHOT });
  t.diagnostic(`screenshot: ${SCREENSHOT}`);
  assert.deepEqual(errors, [], 'no JavaScript error on the pages');
});
