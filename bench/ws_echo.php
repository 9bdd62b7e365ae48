<?php

/**
 * ws_echo.php - the PHP host of the WebSocket benchmarks: every message on /ws comes back to its
 * sender through the PHP handler, except a text message starting with "broadcast", which the
 * handler sends to every client (the sender included) with $server->broadcast().
 *
 * Usage: php bench/ws_echo.php [PORT]   (0 = any free port); prints "listening on ...".
 */

declare(strict_types=1);

require __DIR__ . '/../php/autoload.php';

use HttpSock\HttpServer;

$server = new HttpServer('127.0.0.1', (int) ($argv[1] ?? 0));
$server->websocket(true);
$server->accept('/ws', function (string $message, array $payload) use ($server): ?string {
    if (str_starts_with($message, 'broadcast')) {
        $server->broadcast($message);
        return null;
    }
    return $message;
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
flush();
$server->run();
