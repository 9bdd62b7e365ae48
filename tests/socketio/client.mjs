// Real Socket.IO clients (npm socket.io-client 4.x, from this directory's node_modules) against
// the Socket.IO test app (c-examples/socketio.c, php/examples/socketio.php): one scenario per
// run, the results printed as one JSON object on stdout (the Python tests assert on them).
//
//   node tests/socketio/client.mjs SCENARIO 'OPTIONS_JSON' URL [URL2]
//
// Binary values are printed as {"$bin":"<hex>"}, and such objects in OPTIONS become Buffers.
// Every scenario is bounded by OPTIONS.timeout ms (default 20000): when it runs out, the script
// prints what it has so far with "error" set and exits 1. Scenarios "reconnect" and "hold"
// print JSON lines as they go ({"phase": ...}) for a test that acts in between.

import { readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { io, Manager } from 'socket.io-client';

const [scenario, optsJson = '{}', ...urls] = process.argv.slice(2);
const opts = JSON.parse(optsJson);
const url = urls[0];
const LIMIT = opts.timeout ?? 20000;
const STEP = opts.step ?? 5000; // one ack / event / connect
const SETTLE = opts.settle ?? 300; // how long "nothing arrives" is watched for
const result = { scenario };
const sockets = [];

const print = (o) => process.stdout.write(JSON.stringify(enc(o)) + '\n');
const guard = setTimeout(() => {
  result.error = `timed out after ${LIMIT} ms`;
  print(result);
  process.exit(1);
}, LIMIT);

/** Binary (Buffer, ArrayBuffer, typed arrays) as {"$bin": hex}, recursively. */
function enc(v) {
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString('hex') };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (Array.isArray(v)) return v.map(enc);
  if (v instanceof Error) return { error: v.message };
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, enc(x)]));
  }
  return v;
}

/** {"$bin": hex} in the options as Buffers, recursively. */
function dec(v) {
  if (Array.isArray(v)) return v.map(dec);
  if (v !== null && typeof v === 'object') {
    if (typeof v.$bin === 'string' && Object.keys(v).length === 1) return Buffer.from(v.$bin, 'hex');
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, dec(x)]));
  }
  return v;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

/** A new client (its own Engine.IO session) connected to `nsp` of `base`. */
function connect(base, nsp = '/', o = {}) {
  const s = io(base + (nsp === '/' ? '' : nsp), {
    forceNew: true, reconnection: false, timeout: STEP, ...(opts.transports ? { transports: opts.transports } : {}), ...tls(), ...o,
  });
  sockets.push(s);
  // the transport the session opened on (the upgrade may finish before the namespace connects)
  s.io.once('open', () => { s.openTransport = s.io.engine.transport.name; });
  return withTimeout(new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', (e) => { s.close(); reject(new Error(`connect_error: ${e.message}`)); });
  }), STEP, `connect ${nsp}`);
}

/** opts.ca (a PEM file): trust it, for an https:// server (engine.io-client passes it to Node's
 * TLS for polling and websocket alike). */
function tls() {
  return opts.ca ? { ca: readFileSync(opts.ca), rejectUnauthorized: true } : {};
}

/** GET with the same trust (Node's fetch cannot take a CA: node:https instead). */
function httpsGetJson(u) {
  return new Promise((resolve, reject) => {
    const req = httpsGet(u, { ca: readFileSync(opts.ca), timeout: STEP }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => { body += c; }).on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${u}: ${res.statusCode}`));
        else resolve(JSON.parse(body));
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${u}: timeout`)));
  });
}

/** The connect_error a refused client gets: {message, data}; fails if it connects. */
function refused(base, nsp = '/', o = {}) {
  const s = io(base + (nsp === '/' ? '' : nsp), {
    forceNew: true, reconnection: false, timeout: STEP, ...(opts.transports ? { transports: opts.transports } : {}), ...o,
  });
  sockets.push(s);
  return withTimeout(new Promise((resolve, reject) => {
    s.once('connect', () => { s.close(); reject(new Error(`${nsp} connected, refusal expected`)); });
    s.once('connect_error', (e) => { s.close(); resolve({ message: e.message, data: e.data ?? null }); });
  }), STEP, `refusal of ${nsp}`);
}

/** Emits with an acknowledgement: resolves with all the ack's arguments. */
function ack(s, ev, ...args) {
  return new Promise((resolve, reject) => {
    s.timeout(STEP).emit(ev, ...args, (err, ...resp) => (err ? reject(new Error(`no ack for ${ev} within ${STEP} ms`)) : resolve(resp)));
  });
}

