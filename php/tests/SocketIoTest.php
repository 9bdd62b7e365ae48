<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\RedisServer;
use HttpSock\Tests\Support\ServerProcess;
use HttpSock\Tests\Support\ServerTestCase;
use HttpSock\Tests\Support\SioNode;

/**
 * Socket.IO through the PHP wrapper (issue 12), with real `socket.io-client` 4.x clients in Node
 * (fixtures/sio_driver.cjs): the documented accept('/socket.io(?:/.*)?', ...) form, the explicit
 * socketio() API, acknowledgements both ways, binary, rooms, namespaces, refusals in onConnect,
 * throwing handlers, simultaneous mode (polling on many connections, whichever worker gets each
 * request) and two nodes through Redis. Servers: php/examples/socketio.php (the test app of
 * tests/socketio) and fixtures/socketio.php. Skipped without node and socket.io-client.
 */
final class SocketIoTest extends ServerTestCase
{
    private const EXAMPLE = HS_PHP_ROOT . '/examples/socketio.php';

    private ?SioNode $node = null;
    private ?RedisServer $redis = null;

    protected function setUp(): void
    {
        parent::setUp();
        if (($why = SioNode::missing()) !== null) {
            $this->markTestSkipped($why);
        }
        $this->node = new SioNode();
    }

    protected function tearDown(): void
    {
        if ($this->node !== null && in_array($this->getStatus(), [\PHPUnit\Runner\BaseTestRunner::STATUS_FAILURE, \PHPUnit\Runner\BaseTestRunner::STATUS_ERROR], true)) {
            fwrite(STDERR, "\n--- node driver stderr: " . $this->node->stderr() . "\n");
        }
        $this->node?->close();
        $this->node = null;
        parent::tearDown();
        $this->redis?->stop();
        $this->redis = null;
    }

    private function example(array $env = []): ServerProcess
    {
        return $this->script(self::EXAMPLE, 0, [], $env);
    }

    private function io(): SioNode
    {
        return $this->node;
    }

    // ---- the documented form and the test app ---------------------------------------------------

    public function testPollingThenUpgradeEchoWithAndWithoutAck(): void
    {
        $s = $this->example();
        $io = $this->io();
        $c = $io->connect('a', $s->url());
        // The default client starts with long-polling (its handshake) and probes WebSocket at
        // once: 'connect' may come before or after the switch.
        $this->assertContains($c['transport'], ['polling', 'websocket']);
        $this->assertSame('websocket', $io->ok('upgraded', ['name' => 'a'])['transport'], 'then upgrades');
        $args = ['hello', 42, 1.5, true, null, ['k' => ['x', 1]], [1, 2, 3]];
        $this->assertSame($args, $io->ask('a', 'echo', $args), 'acked: the ack carries the same arguments');
        $io->emit('a', 'echo', ['no ack', 7]);
        $this->assertSame(['no ack', 7], $io->wait('a', 'echo'), 'not acked: emitted back as the same event');
        $this->assertSame([], $io->ask('a', 'echo'), 'no arguments: an empty ack');
    }

    /**
     * Events emitted right after 'connect', while the client still polls and probes WebSocket
     * (binary ones too: base64 packets over polling), are all delivered and acknowledged.
     */
    public function testEmitsDuringTheUpgrade(): void
    {
        $s = $this->example();
        $io = $this->io();
        for ($i = 0; $i < 12; $i++) {
            $io->connect("u{$i}", $s->url());
            $args = $i % 2 === 0 ? ["r{$i}", SioNode::bin("\x00{$i}")] : ["r{$i}"];
            $this->assertSame($args, $io->ask("u{$i}", 'echo', $args, 2000), "round {$i}");
            $io->ok('disconnect', ['name' => "u{$i}"]);
        }
    }

    public function testWebsocketOnly(): void
    {
        $s = $this->example();
        $io = $this->io();
        $c = $io->connect('a', $s->url(), ['transports' => ['websocket']]);
        $this->assertSame('websocket', $c['transport']);
        $this->assertSame(['ws'], $io->ask('a', 'echo', ['ws']));
    }

    public function testPollingOnly(): void
    {
        $s = $this->example();
        $io = $this->io();
        $io->connect('a', $s->url(), ['transports' => ['polling']]);
        for ($i = 0; $i < 5; $i++) {
            $this->assertSame(["p{$i}"], $io->ask('a', 'echo', ["p{$i}"]));
        }
        $io->emit('a', 'echo', ['pushed']);
        $this->assertSame(['pushed'], $io->wait('a', 'echo'), 'a server emit reaches a polling client');
    }

