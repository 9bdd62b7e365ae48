<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\ServerTestCase;

/**
 * error() with the NOT_FOUND, REQUEST_LIMIT and NOT_CONNECTED shapes, setRateLimit,
 * connectionRequired, connect, disconnect, on, off. Fixture: fixtures/errors.php.
 */
final class ErrorsAndConnectionsTest extends ServerTestCase
{
    private function connectBug(\HttpSock\Tests\Support\HttpResponse $r): void
    {
        $this->knownBug(str_starts_with($r->body, '[200,'), 'GET /connect and /disconnect answer the JSON array [200,"Content-Type: text/plain\\r\\nX-Server-Response-Type: CONNECTED\\r\\n","Client successfully connected."] (HttpServer::connect/disconnect return the CONNECTED/DISCONNECTED tuples through the array-is-JSON path)');
    }

    public function testRateLimitDefaultAnswer(): void
    {
        $s = $this->server('errors', ['limit=3']);
        for ($i = 0; $i < 3; $i++) {
            $this->assertResponse(200, 'thing', Http::get($s->url('/thing')));
        }
        $r = Http::get($s->url('/thing'));
        $this->assertResponse(429, 'Rate limit exceeded. Try again later.', $r, ['X-Server-Response-Type' => 'REQUEST_LIMIT']);
        $this->assertNotNull($r->header('Retry-After'));
        $this->assertGreaterThan(0, (int) $r->header('Retry-After'));
        $this->assertLessThanOrEqual(60, (int) $r->header('Retry-After'));
    }

    public function testRateLimitWindowEnds(): void
    {
        $s = $this->server('errors', ['limit=2', 'window=1']);
        $this->assertResponse(200, 'thing', Http::get($s->url('/thing')));
        $this->assertResponse(200, 'thing', Http::get($s->url('/thing')));
        $this->assertResponse(429, null, Http::get($s->url('/thing')));
        // bounded polling: the 1 s window must end within 3 s
        $this->waitUntil(fn () => Http::get($s->url('/thing'))->status === 200, 3.0, 'the rate-limit window to end');
    }

    public function testNoRateLimitByDefault(): void
    {
        $s = $this->server('errors');
        $sock = Http::connect($s->port());
        for ($i = 0; $i < 150; $i++) {
            fwrite($sock, "GET /thing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            $resp = Http::readResponse($sock);
            if (!str_starts_with($resp, 'HTTP/1.1 200')) {
                $this->fail("request $i got: $resp");
            }
        }
        fclose($sock);
        $this->addToAssertionCount(1);
    }

    public function testErrorHandlerGetsNotFound(): void
    {
        $s = $this->server('errors', ['handler']);
        $r = Http::get($s->url('/nope/x'));
        $this->assertResponse(404, 'custom NOT_FOUND /nope/x', $r, ['X-Error-Type' => 'NOT_FOUND']);
        $this->assertSame('"NOT_FOUND"', $s->waitForLine('/^event error (.*)$/', 2.0)[1]);
        // the handler returns null: the default answer is sent
        $this->assertResponse(404, '404 Not Found', Http::get($s->url('/fallback/x')), ['X-Server-Response-Type' => 'NOT_FOUND']);
    }

    public function testErrorHandlerGetsRequestLimit(): void
    {
        $s = $this->server('errors', ['handler', 'limit=1']);
        $this->assertResponse(200, 'thing', Http::get($s->url('/thing')));
        $this->assertResponse(429, 'custom REQUEST_LIMIT /thing', Http::get($s->url('/thing')), ['X-Error-Type' => 'REQUEST_LIMIT']);
        $this->assertResponse(429, 'Rate limit exceeded. Try again later.', Http::get($s->url('/fallback')));
    }

    public function testErrorHandlerGetsNotConnected(): void
    {
        $s = $this->server('errors', ['handler', 'required', 'hooks']);
        $this->assertResponse(401, 'custom NOT_CONNECTED /thing', Http::get($s->url('/thing')), ['X-Error-Type' => 'NOT_CONNECTED']);
        $this->assertResponse(400, 'Client is not connected.', Http::get($s->url('/fallback')), ['X-Server-Response-Type' => 'NOT_CONNECTED']);
    }

    public function testConnectionRequiredWithDefaultConnectAndDisconnect(): void
    {
        $s = $this->server('errors', ['required', 'hooks']);
        $this->assertResponse(400, 'Client is not connected.', Http::get($s->url('/thing')), ['X-Server-Response-Type' => 'NOT_CONNECTED']);
        $r = Http::get($s->url('/connect'));
        $this->connectBug($r);
        $this->assertResponse(200, 'Client successfully connected.', $r, ['X-Server-Response-Type' => 'CONNECTED']);
        $this->assertResponse(200, 'thing', Http::get($s->url('/thing')));
        // a 404 is a 404 once connected
        $this->assertResponse(404, '404 Not Found', Http::get($s->url('/nope')));
        $this->assertResponse(200, 'Client successfully disconnected.', Http::get($s->url('/disconnect')), ['X-Server-Response-Type' => 'DISCONNECTED']);
        $this->assertResponse(400, 'Client is not connected.', Http::get($s->url('/thing')));
    }

    public function testConnectAndDisconnectCallbacksReceiveClients(): void
    {
        $s = $this->server('errors', ['required', 'callbacks']);
        $r = Http::get($s->url('/connect'));
        $this->assertSame(200, $r->status, (string) $r);
        $clients = json_decode($s->waitForLine('/^event connect (.*)$/', 2.0)[1], true);
        $this->assertIsArray($clients);
        $this->assertStringContainsString('127.0.0.1', json_encode($clients), 'the connected client list names 127.0.0.1');
        $this->assertResponse(200, 'thing', Http::get($s->url('/thing')));
        $this->assertSame(200, Http::get($s->url('/disconnect'))->status);
        $clients = json_decode($s->waitForLine('/^event disconnect (.*)$/', 2.0)[1], true);
        $this->assertIsArray($clients);
        $this->assertResponse(400, 'Client is not connected.', Http::get($s->url('/thing')));
    }

    public function testWithoutConnectionRequiredEverythingIsServed(): void
    {
        $s = $this->server('errors', ['hooks']);
        $this->assertResponse(200, 'thing', Http::get($s->url('/thing')));
        $r = Http::get($s->url('/connect'));
        $this->connectBug($r);
        $this->assertResponse(200, 'Client successfully connected.', $r);
    }

    public function testOnAndOffMarkClients(): void
    {
        $s = $this->server('errors', ['required', 'preconnect', 'hooks']);
        // on('127.0.0.1') before run(): no /connect needed
        $this->assertResponse(200, 'thing', Http::get($s->url('/thing')));
        $this->assertResponse(200, 'off', Http::get($s->url('/off')));
        $this->assertResponse(400, 'Client is not connected.', Http::get($s->url('/thing')));
        $r = Http::get($s->url('/connect'));
        $this->connectBug($r);
        $this->assertResponse(200, 'Client successfully connected.', $r);
        // off() without an address: the server's own IP, 127.0.0.1 here
        $this->assertResponse(200, 'off-default', Http::get($s->url('/off-default')));
        $this->assertResponse(400, 'Client is not connected.', Http::get($s->url('/thing')));
    }
}
