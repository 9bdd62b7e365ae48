<?php

/**
 * Debugging and Logs: debug mode.
 *
 * From luminova-httpserver.md, "Debugging and Logs".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/debug.php [PORT]   (default 8080; 0: any free port)
 * Debug lines go to STDERR. Try: curl -i http://127.0.0.1:PORT/
 */

require __DIR__ . '/../../autoload.php'; // [added]

use Luminova\Http\HttpServer; // [added]

$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // [added] as in "Basic Server Setup"

$server->debug();

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
