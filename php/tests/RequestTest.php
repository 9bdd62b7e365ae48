<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\HttpResponse;
use HttpSock\Tests\Support\ServerProcess;
use HttpSock\Tests\Support\ServerTestCase;

/**
 * The request object handed to handlers: every getter, with form, JSON and multipart bodies.
 * Fixture: fixtures/request.php (answers with what each getter returned, as JSON).
 */
final class RequestTest extends ServerTestCase
{
    private static ?ServerProcess $shared = null;

    private function s(): ServerProcess
    {
        if (self::$shared === null || !self::$shared->isRunning()) {
            self::$shared = ServerProcess::fixture('request');
        }
        return self::$shared;
    }

    public static function tearDownAfterClass(): void
    {
        self::$shared?->stop();
        self::$shared = null;
    }

    private function echo(string $method, string $path, array $headers = [], ?string $body = null, array $curl = []): array
    {
        $r = Http::request($method, $this->s()->url($path), $headers, $body, $curl);
        $this->assertSame(200, $r->status, (string) $r);
        $this->assertStringStartsWith('application/json', (string) $r->header('Content-Type'));
        return $r->json();
    }

    public function testPortWithoutAHostHeaderIsTheServersPort(): void
    {
        // HTTP/1.0 needs no Host: getPort() falls back to the port the server listens on (set
        // on the native server itself, which the fast path reads).
        $port = $this->s()->port();
        $fp = stream_socket_client("tcp://127.0.0.1:{$port}", $errno, $errstr, 5);
        $this->assertNotFalse($fp, $errstr);
        fwrite($fp, "GET /echo/x/y HTTP/1.0\r\n\r\n");
        stream_set_timeout($fp, 5);
        $raw = stream_get_contents($fp);
        fclose($fp);
        $this->assertStringStartsWith('HTTP/1.0 200', (string) $raw);
        $e = json_decode(substr($raw, strpos($raw, "\r\n\r\n") + 4), true);
        $this->assertSame($port, $e['port']);
        $this->assertSame(['x', 'y'], $e['args']);
    }

    public function testGetWithQueryHeadersAndCaptures(): void
    {
        $port = $this->s()->port();
        $e = $this->echo('GET', '/echo/one/two?q=hello&list%5B%5D=1&list%5B%5D=2', [
            'X-Test' => 'v',
            'Authorization' => 'Bearer tok',
            'X-Requested-With' => 'XMLHttpRequest',
        ]);
        $this->assertSame(['one', 'two'], $e['args'], '{a}/{b} captures are extra handler arguments');
        $this->assertSame('get', $e['method']);
        $this->assertSame('/echo/one/two?q=hello&list%5B%5D=1&list%5B%5D=2', $e['uri']);
        $this->assertSame('/echo/one/two', $e['paths']);
        $this->assertSame('q=hello&list%5B%5D=1&list%5B%5D=2', $e['query']);
        $this->assertSame(['q' => 'hello', 'list' => ['1', '2']], $e['queries']);
        $this->assertSame('hello', $e['get_q']);
        $this->assertSame('dflt', $e['get_missing']);
        $this->assertSame(['q' => 'hello', 'list' => ['1', '2']], $e['get_all']);
        $this->assertNull($e['post_name']);
        $this->assertSame([], $e['body']);
        $this->assertSame('', $e['string']);
        $this->assertSame('', $e['cast']);
        $this->assertSame([], $e['files']);
        $this->assertNull($e['file']);
        $this->assertSame('', $e['content_type']);
        $this->assertSame('Bearer tok', $e['auth']);
        $this->assertSame('v', $e['header_x_test']);
        $this->assertSame('v', $e['header_x_test_lower'], 'getHeader() is case-insensitive');
        $this->assertNull($e['header_missing']);
        $this->assertSame('v', $e['headers']['X-Test'] ?? null, 'getHeaders(): Canonical-Name => value');
        $this->assertSame('Bearer tok', $e['headers']['Authorization'] ?? null);
        $this->assertSame("127.0.0.1:$port", $e['headers']['Host'] ?? null);
        $this->assertSame('127.0.0.1', $e['host']);
        $this->assertSame($port, (int) $e['port']);
        $this->assertSame('http', $e['scheme']);
        $this->assertSame('HTTP/1.1', $e['protocol']);
        $this->assertFalse($e['secure']);
        $this->assertTrue($e['ajax']);
        $this->assertTrue($e['is_get']);
        $this->assertFalse($e['is_post']);
        $this->assertFalse($e['is_put']);
    }

