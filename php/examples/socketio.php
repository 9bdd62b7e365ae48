<?php

/**
 * socketio.php - a Socket.IO server in PHP: real `socket.io-client` 4.x clients (Node, the
 * browser, python-socketio) connect to /socket.io/ over long-polling, WebSocket or both (the
 * upgrade), and exchange events, acknowledgements both ways and binary attachments; rooms are
 * the server's channels. It speaks the protocol of c-examples/socketio.c (the test app of
 * tests/socketio), written with the PHP API as a user would: the documented
 * `accept('/socket.io(?:/.*)?', fn (string $message, array $payload))` form for `echo` and any
 * event nobody else handles, and the explicit `socketio()` API for the rest.
 *
 *   GET  /                     a short text saying how to connect
 *   *    /socket.io/           the Socket.IO endpoint
 *   GET  /members?room=R       the sids of the sockets of namespace "/" in room R, everywhere:
 *                              a JSON list of strings
 *   GET  /client/FILE          FILE of the directory HS_SIO_CLIENT_DIR (the browser build of
 *                              socket.io-client: node_modules/socket.io-client/dist), when set
 *   GET  /page                 the HTML file HS_SIO_PAGE, when set
 *
 * Namespace "/":
 *   connecting  auth {"token":"bad"} is refused with the message "bad token"; auth
 *               {"user":"X"} connects as user X (info {"name":"X"}); anything else connects
 *               anonymously
 *   echo ...          acknowledged: the ack carries the same arguments; else `echo` is emitted
 *                     back with them (binary arguments come back binary)
 *   join R / leave R  joins / leaves room R; the ack (if asked for) is `true`
 *   to R E ...        emits E with the rest of the arguments to room R (the sender too if it
 *                     is a member)
 *   broadcast E ...   emits E with the rest of the arguments to every socket of "/" but the
 *                     sender
 *   ask E ...         emits E with the rest of the arguments to the sender, asking for an ack
 *                     (2000 ms); then emits `answer` with the ack's arguments as one array, or
 *                     `answer` with null when none came in time
 *   bye               the server disconnects the socket ("io server disconnect" for the client)
 *   whoami            ack (else emitted back): {"sid":..,"id":..,"user":..|null,"rooms":[..],"node":..}
 * Namespace "/admin": refused ("Not authorized") unless auth is {"token":"secret"}; `echo` as
 * above. Any other namespace is refused ("Invalid namespace").
 *
 * Every connect prints `socketio: connect SID NAMESPACE` on stderr, every disconnect
 * `socketio: disconnect SID REASON`.
 *
 * Usage: php php/examples/socketio.php [PORT [ADDRESS]]   (PORT 8080 by default, 0 = a free port)
 * Environment:
 *   HS_WORKERS=N                N worker processes (simultaneous mode); default 1
 *   HS_SIO_PING_INTERVAL_MS=N   Engine.IO ping interval (default 25000)
 *   HS_SIO_PING_TIMEOUT_MS=N    Engine.IO ping timeout (default 20000)
 *   HS_SIO_MAX_PAYLOAD=N        largest polling body / WebSocket message (default 1000000)
 *   HS_SIO_CONNECT_TIMEOUT_MS=N time to connect a namespace after the handshake (default 45000)
 *   HS_SIO_RECOVERY_MS=N        connection state recovery: how long a lost socket waits for its
 *                               client (default 0: off)
 *   HS_SIO_CLIENT_DIR=dir       serve dir's files under /client/
 *   HS_SIO_PAGE=file.html       serve file.html as /page
 *   HS_REDIS=redis://127.0.0.1:6379   share rooms and emits with the other nodes on that Redis;
 *   HS_REDIS_PREFIX, HS_NODE, HS_REDIS_TTL_MS   its prefix, this node's name, its TTL
 *   HS_DEBUG=1                  debug(): the engine's lines and handler exceptions on stderr
 * Prints "listening on http://ADDRESS:PORT" once bound. SIGINT/SIGTERM stop it gracefully.
 */

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use HttpSock\Http\RequestInterface;
use HttpSock\Http\Response;
use HttpSock\HttpServer;
use HttpSock\SocketIo\Args;
use HttpSock\SocketIo\Refusal;

$port = (int) ($argv[1] ?? 8080);
$address = $argv[2] ?? '127.0.0.1';
$workers = max(1, (int) (getenv('HS_WORKERS') ?: 1));
$env = static fn (string $name): ?string => (($v = getenv($name)) === false || $v === '') ? null : $v;
$log = static fn (string $line) => fwrite(STDERR, "socketio: {$line}\n");

$server = new HttpServer($address, $port);
if ($env('HS_DEBUG') !== null && $env('HS_DEBUG') !== '0') {
    $server->debug();
}
$server->setMaxProcesses($workers);
$server->websocket(true);
$server->socketioOptions(array_filter([
    'pingInterval' => (int) $env('HS_SIO_PING_INTERVAL_MS'),
    'pingTimeout' => (int) $env('HS_SIO_PING_TIMEOUT_MS'),
    'maxHttpBufferSize' => (int) $env('HS_SIO_MAX_PAYLOAD'),
    'connectTimeout' => (int) $env('HS_SIO_CONNECT_TIMEOUT_MS'),
    'connectionStateRecovery' => (int) $env('HS_SIO_RECOVERY_MS'),
]));
if (($redis = $env('HS_REDIS')) !== null) {
    $server->useRedis($redis, array_filter([
        'prefix' => $env('HS_REDIS_PREFIX'),
        'node' => $env('HS_NODE'),
        'ttl' => $env('HS_REDIS_TTL_MS') === null ? null : max(1, (int) $env('HS_REDIS_TTL_MS')) / 1000,
    ], fn ($v) => $v !== null));
}

