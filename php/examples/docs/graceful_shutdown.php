<?php

/**
 * Graceful Shutdown.
 *
 * From luminova-httpserver.md, "Usage Examples / Graceful Shutdown".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/graceful_shutdown.php [PORT]   (default 8080; 0: any free port)
 * The server starts, prints its readiness line, then shuts down: the script exits 0 and the
 * port is free again at once.
 */

require __DIR__ . '/../../autoload.php'; // [added]

use Luminova\Http\HttpServer; // [added]

$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // [added] as in "Basic Server Setup"

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]

$server->shutdown();
