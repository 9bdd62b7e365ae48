<?php

/**
 * on() and off(): mark clients connected or disconnected from the server side.
 *
 * From luminova-httpserver.md, "Methods / on" and "off".
 * The reference gives no code for it: this is written from its signature and description,
 * in the style of the usage examples.
 *
 * Usage: php php/examples/docs/on_off.php [PORT]   (default 8080; 0: any free port)
 * With connectionRequired(true), 127.0.0.1 is marked connected by on() at start, so it needs no
 * GET /connect; GET /leave calls off() for the caller, whose next request is then refused.
 * Try: curl -i http://127.0.0.1:PORT/   (200), curl http://127.0.0.1:PORT/leave, curl -i .../ (400)
 */

require __DIR__ . '/../../autoload.php';

use Luminova\Http\HttpServer;
use Luminova\Http\Message\Response;
use Luminova\Interface\HttpRequestInterface;

$port = (int) ($argv[1] ?? 8080);
$server = new HttpServer('127.0.0.1', $port);

$server->connectionRequired(true);
$server->on('127.0.0.1');

$server->get('/', function (HttpRequestInterface $request) {
    return new Response(200, ['Content-Type' => 'text/plain'], 'You are connected.');
});

$server->get('/leave', function (HttpRequestInterface $request) use ($server) {
    $server->off('127.0.0.1');
    return new Response(200, ['Content-Type' => 'text/plain'], 'Bye.');
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
$server->run();
