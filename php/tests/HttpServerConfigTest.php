<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\ServerProcess;
use HttpSock\Tests\Support\ServerTestCase;

/**
 * Constructor forms, autostart/start, getters, setters, isPortFree, freePortIfStuck,
 * setTimeout, setMaxProcesses, setHeader(s), debug, $guid. Fixture: fixtures/config.php.
 */
final class HttpServerConfigTest extends ServerTestCase
{
    private function state(ServerProcess $s): array
    {
        return json_decode($s->waitForLine('/^event state (.*)$/', 2.0)[1], true, 512, JSON_THROW_ON_ERROR);
    }

    public function testConstructorWithAddressAndPortAutostarts(): void
    {
        $s = $this->server('config', ['mode=ip']);
        $st = $this->state($s);
        $this->assertTrue($st['connected'], 'isConnected() after autostart');
        $this->assertFalse($st['free'], 'isPortFree() while listening');
        $this->assertSame(['address' => '127.0.0.1', 'port' => $s->port()], $st['address']);
        $this->assertResponse(200, 'ok', Http::get($s->url('/')), ['Content-Type' => 'text/plain']);
    }

    public function testConstructorWithTcpConnectionString(): void
    {
        $s = $this->server('config', ['mode=tcp']);
        $st = $this->state($s);
        $this->assertTrue($st['connected']);
        $this->assertSame('127.0.0.1', $st['address']['address']);
        $this->assertSame($s->port(), $st['address']['port']);
        $this->assertResponse(200, 'ok', Http::get($s->url('/')));
    }

    public function testConstructorWithHostname(): void
    {
        $s = $this->server('config', ['mode=localhost']);
        $st = $this->state($s);
        $this->assertTrue($st['connected']);
        $this->assertSame($s->port(), $st['address']['port']);
        $this->assertResponse(200, 'ok', Http::get($s->url('/')));
    }

    public function testConstructorWithContextOptionsArray(): void
    {
        $s = $this->server('config', ['mode=options']);
        $this->assertTrue($this->state($s)['connected']);
        $this->assertResponse(200, 'ok', Http::get($s->url('/')));
    }

    public function testNoAutostartThenStartIsIdempotent(): void
    {
        $s = $this->server('config', ['mode=lazy']);
        $st = $this->state($s);
        $this->assertFalse($st['connected_before'], 'isConnected() before start()');
        $this->assertTrue($st['free_before'], 'isPortFree() is true while nothing listens');
        $this->assertTrue($st['start_returns_self']);
        $this->assertTrue($st['second_start_returns_self'], 'a second start() returns the server');
        $this->assertTrue($st['same_port_after_second_start'], 'a second start() keeps the socket');
        $this->assertTrue($st['connected']);
        $this->assertFalse($st['free']);
        $this->assertResponse(200, 'ok', Http::get($s->url('/')));
    }

    public function testGettersAndGuid(): void
    {
        $st = $this->state($this->server('config'));
        $this->assertTrue($st['id_is_int'], 'getId() returns an int');
        $this->assertGreaterThan(0, $st['id']);
        $this->assertSame('258EAFA5-E914-47DA-95CA-C5AB0DC85B11', $st['guid']);
        $this->assertTrue($st['fluent'], 'debug/websocket/connectionRequired/setRateLimit/setMaxProcesses return the server');
    }

    public function testSetMaxProcessesThrowsOnNonPositive(): void
    {
        $st = $this->state($this->server('config'));
        // the documented RuntimeException (Luminova's name), by its cause: an invalid argument
        foreach (['0', '-3'] as $bad) {
            $this->assertTrue($st["max_processes_{$bad}_is_runtime"], $st["max_processes_{$bad}"]);
            $this->assertSame('HttpSock\\Exceptions\\InvalidArgumentException', $st["max_processes_{$bad}"]);
        }
    }