/** The arguments of the next `ev` on `s`. */
function next(s, ev, ms = STEP) {
  return withTimeout(new Promise((resolve) => s.once(ev, (...a) => resolve(a))), ms, `event ${ev}`);
}

/** Every `ev` `s` receives from now on, as argument arrays. */
function collect(s, ev) {
  const got = [];
  s.on(ev, (...a) => got.push(a));
  return got;
}

/** Waits until pred() or `ms`; returns whether it came true. */
async function until(pred, ms = STEP) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

function transportOf(s) { return s.io.engine.transport.name; }

/** Resolves once the socket's engine runs on websocket (the upgrade done), or after `ms`. */
function upgraded(s, ms = STEP) {
  if (transportOf(s) === 'websocket') return Promise.resolve(true);
  return withTimeout(new Promise((resolve) => s.io.engine.once('upgrade', () => resolve(true))), ms, 'upgrade');
}

/** GET a JSON path of the server. */
async function getJson(base, path) {
  if (base.startsWith('https:')) return httpsGetJson(base + path);
  const r = await fetch(base + path, { signal: AbortSignal.timeout(STEP) });
  if (!r.ok) throw new Error(`GET ${path}: ${r.status}`);
  return r.json();
}

/** Polls GET /members?room= until it equals `want` (sorted), or STEP; returns the last list. */
async function membersUntil(base, room, want) {
  const w = JSON.stringify([...want].sort());
  let last;
  const end = Date.now() + STEP;
  do {
    last = (await getJson(base, `/members?room=${encodeURIComponent(room)}`)).sort();
    if (JSON.stringify(last) === w) break;
    await sleep(20);
  } while (Date.now() < end);
  return last;
}

const VALUES = ['text', 42, -1.5, true, false, null, { a: [1, 'x', { b: null }] }, [1, [2, [3]]], 'héllo ✓ 😀', ''];

// ---- scenarios -----------------------------------------------------------------------------

