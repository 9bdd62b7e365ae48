<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\ServerProcess;
use HttpSock\Tests\Support\ServerTestCase;

/**
 * What a handler may return: a Response object, a raw HTTP string, another string (200
 * text/html), an array (JSON), null (the default response). Fixture: fixtures/returns.php.
 */
final class ResponseTest extends ServerTestCase
{
    private static ?ServerProcess $shared = null;

    private function s(): ServerProcess
    {
        if (self::$shared === null || !self::$shared->isRunning()) {
            self::$shared = ServerProcess::fixture('returns');
        }
        return self::$shared;
    }

    public static function tearDownAfterClass(): void
    {
        self::$shared?->stop();
        self::$shared = null;
    }

    public function testResponseObject(): void
    {
        $r = Http::get($this->s()->url('/object'));
        $this->assertResponse(201, 'created', $r, ['Content-Type' => 'text/plain', 'X-Custom' => 'yes', 'Content-Length' => '7']);
        $this->assertSame('Created', $r->reason);
    }

    public function testResponseObjectWithArrayBodyIsJson(): void
    {
        $r = Http::get($this->s()->url('/object-json'));
        $this->assertResponse(200, null, $r, ['Content-Type' => 'application/json']);
        $this->assertSame(['a' => 1, 'b' => [true, null]], $r->json());
    }

    public function testRawHttpString(): void
    {
        $r = Http::get($this->s()->url('/raw'));
        $this->assertResponse(202, 'raw body', $r, ['Content-Type' => 'text/plain', 'X-Raw' => '1', 'Content-Length' => '8']);
    }

    public function testRawHttpStringExactlyAsDocumented(): void
    {
        // "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\Hello World!": in PHP "\H" is no
        // escape, so the string holds a backslash: the head ends at "\r\n\r" (the engine's
        // leniency) and the body is "\Hello World!", as with Luminova
        $r = Http::get($this->s()->url('/raw-doc'));
        $this->assertResponse(200, '\\Hello World!', $r, ['Content-Type' => 'text/plain']);
    }

    public function testOtherStringIs200Html(): void
    {
        $r = Http::get($this->s()->url('/string'));
        $this->assertResponse(200, '<b>just a string</b>', $r);
        $this->assertStringStartsWith('text/html', (string) $r->header('Content-Type'));
        $this->assertResponse(200, '', Http::get($this->s()->url('/empty-string')));
    }

    public function testArrayIsJson(): void
    {
        $r = Http::get($this->s()->url('/array'));
        $this->assertSame(200, $r->status);
        $this->assertStringStartsWith('application/json', (string) $r->header('Content-Type'));
        $this->assertSame(['ok' => true, 'list' => [1, 2, 3], 'text' => 'é/"'], $r->json());
    }

    public function testNullAndVoidGiveTheDefaultResponse(): void
    {
        foreach (['/null', '/void'] as $path) {
            $r = Http::get($this->s()->url($path));
            $this->assertResponse(200, 'Hello world!', $r, ['X-Server-Response-Type' => 'DEFAULT']);
        }
    }

    public function testStatusCodesAndReasons(): void
    {
        $this->assertResponse(404, 'status 404', Http::get($this->s()->url('/status/404')));
        $this->assertResponse(503, 'status 503', Http::get($this->s()->url('/status/503')));
        $r = Http::get($this->s()->url('/status/418'));
        $this->assertResponse(418, 'status 418', $r);
    }

    public function testListHeaderValueIsSentOncePerItem(): void
    {
        $r = Http::get($this->s()->url('/multi-header'));
        $this->assertResponse(200, 'cookies', $r);
        $this->assertSame(['a=1', 'b=2'], $r->headers['set-cookie'] ?? null);
    }

    public function testLargeBody(): void
    {
        $r = Http::get($this->s()->url('/big'));
        $this->assertSame(200, $r->status);
        $this->assertSame(1000000, strlen($r->body));
        $this->assertSame(str_repeat('0123456789', 100000), $r->body);
    }
}
