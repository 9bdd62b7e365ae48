// Real-browser test of the chat example: two Chromium pages join the room, one sends a message,
// the other must show it. Also saves a screenshot (see SCREENSHOT below) to look at.
//
//   node --test tests/browser/                                  # the PHP chat (php/examples/chat.php)
//   CHAT_CMD='c-examples/build/chat 0' node --test tests/browser/   # the C chat (make -C c-examples)
//
// CHAT_CMD is a command line (split on spaces, run from the repository root) that starts a chat
// server on 127.0.0.1 with an ephemeral port and prints "listening on http://127.0.0.1:PORT".
// Chromium is Debian's (/usr/bin/chromium, or CHROMIUM=path); playwright-core comes from
// `npm ci` in tests/browser. Every wait is bounded; the server is stopped by its pid.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHAT_CMD = process.env.CHAT_CMD ?? 'php php/examples/chat.php 0';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = process.env.SCREENSHOT ?? join(tmpdir(), 'httpsock-chat.png');
const READY_MS = 15_000; // server start, page load + WebSocket welcome, message delivery
const STOP_MS = 10_000; // SIGTERM to exit

/** Starts CHAT_CMD; resolves with { proc, url, output } once it printed its readiness line. */
function startServer() {
  const [cmd, ...args] = CHAT_CMD.trim().split(/\s+/);
  if (cmd === 'php' && args[0] && !existsSync(join(ROOT, args[0]))) {
    throw new Error(`${args[0]} does not exist (set CHAT_CMD to test another chat server)`);
  }
  const proc = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { text: '' };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no readiness line from '${CHAT_CMD}' within ${READY_MS} ms:\n${output.text}`));
    }, READY_MS);
    const onData = (chunk) => {
      output.text += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output.text);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1] + '/', output });
      }
    };
    proc.stdout.setEncoding('utf8').on('data', onData);
    proc.stderr.setEncoding('utf8').on('data', (chunk) => { output.text += chunk; });
    proc.on('error', (err) => { clearTimeout(timer); reject(err); });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`'${CHAT_CMD}' exited (${code ?? signal}) before it was ready:\n${output.text}`));
    });
  });
}

/** SIGTERM to the server we started; SIGKILL if it has not exited in STOP_MS. */
function stopServer(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode, forced: false });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      resolve({ code: null, signal: 'SIGKILL', forced: true });
    }, STOP_MS);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, forced: false });
    });
    proc.kill('SIGTERM');
  });
}

/** Opens the chat page and waits until the server welcomed it; returns its id ("#3"). */
async function enter(page, url) {
  await page.goto(url, { timeout: READY_MS });
  await page.waitForFunction(
    () => /^you are #/.test(document.getElementById('status')?.textContent ?? ''),
    null,
    { timeout: READY_MS },
  );
  const status = await page.textContent('#status');
  return status.replace('you are ', '');
}

test(`chat in a real browser: ${CHAT_CMD}`, { timeout: 60_000 }, async (t) => {
  const server = await startServer();
  t.after(async () => {
    const end = await stopServer(server.proc);
    assert.equal(end.forced, false, `the server did not stop within ${STOP_MS} ms of SIGTERM`);
  });

  const profile = mkdtempSync(join(tmpdir(), 'httpsock-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: READY_MS,
    viewport: { width: 900, height: 600 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });

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
