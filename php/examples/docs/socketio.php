<?php

/**
 * Socket.io path: serve Socket.IO clients on /socket.io/ (Engine.IO v4: long-polling, WebSocket
 * and the upgrade; README, "Socket.IO (PHP)"). Every event of the default namespace calls the
 * handler: $message is the event's first argument as text, $payload holds id, sid, namespace,
 * event, args, ack, address, headers, user, channels...
 *
 * From luminova-httpserver.md, "WebSocket Protocol Handling / Socket.io Handler"
 * (with websocket(true) from "Enabling WebSocket Support", which the section requires).
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/socketio.php [PORT]   (default 8080; 0: any free port)
 * Try (Node, npm i socket.io-client): node -e "require('socket.io-client').io('http://127.0.0.1:PORT')
 *      .emit('chat', 'hi')"   (the event is logged to STDERR).
 */

require __DIR__ . '/../../autoload.php'; // [added]

use Luminova\Http\HttpServer; // [added]

// [added] logger() is Luminova's global function; outside Luminova a tiny stand-in (STDERR).
if (!function_exists('logger')) {
    function logger(string $level, string $message, array $context = []): void
    {
        $extra = $context === [] ? '' : ' ' . json_encode($context);
        fwrite(STDERR, "[{$level}] {$message}{$extra}" . PHP_EOL);
    }
}

$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // [added] as in "Basic Server Setup"

$server->websocket(true); // [added] from "Enabling WebSocket Support"

$server->accept('/socket.io(?:/.*)?', function(string $message, array $payload) {
    logger('debug', "WebSocket Message: {$message}", $payload);
});

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
