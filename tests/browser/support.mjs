// Shared by the browser tests: starting a chat server and waiting for its readiness line,
// stopping it by its pid, launching Debian's Chromium (playwright-core), entering the room.
// Every wait is bounded.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const READY_MS = 15_000; // server start, page load + WebSocket welcome, message delivery
export const STOP_MS = 10_000; // SIGTERM to exit

/** Starts `cmdLine` (split on spaces, run from the repository root, `env` added); resolves with
 * { proc, url, output } once it printed "listening on http(s)://127.0.0.1:PORT". */
export function startServer(cmdLine, env = {}) {
  const [cmd, ...args] = cmdLine.trim().split(/\s+/);
  if (cmd === 'php' && args[0] && !existsSync(join(ROOT, args[0]))) {
    throw new Error(`${args[0]} does not exist (set CHAT_CMD to test another chat server)`);
  }
  const proc = spawn(cmd, args, {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
  });
  const output = { text: '' };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no readiness line from '${cmdLine}' within ${READY_MS} ms:\n${output.text}`));
    }, READY_MS);
    const onData = (chunk) => {
      output.text += chunk;
      const m = /listening on (https?:\/\/127\.0\.0\.1:\d+)/.exec(output.text);
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
      reject(new Error(`'${cmdLine}' exited (${code ?? signal}) before it was ready:\n${output.text}`));
    });
  });
}

/** SIGTERM to the server we started; SIGKILL if it has not exited in STOP_MS. */
export function stopServer(proc) {
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

/** Headless Chromium with a fresh profile (removed at close); `extraArgs` are appended to the
 * flags this machine needs (no background networking: its connections are refused here). */
export async function launch(extraArgs = []) {
  const profile = mkdtempSync(join(tmpdir(), 'httpsock-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: READY_MS,
    viewport: { width: 900, height: 600 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...extraArgs,
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the chat page and waits until the server welcomed it; returns its id ("#3"). */
export async function enter(page, url) {
  await page.goto(url, { timeout: READY_MS });
  await page.waitForFunction(
    () => /^you are #/.test(document.getElementById('status')?.textContent ?? ''),
    null,
    { timeout: READY_MS },
  );
  const status = await page.textContent('#status');
  return status.replace('you are ', '');
}
