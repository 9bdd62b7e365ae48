<?php

/**
 * sio_echo.php - the PHP host of the Socket.IO benchmarks (bench/socketio.py), in the documented
 * form: websocket(true) and accept('/socket.io(?:/.*)?', fn (string $message, array $payload)).
 * Every event calls the handler; for "echo" it returns the event's arguments (`new Args(...)`:
 * all of them, as separate arguments, like Node's `ack(...args)`), which are the acknowledgement
 * when the client waits for one (else they are emitted back as the same event) - the echo of
 * bench/socketio/node_server.js.
 *
 * Usage: php bench/sio_echo.php [PORT]   (0 = any free port); prints "listening on ...".
 */

declare(strict_types=1);

require __DIR__ . '/../php/autoload.php';

use HttpSock\HttpServer;
use HttpSock\SocketIo\Args;

$server = new HttpServer('127.0.0.1', (int) ($argv[1] ?? 0));
$server->websocket(true);
$server->accept('/socket.io(?:/.*)?', function (string $message, array $payload): mixed {
    return $payload['event'] === 'echo' ? new Args(...$payload['args']) : null;
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
flush();
$server->run();
