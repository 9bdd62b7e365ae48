<?php

/**
 * Basic Server Setup.
 *
 * From luminova-httpserver.md, "Usage Examples / Basic Server Setup".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/basic_setup.php [PORT]   (default 8080; 0: any free port)
 * Try: curl -i http://127.0.0.1:PORT/   (no route: the default 404)
 */

require __DIR__ . '/../../autoload.php'; // [added]


use Luminova\Http\HttpServer;
$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // doc: new HttpServer('127.0.0.1', 8080)
$server->start();

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
