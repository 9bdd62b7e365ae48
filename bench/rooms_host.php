<?php

/**
 * rooms_host.php - the PHP host of the channel publish benchmark (bench/rooms.py), the PHP twin
 * of bench/rooms_host.c's /ws: authorize() joins every client to channel "bench"; a text message
 * starting with "broadcast" goes to every member of it (the sender included) with one publish().
 * GET /stats answers {"members": N} (the channel's members on every worker and node).
 *
 * Usage: php bench/rooms_host.php [PORT]   (0 = any free port); prints "listening on ...".
 * HS_REDIS, HS_PREFIX, HS_NODE: as php/examples/rooms.php.
 */

declare(strict_types=1);

require __DIR__ . '/../php/autoload.php';

use HttpSock\HttpServer;

$server = new HttpServer('127.0.0.1', (int) ($argv[1] ?? 0));
$server->websocket(true);
if (($redis = getenv('HS_REDIS')) !== false && $redis !== '') {
    $server->useRedis($redis, array_filter(['prefix' => getenv('HS_PREFIX') ?: null, 'node' => getenv('HS_NODE') ?: null]));
}
$n = 0;
$server->authorize(function () use (&$n) {
    return ['user' => 'u' . ++$n, 'channels' => ['bench']];
});
$server->accept('/ws', function (string $message, array $payload) use ($server): ?string {
    if (str_starts_with($message, 'broadcast')) {
        $server->publish('bench', $message);
    }
    return null;
});
$server->get('/stats', fn () => ['members' => count($server->members('bench'))]);

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
flush();
$server->run();
