<?php

/**
 * rooms.php - chat rooms with presence, on one node or many: authorization before the upgrade,
 * channels, presence channels, and (with Redis) the same rooms across several servers.
 *
 *   WS  /rooms?user=ann&name=Ann&room=red     join as user "ann", in channel "red"
 *       /rooms?user=ann&room=red,presence-lobby   several channels, comma-separated; a channel
 *                                                  whose name starts with "presence-" lists users
 *   GET /members?channel=red      the channel's clients, on every worker and node: [{id, node, user}]
 *   GET /presence?channel=presence-lobby   the users present: [{user, info}]
 *   GET /clients                  every client of every worker and node: [{id, node, user, channels}]
 *   GET /events                   the join/leave/presence events this node saw (a short log)
 *
 * A client without ?user= is refused before the upgrade: HTTP 401 with a text body.
 *
 * Every frame is a JSON text. The server sends:
 *   {"type":"welcome","id":7,"node":"n1","pid":123,"user":"ann","channels":["red"]}   first
 *   {"type":"message","via":"publish","channel":"red","from":7,"user":"ann","text":"hi"}
 *   {"type":"message","via":"send"|"broadcast","from":7,"user":"ann","text":"hi"}
 *   {"type":"ack","ref":N,"op":...}        the answer to every operation that carried "ref"
 * A client sends operations:
 *   {"op":"publish","channel":"red","text":"hi"}     to every member of "red" (except_me: true
 *                                                    leaves the sender out)
 *   {"op":"send","to":12,"text":"hi"}                to one client, wherever it is
 *   {"op":"broadcast","text":"hi"}                   to every client, wherever they are
 *   {"op":"close","id":12}                           closes a client (code 4000), wherever it is
 *   {"op":"join","channel":"blue"} / {"op":"leave","channel":"blue"}
 *   {"op":"who","channel":"red"}     the ack carries this worker's view: clients, members, presence
 *
 * Usage: php php/examples/rooms.php [PORT [ADDRESS]]   (PORT 8080 by default, 0 = a free port)
 * Environment:
 *   HS_WORKERS=N        N worker processes (simultaneous mode); default 1
 *   HS_REDIS=redis://127.0.0.1:6379   join the other nodes through this Redis; with it:
 *   HS_PREFIX=chat      keys and channels of this app in Redis (default httpsock): apps sharing
 *                       one Redis need different prefixes
 *   HS_NODE=n1          this node's name (default: host name + pid)
 *   HS_TTL=10           seconds after which a node that stopped answering is considered gone:
 *                       its users leave every channel and presence list on the other nodes
 *   HS_EVENTS_DIR=/tmp  where the event log of /events is kept (default: the temp directory)
 * Prints "listening on http://ADDRESS:PORT" once bound. SIGINT/SIGTERM stop it gracefully.
 */

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use HttpSock\Http\RequestInterface;
use HttpSock\Http\Response;
use HttpSock\HttpServer;

const JSON = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE;

$port = (int) ($argv[1] ?? 8080);
$address = $argv[2] ?? '127.0.0.1';
$workers = max(1, (int) (getenv('HS_WORKERS') ?: 1));
$node = getenv('HS_NODE') ?: null;

$server = new HttpServer($address, $port);
$server->websocket(true);
$server->setLimit(HttpServer::LIMIT_WS_MAX_MESSAGE, 64 * 1024);
$server->setMaxProcesses($workers);

// Several nodes: one Redis joins them. Without it, the rooms span this node's workers.
if (($redis = getenv('HS_REDIS')) !== false && $redis !== '') {
    $options = array_filter([
        'prefix' => getenv('HS_PREFIX') ?: null,
        'node' => $node,
        'ttl' => is_numeric(getenv('HS_TTL')) ? +getenv('HS_TTL') : null,
    ], fn ($v) => $v !== null);
    $server->useRedis($redis, $options);
}

// The event log behind GET /events. In simultaneous mode every worker has its own PHP state
// (and presence events fire in one worker per node only), so the log is a file that all the
// workers of this node append to; its name is chosen here, before run() forks the workers.
$supervisor = getmypid();
$eventsFile = rtrim(getenv('HS_EVENTS_DIR') ?: sys_get_temp_dir(), '/')
    . '/rooms-events-' . ($node ?? 'local') . "-{$supervisor}.jsonl";
@unlink($eventsFile);
$record = function (array $event) use ($eventsFile): void {
    $event['pid'] = getmypid();
    $event['time'] = microtime(true);
    file_put_contents($eventsFile, json_encode($event, JSON) . "\n", FILE_APPEND | LOCK_EX);
};

