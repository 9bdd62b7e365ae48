<?php

/**
 * Rate Limiting: max 100 requests per 60 seconds.
 *
 * From luminova-httpserver.md, "Usage Examples / Rate Limiting".
 * The documentation's code is unchanged; every line added to make it runnable is marked
 * "[added]".
 *
 * Usage: php php/examples/docs/rate_limiting.php [PORT]   (default 8080; 0: any free port)
 * Try: for i in $(seq 101); do curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:PORT/; done
 *      (the 101st answer is 429)
 */

require __DIR__ . '/../../autoload.php'; // [added]

use Luminova\Http\HttpServer; // [added]

$port = (int) ($argv[1] ?? 8080); // [added] port from argv
$server = new HttpServer('127.0.0.1', $port); // [added] as in "Basic Server Setup"

$server->setRateLimit(100, 60);

$bound = $server->getAddress(); // [added] readiness line
echo "listening on http://{$bound['address']}:{$bound['port']}\n"; // [added]
$server->run(); // [added] serve until SIGINT/SIGTERM
