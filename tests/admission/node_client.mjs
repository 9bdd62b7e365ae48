// One WebSocket upgrade with Node's `ws` client (from tests/deflate/node_modules, installed by
// `make deps`), for tests/admission: prints one JSON line, either
//   {"event":"open"}   after a text round trip, or
//   {"event":"unexpected-response","status":401,"headers":{...},"body":"..."}   for a refusal.
//
//   node tests/admission/node_client.mjs URL [ORIGIN]
//
// Exits 2 when `ws` is not installed; every wait is bounded.
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let WebSocket;
try {
  WebSocket = createRequire(join(ROOT, 'tests', 'deflate', 'package.json'))('ws');
} catch {
  console.error('ws is not installed: npm ci --prefix tests/deflate');
  process.exit(2);
}

const [url, origin] = process.argv.slice(2);
const timer = setTimeout(() => { console.error('no answer within 10 s'); process.exit(1); }, 10_000);
// Printed, then the process ends (the refused request's keep-alive socket would hold it).
const done = (result) => { console.log(JSON.stringify(result)); clearTimeout(timer); process.exit(0); };
const ws = new WebSocket(url, origin ? { origin } : {});
ws.on('open', () => ws.send('node'));
ws.on('message', (data) => { ws.close(); ws.on('close', () => done({ event: 'open', echo: data.toString() })); });
ws.on('unexpected-response', (req, res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => { body += chunk; });
  res.on('end', () => done({ event: 'unexpected-response', status: res.statusCode, headers: res.headers, body }));
});
ws.on('error', (e) => { console.error(`error: ${e.message}`); process.exit(1); });
