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
 * Optional limits from the environment (unset or empty: the engine's defaults):
 *   HS_MAX_HEADER_BYTES=N   largest request head (431 beyond; the engine raises N below 8192)
 *   HS_MAX_BODY_BYTES=N     largest request body (413 beyond)
 *   HS_IDLE_MS=N            idle timeout and time allowed for a request head, in ms
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

foreach (['HS_MAX_HEADER_BYTES' => HttpServer::LIMIT_MAX_HEADER_BYTES, 'HS_MAX_BODY_BYTES' => HttpServer::LIMIT_MAX_BODY_BYTES] as $name => $limit) {
    $value = getenv($name);
    if ($value !== false && $value !== '') {
        $server->setLimit($limit, (int) $value);
    }
}
$idle = getenv('HS_IDLE_MS');
if ($idle !== false && $idle !== '') {
    $server->setTimeout(intdiv((int) $idle, 1000), ((int) $idle % 1000) * 1000);
}

$server->get('/', fn (HttpRequestInterface $request) => new Response(
    200,
    ['Content-Type' => 'text/plain'],
    'Hello, World!'
));

// Decoded captures, query fields and headers may be any bytes; JSON needs UTF-8, so other text
// gets a 400 (as hello.c answers): json_encode checks it while encoding.
$json = static function (array $data, string $what): Response {
    try {
        $body = json_encode($data, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
        return new Response(200, ['Content-Type' => 'application/json'], $body);
    } catch (JsonException) {
        return new Response(400, ['Content-Type' => 'text/plain'], "{$what} UTF-8\n");
    }
};

// {name} is a capture: it arrives, decoded, as the argument after the request.
$server->get('/hello/{name}', fn (HttpRequestInterface $request, string $name) => $json(
    ['hello' => $name],
    'name is not'
));

$server->get('/user/{id}', fn (HttpRequestInterface $request, string $id) => $json(
    ['id' => $id, 'q' => (string) $request->getGet('q', ''), 'req' => $request->getHeader('X-Req-Id') ?? ''],
    'id, q and X-Req-Id must be'
));

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
