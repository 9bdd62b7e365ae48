<?php

/**
 * ping(): a health-check route.
 *
 * From luminova-httpserver.md, "Methods / ping".
 * The reference gives no code for it: this is written from its signature and description,
 * in the style of the usage examples.
 *
 * Usage: php php/examples/docs/ping.php [PORT]   (default 8080; 0: any free port)
 * Try: curl -i http://127.0.0.1:PORT/ping   (200 "PONG")
 */

require __DIR__ . '/../../autoload.php';

use Luminova\Http\HttpServer;

$port = (int) ($argv[1] ?? 8080);
$server = new HttpServer('127.0.0.1', $port);

$server->ping();

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
$server->run();
