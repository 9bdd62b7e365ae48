<?php

/**
 * GET route answering with a raw HTTP response string.
 *
 * From luminova-httpserver.md, "HTTP Requests Handling / With String  Response".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/get_raw_string.php [PORT]   (default 8080; 0: any free port)
 * The string is the documentation's, typo included: "\r\Hello" where "\r\n\r\nHello" was meant.
 * In PHP "\r\H" is a carriage return, a backslash and an H: the head has no blank line before
 * "Hello World!". What the server makes of that is part of what this example shows.
 * Try: curl -i http://127.0.0.1:PORT/
 */

require __DIR__ . '/../../autoload.php'; // [added]

use Luminova\Http\HttpServer; // [added]
use Luminova\Interface\HttpRequestInterface; // [added]

$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // [added] as in "Basic Server Setup"

$server->get('/', function(HttpRequestInterface $request) {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\Hello World!";
});

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