    public function testBinaryBothWays(): void
    {
        $s = $this->example();
        $io = $this->io();
        $io->connect('p', $s->url(), ['transports' => ['polling']]);
        $io->connect('w', $s->url(), ['transports' => ['websocket']]);
        $bytes = SioNode::bin("\x00\x01\xfe\xff binary");
        $nested = ['file' => SioNode::bin('PNG'), 'name' => 'a.png'];
        foreach (['p', 'w'] as $c) {
            $this->assertSame([$bytes, 'text', $nested], $io->ask($c, 'echo', [$bytes, 'text', $nested]), "{$c}: binary comes back binary, in place");
            $io->emit($c, 'echo', [$bytes]);
            $this->assertSame([$bytes], $io->wait($c, 'echo'));
        }
    }

    public function testDocumentedPayload(): void
    {
        $s = $this->server('socketio');
        $io = $this->io();
        $c = $io->connect('a', $s->url(), ['transports' => ['websocket']]);
        [$r] = $io->ask('a', 'payload', ['hi', 2]);
        $this->assertSame('hi', $r['message']);
        $p = $r['payload'];
        $this->assertIsInt($p['id']);
        $this->assertSame($c['sid'], $p['sid'], "the payload's sid is the client's socket.id");
        $this->assertSame('/', $p['namespace']);
        $this->assertSame('payload', $p['event']);
        $this->assertSame(['hi', 2], $p['args']);
        $this->assertTrue($p['ack']);
        $this->assertSame('127.0.0.1', $p['address']);
        $this->assertNull($p['user']);
        $this->assertSame([], $p['channels']);
        $this->assertSame('127.0.0.1:' . $s->port(), $r['host'], 'headers: those of the Engine.IO handshake');

        [$r] = $io->ask('a', 'payload', [['a' => 1, 'b' => 'é/x']]);
        $this->assertSame('{"a":1,"b":"é/x"}', $r['message'], 'a first argument that is not a string: JSON');
        [$r] = $io->ask('a', 'payload', []);
        $this->assertSame('', $r['message'], 'no argument: an empty message');

        $io->emit('a', 'payload', ['back']);
        $back = $io->wait('a', 'payload');
        $this->assertFalse($back[0]['payload']['ack'], 'not acked: the return value is emitted back as the same event');
        $this->assertSame('back', $back[0]['message']);
    }

    public function testThrowingHandlersAreLoggedAndTheServerGoesOn(): void
    {
        $s = $this->server('socketio', ['debug']);
        $io = $this->io();
        $io->connect('a', $s->url(), ['transports' => ['polling']]);
        $answer = $io->call('emit', ['name' => 'a', 'event' => 'boom', 'args' => [1], 'ack' => true, 'timeout' => 700]);
        $this->assertFalse($answer['ok'], 'a throw: no acknowledgement');
        $this->assertStringContainsString('timeout', $answer['error']);
        $this->waitUntil(fn () => str_contains($s->stderr(), 'boom in the documented handler'), 3.0, 'the debug line of the throw');
        $answer = $io->call('emit', ['name' => 'a', 'event' => 'explode', 'ack' => true, 'timeout' => 700]);
        $this->assertFalse($answer['ok']);
        $this->waitUntil(fn () => str_contains($s->stderr(), 'boom in an explicit handler'), 3.0, 'the debug line of the throw');
        $this->assertSame(['still here'], $io->ask('a', 'echo', ['still here']), 'the socket and the server go on');
        $this->assertTrue($io->ok('state', ['name' => 'a'])['connected']);
    }

    public function testServerToClientAck(): void
    {
        $s = $this->example();
        $io = $this->io();
        $io->connect('a', $s->url(), ['transports' => ['websocket']]);
        $io->ok('reply', ['name' => 'a', 'event' => 'question', 'args' => ['yes', 3, SioNode::bin("\x01")]]);
        $io->emit('a', 'ask', ['question', 'are you there?']);
        $q = $io->ok('wait', ['name' => 'a', 'event' => 'question']);
        $this->assertSame(['are you there?'], $q['args']);
        $this->assertTrue($q['acked'], 'the server asked for an acknowledgement');
        $this->assertSame([['yes', 3, SioNode::bin("\x01")]], $io->wait('a', 'answer'), "the client's ack reached the PHP callback");

        $io->emit('a', 'ask', ['unanswered']);
        $this->assertNotNull($io->wait('a', 'unanswered'));
        $this->assertSame([null], $io->wait('a', 'answer', 4000), 'no answer within 2 s: the callback gets null');
    }