    /** A Request as the fast trampoline makes it: fields set in Message's scope. */
    private static function spanned(string $head, int $offset, int $start, int $len): \HttpSock\Http\Request
    {
        return \Closure::bind(static function () use ($head, $offset, $start, $len) {
            $request = new \HttpSock\Http\Request();
            $request->head = $head;
            $request->offset = $offset;
            $request->spans = $start << 42;
            $request->lengths = $len << 42;
            return $request;
        }, null, \HttpSock\Http\Message::class)();
    }

    /**
     * getHeader() before any other header getter looks the one field up in the packed block
     * instead of parsing all of them: it must give what the full parse gives, repeated fields
     * joined, for names in any case and names that cannot match.
     */
    public function testOneHeaderLookupAgreesWithTheFullParse(): void
    {
        $blocks = [
            "host: x\r\nx-req-id: 7\r\n",
            "x-req-id: a\r\nhost: x\r\nx-req-id:  b\r\n",
            '',
            "x-req-idx: 1\r\nx-req-id: 2\r\n",
            "a: 1\r\nx-req-id:\r\n",
            "x-req-id: v: with colon\r\n",
        ];
        // A unit check of the pure-PHP Request class: loading it here starts no engine.
        require_once HS_PHP_ROOT . '/autoload.php';
        $names = ['X-Req-Id', 'host', 'x-req-idx', 'missing', 'a', '', 'x:y', "host\r\n", 'X-REQ-ID'];
        $checked = 0;
        foreach ($blocks as $block) {
            foreach ($names as $name) {
                $wire = array_fill(0, \HttpSock\Http\Wire::FIELDS, '');
                $wire[\HttpSock\Http\Wire::METHOD] = 'GET';
                $wire[\HttpSock\Http\Wire::HEADERS] = $block;
                $head = implode("\0", $wire);
                $fast = \HttpSock\Http\Request::fromHead($head)->getHeader($name);
                $full = \HttpSock\Http\Request::parseHeaders($block)[strtolower($name)] ?? null;
                $this->assertSame($full, $fast, json_encode([$block, $name]));
                // The engine's fast path: the block found by its span in a head with captures
                // before it and after it, not split out of the head.
                $prefix = "17\0";
                $inHead = $prefix . $head . "\0id\0" . "17\0";
                $start = strlen($prefix) + strlen(implode("\0", array_slice($wire, 0, \HttpSock\Http\Wire::HEADERS))) + 1;
                $this->assertSame($full, self::spanned($inHead, strlen($prefix), $start, strlen($block))->getHeader($name), json_encode(['span', $block, $name]));
                $checked += $fast !== null ? 1 : 0;
            }
        }
        $this->assertSame(14, $checked, 'lookups that found a value');
    }

    public function testNotAjaxWithoutTheHeader(): void
    {
        $e = $this->echo('GET', '/echo');
        $this->assertFalse($e['ajax']);
        $this->assertNull($e['auth']);
        $this->assertSame([], $e['args']);
        $this->assertSame('', $e['query']);
        $this->assertSame('/echo', $e['uri']);
    }

    public function testPostForm(): void
    {
        $e = $this->echo('POST', '/echo', ['Content-Type' => 'application/x-www-form-urlencoded'], 'name=Ann&age=3&tags%5B%5D=a&tags%5B%5D=b');
        $this->assertSame('post', $e['method']);
        $this->assertSame('Ann', $e['post_name']);
        $expected = ['name' => 'Ann', 'age' => '3', 'tags' => ['a', 'b']];
        $this->assertSame($expected, $e['post_all']);
        $this->assertSame($expected, $e['body']);
        $this->assertSame('name=Ann&age=3&tags%5B%5D=a&tags%5B%5D=b', $e['string']);
        $this->assertSame($e['string'], $e['cast'], '__toString() is toString()');
        $this->assertSame('application/x-www-form-urlencoded', $e['content_type']);
        $this->assertNull($e['put_name'], 'getPut() of a POST request');
        $this->assertTrue($e['is_post']);
        $this->assertFalse($e['is_get']);
    }

