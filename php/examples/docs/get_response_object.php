<?php

/**
 * GET route answering with a Response object.
 *
 * From luminova-httpserver.md, "HTTP Requests Handling / With Response Class Object".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/get_response_object.php [PORT]   (default 8080; 0: any free port)
 * Try: curl -i http://127.0.0.1:PORT/   (200, text/html, <h1>Hello, World!</h1>)
 */

require __DIR__ . '/../../autoload.php'; // [added]

use Luminova\Http\HttpServer; // [added]
use Luminova\Http\Message\Response; // [added]
use Luminova\Interface\HttpRequestInterface; // [added]

$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // [added] as in "Basic Server Setup"

$server->get('/', function(HttpRequestInterface $request) {
    return new Response(
        200,
        ['Content-Type' => 'text/html'],
        '<h1>Hello, World!</h1>'
    );
});

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
