<?php

/**
 * post(): a route for POST requests.
 *
 * From luminova-httpserver.md, "Methods / post".
 * The reference gives no code for it: this is written from its signature and description,
 * in the style of the usage examples.
 *
 * Usage: php php/examples/docs/post.php [PORT]   (default 8080; 0: any free port)
 * Try: curl -i -d 'name=Ada' http://127.0.0.1:PORT/hello   (200 "Hello, Ada!")
 */

require __DIR__ . '/../../autoload.php';

use Luminova\Http\HttpServer;
use Luminova\Http\Message\Response;
use Luminova\Interface\HttpRequestInterface;

$port = (int) ($argv[1] ?? 8080);
$server = new HttpServer('127.0.0.1', $port);

$server->post('/hello', function (HttpRequestInterface $request) {
    $name = $request->getPost('name', 'stranger');
    return new Response(200, ['Content-Type' => 'text/plain'], "Hello, {$name}!");
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
$server->run();