    public function testPostJson(): void
    {
        $json = '{"name":"Bob","n":[1,2],"o":{"k":"v"}}';
        $e = $this->echo('POST', '/echo', ['Content-Type' => 'application/json'], $json);
        $this->assertSame(['name' => 'Bob', 'n' => [1, 2], 'o' => ['k' => 'v']], $e['body']);
        $this->assertSame('Bob', $e['post_name']);
        $this->assertSame($json, $e['string']);
        $this->assertSame('application/json', $e['content_type']);
    }

    public function testPutAndPatchFieldsThroughCall(): void
    {
        $e = $this->echo('PUT', '/echo', ['Content-Type' => 'application/x-www-form-urlencoded'], 'name=Carl');
        $this->assertSame('put', $e['method']);
        $this->assertSame('Carl', $e['put_name']);
        $this->assertNull($e['patch_name']);
        $this->assertNull($e['post_name'], 'getPost() of a PUT request');
        $this->assertTrue($e['is_put']);
        $this->assertTrue($e['is_put_upper'], 'isMethod() ignores case');

        $e = $this->echo('PATCH', '/echo/x/y', ['Content-Type' => 'application/json'], '{"name":"Dee"}');
        $this->assertSame('Dee', $e['patch_name']);
        $this->assertSame('dflt', $e['patch_missing']);
        $this->assertSame(['x', 'y'], $e['args']);
    }

    public function testMultipartFieldsAndFiles(): void
    {
        $tmp = tempnam(sys_get_temp_dir(), 'hs-upload-');
        file_put_contents($tmp, "line one\nline two\n");
        try {
            $r = Http::request('POST', $this->s()->url('/echo'), [], null, [
                '-F', 'name=Eve',
                '-F', "upload=@$tmp;type=text/plain;filename=a.txt",
            ]);
        } finally {
            unlink($tmp);
        }
        $this->assertSame(200, $r->status, (string) $r);
        $e = $r->json();
        $this->assertStringStartsWith('multipart/form-data; boundary=', $e['content_type']);
        $this->knownBug($e['post_all'] === [] && $e['files'] === [], 'multipart bodies give no fields and no files: Request::parseMultipart reads $head[\'content-disposition\'] and $head[\'content-type\'], but Request::parseHeaders keeps the case the client sent ("Content-Disposition")');
        $this->assertSame('Eve', $e['post_name']);
        $this->assertSame('Eve', $e['body']['name'] ?? null);
        $this->assertSame(['name' => 'a.txt', 'type' => 'text/plain', 'size' => 18, 'error' => 0, 'contents' => "line one\nline two\n"], $e['file']);
        $this->assertCount(1, $e['files']['upload'] ?? []);
        $f = $e['files']['upload'][0];
        $this->assertSame('a.txt', $f['name']);
        $this->assertSame('text/plain', $f['type']);
        $this->assertSame(18, $f['size']);
        $this->assertSame(0, $f['error']);
    }

    public function testHttp10Protocol(): void
    {
        $raw = Http::raw($this->s()->port(), "GET /echo HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        $r = HttpResponse::parse($raw);
        $this->assertSame(200, $r->status, $raw);
        $this->assertSame('HTTP/1.0', $r->json()['protocol']);
    }

    public function testSchemeAndSecureOfAPlainConnection(): void
    {
        // A plain connection is http; from a loopback peer (a reverse proxy on this machine)
        // X-Forwarded-Proto: https makes it https (WireTest covers a remote peer, which is not
        // believed; TlsTest covers TLS).
        $e = $this->echo('GET', '/echo');
        $this->assertSame('http', $e['scheme']);
        $this->assertFalse($e['secure']);
        $this->assertSame('HTTP/1.1', $e['protocol']);
        $e = $this->echo('GET', '/echo', ['X-Forwarded-Proto' => 'https']);
        $this->assertSame('https', $e['scheme']);
        $this->assertTrue($e['secure']);
        $this->assertSame('https', $e['headers']['X-Forwarded-Proto'], 'the header itself is there to read');
    }
}