    public function testRoomsToAndBroadcast(): void
    {
        $s = $this->example();
        $io = $this->io();
        $a = $io->connect('a', $s->url(), ['transports' => ['websocket']]);
        $b = $io->connect('b', $s->url(), ['transports' => ['polling']]);
        $io->connect('c', $s->url(), ['transports' => ['websocket']]);
        $this->assertSame([true], $io->ask('a', 'join', ['red']));
        $this->assertSame([true], $io->ask('b', 'join', ['red']));
        $members = json_decode(Http::get($s->url('/members?room=red'))->body, true);
        sort($members);
        $expected = [$a['sid'], $b['sid']];
        sort($expected);
        $this->assertSame($expected, $members);
        $who = $io->ask('a', 'whoami')[0];
        $this->assertSame(['red'], $who['rooms']);
        $this->assertSame($a['sid'], $who['sid']);

        $io->ask('c', 'to', ['red', 'news', 'x', SioNode::bin('y')]);
        $this->assertSame(['x', SioNode::bin('y')], $io->wait('a', 'news'));
        $this->assertSame(['x', SioNode::bin('y')], $io->wait('b', 'news'));
        $this->assertNull($io->wait('c', 'news', 300), 'not a member');

        $io->ask('a', 'broadcast', ['hey', 1]);
        $this->assertSame([1], $io->wait('b', 'hey'));
        $this->assertSame([1], $io->wait('c', 'hey'));
        $this->assertNull($io->wait('a', 'hey', 300), 'broadcast: all but the sender');

        $this->assertSame([true], $io->ask('b', 'leave', ['red']));
        $this->assertSame([], $io->ask('b', 'whoami')[0]['rooms'], "the socket's rooms follow leave");
        $io->ask('c', 'to', ['red', 'news', 'again']);
        $this->assertSame(['again'], $io->wait('a', 'news'));
        $this->assertNull($io->wait('b', 'news', 300), 'left the room');
    }

    public function testNamespaces(): void
    {
        $s = $this->example();
        $io = $this->io();
        $refused = $io->call('connect', ['name' => 'x', 'url' => $s->url(), 'nsp' => '/admin', 'opts' => (object) []]);
        $this->assertFalse($refused['ok']);
        $this->assertSame('Not authorized', $refused['error']);
        $io->connect('adm', $s->url(), ['auth' => ['token' => 'secret'], 'transports' => ['polling']], '/admin');
        $this->assertSame(['secret stuff', 1], $io->ask('adm', 'echo', ['secret stuff', 1]));
        $io->emit('adm', 'echo', ['pushed']);
        $this->assertSame(['pushed'], $io->wait('adm', 'echo'));
        $unknown = $io->call('connect', ['name' => 'y', 'url' => $s->url(), 'nsp' => '/nope', 'opts' => (object) []]);
        $this->assertFalse($unknown['ok']);
        $this->assertSame('Invalid namespace', $unknown['error']);
    }

    public function testConnectRefusalsAndUsers(): void
    {
        $s = $this->example();
        $io = $this->io();
        $bad = $io->call('connect', ['name' => 'x', 'url' => $s->url(), 'opts' => ['auth' => ['token' => 'bad']]]);
        $this->assertFalse($bad['ok']);
        $this->assertSame('bad token', $bad['error']);
        $io->connect('ann', $s->url(), ['auth' => ['user' => 'ann'], 'transports' => ['websocket']]);
        $this->assertSame('ann', $io->ask('ann', 'whoami')[0]['user']);
        $io->connect('anon', $s->url(), ['transports' => ['polling']]);
        $this->assertNull($io->ask('anon', 'whoami')[0]['user']);

        $f = $this->server('socketio');
        $cases = [
            'data' => ['go away', ['code' => 7]],
            'text' => ['no thanks', null],
            'false' => ['Not authorized', null],
            'throw' => ['Internal server error', null],
        ];
        foreach ($cases as $refuse => [$message, $data]) {
            $r = $io->call('connect', ['name' => "r{$refuse}", 'url' => $f->url(), 'opts' => ['auth' => ['refuse' => $refuse]]]);
            $this->assertFalse($r['ok'], $refuse);
            $this->assertSame($message, $r['error'], $refuse);
            if ($data !== null) {
                $this->assertSame($data, $r['data'], $refuse);
            }
        }
        $c = $io->connect('roomy', $f->url(), ['auth' => ['user' => 'bob', 'rooms' => ['r1', 'r2']], 'transports' => ['websocket']]);
        $rooms = $io->ask('roomy', 'rooms')[0];
        sort($rooms);
        $this->assertSame(['r1', 'r2'], $rooms, "onConnect's rooms are joined as it connects");
        $sock = $io->ask('roomy', 'sock')[0];
        $this->assertSame('bob', $sock['user']);
        $this->assertSame(['n' => 1], $sock['info']);
        $this->assertSame($c['sid'], $sock['sid']);
        $this->assertSame('/', $sock['namespace']);
    }

