<?php

/**
 * setHeader() and setHeaders(): headers sent with every response.
 *
 * From luminova-httpserver.md, "Methods / setHeader" and "setHeaders".
 * The reference gives no code for it: this is written from its signature and description,
 * in the style of the usage examples.
 *
 * Usage: php php/examples/docs/set_headers.php [PORT]   (default 8080; 0: any free port)
 * Try: curl -i http://127.0.0.1:PORT/   (X-Powered-By, X-Frame-Options and Cache-Control present)
 */

require __DIR__ . '/../../autoload.php';

use Luminova\Http\HttpServer;
use Luminova\Http\Message\Response;
use Luminova\Interface\HttpRequestInterface;

$port = (int) ($argv[1] ?? 8080);
$server = new HttpServer('127.0.0.1', $port);

// setHeaders() replaces the whole set (the default CORS headers too); setHeader() adds one.
$server->setHeaders([
    'X-Frame-Options' => 'DENY',
    'Cache-Control' => 'no-store',
]);
$server->setHeader('X-Powered-By', 'httpsock');

$server->get('/', function (HttpRequestInterface $request) {
    return new Response(200, ['Content-Type' => 'text/plain'], 'Hello with headers');
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
$server->run();
