<?php

/**
 * onResponse: change every response before it is sent.
 *
 * From luminova-httpserver.md, "Methods / onResponse".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/on_response.php [PORT]   (default 8080; 0: any free port)
 * Try: curl -i http://127.0.0.1:PORT/   (the default answer, with <p>Prepend Content</p> appended)
 */

require __DIR__ . '/../../autoload.php'; // [added]

use Luminova\Http\HttpServer; // [added]

$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // [added] as in "Basic Server Setup"

$server->onResponse(function(string $response, array $headers): string {
    $response .= '<p>Prepend Content</p>';
    return $response;
});

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
