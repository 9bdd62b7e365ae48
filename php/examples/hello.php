<?php

/**
 * hello.php - the smallest useful httpsock program in PHP (same routes as c-examples/hello.c).
 *
 *   GET  /              200 text/plain        Hello, World!
 *   GET  /hello/{name}  200 application/json  {"hello":"<name>"}
 *   GET  /user/{id}     200 application/json  {"id":"<id>","q":"<q>","req":"<req>"}
 *                       q = the query field "q", req = the X-Req-Id header ("" when absent)
 *   POST /echo          200 the request body, with the request's Content-Type
 *   anything else       the engine's own 404
 *
 * Usage: php php/examples/hello.php [PORT [ADDRESS]]   PORT 8080 by default (0 = any free port).
 * WORKERS=N in the environment serves with N worker processes (simultaneous mode).
 * Ctrl+C (SIGINT) or SIGTERM shuts the server down gracefully.
 */

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use HttpSock\Http\Response;
use HttpSock\HttpServer;
use Luminova\Interface\HttpRequestInterface;

$port = (int) ($argv[1] ?? 8080);
$address = $argv[2] ?? '127.0.0.1';

$server = new HttpServer($address, $port);

$server->get('/', fn (HttpRequestInterface $request) => new Response(
    200,
    ['Content-Type' => 'text/plain'],
    'Hello, World!'
));

// {name} is a capture: it arrives, decoded, as the argument after the request.
$server->get('/hello/{name}', fn (HttpRequestInterface $request, string $name) => ['hello' => $name]);

$server->get('/user/{id}', fn (HttpRequestInterface $request, string $id) => [
    'id' => $id,
    'q' => (string) $request->getGet('q', ''),
    'req' => $request->getHeader('X-Req-Id') ?? '',
]);

$server->post('/echo', function (HttpRequestInterface $request) {
    $type = $request->getContentType();
    return new Response(200, $type !== '' ? ['Content-Type' => $type] : [], $request->toString());
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
flush();

$workers = (int) getenv('WORKERS');
if ($workers > 0) {
    $server->setMaxProcesses($workers);
    $server->run(100000, 10000, true);
} else {
    $server->run();
}
