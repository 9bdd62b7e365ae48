<?php

/**
 * error(): shape the error answers.
 *
 * From luminova-httpserver.md, "Methods / error".
 * The reference gives no code for it: this is written from its signature and description,
 * in the style of the usage examples.
 *
 * Usage: php php/examples/docs/error.php [PORT]   (default 8080; 0: any free port)
 * The callback gets the request and the error type (NOT_FOUND, REQUEST_LIMIT, NOT_CONNECTED,
 * SERVER_ERROR, ...); what it returns is sent, and null keeps the default answer.
 * Try: curl -i http://127.0.0.1:PORT/nowhere   (404 "No page at /nowhere")
 */

require __DIR__ . '/../../autoload.php';

use Luminova\Http\HttpServer;
use Luminova\Http\Message\Response;
use Luminova\Interface\HttpRequestInterface;

$port = (int) ($argv[1] ?? 8080);
$server = new HttpServer('127.0.0.1', $port);

$server->error(function (HttpRequestInterface $request, string $type) {
    if ($type === 'NOT_FOUND') {
        $text = 'No page at ' . $request->getPaths();
        return new Response(404, ['Content-Type' => 'text/plain'], $text);
    }
    return null;
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
$server->run();