    public function testAuthorizeDecidesTheHandshake(): void
    {
        $s = $this->server('socketio');
        $io = $this->io();
        $denied = $io->call('connect', ['name' => 'x', 'url' => $s->url(), 'opts' => ['query' => ['deny' => '1'], 'transports' => ['polling']]]);
        $this->assertFalse($denied['ok'], 'authorize() false: the handshake is refused');
        $this->assertSame(403, Http::get($s->url('/socket.io/?EIO=4&transport=polling&deny=1'))->status);
        $c = $io->connect('u', $s->url(), ['query' => ['user' => 'sess'], 'transports' => ['websocket']]);
        $line = $s->waitForLine('/^event connect (.*"sid":"' . preg_quote($c['sid'], '/') . '".*)$/');
        $seen = json_decode($line[1], true);
        $this->assertSame('sess', $seen['user'], "onConnect sees the user authorize() gave the session");
        $this->assertSame(['from-authorize'], $seen['channels']);
        $sock = $io->ask('u', 'sock')[0];
        $this->assertSame(['via' => 'authorize'], $sock['info']);
        $this->assertSame(['from-authorize'], $io->ask('u', 'rooms')[0]);
        Http::get($s->url('/publish?room=from-authorize&text=to%20the%20room'));
        $this->assertSame(['to the room'], $io->wait('u', 'message'), 'publish() to a channel: its sockets get "message"');
    }

    public function testServerEmitsAndDisconnect(): void
    {
        $s = $this->server('socketio');
        $io = $this->io();
        $a = $io->connect('a', $s->url(), ['transports' => ['websocket']]);
        $b = $io->connect('b', $s->url(), ['transports' => ['polling']]);
        $sids = json_decode(Http::get($s->url('/sockets'))->body, true);
        sort($sids);
        $expected = [$a['sid'], $b['sid']];
        sort($expected);
        $this->assertSame($expected, $sids, 'sockets(): the sids of the namespace');
        $this->assertSame('2', Http::get($s->url('/emit?event=news&text=all'))->body);
        $this->assertSame(['all'], $io->wait('a', 'news'));
        $this->assertSame(['all'], $io->wait('b', 'news'));
        Http::get($s->url('/emit?event=news&text=notb&except=' . rawurlencode($b['sid'])));
        $this->assertSame(['notb'], $io->wait('a', 'news'));
        $this->assertNull($io->wait('b', 'news', 300), 'except()');
        $this->assertSame('true', Http::get($s->url('/emitbin?sid=' . rawurlencode($a['sid'])))->body);
        $this->assertSame([SioNode::bin("\x00\x01\x02"), SioNode::bin("\xff")], $io->wait('a', 'bin'),
            'a Binary and a string that is not UTF-8 travel as binary');
        $this->assertSame('false', Http::get($s->url('/emitbin?sid=nobody'))->body, 'toSocket() of an unknown sid');

        // The WebSocket calls on sockets: send() and publish() emit the event "message".
        $idA = $io->ask('a', 'sock')[0]['id'];
        $this->assertSame('true', Http::get($s->url("/send?id={$idA}&text=direct"))->body);
        $this->assertSame(['direct'], $io->wait('a', 'message'));
        $io->ask('a', 'payload');  // (any event: the documented handler)
        Http::get($s->url('/publish?room=from-authorize&text=nobody'));
        $this->assertNull($io->wait('a', 'message', 300), 'publish() reaches members only');

        $io->call('disconnect', ['name' => 'b']);
        $this->waitUntil(fn () => preg_match('/event disconnect .*"reason":"client namespace disconnect"/', $s->stdout()) === 1, 5.0, 'onDisconnect with the reason');
        $this->assertStringContainsString($b['sid'], $s->stdout());
    }