    public function testSetHeaderAndSetHeadersAreSentWithEveryResponse(): void
    {
        $s = $this->server('config', ['headers']);
        $this->assertTrue($this->state($s)['fluent_headers']);
        $r = Http::get($s->url('/'));
        $this->assertResponse(200, 'ok', $r, [
            'X-Test-One' => 'one',
            'X-Test-Two' => 'two',
            'X-Test-Three' => '3',
            // setHeaders() replaced the earlier defaults, the CORS ones included
            'X-Gone' => null,
            'Access-Control-Allow-Origin' => null,
        ]);
        // without setHeaders() the CORS defaults are there
        $plain = Http::get($this->server('config')->url('/'));
        $this->assertResponse(200, 'ok', $plain, [
            'Access-Control-Allow-Origin' => '*',
            'Access-Control-Allow-Methods' => 'GET, POST, OPTIONS',
            'Access-Control-Allow-Headers' => 'Content-Type',
        ]);
        // the 404 default answer carries them too
        $this->assertResponse(404, '404 Not Found', Http::get($s->url('/nope')), ['X-Test-Two' => 'two']);
        // a header the handler sets wins over the server default of the same name
        $this->assertResponse(200, 'own', Http::get($s->url('/own')), ['X-Test-One' => 'mine']);
    }

    public function testSetTimeoutClosesIdleConnections(): void
    {
        $s = $this->server('config', ['timeout=1']);
        $this->assertTrue($this->state($s)['fluent_timeout']);
        $sock = Http::connect($s->port());
        // one request on the keep-alive connection, then silence
        fwrite($sock, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        $resp = Http::readResponse($sock, 5.0);
        $this->assertStringStartsWith('HTTP/1.1 200', $resp);
        $t0 = microtime(true);
        $r = [$sock];
        $w = $e = null;
        $this->assertSame(1, stream_select($r, $w, $e, 5), 'the idle connection is closed within 5 s');
        $this->assertSame('', (string) fread($sock, 10));
        $this->assertTrue(feof($sock));
        $idle = microtime(true) - $t0;
        $this->assertGreaterThan(0.7, $idle, 'not closed before the timeout');
        $this->assertLessThan(3.0, $idle, 'closed soon after the 1 s timeout');
        fclose($sock);
    }

    public function testWithoutSetTimeoutIdleConnectionStaysOpen(): void
    {
        $s = $this->server('config');
        $sock = Http::connect($s->port());
        fwrite($sock, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        $this->assertStringStartsWith('HTTP/1.1 200', Http::readResponse($sock));
        $r = [$sock];
        $w = $e = null;
        $this->assertSame(0, stream_select($r, $w, $e, 2), 'default idle timeout is 60 s: still open after 2 s');
        fwrite($sock, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        $this->assertStringEndsWith("\r\n\r\nok", Http::readResponse($sock));
        fclose($sock);
    }

    public function testDebugWritesRequestLines(): void
    {
        $s = $this->server('config', ['debug']);
        Http::get($s->url('/debug-probe'));
        $this->waitUntil(
            fn () => str_contains($s->stderr() . $s->stdout(), '/debug-probe'),
            5.0,
            'a debug line naming the request path'
        );
        $quiet = $this->server('config');
        Http::get($quiet->url('/debug-probe'));
        Http::get($quiet->url('/'));
        $this->assertStringNotContainsString('/debug-probe', $quiet->stderr() . $quiet->stdout(), 'no debug output by default');
    }

    public function testIsPortFreeAndFreePortIfStuck(): void
    {
        // a process of ours that holds a port and never answers: the "stuck" one
        $stuck = $this->script(HS_FIXTURES . '/stuck_listener.php', 0);
        $port = $stuck->port();
        $s = $this->server('ports', ["check=$port"]);
        $st = json_decode($s->waitForLine('/^event ports (.*)$/', 2.0)[1], true);
        $this->assertFalse($st['in_use_port_free'], 'isPortFree() of a port something listens on');
        $this->assertTrue($st['unused_port_free'], 'isPortFree() of a port nothing listens on');
        $this->assertFalse($st['free_unused'], 'freePortIfStuck() with nothing to free');
        $this->assertTrue($st['free_stuck'], 'freePortIfStuck() ended the holder');
        $this->assertNotNull($stuck->waitExit(5.0), 'the stuck listener is gone');
        $this->assertTrue($st['stuck_port_free_after'], 'the port is free afterwards');
        // and the server itself is still fine
        $this->assertResponse(200, 'ok', Http::get($s->url('/')));
    }
}
