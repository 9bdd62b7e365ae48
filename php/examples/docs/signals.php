<?php

/**
 * Graceful Termination with Signals.
 *
 * From luminova-httpserver.md, "Server Shutdown / Graceful Termination with Signals".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/signals.php [PORT]   (default 8080; 0: any free port)
 * Ctrl+C (SIGINT) or SIGTERM: the handler shuts the server down and exits (code 0).
 */

require __DIR__ . '/../../autoload.php'; // [added]

use Luminova\Http\HttpServer; // [added]

$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // [added] as in "Basic Server Setup"

declare(ticks = 1);

pcntl_signal(SIGINT, function () use ($server) {
    $server->shutdown();
    exit;
});

pcntl_signal(SIGTERM, function () use ($server) {
    $server->shutdown();
    exit;
});

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
