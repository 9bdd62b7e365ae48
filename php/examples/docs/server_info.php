<?php

/**
 * isConnected(), isPortFree(), getAddress(), getId(), getSocket() and $guid.
 *
 * From luminova-httpserver.md, "Properties / guid" and "Methods / isConnected", "isPortFree",
 * "getAddress", "getId", "getSocket".
 * The reference gives no code for it: this is written from its signature and description,
 * in the style of the usage examples.
 *
 * Usage: php php/examples/docs/server_info.php [PORT]   (default 8080; 0: any free port)
 * Prints what the server says about itself (to STDERR), then serves.
 */

require __DIR__ . '/../../autoload.php';

use Luminova\Http\HttpServer;

$port = (int) ($argv[1] ?? 8080);
$server = new HttpServer('127.0.0.1', $port);

fwrite(STDERR, json_encode([
    'isConnected' => $server->isConnected(),
    'isPortFree' => $server->isPortFree(),
    'address' => $server->getAddress(),
    'id' => $server->getId(),
    'socket' => $server->getSocket(),
    'guid' => $server->guid,
]) . PHP_EOL);

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
$server->run();
