<?php

/**
 * Simultaneous (multi-process) mode: run(..., true) with setMaxProcesses().
 *
 * From luminova-httpserver.md, "Sequential vs. Simultaneous Client Connections",
 * "Methods / setMaxProcesses" and "run".
 * The reference gives no code for it: this is written from its signature and description,
 * in the style of the usage examples.
 *
 * Usage: php php/examples/docs/simultaneous.php [PORT]   (default 8080; 0: any free port)
 * Two worker processes share the port; the parent supervises them (a killed worker is
 * replaced; SIGTERM or Ctrl+C stops them all). The readiness line comes before the workers have
 * bound the port: a client may retry for a moment.
 * Try: curl -i http://127.0.0.1:PORT/   (the answer names the worker's pid)
 */

require __DIR__ . '/../../autoload.php';

use Luminova\Http\HttpServer;
use Luminova\Http\Message\Response;
use Luminova\Interface\HttpRequestInterface;

$port = (int) ($argv[1] ?? 8080);
$server = new HttpServer('127.0.0.1', $port);

$server->setMaxProcesses(2);

$server->get('/', function (HttpRequestInterface $request) {
    $text = 'Served by worker ' . getmypid();
    return new Response(200, ['Content-Type' => 'text/plain'], $text);
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
$server->run(100000, 10000, true);