const scenarios = {
  /** Connect with opts.transports (default: polling, then the upgrade), events and acks. */
  async basic() {
    const s = await connect(url);
    result.id = s.id;
    result.engineId = s.io.engine.id;
    result.first = s.openTransport;
    result.atConnect = transportOf(s);
    // a burst right away, while the upgrade (if any) is under way: every ack, in order of index
    const burst = Array.from({ length: 30 }, (_, i) => ack(s, 'echo', i, `n${i}`));
    if (opts.expectUpgrade) result.upgraded = await upgraded(s).catch((e) => e.message);
    result.burst = await Promise.all(burst);
    result.final = transportOf(s);
    result.echoAck = await ack(s, 'echo', ...VALUES);
    result.echoEmpty = await ack(s, 'echo');
    const p = next(s, 'echo');
    s.emit('echo', 'no ack', 7, { k: 'v' });
    result.echoNoAck = await p;
    const big = 'x'.repeat(opts.big ?? 100000);
    result.bigLength = (await ack(s, 'echo', big))[0].length;
    // the server asks, the client answers through the ack callback
    s.on('question', (a, b, cb) => cb('reply', a + b, { ok: true }));
    const ans = next(s, 'answer');
    s.emit('ask', 'question', 2, 3);
    result.answer = await ans;
    if (opts.askTimeout) {
      s.on('silent', () => {}); // never acknowledged: the server gives up after 2000 ms
      const t0 = Date.now();
      const none = next(s, 'answer', 6000);
      s.emit('ask', 'silent', 1);
      result.silentAnswer = await none;
      result.silentMs = Date.now() - t0;
    }
    result.whoami = (await ack(s, 'whoami'))[0];
    result.final2 = transportOf(s);
    result.connected = s.connected;
  },

  /** Binary arguments both ways, mixed with JSON; opts.transports. */
  async binary() {
    const s = await connect(url);
    result.transport = transportOf(s);
    result.first = s.openTransport;
    const b1 = Buffer.from([0, 1, 2, 253, 254, 255]);
    const big = Buffer.alloc(opts.bigBinary ?? 200000, 7);
    result.ackMixed = await ack(s, 'echo', b1, { nested: Buffer.from('abc'), list: [Buffer.from([9]), 'x'] }, 'text', 5);
    result.ackEmpty = await ack(s, 'echo', Buffer.alloc(0));
    const bigBack = (await ack(s, 'echo', big))[0];
    result.bigOk = Buffer.isBuffer(bigBack) && bigBack.equals(big);
    const p = next(s, 'echo');
    s.emit('echo', 'lead', Buffer.from([4, 2]));
    result.noAck = await p;
    s.on('bq', (buf, label, cb) => cb(Buffer.concat([buf, Buffer.from([99])]), label, 'ok'));
    const ans = next(s, 'answer');
    s.emit('ask', 'bq', Buffer.from([1, 2]), 'label');
    result.answer = await ans;
    const room = opts.room ?? `bin-${process.pid}`;
    await ack(s, 'join', room);
    const news = next(s, 'bnews');
    s.emit('to', room, 'bnews', Buffer.from([7, 7]), { b: Buffer.from([8]) });
    result.roomBinary = await news;
    result.transportEnd = transportOf(s);
  },

  /** join, to, leave and /members with three clients. */
  async rooms() {
    const room = opts.room ?? `red-${process.pid}`;
    const [a, b, c] = await Promise.all([connect(url), connect(url), connect(url)]);
    result.ids = [a.id, b.id, c.id];
    const [ga, gb, gc] = [collect(a, 'news'), collect(b, 'news'), collect(c, 'news')];
    result.joinAck = await ack(a, 'join', room);
    await ack(b, 'join', room);
    result.membersAfterJoin = await membersUntil(url, room, [a.id, b.id]);
    result.whoamiA = (await ack(a, 'whoami'))[0];
    a.emit('to', room, 'news', 1, 'one');
    await until(() => ga.length >= 1 && gb.length >= 1);
    await sleep(SETTLE);
    await ack(c, 'echo', 'sync'); // c's connection carried on: anything for it came before
    result.round1 = { a: [...ga], b: [...gb], c: [...gc] };
    result.leaveAck = await ack(b, 'leave', room);
    result.membersAfterLeave = await membersUntil(url, room, [a.id]);
    a.emit('to', room, 'news', 2);
    await until(() => ga.length >= 2);
    c.emit('to', room, 'news', 3); // from a non-member: members get it, the sender does not
    await until(() => ga.length >= 3);
    await sleep(SETTLE);
    await Promise.all([ack(b, 'echo', 'sync'), ack(c, 'echo', 'sync')]);
    result.round2 = { a: [...ga], b: [...gb], c: [...gc] };
    // the room goes with its last member (seen while this process still runs, so that each
    // client's goodbye reaches the server)
    a.disconnect();
    result.membersAtEnd = await membersUntil(url, room, []);
  },

  /** Namespaces: /admin with and without the token, an unknown one, a refused "/", a user. */
  async namespaces() {
    const admin = await connect(url, '/admin', { auth: { token: 'secret' } });
    result.adminNsp = admin.nsp;
    result.adminEcho = await ack(admin, 'echo', 'admin', 1);
    result.adminRefused = await refused(url, '/admin', { auth: { token: 'nope' } });
    result.adminNoAuth = await refused(url, '/admin');
    result.unknown = await refused(url, '/nope');
    result.rootRefused = await refused(url, '/', { auth: { token: 'bad' } });
    const alice = await connect(url, '/', { auth: { user: 'alice' } });
    result.alice = (await ack(alice, 'whoami'))[0];
    const anon = await connect(url, '/', { auth: { token: 'fine' } });
    result.anon = (await ack(anon, 'whoami'))[0];
    // two namespaces over one Engine.IO session (a Manager multiplexes its sockets)
    const mo = { reconnection: false, timeout: STEP, ...(opts.transports ? { transports: opts.transports } : {}) };
    const m = new Manager(url, mo);
    const root = m.socket('/');
    const adm = m.socket('/admin', { auth: { token: 'secret' } });
    sockets.push(root, adm);
    const ready = (s) => withTimeout(new Promise((r) => (s.connected ? r() : s.once('connect', r))), STEP, 'multiplexed connect');
    await Promise.all([ready(root), ready(adm)]);
    result.sharedEngine = root.io.engine.id === adm.io.engine.id;
    result.multiplexed = [await ack(root, 'echo', 'root'), await ack(adm, 'echo', 'adm')];
    // a namespace refused on a session that has "/" connected: "/" goes on
    const m2 = new Manager(url, mo);
    const root2 = m2.socket('/');
    const bad = m2.socket('/admin', { auth: { token: 'wrong' } });
    sockets.push(root2, bad);
    const badErr = new Promise((resolve) => bad.once('connect_error', (e) => resolve(e.message)));
    await ready(root2);
    result.multiplexedRefused = await withTimeout(badErr, STEP, 'multiplexed refusal');
    result.rootAfterRefusal = await ack(root2, 'echo', 'still');
    result.rootStillShared = root2.io.engine.id === bad.io.engine.id;
  },

  /** broadcast: every socket of "/" but the sender; not /admin's. */
  async broadcast() {
    const [a, b, c] = await Promise.all([connect(url), connect(url), connect(url)]);
    const d = await connect(url, '/admin', { auth: { token: 'secret' } });
    const got = [a, b, c, d].map((s) => collect(s, 'hey'));
    result.ack = await ack(a, 'broadcast', 'hey', 7, { x: 'y' });
    await until(() => got[1].length >= 1 && got[2].length >= 1);
    await sleep(SETTLE);
    await Promise.all([ack(a, 'echo', 'sync'), ack(d, 'echo', 'sync')]);
    result.got = got.map((g) => [...g]);
  },

  /** The server disconnects one socket (bye); another disconnects itself. */
  async disconnects() {
    const a = await connect(url);
    result.byeId = a.id;
    const reason = next(a, 'disconnect');
    a.emit('bye');
    result.byeReason = (await reason)[0];
    result.byeConnected = a.connected;
    await sleep(SETTLE);
    result.byeActiveAfter = a.active; // no reconnection after a server disconnect
    const b = await connect(url);
    result.clientId = b.id;
    await ack(b, 'echo', 1);
    b.disconnect();
    result.clientConnected = b.connected;
    // the server still serves others
    const c = await connect(url);
    result.after = await ack(c, 'echo', 'alive');
  },

  /** Connected for opts.idleMs (several ping periods), then an echo: heartbeats work. */
  async idle() {
    const s = await connect(url);
    const drops = collect(s, 'disconnect');
    result.id = s.id;
    await sleep(opts.idleMs ?? 2000);
    result.disconnects = drops;
    result.transport = transportOf(s);
    result.echo = await ack(s, 'echo', 'after idle');
  },

  /** opts.n clients (half polling only, half websocket only, unless opts.transports), each
   * echoes and joins a room; one emits to the room, everyone gets it. */
  async many() {
    const n = opts.n ?? 50;
    const room = opts.room ?? `many-${process.pid}`;
    const mk = (i) => connect(url, '/', { transports: opts.transports ?? (i % 2 ? ['websocket'] : ['polling']) });
    // opts.transports ['polling', 'websocket']: every client starts polling and upgrades
    const list = [];
    for (let i = 0; i < n; i += 10) {
      list.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, k) => mk(i + k)))));
    }
    result.connected = list.filter((s) => s.connected).length;
    result.distinctIds = new Set(list.map((s) => s.id)).size;
    const echoes = await Promise.all(list.map((s, i) => ack(s, 'echo', i, s.id)));
    result.echoOk = echoes.filter((e, i) => e[0] === i && e[1] === list[i].id).length;
    const rounds = opts.rounds ?? 1;
    let more = 0;
    for (let r = 0; r < rounds; r++) {
      const again = await Promise.all(list.map((s, i) => ack(s, 'echo', `r${r}`, i)));
      more += again.filter((e, i) => e[0] === `r${r}` && e[1] === i).length;
    }
    result.roundsOk = more;
    await Promise.all(list.map((s) => ack(s, 'join', room)));
    result.members = (await membersUntil(url, room, list.map((s) => s.id))).length;
    const got = list.map((s) => collect(s, 'all'));
    list[0].emit('to', room, 'all', 'everyone');
    await until(() => got.every((g) => g.length >= 1), STEP * 2);
    result.received = got.filter((g) => g.length === 1 && g[0][0] === 'everyone').length;
    result.pollingFinal = list.filter((s) => transportOf(s) === 'polling').length;
    for (const s of list) s.disconnect();
  },

  /** Across two servers (nodes on one Redis): x on URL2 joins a room, y on URL emits to it. */
  async crossnode() {
    const room = opts.room ?? `x-${process.pid}`;
    const base2 = urls[1];
    const x = await connect(base2);
    const y = await connect(url);
    const gx = collect(x, 'cross');
    await ack(x, 'join', room);
    result.membersOnA = await membersUntil(url, room, [x.id]);
    result.xWhoami = (await ack(x, 'whoami'))[0];
    result.yWhoami = (await ack(y, 'whoami'))[0];
    y.emit('to', room, 'cross', 'from A', { n: 1 }, Buffer.from([1, 2, 3]));
    await until(() => gx.length >= 1, STEP * 2);
    // and a broadcast from A reaches B's socket
    const hey = collect(x, 'hey');
    const heySelf = collect(y, 'hey');
    await ack(y, 'broadcast', 'hey', 'all nodes');
    await until(() => hey.length >= 1, STEP * 2);
    await sleep(SETTLE);
    result.got = [...gx];
    result.hey = [...hey];
    result.heySelf = [...heySelf]; // the sender is left out, on its own node too
    // and back: x on B emits to the room after y on A joined it
    const gy = collect(y, 'back');
    await ack(y, 'join', room);
    await ack(x, 'to', room, 'back', 'from B');
    await until(() => gy.length >= 1, STEP * 2);
    result.back = [...gy];
  },

  /** Connects (reconnection on), echoes, prints {"phase":"connected"}; after the server
   * goes away and comes back on the same address, prints "disconnected", then "reconnected"
   * with an echo over the new connection. */
  async reconnect() {
    const s = io(url, {
      forceNew: true, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500,
      randomizationFactor: 0, timeout: STEP, ...(opts.transports ? { transports: opts.transports } : {}),
    });
    sockets.push(s);
    const attempts = [];
    s.io.on('reconnect_attempt', (n) => attempts.push(n));
    await withTimeout(new Promise((r) => s.once('connect', r)), STEP, 'connect');
    const first = { phase: 'connected', id: s.id, echo: await ack(s, 'echo', 'before') };
    print(first);
    const reason = await withTimeout(new Promise((r) => s.once('disconnect', r)), LIMIT, 'disconnect');
    print({ phase: 'disconnected', reason });
    await withTimeout(new Promise((r) => s.once('connect', r)), LIMIT, 'reconnect');
    Object.assign(result, {
      phase: 'reconnected', id: s.id, firstId: first.id, attempts: attempts.length,
      transport: transportOf(s), echo: await ack(s, 'echo', 'after'),
    });
  },

  /** Connection state recovery: `a` (reconnection on, 1 s delay) is in a room; its transport
   * is closed under it; while it is away `b` emits to the room; `a` comes back: recovered or
   * not, its id, what it missed, its rooms. */
  async recovery() {
    const room = opts.room ?? `rec-${process.pid}`;
    const a = await connect(url, '/', {
      reconnection: true, reconnectionDelay: opts.delay ?? 1000, reconnectionDelayMax: opts.delay ?? 1000, randomizationFactor: 0,
    });
    const b = await connect(url);
    result.firstId = a.id;
    result.recoveredAtFirst = a.recovered === true;
    const news = collect(a, 'news');
    await ack(a, 'join', room);
    a.emit('to', room, 'news', 'before');
    await until(() => news.length >= 1);
    const gone = next(a, 'disconnect');
    a.io.engine.close(); // the transport lost under the socket: the manager reconnects
    result.reason = (await gone)[0];
    result.missedAck = await ack(b, 'to', room, 'news', 'missed', 1);
    result.missedAck2 = await ack(b, 'to', room, 'news', 'missed', 2);
    await withTimeout(new Promise((r) => a.once('connect', r)), STEP * 2, 'reconnect');
    result.recovered = a.recovered === true;
    result.secondId = a.id;
    await until(() => news.length >= 3, opts.recoveryExpected === false ? SETTLE : STEP);
    result.whoami = (await ack(a, 'whoami'))[0];
    a.emit('to', room, 'news', 'after');
    await until(() => news.some((n) => n[0] === 'after'), opts.recoveryExpected === false ? SETTLE : STEP);
    result.news = [...news];
    a.disconnect(); // for good: seen by the server while this process still runs
    result.membersAtEnd = await membersUntil(url, room, []);
  },

  /** Connects (and joins opts.room), prints {"phase":"connected","id":..}, then stays until
   * killed (or timeout); prints {"phase":"disconnected","reason":..} if the server ends it. */
  async hold() {
    const s = await connect(url);
    s.on('disconnect', (reason) => print({ phase: 'disconnected', reason }));
    if (opts.room) await ack(s, 'join', opts.room);
    print({ phase: 'connected', id: s.id, transport: transportOf(s) });
    await sleep(LIMIT * 2);
  },
};

// ---- main ----------------------------------------------------------------------------------

try {
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`);
  if (!url) throw new Error('usage: node client.mjs SCENARIO OPTIONS_JSON URL [URL2]');
  Object.assign(opts, dec(opts));
  await scenarios[scenario]();
  result.ok = true;
  print(result);
  clearTimeout(guard);
  for (const s of sockets) s.close();
  process.exit(0);
} catch (e) {
  result.error = e.message;
  if (['reconnect', 'hold'].includes(scenario)) result.phase = 'error';
  print(result);
  process.exit(1);
}
