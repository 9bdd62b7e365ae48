<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\ServerProcess;
use HttpSock\Tests\Support\ServerTestCase;
use HttpSock\Tests\Support\WsClient;
use HttpSock\Tests\Support\WsHandshakeFailed;

/**
 * websocket(), accept(pattern, fn($message, $payload)), the payload, replies in the same frame
 * type, send, broadcast (with except), close(id, code, reason), getClients, onOpen, onClose,
 * every(). Clients: the PHP RFC 6455 client (Support/WsClient) and Python's websockets.
 * Fixture: fixtures/websocket.php.
 */
final class WebSocketTest extends ServerTestCase
{
    private function ws(): ServerProcess
    {
        return $this->server('websocket');
    }

    private function event(ServerProcess $s, string $name, callable $match, float $timeout = 3.0): mixed
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            preg_match_all('/^event ' . preg_quote($name, '/') . ' (.*)$/m', $s->stdout(), $m);
            foreach ($m[1] as $json) {
                $ev = json_decode($json, true);
                if ($match($ev)) {
                    return $ev;
                }
            }
            if (microtime(true) > $deadline) {
                $this->fail("no `event $name` matching within {$timeout}s; stdout: " . $s->stdout());
            }
            $s->drain(0.05);
        }
    }

    private function idOf(WsClient $c): int
    {
        $c->sendText('id');
        return (int) $c->receiveText();
    }

    public function testEchoRepliesInTheSameFrameType(): void
    {
        $s = $this->ws();
        $c = WsClient::connect($s->wsUrl('/echo'));
        $c->sendText('hello');
        $this->assertSame([WsClient::TEXT, 'hello'], $c->receive());
        $c->sendBinary("\x00\x01\xfe\xff bin");
        $this->assertSame([WsClient::BINARY, "\x00\x01\xfe\xff bin"], $c->receive());
        $c->sendText('');
        $this->assertSame([WsClient::TEXT, ''], $c->receive());
        $utf8 = 'héllo wörld ✓';
        $c->sendText($utf8);
        $this->assertSame([WsClient::TEXT, $utf8], $c->receive());
        $big = str_repeat('abcdefgh', 40000); // 320 KB, 64-bit length
        $c->sendText($big);
        $this->assertSame([WsClient::TEXT, $big], $c->receive());
        // a message in three fragments comes back whole
        $c->sendFrame(WsClient::TEXT, 'frag-', false);
        $c->sendFrame(0, 'men-', false);
        $c->sendFrame(0, 'ted', true);
        $this->assertSame([WsClient::TEXT, 'frag-men-ted'], $c->receive());
        // ping is answered with the same payload
        $c->ping('are you there');
        $c->sendText('after ping');
        $this->assertSame([WsClient::TEXT, 'after ping'], $c->receive());
        $this->assertSame(['are you there'], $c->pongs);
        $c->close(1000, 'bye');
        $this->assertSame(1000, $c->closeCode);
    }

    public function testPayloadCarriesIdAddressPortUriHeadersBinary(): void
    {
        $s = $this->ws();
        $c = WsClient::connect($s->wsUrl('/payload?x=1&y=two'), ['X-Client' => 'abc', 'Origin' => 'http://example.test']);
        $c->sendText('m1');
        $p = json_decode($c->receiveText(), true);
        $this->assertIsInt($p['id']);
        $this->assertGreaterThan(0, $p['id']);
        $this->assertSame('127.0.0.1', $p['address']);
        $this->assertSame($c->localPort(), $p['port']);
        $this->assertSame('/payload?x=1&y=two', $p['uri']);
        $this->assertSame('abc', $p['headers']['X-Client'] ?? null);
        $this->assertSame('http://example.test', $p['headers']['Origin'] ?? null);
        $this->assertSame('websocket', strtolower($p['headers']['Upgrade'] ?? ''));
        $this->assertFalse($p['binary']);
        $this->assertSame('m1', $p['message']);
        $c->sendBinary('m2');
        [$op, $data] = $c->receive();
        $this->assertSame(WsClient::BINARY, $op, 'a returned string answers a binary message in a binary frame');
        $p2 = json_decode($data, true);
        $this->assertTrue($p2['binary']);
        $this->assertSame($p['id'], $p2['id'], 'the id stays the same for one connection');
        $c->close();
        // another connection, another id
        $d = WsClient::connect($s->wsUrl('/payload'));
        $d->sendText('x');
        $this->assertNotSame($p['id'], json_decode($d->receiveText(), true)['id']);
        $d->close();
    }

    public function testCapturesInAcceptPatterns(): void
    {
        $s = $this->ws();
        $c = WsClient::connect($s->wsUrl('/room/blue'));
        $c->sendText('hi');
        $this->assertSame('room blue: hi', $c->receiveText());
        $c->close();
    }

    public function testArrayReplyIsJsonTextAndNullSendsNothing(): void
    {
        $s = $this->ws();
        $c = WsClient::connect($s->wsUrl('/array'));
        $c->sendText('m');
        $this->assertSame([WsClient::TEXT, '{"got":"m"}'], $c->receive());
        $q = WsClient::connect($s->wsUrl('/silent'));
        $q->sendText('quiet');
        $this->event($s, 'silent', fn ($e) => $e === 'quiet');
        $this->assertTrue($q->silentFor(0.3));
        $q->close();
        $c->close();
    }

    public function testThrowingCallbackKeepsTheConnectionAndTheServer(): void
    {
        $s = $this->ws();
        $c = WsClient::connect($s->wsUrl('/throw'));
        $c->sendText('1');
        $c->sendText('2');
        $c->ping('alive');
        $this->waitUntil(function () use ($c) {
            try {
                $c->receive(0.1);
            } catch (\HttpSock\Tests\Support\WsTimeout) {
            }
            return $c->pongs === ['alive'];
        }, 3.0, 'the pong after two throwing messages');
        $this->assertNull($c->closeCode);
        $e = WsClient::connect($s->wsUrl('/echo'));
        $e->sendText('fine');
        $this->assertSame('fine', $e->receiveText());
        $this->assertResponse(404, '404 Not Found', Http::get($s->url('/nope')));
    }

    public function testWebSocketIsOffUnlessEnabled(): void
    {
        $s = $this->server('websocket', ['nows']);
        try {
            WsClient::connect($s->wsUrl('/echo'));
            $this->fail('the upgrade was accepted without websocket(true)');
        } catch (WsHandshakeFailed $e) {
            // routed as a plain HTTP request: no HTTP route /echo
            $this->assertSame(404, $e->status);
        }
    }

    public function testUpgradeErrors(): void
    {
        $s = $this->ws();
        try {
            WsClient::connect($s->wsUrl('/no-such-route'));
            $this->fail('upgrade on a path without accept() was accepted');
        } catch (WsHandshakeFailed $e) {
            $this->assertSame(404, $e->status);
        }
        $raw = Http::raw($s->port(), "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            . "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n");
        $r = \HttpSock\Tests\Support\HttpResponse::parse($raw);
        $this->assertResponse(400, 'WebSocket key is missing or invalid.', $r, ['X-Server-Response-Type' => 'INVALID_WS_KEY']);
    }

    public function testOnOpenAndOnClose(): void
    {
        $s = $this->ws();
        $c = WsClient::connect($s->wsUrl('/ctl?who=a'));
        $id = $this->idOf($c);
        $open = $this->event($s, 'open', fn ($e) => $e['id'] === $id);
        $this->assertSame(['id' => $id, 'uri' => '/ctl?who=a', 'address' => '127.0.0.1'], $open);
        $c->close(4000, 'see you');
        $close = $this->event($s, 'close', fn ($e) => $e['id'] === $id);
        $this->assertSame(['id' => $id, 'code' => 4000, 'reason' => 'see you'], $close);
        // a client that just drops the TCP connection is closed too (1006: abnormal)
        $d = WsClient::connect($s->wsUrl('/ctl'));
        $did = $this->idOf($d);
        $d->disconnect();
        $close = $this->event($s, 'close', fn ($e) => $e['id'] === $did);
        $this->assertSame(1006, $close['code']);
    }

    public function testSendToOneClient(): void
    {
        $s = $this->ws();
        $a = WsClient::connect($s->wsUrl('/ctl'));
        $b = WsClient::connect($s->wsUrl('/ctl'));
        $aid = $this->idOf($a);
        $b->sendText("send:$aid:just for a");
        $this->assertSame('just for a', $a->receiveText());
        $this->assertTrue($b->silentFor(0.3));
        // to an id that does not exist
        $b->sendText('send:999999:nobody');
        $this->assertSame('send failed', $b->receiveText());
    }

    public function testBroadcastToAllAndExceptTheSender(): void
    {
        $s = $this->ws();
        $a = WsClient::connect($s->wsUrl('/ctl'));
        $b = WsClient::connect($s->wsUrl('/ctl'));
        $c = WsClient::connect($s->wsUrl('/echo'));
        $a->sendText('broadcast:to everyone');
        foreach ([$a, $b, $c] as $client) {
            $this->assertSame([WsClient::TEXT, 'to everyone'], $client->receive());
        }
        $a->sendText('broadcast-others:not to a');
        $this->assertSame('not to a', $b->receiveText());
        $this->assertSame('not to a', $c->receiveText());
        $this->assertTrue($a->silentFor(0.3), 'the excepted client gets nothing');
        $a->sendText('broadcast-binary:bin');
        $this->assertSame([WsClient::BINARY, 'bin'], $b->receive());
    }

    public function testBroadcastFromAnHttpHandler(): void
    {
        $s = $this->ws();
        $a = WsClient::connect($s->wsUrl('/echo'));
        $b = WsClient::connect($s->wsUrl('/ctl'));
        $this->idOf($b); // both registered
        $a->sendText('sync');
        $this->assertSame('sync', $a->receiveText());
        $r = Http::get($s->url('/broadcast?m=from%20http'));
        $this->assertResponse(200, '2', $r);
        $this->assertSame('from http', $a->receiveText());
        $this->assertSame('from http', $b->receiveText());
    }

    public function testCloseWithCodeAndReason(): void
    {
        $s = $this->ws();
        $a = WsClient::connect($s->wsUrl('/ctl'));
        $b = WsClient::connect($s->wsUrl('/ctl'));
        $aid = $this->idOf($a);
        $b->sendText("close:$aid:4001:go away");
        [$op, $payload] = $a->receive();
        $this->assertSame(WsClient::CLOSE, $op);
        $this->assertSame(4001, $a->closeCode);
        $this->assertSame('go away', $a->closeReason);
        $this->assertTrue($a->waitEof(3.0), 'the server ends the TCP connection after the close handshake');
        $close = $this->event($s, 'close', fn ($e) => $e['id'] === $aid);
        $this->assertSame(4001, $close['code']);
        $b->sendText('close:999999:1000:x');
        $this->assertSame('close failed', $b->receiveText());
    }

    public function testGetClients(): void
    {
        $s = $this->ws();
        $a = WsClient::connect($s->wsUrl('/ctl?n=a'));
        $b = WsClient::connect($s->wsUrl('/echo?n=b'));
        $aid = $this->idOf($a);
        $b->sendText('x');
        $b->receiveText();
        $a->sendText('clients');
        $list = json_decode($a->receiveText(), true);
        $this->assertCount(2, $list);
        $byUri = array_column($list, null, 'uri');
        ksort($byUri);
        $this->assertSame(['/ctl?n=a', '/echo?n=b'], array_keys($byUri));
        $this->assertSame($aid, $byUri['/ctl?n=a']['id']);
        foreach ($list as $c) {
            $this->assertSame($c['key'], $c['id'], 'getClients() is keyed by id');
        }
        $bid = $byUri['/echo?n=b']['id'];
        $b->close();
        $this->event($s, 'close', fn ($e) => $e['id'] === $bid);
        $a->sendText('clients');
        $this->assertSame([$aid], array_column(json_decode($a->receiveText(), true), 'id'));
        $this->assertSame([$aid], Http::get($s->url('/clients'))->json());
    }

    public function testEveryRunsATimer(): void
    {
        $s = $this->server('websocket', ['tick']);
        $c = WsClient::connect($s->wsUrl('/echo'));
        $t0 = microtime(true);
        $ticks = [];
        while (count($ticks) < 4) {
            $msg = $c->receiveText(2.0);
            $this->assertMatchesRegularExpression('/^tick \d+$/', $msg);
            $ticks[] = (int) substr($msg, 5);
        }
        $elapsed = microtime(true) - $t0;
        for ($i = 1; $i < 4; $i++) {
            $this->assertSame($ticks[$i - 1] + 1, $ticks[$i], 'ticks are consecutive');
        }
        $this->assertGreaterThan(0.45, $elapsed, '4 ticks of 0.2 s take at least ~0.6 s');
        $this->assertLessThan(2.5, $elapsed);
    }

    public function testHttpAndWebSocketOnOneServer(): void
    {
        $s = $this->ws();
        $c = WsClient::connect($s->wsUrl('/echo'));
        $c->sendText('a');
        $this->assertSame('a', $c->receiveText());
        $this->assertCount(1, Http::get($s->url('/clients'))->json());
    }

    public function testInteropWithPythonWebsockets(): void
    {
        $s = $this->ws();
        [$code, $out, $err] = Http::run(['python3', __DIR__ . '/Support/ws_interop.py', $s->wsUrl('/echo')], '', 30.0);
        $this->assertSame("ok\n", $out, "python websockets client: $out $err");
        $this->assertSame(0, $code);
    }

    public function testShutdownSendsGoingAway(): void
    {
        $s = $this->ws();
        $c = WsClient::connect($s->wsUrl('/echo'));
        $c->sendText('x');
        $c->receiveText();
        $s->signal(SIGTERM);
        [$op] = $c->receive(5.0);
        $this->assertSame(WsClient::CLOSE, $op);
        $this->assertSame(1001, $c->closeCode, 'clients get Close 1001 (going away) on shutdown');
        $this->assertNotNull($s->waitExit(5.0));
    }
}
