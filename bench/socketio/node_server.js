'use strict';
// make bench, issue 12: the reference Socket.IO server (npm socket.io 4.x, its defaults), the same
// echo as the httpsock hosts: event "echo" with an ack -> the ack carries the same arguments;
// without an ack the event comes back to the sender.
//
// Usage: node bench/socketio/node_server.js [PORT [ADDRESS]]   (PORT 0 = any free port)
// Prints "listening on http://ADDRESS:PORT" once bound; SIGTERM ends it. With --expose-gc,
// SIGUSR2 runs a full garbage collection and prints "gc" (the idle-memory row reads the RSS
// after it, so that garbage of the connection phase is not counted against Node).
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || 0);
const address = process.argv[3] || '127.0.0.1';

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});
const io = new Server(httpServer, { serveClient: false });

io.on('connection', (socket) => {
  socket.on('echo', (...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    if (ack) ack(...args);
    else socket.emit('echo', ...args);
  });
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGUSR2', () => {
  if (global.gc) global.gc();
  process.stdout.write('gc\n');
});

httpServer.listen(port, address, () => {
  const a = httpServer.address();
  process.stdout.write(`listening on http://${a.address}:${a.port}\n`);
});
