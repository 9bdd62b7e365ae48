<?php

/**
 * Register Shutdown Function.
 *
 * From luminova-httpserver.md, "Server Shutdown / Register Shutdown Function".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/shutdown_function.php [PORT]   (default 8080; 0: any free port)
 * The socket is released when the script ends, whichever way it ends (here: SIGINT/SIGTERM).
 */

require __DIR__ . '/../../autoload.php'; // [added]

use Luminova\Http\HttpServer; // [added]

$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // [added] as in "Basic Server Setup"

register_shutdown_function([$server, 'shutdown']);

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