    public function testByeDisconnectsFromTheServer(): void
    {
        $s = $this->example();
        $io = $this->io();
        $a = $io->connect('a', $s->url(), ['transports' => ['polling']]);
        $io->emit('a', 'bye');
        $this->assertSame('io server disconnect', $io->ok('waitDisconnect', ['name' => 'a'])['reason']);
        $this->waitUntil(fn () => str_contains($s->stderr(), "socketio: disconnect {$a['sid']} server namespace disconnect"), 5.0, 'the disconnect line');
    }

    public function testOtherNamespaceOfTheFixture(): void
    {
        $s = $this->server('socketio');
        $io = $this->io();
        $io->connect('c', $s->url(), ['transports' => ['websocket']], '/chat');
        $this->assertSame(['a', SioNode::bin('b')], $io->ask('c', 'echo', ['a', SioNode::bin('b')]));
    }

    public function testConfiguredAfterAutostart(): void
    {
        $s = $this->server('socketio', ['late']);
        $io = $this->io();
        $io->connect('a', $s->url(), ['transports' => ['polling']]);
        $this->assertSame(['late'], $io->ask('a', 'other', ['late']));
    }

    public function testOptionsReachTheEngineIoHandshake(): void
    {
        $dist = SioNode::modules() . '/socket.io-client/dist';
        $s = $this->example(['HS_SIO_PING_INTERVAL_MS' => '1234', 'HS_SIO_PING_TIMEOUT_MS' => '4321', 'HS_SIO_MAX_PAYLOAD' => '5000', 'HS_SIO_CLIENT_DIR' => $dist]);
        $js = Http::get($s->url('/client/socket.io.min.js'));
        $this->assertSame(200, $js->status, 'the browser client, served from HS_SIO_CLIENT_DIR');
        $this->assertSame(file_get_contents("{$dist}/socket.io.min.js"), $js->body);
        $this->assertSame(404, Http::get($s->url('/client/..%2Fpackage.json'))->status);
        $open = Http::get($s->url('/socket.io/?EIO=4&transport=polling'));
        $this->assertSame(200, $open->status, (string) $open);
        $this->assertStringStartsWith('0{', $open->body);
        $packet = json_decode(substr($open->body, 1), true);
        $this->assertSame([1234, 4321, 5000], [$packet['pingInterval'], $packet['pingTimeout'], $packet['maxPayload']], 'socketioOptions()');
        $bad = Http::get($s->url('/socket.io/?EIO=3&transport=polling'));
        $this->assertSame(400, $bad->status, 'Engine.IO v3 is refused');
        $this->assertSame('httpsock socketio (PHP)', substr(Http::get($s->url('/'))->body, 0, 23), 'HTTP routes beside Socket.IO');
    }

    public function testConnectionStateRecovery(): void
    {
        $s = $this->example(['HS_SIO_RECOVERY_MS' => '5000']);
        $io = $this->io();
        $a = $io->connect('a', $s->url(), ['transports' => ['websocket'], 'reconnection' => true, 'reconnectionDelay' => 100]);
        $io->connect('b', $s->url(), ['transports' => ['websocket']]);
        $this->assertSame([true], $io->ask('a', 'join', ['red']));
        $back = $io->ok('drop', ['name' => 'a']);
        $this->assertTrue($back['recovered'], 'connectionStateRecovery: the socket comes back');
        $this->assertSame($a['sid'], $back['sid']);
        $this->assertSame(['red'], $io->ask('a', 'whoami')[0]['rooms'], 'with its rooms');
        $io->ask('b', 'to', ['red', 'news', 'after']);
        $this->assertSame(['after'], $io->wait('a', 'news'));
        $this->assertStringNotContainsString("disconnect {$a['sid']}", $s->stderr(), 'the handlers hear nothing of it');

        $plain = $this->example();
        $c = $io->connect('c', $plain->url(), ['transports' => ['websocket'], 'reconnection' => true, 'reconnectionDelay' => 100]);
        $back = $io->ok('drop', ['name' => 'c']);
        $this->assertFalse($back['recovered'], 'off by default');
        $this->assertNotSame($c['sid'], $back['sid']);
    }

    // ---- simultaneous mode and Redis -------------------------------------------------------

