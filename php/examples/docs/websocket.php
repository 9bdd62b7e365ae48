<?php

/**
 * WebSocket: enable it and accept clients on /ws.
 *
 * From luminova-httpserver.md, "WebSocket Protocol Handling / Enabling WebSocket Support" and
 * "WebSocket Handler".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/websocket.php [PORT]   (default 8080; 0: any free port)
 * Every message a client sends is logged (logger(), to STDERR here).
 * Try: websocat ws://127.0.0.1:PORT/ws   (or any WebSocket client), then type a line.
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

$server->websocket(true);

$server->accept('/ws(?:/.*)?', function(string $message, array $payload) {
    logger('debug', "SocketIO Message: {$message}", $payload);
});

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
