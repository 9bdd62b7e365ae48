<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\ServerTestCase;

/**
 * A handler that throws (or errors, or returns something unusable) gives 500 and the server
 * goes on. Fixture: fixtures/exceptions.php.
 */
final class ExceptionsTest extends ServerTestCase
{
    public function testThrowingHandlersGive500AndTheServerGoesOn(): void
    {
        $s = $this->server('exceptions');
        foreach (['/throw', '/error', '/type-error'] as $path) {
            $r = Http::get($s->url($path));
            $this->assertResponse(500, 'An error occurred on the server.', $r, ['X-Server-Response-Type' => 'SERVER_ERROR']);
            $this->assertResponse(200, 'still alive', Http::get($s->url('/ok')), [], "after $path");
        }
        $r = Http::post($s->url('/throw-after-read'), 'a=1', ['Content-Type' => 'application/x-www-form-urlencoded']);
        $this->assertResponse(500, 'An error occurred on the server.', $r);
        $this->assertTrue($s->isRunning());
        $this->assertResponse(200, 'still alive', Http::get($s->url('/ok')));
    }

    public function testDebugReportsTheException(): void
    {
        $s = $this->server('exceptions', ['debug']);
        $this->assertSame(500, Http::get($s->url('/throw'))->status);
        $this->waitUntil(fn () => str_contains($s->stderr() . $s->stdout(), 'boom from the handler'), 3.0, 'the exception message in the debug output');
    }

    public function testUnusableReturnValuesGive500(): void
    {
        $s = $this->server('exceptions');
        $this->assertResponse(500, 'An error occurred on the server.', Http::get($s->url('/bad-return')));
        $this->assertResponse(500, 'An error occurred on the server.', Http::get($s->url('/bad-raw')));
        $this->assertResponse(200, 'still alive', Http::get($s->url('/ok')));
    }

    public function testManyExceptionsInARowOnOneConnection(): void
    {
        $s = $this->server('exceptions');
        $sock = Http::connect($s->port());
        for ($i = 0; $i < 20; $i++) {
            fwrite($sock, "GET /throw HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            $this->assertStringStartsWith('HTTP/1.1 500', Http::readResponse($sock));
        }
        fclose($sock);
        $this->assertResponse(200, 'still alive', Http::get($s->url('/ok')));
    }

    public function testThrowingErrorHandlerFallsBackToTheDefault(): void
    {
        $s = $this->server('exceptions', ['handler']);
        $r = Http::get($s->url('/nope'));
        $this->assertContains($r->status, [404, 500], (string) $r);
        $this->assertResponse(200, 'still alive', Http::get($s->url('/ok')));
    }
}
