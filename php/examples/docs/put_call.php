<?php

/**
 * __call: a PUT route through the magic method.
 *
 * From luminova-httpserver.md, "Methods / __call".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/put_call.php [PORT]   (default 8080; 0: any free port)
 * Try: curl -i -X PUT http://127.0.0.1:PORT/post   (200 "Post was created")
 */

require __DIR__ . '/../../autoload.php'; // [added]

use Luminova\Http\HttpServer; // [added]
use Luminova\Http\Message\Response; // [added]
use Luminova\Interface\HttpRequestInterface; // [added]

$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // [added] as in "Basic Server Setup"

$server->put('/post', function(HttpRequestInterface $request) {
    return new Response(
        200,
        ['Content-Type' => 'text/plain'],
        "Post was created"
    );
});

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
