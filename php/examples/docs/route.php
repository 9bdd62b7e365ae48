<?php

/**
 * route(): one handler for several methods.
 *
 * From luminova-httpserver.md, "Methods / route".
 * The reference gives no code for it: this is written from its signature and description,
 * in the style of the usage examples.
 *
 * Usage: php php/examples/docs/route.php [PORT]   (default 8080; 0: any free port)
 * Try: curl -i -X POST http://127.0.0.1:PORT/item   (200 "POST /item")
 *      curl -i -X DELETE http://127.0.0.1:PORT/item (404: DELETE is not in the list)
 */

require __DIR__ . '/../../autoload.php';

use Luminova\Http\HttpServer;
use Luminova\Http\Message\Response;
use Luminova\Interface\HttpRequestInterface;

$port = (int) ($argv[1] ?? 8080);
$server = new HttpServer('127.0.0.1', $port);

$server->route('GET|POST|PUT', '/item', function (HttpRequestInterface $request) {
    $method = strtoupper($request->getMethod());
    return new Response(200, ['Content-Type' => 'text/plain'], "{$method} /item");
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
$server->run();
