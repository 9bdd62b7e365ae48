// Socket.IO in a real browser: headless Chromium (Debian's, driven by tests/browser's
// playwright-core) opens the server's /page (tests/socketio/page.html, served through
// HS_SIO_PAGE), which loads the browser build of socket.io-client from the server's /client/
// (HS_SIO_CLIENT_DIR) and exchanges events and acks; a Node socket.io-client joins the same room
// and the two talk through it. Prints one JSON object; bounded by OPTIONS.timeout ms (30000).
//
//   node tests/socketio/browser.mjs 'OPTIONS_JSON' URL
//
// OPTIONS: transports (list, default polling then websocket), room, ca (the PEM file the Node
// peer trusts). An https:// page is loaded with --ignore-certificate-errors. Exits 2 when
// playwright-core (npm ci --prefix tests/browser) is missing.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';

const HERE = dirname(fileURLToPath(import.meta.url));
const [optsJson = '{}', url] = process.argv.slice(2);
const opts = JSON.parse(optsJson);
const LIMIT = opts.timeout ?? 30000;
const STEP = 10000;
const result = {};
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

try {
  createRequire(join(HERE, '..', 'browser', 'package.json')).resolve('playwright-core');
} catch {
  console.error('playwright-core is not installed: npm ci --prefix tests/browser');
  process.exit(2);
}
const { launch } = await import('../browser/support.mjs');

let browser;
let peer;
const guard = setTimeout(async () => {
  result.error = `timed out after ${LIMIT} ms`;
  print(result);
  peer?.close();
  // Chromium is our child: closed (bounded) before we go
  await Promise.race([browser?.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  process.exit(1);
}, LIMIT);

async function until(pred, what, ms = STEP) {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

try {
  const room = opts.room ?? `web-${process.pid}`;
  // https with the test CA's certificate: Chromium told to accept it (as tests/browser does)
  browser = await launch(url.startsWith('https:') ? ['--ignore-certificate-errors'] : []);
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  // what went over the wire, printed when something fails
  const trace = [];
  const t0 = Date.now();
  const note = (...a) => trace.push(`${Date.now() - t0} ${a.join(' ')}`.slice(0, 300));
  page.on('request', (r) => { if (r.url().includes('/socket.io/')) note('req', r.method(), r.url().replace(/.*\?/, ''), r.postData() ?? ''); });
  page.on('response', (r) => { if (r.url().includes('/socket.io/')) r.text().then((b) => note('resp', r.status(), r.url().replace(/.*\?/, ''), JSON.stringify(b))).catch(() => {}); });
  page.on('requestfailed', (r) => note('failed', r.url(), r.failure()?.errorText ?? ''));
  page.on('websocket', (ws) => {
    note('ws open', ws.url().replace(/.*\?/, ''));
    ws.on('framesent', (f) => note('ws >', JSON.stringify(String(f.payload))));
    ws.on('framereceived', (f) => note('ws <', JSON.stringify(String(f.payload))));
    ws.on('close', () => note('ws close'));
  });
  result.trace = trace;
  const q = new URLSearchParams({ room, ...(opts.transports ? { transports: opts.transports.join(',') } : {}) });
  await page.goto(`${url}/page?${q}`, { timeout: STEP });
  Object.assign(result, await page.evaluate(() => window.sioReady));

  // a Node client in the same room: each side hears the other
  peer = io(url, { forceNew: true, reconnection: false, timeout: STEP, ...(opts.ca ? { ca: readFileSync(opts.ca) } : {}) });
  await new Promise((ok, no) => { peer.once('connect', ok); peer.once('connect_error', no); });
  const peerNews = [];
  peer.on('news', (...a) => peerNews.push(a.map((x) => (Buffer.isBuffer(x) ? { $bin: x.toString('hex') } : x))));
  await new Promise((ok, no) => peer.timeout(STEP).emit('join', room, (err) => (err ? no(err) : ok())));
  peer.emit('to', room, 'news', 'from node', { n: 2 });
  await until(() => page.evaluate(() => window.news.length >= 1), 'news in the browser');
  await page.evaluate((r) => window.sio.emit('to', r, 'news', 'from the browser', new Uint8Array([9, 8]).buffer), room);
  await until(() => peerNews.length >= 2, 'news at the node peer');
  result.browserNews = await page.evaluate(() => window.news);
  result.peerNews = peerNews;
  if (!opts.transports) {
    await until(() => page.evaluate(() => window.sio.io.engine.transport.name === 'websocket'), 'upgrade in the browser');
  }
  result.final = await page.evaluate(() => window.sio.io.engine.transport.name);
  // the HTTP version of the page and of the polling requests ("h2" over https: ALPN)
  result.protocols = await page.evaluate(() => ({
    page: performance.getEntriesByType('navigation')[0]?.nextHopProtocol,
    polling: [...new Set(performance.getEntriesByType('resource')
      .filter((e) => e.name.includes('/socket.io/')).map((e) => e.nextHopProtocol))],
  }));
  result.status = await page.textContent('#status');
  result.errors = errors;
  result.ok = true;
  delete result.trace;
  print(result);
  clearTimeout(guard);
  peer.close();
  await browser.close();
  process.exit(0);
} catch (e) {
  result.error = e.message;
  print(result);
  peer?.close();
  await browser?.close().catch(() => {});
  process.exit(1);
}
