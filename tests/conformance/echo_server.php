<?php

/**
 * echo_server.php - the PHP echo server of the RFC 6455 conformance suite (tests/conformance).
 *
 * Every WebSocket message on /ws comes back unchanged, in the frame type it came in (the wrapper
 * sends a returned string as text or binary like the message).
 *
 * Usage: php echo_server.php PORT [MAX_MESSAGE [PING_INTERVAL_MS [PING_TIMEOUT_MS]]]
 *   PORT 0 = any free port; the other arguments, when given, set the engine's limits
 *   (HttpServer::LIMIT_WS_MAX_MESSAGE, LIMIT_WS_PING_INTERVAL_MS, LIMIT_WS_PING_TIMEOUT_MS; 0 = default).
 * Prints `listening on http://127.0.0.1:PORT` once bound; SIGTERM/SIGINT stop it gracefully.
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use HttpSock\HttpServer;

$port = (int) ($argv[1] ?? 0);
$server = new HttpServer('127.0.0.1', $port);
$server->websocket(true);
$limits = [
    2 => HttpServer::LIMIT_WS_MAX_MESSAGE,
    3 => HttpServer::LIMIT_WS_PING_INTERVAL_MS,
    4 => HttpServer::LIMIT_WS_PING_TIMEOUT_MS,
];
foreach ($limits as $arg => $limit) {
    if ((int) ($argv[$arg] ?? 0) > 0) {
        $server->setLimit($limit, (int) $argv[$arg]);
    }
}
$server->accept('/ws', fn (string $message, array $payload): string => $message);

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
flush();

$server->run();
