<?php

/**
 * The server of `make soak` (tests/soak/soak.py drives it): the public PHP API only
 * (php/autoload.php), in simultaneous mode, so that load goes through the supervisor, the worker
 * processes, the shared port and the cluster that carries broadcasts between workers.
 *
 * Usage: php tests/soak/server.php PORT [WORKERS]   (PORT 0 = a free port; WORKERS default 2)
 *
 * stdout: `listening on http://127.0.0.1:PORT` once the port is bound (tests/pysupport/ready.py).
 * stderr: `soak worker-ready PID` from each worker's first timer tick (its loop runs), read by the
 *         driver before it takes its baseline; then nothing unless something goes wrong.
 *
 * HTTP (every answer is checked byte for byte by the driver):
 *   GET  /json/{id}?q=Q  header X-Soak: T  ->  200 application/json {"id":ID,"q":Q,"t":T,"m":"get"}
 *   POST /echo                             ->  200 application/octet-stream, the body as it came
 *   GET  /big/{kib}                        ->  200 text/plain, KIB KiB of a fixed pattern (1..256)
 *   GET  /throw                            ->  500 (a handler that throws)
 *   anything else                          ->  404 (no route)
 * WebSocket /ws, text messages:
 *   e:...      echoed back as it is
 *   b:TAG:SEQ  broadcast to every client of every worker (the sender included)
 *   every TICK_SECONDS each worker broadcasts `t:PID:SEQ` (SEQ from 1, per worker)
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use HttpSock\Http\RequestInterface;
use HttpSock\Http\Response;
use HttpSock\HttpServer;

const TICK_SECONDS = 0.25;
const BIG_PATTERN = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/\n"; // 64 bytes

$port = (int) ($argv[1] ?? 0);
$workers = max(1, (int) ($argv[2] ?? 2));

$server = new HttpServer('127.0.0.1', $port);
$server->websocket(true);
$server->setMaxProcesses($workers);

$server->get('/json/{id}', fn (RequestInterface $request, string $id) => [
    'id' => $id,
    'q' => $request->getGet('q'),
    't' => $request->getHeader('X-Soak'),
    'm' => $request->getMethod(),
]);

$server->post('/echo', fn (RequestInterface $request) => new Response(
    200,
    ['Content-Type' => 'application/octet-stream'],
    $request->toString()
));

$server->get('/big/{kib}', function (RequestInterface $request, string $kib): Response {
    $n = max(1, min(256, (int) $kib));
    return new Response(200, ['Content-Type' => 'text/plain'], str_repeat(BIG_PATTERN, 16 * $n));
});

$server->get('/throw', function (): never {
    throw new RuntimeException('soak: a handler that throws');
});

$server->accept('/ws', function (string $message, array $payload) use ($server): ?string {
    if (str_starts_with($message, 'b:')) {
        $server->broadcast($message);
        return null;
    }
    return $message;
});

// Each worker: sequence-numbered ticks to every client of every worker. The first tick also says
// that this worker's loop runs.
$tick = 0;
$server->every(TICK_SECONDS, function () use ($server, &$tick): void {
    if ($tick === 0) {
        fwrite(STDERR, 'soak worker-ready ' . getmypid() . "\n");
    }
    $tick++;
    $server->broadcast('t:' . getmypid() . ':' . $tick);
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
flush();

$server->run(100000, 10000, $workers > 1);