// Before the 101: who is this, and which rooms? (?user=&name=&room=a,b)
$server->authorize(function (RequestInterface $request) {
    $user = (string) $request->getGet('user', '');
    if ($user === '') {
        return new Response(401, ['Content-Type' => 'text/plain'], 'a user is required: /rooms?user=...');
    }
    $rooms = array_values(array_filter(explode(',', (string) $request->getGet('room', ''))));
    return [
        'user' => $user,
        'info' => ['name' => (string) $request->getGet('name', ucfirst($user))],
        'channels' => $rooms,
    ];
});

$server->onOpen(function (array $client) use ($server): void {
    $server->send($client['id'], json_encode([
        'type' => 'welcome',
        'id' => $client['id'],
        'node' => $client['node'],
        'pid' => getmypid(),
        'user' => $client['user'],
        'channels' => $client['channels'],
    ], JSON));
});

$server->onJoin(fn (array $client, string $channel) => $record(
    ['event' => 'join', 'channel' => $channel, 'id' => $client['id'], 'user' => $client['user']]
));
$server->onLeave(fn (array $client, string $channel) => $record(
    ['event' => 'leave', 'channel' => $channel, 'id' => $client['id'], 'user' => $client['user']]
));
// Presence channels: once per user on this node (a user with three tabs joins once, and leaves
// when the last tab closes, wherever the tabs are).
$server->onPresence(fn (string $channel, string $event, string|int $user, array $info) => $record(
    ['event' => "presence-$event", 'channel' => $channel, 'user' => (string) $user, 'info' => $info]
));

$server->accept('/rooms', function (string $message, array $client) use ($server): ?string {
    $op = json_decode($message, true);
    if (!is_array($op) || !is_string($op['op'] ?? null)) {
        return json_encode(['type' => 'error', 'error' => 'send JSON: {"op": ...}'], JSON);
    }
    $chat = fn (string $via) => [
        'type' => 'message', 'via' => $via, 'from' => $client['id'], 'user' => $client['user'],
        'text' => (string) ($op['text'] ?? ''),
    ];
    $ack = ['type' => 'ack', 'ref' => $op['ref'] ?? null, 'op' => $op['op']];
    switch ($op['op']) {
        case 'publish':
            $server->publish((string) $op['channel'], $chat('publish') + ['channel' => $op['channel']],
                !empty($op['except_me']) ? $client['id'] : null);
            break;
        case 'send':
            $ack['sent'] = $server->send((int) $op['to'], json_encode($chat('send'), JSON));
            break;
        case 'broadcast':
            $server->broadcast(json_encode($chat('broadcast'), JSON));
            break;
        case 'close':
            $ack['closed'] = $server->close((int) $op['id'], 4000, "closed by #{$client['id']}");
            break;
        case 'join':
            $server->join($client['id'], (string) $op['channel']);
            break;
        case 'leave':
            $server->leave($client['id'], (string) $op['channel']);
            break;
        case 'who':
            $channel = (string) ($op['channel'] ?? '');
            $ack += [
                'pid' => getmypid(),
                'clients' => array_keys($server->getClients()),
                'members' => $channel === '' ? [] : array_keys($server->members($channel)),
                'presence' => $channel === '' ? [] : array_map('strval', array_keys($server->presence($channel))),
                'channels' => $server->channels($client['id']),
            ];
            break;
        default:
            return json_encode(['type' => 'error', 'error' => "unknown op {$op['op']}"], JSON);
    }
    return isset($op['ref']) ? json_encode($ack, JSON) : null;
});

// The world as this worker sees it (the same on every worker and node: that is the point).
$summary = fn (array $c) => ['id' => $c['id'], 'node' => $c['node'], 'user' => $c['user'], 'channels' => $c['channels']];
$byId = function (array $list): array {
    usort($list, fn ($a, $b) => $a['id'] <=> $b['id']);
    return $list;
};
$server->get('/members', fn (RequestInterface $r) => [
    'channel' => $r->getGet('channel', ''),
    'members' => $byId(array_map($summary, array_values($server->members((string) $r->getGet('channel', ''))))),
]);
$server->get('/presence', function (RequestInterface $r) use ($server) {
    $users = [];
    foreach ($server->presence((string) $r->getGet('channel', '')) as $user => $info) {
        $users[] = ['user' => (string) $user, 'info' => $info];
    }
    usort($users, fn ($a, $b) => strcmp($a['user'], $b['user']));
    return ['channel' => $r->getGet('channel', ''), 'users' => $users];
});
$server->get('/clients', fn () => ['clients' => $byId(array_map($summary, array_values($server->getClients())))]);
$server->get('/events', fn () => [
    'events' => array_map(
        fn (string $line) => json_decode($line, true),
        file_exists($eventsFile) ? file($eventsFile, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) : []
    ),
]);

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
flush();

$server->run(100000, 10000, $workers > 1);
if (getmypid() === $supervisor) {
    @unlink($eventsFile);
}
