<?php

/**
 * Connection Timeouts: idle connections close after 30 seconds.
 *
 * From luminova-httpserver.md, "Usage Examples / Connection Timeouts".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/timeouts.php [PORT]   (default 8080; 0: any free port)
 * Try: nc 127.0.0.1 PORT   (send nothing: the server closes the connection after 30 s)
 */

require __DIR__ . '/../../autoload.php'; // [added]

use Luminova\Http\HttpServer; // [added]

$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // [added] as in "Basic Server Setup"

$server->setTimeout(30);

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
