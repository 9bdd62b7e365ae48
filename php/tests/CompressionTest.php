<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\ServerTestCase;

/**
 * WebSocket compression through the PHP wrapper (permessage-deflate, websocketCompression()):
 * negotiated by default with Python websockets (which offers it), over ws and wss; off with
 * websocketCompression(false); messages reach the PHP handler uncompressed. Fixture:
 * fixtures/tls.php (a plain server without a certificate).
 */
final class CompressionTest extends ServerTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        $header = (string) @file_get_contents(HS_TEST_ROOT . '/include/httpsock_ffi.h');
        if (!str_contains($header, 'hs_set_ws_deflate')) {
            $this->markTestSkipped('this libhttpsock has no hs_set_ws_deflate yet (permessage-deflate not merged)');
        }
    }

    /** @return array{answers: list<string>, extensions: ?string} */
    private function python(string $url, string ...$messages): array
    {
        [$code, $out, $err] = Http::run(array_merge(['python3', __DIR__ . '/Support/wss_client.py', $url], $messages), '', 30.0);
        $this->assertSame(0, $code, "python websockets: $out $err");
        return json_decode($out, true, 512, JSON_THROW_ON_ERROR);
    }

    public function testNegotiatedByDefault(): void
    {
        $s = $this->server('tls', ['addr=ip']);
        $big = str_repeat('{"user":"ann","text":"hello, compressible world"}', 2000);
        $result = $this->python($s->wsUrl('/ws'), 'short', $big);
        $this->assertStringContainsString('permessage-deflate', (string) $result['extensions']);
        $this->assertSame(['short', $big], $result['answers'], 'the handler saw, and answered, the messages uncompressed');
    }

    public function testTurnedOff(): void
    {
        $s = $this->server('tls', ['addr=ip', 'deflate=0']);
        $result = $this->python($s->wsUrl('/ws'), 'plain');
        $this->assertNull($result['extensions'], 'websocketCompression(false): not negotiated');
        $this->assertSame(['plain'], $result['answers']);
    }
}
