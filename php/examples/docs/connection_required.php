<?php

/**
 * connectionRequired() with connect() and disconnect().
 *
 * From luminova-httpserver.md, "Methods / connectionRequired", "connect" and "disconnect".
 * The reference gives no code for it: this is written from its signature and description,
 * in the style of the usage examples.
 *
 * Usage: php php/examples/docs/connection_required.php [PORT]   (default 8080; 0: any free port)
 * Try: curl -i http://127.0.0.1:PORT/             (400 "Client is not connected.")
 *      curl -i http://127.0.0.1:PORT/connect      (200 "Client successfully connected.")
 *      curl -i http://127.0.0.1:PORT/             (200 "Welcome, connected client.")
 *      curl -i http://127.0.0.1:PORT/disconnect   (200 "Client successfully disconnected.")
 */

require __DIR__ . '/../../autoload.php';

use Luminova\Http\HttpServer;
use Luminova\Http\Message\Response;
use Luminova\Interface\HttpRequestInterface;

// logger() is Luminova's global function; outside Luminova a tiny stand-in (STDERR).
if (!function_exists('logger')) {
    function logger(string $level, string $message, array $context = []): void
    {
        $extra = $context === [] ? '' : ' ' . json_encode($context);
        fwrite(STDERR, "[{$level}] {$message}{$extra}" . PHP_EOL);
    }
}

$port = (int) ($argv[1] ?? 8080);
$server = new HttpServer('127.0.0.1', $port);

$server->connectionRequired(true);

$server->connect(function (array $clients): void {
    logger('info', 'Client connected', $clients);
});

$server->disconnect(function (array $clients): void {
    logger('info', 'Client disconnected', $clients);
});

$server->get('/', function (HttpRequestInterface $request) {
    return new Response(200, ['Content-Type' => 'text/plain'], 'Welcome, connected client!');
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
$server->run();
