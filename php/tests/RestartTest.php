<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\ServerTestCase;
use HttpSock\Tests\Support\WsClient;

/**
 * start() after shutdown() builds a new native server with the whole configuration replayed:
 * routes and captures, default headers, limits, the error hook, ping(), WebSocket routes.
 * Fixture: fixtures/restart.php.
 */
final class RestartTest extends ServerTestCase
{
    public function testTheConfigurationIsReplayedAfterShutdownAndStart(): void
    {
        $s = $this->server('restart');
        $st = json_decode($s->waitForLine('/^event restarted (.*)$/', 2.0)[1], true);
        $this->assertFalse($st['connected_between'], 'isConnected() after shutdown()');
        $this->assertGreaterThan(0, $st['first']);
        $this->assertSame($s->port(), $st['second']);

        $this->assertResponse(200, 'hello ann', Http::get($s->url('/hello/ann')), ['X-Replayed' => 'yes']);
        $this->assertResponse(200, 'PONG', Http::get($s->url('/ping')), ['X-Server-Response-Type' => 'PING']);
        $this->assertResponse(200, 'got 0123456789', Http::post($s->url('/body'), '0123456789'));
        $this->assertResponse(413, 'Request body is too large.', Http::post($s->url('/body'), '0123456789X'), [
            'X-Server-Response-Type' => 'PAYLOAD_TOO_LARGE',
        ]);
        $this->assertResponse(404, 'custom NOT_FOUND', Http::get($s->url('/nope')), ['X-Replayed' => 'yes']);

        $c = WsClient::connect($s->wsUrl('/ws'));
        $c->sendText('hi');
        $this->assertSame('ws hi /ws', $c->receiveText());
        $c->close();
    }
}