    public function testSimultaneousPollingOnManyConnections(): void
    {
        $s = $this->example(['HS_WORKERS' => '2']);
        $io = $this->io();
        $r = $io->ok('many', ['url' => $s->url(), 'n' => 40, 'rounds' => 3, 'event' => 'echo', 'opts' => ['transports' => ['polling']]], 60.0);
        $this->assertSame([], $r['errors']);
        $this->assertSame(40, $r['connected']);
        $this->assertSame(120, $r['acked'], 'every polling request works whichever worker the kernel hands it to');
        $r = $io->ok('many', ['url' => $s->url(), 'n' => 20, 'event' => 'echo'], 60.0);
        $this->assertSame([20, 20, []], [$r['connected'], $r['acked'], $r['errors']], 'and with the upgrade');
    }

    public function testSimultaneousRoomsSpanWorkers(): void
    {
        $s = $this->server('socketio', ['workers=2']);
        $io = $this->io();
        $pids = [];
        for ($i = 0; $i < 12; $i++) {
            $io->connect("c{$i}", $s->url(), ['transports' => ['polling'], 'auth' => ['rooms' => ['all'], 'user' => "u{$i}"]]);
            $pids[$io->ask("c{$i}", 'pid')[0]] = true;
        }
        $this->assertCount(2, $pids, 'the sockets are spread over both workers');
        $this->assertSame(12, count(json_decode(Http::get($s->url('/sockets'))->body, true)), 'sockets() sees every worker');
        Http::get($s->url('/emit?event=ping&room=all&text=x'));
        for ($i = 0; $i < 12; $i++) {
            $this->assertSame(['x'], $io->wait("c{$i}", 'ping'), "socket {$i} got the room's emit");
        }
    }

    public function testAckCallbacksRunInTheWorkerThatEmitted(): void
    {
        $s = $this->server('socketio', ['workers=2']);
        $io = $this->io();
        $c = $io->connect('a', $s->url(), ['transports' => ['websocket']]);
        $io->ok('reply', ['name' => 'a', 'event' => 'q', 'args' => ['yes', SioNode::bin("\x07")]]);
        $pids = [];
        for ($n = 0; $n < 10; $n++) {
            $r = json_decode(Http::get($s->url('/ask?event=q&n=' . $n . '&sid=' . rawurlencode($c['sid'])))->body, true);
            $this->assertTrue($r['sent'], "ask {$n}");
            $line = $s->waitForLine('/^event answer (\{"n":"' . $n . '".*)$/', 5.0);
            $answer = json_decode($line[1], true);
            $this->assertSame($r['pid'], $answer['pid'], 'the callback runs in the worker that emitted');
            $this->assertSame(['yes', ['$bin' => base64_encode("\x07")]], self::binAsDriver($answer['args']));
            $pids[$r['pid']] = true;
        }
        $this->assertCount(2, $pids, 'asked from both workers (the socket lives in one of them)');
    }

    /** A PHP value printed by the fixture (a Binary json_encode()s as base64) as the driver writes binaries. */
    private static function binAsDriver(array $args): array
    {
        return [$args[0], ['$bin' => $args[1]]];
    }

    public function testTwoNodesThroughRedis(): void
    {
        $this->redis = RedisServer::start();
        if ($this->redis === null) {
            $this->markTestSkipped('redis-server is not installed');
        }
        $prefix = 'sio-phpunit-' . getmypid() . '-' . mt_rand();
        $a = $this->example(['HS_REDIS' => $this->redis->url, 'HS_REDIS_PREFIX' => $prefix, 'HS_NODE' => 'node-a']);
        $b = $this->example(['HS_REDIS' => $this->redis->url, 'HS_REDIS_PREFIX' => $prefix, 'HS_NODE' => 'node-b', 'HS_WORKERS' => '2']);
        $io = $this->io();
        $io->connect('a', $a->url(), ['transports' => ['websocket']]);
        $io->connect('b', $b->url(), ['transports' => ['websocket']]);
        $io->ask('a', 'join', ['red']);
        $io->ask('b', 'join', ['red']);
        $this->assertSame('node-b', $io->ask('b', 'whoami')[0]['node']);
        $this->waitUntil(fn () => count(json_decode(Http::get($a->url('/members?room=red'))->body, true)) === 2, 10.0, 'both members of red seen from node A');
        $io->ask('a', 'to', ['red', 'cross', 'from a']);
        $this->assertSame(['from a'], $io->wait('b', 'cross', 5000), 'an emit to a room on node A reaches a member on node B');
        $this->assertSame(['from a'], $io->wait('a', 'cross', 5000));
        $io->ask('b', 'broadcast', ['all', 'from b']);
        $this->assertSame(['from b'], $io->wait('a', 'all', 5000), 'broadcast crosses nodes');
    }
}
