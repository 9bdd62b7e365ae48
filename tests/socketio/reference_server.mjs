// The Socket.IO test app protocol (see c-examples/socketio.c) on the reference server, npm
// `socket.io` 4.x: a stand-in that checks the suite itself. With SIO_APP=reference the tests run
// against it instead of the C app (`SIO_APP=reference python3 -m pytest tests/socketio`); what
// passes there and fails on httpsock is httpsock's.
//
//   node tests/socketio/reference_server.mjs [PORT [ADDRESS]]
//
// Same environment as the C app: HS_SIO_PING_INTERVAL_MS, HS_SIO_PING_TIMEOUT_MS,
// HS_SIO_MAX_PAYLOAD, HS_SIO_RECOVERY_MS, HS_SIO_CLIENT_DIR, HS_SIO_PAGE, HS_NODE. Prints
// "listening on http://ADDRESS:PORT" once bound; SIGTERM/SIGINT end it.

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, basename } from 'node:path';
import { Server } from 'socket.io';

const port = Number(process.argv[2] ?? 8080);
const address = process.argv[3] ?? '127.0.0.1';
const env = (k) => (process.env[k] ? Number(process.env[k]) : undefined);
const node = process.env.HS_NODE ?? `ref-${process.pid}`;

const http = createServer(async (req, res) => {
  const u = new URL(req.url, 'http://x');
  try {
    if (u.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('reference socket.io server\n');
    } else if (u.pathname === '/members') {
      const room = u.searchParams.get('room');
      const ids = [...(io.of('/').adapter.rooms.get(room) ?? [])];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(ids));
    } else if (u.pathname.startsWith('/client/') && process.env.HS_SIO_CLIENT_DIR) {
      const f = basename(u.pathname);
      const data = await readFile(join(process.env.HS_SIO_CLIENT_DIR, f));
      res.writeHead(200, { 'content-type': f.endsWith('.js') ? 'text/javascript' : 'application/json' }).end(data);
    } else if (u.pathname === '/page' && process.env.HS_SIO_PAGE) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(await readFile(process.env.HS_SIO_PAGE));
    } else if (!u.pathname.startsWith('/socket.io/')) {
      res.writeHead(404).end('not found\n');
    }
  } catch {
    res.writeHead(404).end('not found\n');
  }
});

const io = new Server(http, {
  serveClient: false,
  pingInterval: env('HS_SIO_PING_INTERVAL_MS') ?? 25000,
  pingTimeout: env('HS_SIO_PING_TIMEOUT_MS') ?? 20000,
  maxHttpBufferSize: env('HS_SIO_MAX_PAYLOAD') ?? 1e6,
  connectTimeout: env('HS_SIO_CONNECT_TIMEOUT_MS') ?? 45000,
  ...(env('HS_SIO_RECOVERY_MS') ? { connectionStateRecovery: { maxDisconnectionDuration: env('HS_SIO_RECOVERY_MS'), skipMiddlewares: true } } : {}),
});

const users = new Map();

io.of('/').use((socket, next) => {
  const auth = socket.handshake.auth ?? {};
  if (auth.token === 'bad') return next(new Error('bad token'));
  if (typeof auth.user === 'string') users.set(socket.id, auth.user);
  next();
});

function echo(socket) {
  socket.on('echo', (...args) => {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    if (cb) cb(...args);
    else socket.emit('echo', ...args);
  });
}

io.of('/').on('connection', (socket) => {
  console.error(`socketio: connect ${socket.id} /`);
  echo(socket);
  const withAck = (fn) => (...args) => {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    fn(...args);
    if (cb) cb(true);
  };
  socket.on('join', withAck((room) => socket.join(room)));
  socket.on('leave', withAck((room) => socket.leave(room)));
  socket.on('to', withAck((room, ev, ...args) => io.of('/').to(room).emit(ev, ...args)));
  socket.on('broadcast', withAck((ev, ...args) => socket.broadcast.emit(ev, ...args)));
  socket.on('ask', (ev, ...args) => {
    socket.timeout(2000).emit(ev, ...args, (err, ...resp) => socket.emit('answer', err ? null : resp));
  });
  socket.on('bye', () => socket.disconnect());
  socket.on('whoami', (cb) => cb({
    sid: socket.id, id: socket.id, user: users.get(socket.id) ?? null,
    rooms: [...socket.rooms].filter((r) => r !== socket.id), node,
  }));
  socket.on('disconnect', (reason) => {
    users.delete(socket.id);
    console.error(`socketio: disconnect ${socket.id} ${reason}`);
  });
});

io.of('/admin').use((socket, next) => (socket.handshake.auth?.token === 'secret' ? next() : next(new Error('Not authorized'))));
io.of('/admin').on('connection', (socket) => {
  console.error(`socketio: connect ${socket.id} /admin`);
  echo(socket);
  socket.on('disconnect', (reason) => console.error(`socketio: disconnect ${socket.id} ${reason}`));
});

http.listen(port, address, () => {
  process.stdout.write(`listening on http://${address}:${http.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => { io.close(); http.close(); process.exit(0); });
}