// ---- namespace "/" -------------------------------------------------------------------------

// Luminova's documented form: every event of "/" that no on() below handles. What it returns is
// the acknowledgement when the client asked for one, else it is emitted back as the same event.
$server->accept('/socket.io(?:/.*)?', function (string $message, array $payload) use ($log) {
    if ($payload['event'] === 'echo') {
        return new Args(...$payload['args']);     // every argument back, binaries as binaries
    }
    $log("{$payload['sid']} unknown event '{$payload['event']}'");
    return null;
});

$io = $server->socketio('/');

$io->onConnect(function (array $socket) use ($log) {
    $auth = is_array($socket['auth']) ? $socket['auth'] : [];
    if (($auth['token'] ?? null) === 'bad') {
        $log("#{$socket['id']} refused: bad token");
        return 'bad token';
    }
    $log("connect {$socket['sid']} /");
    if (is_string($auth['user'] ?? null) && $auth['user'] !== '') {
        return ['user' => $auth['user'], 'info' => ['name' => $auth['user']]];
    }
    return true;
});

$io->on('join', function (array $socket, mixed $room = null) use ($io) {
    $io->join($socket['sid'], (string) $room);
    return true;
});
$io->on('leave', function (array $socket, mixed $room = null) use ($io) {
    $io->leave($socket['sid'], (string) $room);
    return true;
});
$io->on('to', function (array $socket, mixed $room = null, mixed $event = null, mixed ...$args) use ($io) {
    $io->to((string) $room)->emit((string) $event, ...$args);
    return true;
});
$io->on('broadcast', function (array $socket, mixed $event = null, mixed ...$args) use ($io) {
    $io->except($socket['sid'])->emit((string) $event, ...$args);
    return true;
});
$io->on('ask', function (array $socket, mixed $event = null, mixed ...$args) use ($io): void {
    $sid = $socket['sid'];
    $io->toSocket($sid)->timeout(2.0)->emit((string) $event, ...$args, ...[function (?array $answer) use ($io, $sid): void {
        $io->toSocket($sid)->emit('answer', $answer);
    }]);
});
$io->on('bye', function (array $socket) use ($io): void {
    $io->disconnect($socket['sid']);
});
$io->on('whoami', function (array $socket) use ($io) {
    $me = [
        'sid' => $socket['sid'],
        'id' => $socket['id'],
        'user' => $socket['user'] === null ? null : (string) $socket['user'],
        'rooms' => $socket['channels'],
        'node' => $socket['node'],
    ];
    if (!$socket['ack']) {
        $io->toSocket($socket['sid'])->emit('whoami', $me);
    }
    return $me;
});
$io->onDisconnect(fn (array $socket, string $reason) => $log("disconnect {$socket['sid']} {$reason}"));

// ---- namespace "/admin" --------------------------------------------------------------------

$admin = $server->socketio('/admin');
$admin->onConnect(function (array $socket) use ($log) {
    if (($socket['auth']['token'] ?? null) !== 'secret') {
        return new Refusal('Not authorized');
    }
    $log("connect {$socket['sid']} /admin");
    return true;
});
$admin->on('echo', function (array $socket, mixed ...$args) use ($admin) {
    if (!$socket['ack']) {
        $admin->toSocket($socket['sid'])->emit('echo', ...$args);
    }
    return new Args(...$args);
});
$admin->onDisconnect(fn (array $socket, string $reason) => $log("disconnect {$socket['sid']} {$reason}"));

// ---- HTTP ----------------------------------------------------------------------------------

$server->get('/', fn () => new Response(
    200,
    ['Content-Type' => 'text/plain; charset=utf-8'],
    "httpsock socketio (PHP): connect a Socket.IO client (v4) to this address; namespaces / and /admin\n"
));
$server->get('/members', function (RequestInterface $request) use ($io) {
    $room = (string) $request->getGet('room', '');
    if ($room === '') {
        return new Response(400, ['Content-Type' => 'text/plain'], 'room?');
    }
    return array_values(array_map(fn (array $s) => $s['sid'], $io->members($room)));
});
$clientDir = $env('HS_SIO_CLIENT_DIR');
$server->get('/client/{file}', function (RequestInterface $request, string $file) use ($clientDir) {
    $path = $clientDir === null || $file === '' || $file[0] === '.' || strpbrk($file, '/\\') !== false
        ? null : "{$clientDir}/{$file}";
    $data = $path === null ? false : @file_get_contents($path);
    if ($data === false) {
        return new Response(404, ['Content-Type' => 'text/plain'], "not found\n");
    }
    $type = str_ends_with($file, '.js') ? 'text/javascript; charset=utf-8'
        : (str_ends_with($file, '.map') ? 'application/json' : 'application/octet-stream');
    return new Response(200, ['Content-Type' => $type, 'Cache-Control' => 'no-store'], $data);
});
$page = $env('HS_SIO_PAGE');
$server->get('/page', function () use ($page) {
    $html = $page === null ? false : @file_get_contents($page);
    return $html === false
        ? new Response(404, ['Content-Type' => 'text/plain'], "no HS_SIO_PAGE\n")
        : new Response(200, ['Content-Type' => 'text/html; charset=utf-8', 'Cache-Control' => 'no-store'], $html);
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
flush();

$server->run(100000, 10000, $workers > 1);
