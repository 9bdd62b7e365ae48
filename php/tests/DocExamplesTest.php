<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\ServerProcess;
use HttpSock\Tests\Support\ServerTestCase;
use HttpSock\Tests\Support\SioNode;
use HttpSock\Tests\Support\WsClient;
use HttpSock\Tests\Support\WsHandshakeFailed;

/**
 * The documentation's examples as written (php/examples/docs/*.php, one script per example):
 * each is started on a free port and checked for what the documentation says it does, then
 * stopped with SIGTERM (exit 0, nothing on stderr but its own logging).
 */
final class DocExamplesTest extends ServerTestCase
{
    private const DIR = HS_PHP_ROOT . '/examples/docs';

    private function doc(string $name, array $env = []): ServerProcess
    {
        $path = self::DIR . "/$name.php";
        if (!is_file($path)) {
            $this->fail("missing documentation example $path");
        }
        return $this->script($path, 0, [], $env);
    }

    private function assertNoPhpError(ServerProcess $s): void
    {
        $err = $s->stderr();
        foreach (['PHP Fatal', 'PHP Warning', 'PHP Notice', 'PHP Deprecated', 'Fatal error', 'panicked', 'Uncaught'] as $bad) {
            $this->assertStringNotContainsString($bad, $err, $s->describe());
        }
    }

    private function assertStopsCleanly(ServerProcess $s, int $sig = SIGTERM): void
    {
        $end = $s->stop($sig, 5.0);
        $this->assertFalse($end['killed'], 'stopped without SIGKILL: ' . $s->describe());
        $this->assertNull($end['signal'], 'exited rather than died of the signal');
        $this->assertSame(0, $end['code']);
        $this->assertNoPhpError($s);
    }

    public static function allExamples(): array
    {
        $out = [];
        foreach (glob(self::DIR . '/[a-z]*.php') ?: [] as $f) {
            $name = basename($f, '.php');
            if ($name !== 'graceful_shutdown') {
                $out[$name] = [$name];
            }
        }
        return $out;
    }

    /** @dataProvider allExamples */
    public function testEveryExampleStartsAndStopsCleanly(string $name): void
    {
        $s = $this->doc($name);
        $this->assertGreaterThan(0, $s->port());
        // it answers HTTP (whatever the route table says: at least the engine answers)
        $r = Http::get($s->url('/__probe__'));
        $this->assertContains($r->status, [200, 400, 404], (string) $r);
        $this->assertStopsCleanly($s);
    }

    public function testExamplesExist(): void
    {
        $this->assertGreaterThanOrEqual(20, count(self::allExamples()), 'one script per documentation example');
    }

    public function testBasicSetup(): void
    {
        $s = $this->doc('basic_setup');
        $this->assertResponse(404, '404 Not Found', Http::get($s->url('/')), ['X-Server-Response-Type' => 'NOT_FOUND']);
    }

    public function testGetWithResponseObject(): void
    {
        $s = $this->doc('get_response_object');
        $this->assertResponse(200, '<h1>Hello, World!</h1>', Http::get($s->url('/')), ['Content-Type' => 'text/html']);
    }

    public function testGetWithRawString(): void
    {
        $s = $this->doc('get_raw_string');
        // the documented string "...\r\n\r\Hello World!" holds a backslash (PHP has no \H escape)
        $this->assertResponse(200, '\\Hello World!', Http::get($s->url('/')), ['Content-Type' => 'text/plain']);
    }

    public function testPutThroughCall(): void
    {
        $s = $this->doc('put_call');
        $this->assertResponse(200, 'Post was created', Http::request('PUT', $s->url('/post'), [], 'x'), ['Content-Type' => 'text/plain']);
        $this->assertResponse(404, '404 Not Found', Http::get($s->url('/post')));
    }

    public function testPost(): void
    {
        $s = $this->doc('post');
        $form = ['Content-Type' => 'application/x-www-form-urlencoded'];
        $this->assertResponse(200, 'Hello, Ann!', Http::post($s->url('/hello'), 'name=Ann', $form));
        $this->assertResponse(200, 'Hello, stranger!', Http::post($s->url('/hello'), '', $form));
    }

    public function testRoute(): void
    {
        $s = $this->doc('route');
        foreach (['GET', 'POST', 'PUT'] as $m) {
            $this->assertResponse(200, "$m /item", Http::request($m, $s->url('/item'), [], $m === 'GET' ? null : ''));
        }
        $this->assertResponse(404, '404 Not Found', Http::request('DELETE', $s->url('/item')));
    }

    public function testPing(): void
    {
        $s = $this->doc('ping');
        $r = Http::get($s->url('/ping'));
        $this->knownBug(str_starts_with($r->body, '[200,'), 'GET /ping answers the JSON array [200,"Content-Type: text/plain\\r\\nX-Server-Response-Type: PING\\r\\n","PONG"]');
        $this->assertResponse(200, 'PONG', $r, ['X-Server-Response-Type' => 'PING']);
    }

    public function testError(): void
    {
        $s = $this->doc('error');
        $this->assertResponse(404, 'No page at /nothing/here', Http::get($s->url('/nothing/here')), ['Content-Type' => 'text/plain']);
    }

    public function testConnectionRequired(): void
    {
        $s = $this->doc('connection_required');
        $this->assertResponse(400, 'Client is not connected.', Http::get($s->url('/')), ['X-Server-Response-Type' => 'NOT_CONNECTED']);
        $r = Http::get($s->url('/connect'));
        $this->knownBug(str_starts_with($r->body, '[200,'), 'GET /connect answers the JSON array [200,"...CONNECTED...","Client successfully connected."]');
        $this->assertResponse(200, 'Client successfully connected.', $r);
        $this->waitUntil(fn () => str_contains($s->stderr(), '[info] Client connected'), 3.0, 'the connect callback log line');
        $this->assertResponse(200, 'Welcome, connected client!', Http::get($s->url('/')));
        $this->assertResponse(200, 'Client successfully disconnected.', Http::get($s->url('/disconnect')));
        $this->waitUntil(fn () => str_contains($s->stderr(), '[info] Client disconnected'), 3.0, 'the disconnect callback log line');
        $this->assertResponse(400, 'Client is not connected.', Http::get($s->url('/')));
    }

    public function testOnOff(): void
    {
        $s = $this->doc('on_off');
        $this->assertResponse(200, 'You are connected.', Http::get($s->url('/')));
        $this->assertResponse(200, 'Bye.', Http::get($s->url('/leave')));
        $this->assertResponse(400, 'Client is not connected.', Http::get($s->url('/')));
    }

    public function testOnResponse(): void
    {
        $s = $this->doc('on_response');
        // no route: the default 404, intercepted like every response
        $r = Http::get($s->url('/'));
        $this->assertSame(404, $r->status, (string) $r);
        $this->assertStringEndsWith('<p>Prepend Content</p>', $r->body);
    }

    public function testSetHeaders(): void
    {
        $s = $this->doc('set_headers');
        $this->assertResponse(200, 'Hello with headers', Http::get($s->url('/')), [
            'X-Frame-Options' => 'DENY',
            'Cache-Control' => 'no-store',
            'X-Powered-By' => 'httpsock',
            'Access-Control-Allow-Origin' => null,
        ]);
    }

    public function testRateLimiting(): void
    {
        $s = $this->doc('rate_limiting');
        $sock = Http::connect($s->port());
        for ($i = 1; $i <= 100; $i++) {
            fwrite($sock, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            $resp = Http::readResponse($sock);
            if (!str_starts_with($resp, 'HTTP/1.1 404')) {
                $this->fail("request $i of 100 got: $resp");
            }
        }
        fwrite($sock, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        $resp = Http::readResponse($sock);
        fclose($sock);
        $this->assertStringStartsWith('HTTP/1.1 429', $resp, 'the 101st request within 60 s');
        $this->assertStringEndsWith("\r\n\r\nRate limit exceeded. Try again later.", $resp);
    }

    public function testTimeouts(): void
    {
        $s = $this->doc('timeouts');
        $sock = Http::connect($s->port());
        $r = [$sock];
        $w = $e = null;
        $this->assertSame(0, stream_select($r, $w, $e, 1), 'an idle connection is not closed before 30 s');
        fwrite($sock, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        $this->assertStringStartsWith('HTTP/1.1 404', Http::readResponse($sock));
        fclose($sock);
    }

    public function testDebug(): void
    {
        $s = $this->doc('debug');
        Http::get($s->url('/debug-me'));
        $this->waitUntil(fn () => str_contains($s->stderr() . $s->stdout(), '/debug-me'), 3.0, 'a debug line for the request');
    }

    public function testServerInfo(): void
    {
        $s = $this->doc('server_info');
        $info = json_decode(strtok($s->stderr(), "\n"), true);
        $this->assertIsArray($info, $s->stderr());
        $this->assertTrue($info['isConnected']);
        $this->assertFalse($info['isPortFree']);
        $this->assertSame(['address' => '127.0.0.1', 'port' => $s->port()], $info['address']);
        $this->assertIsInt($info['id']);
        $this->assertNull($info['socket']);
        $this->assertSame('258EAFA5-E914-47DA-95CA-C5AB0DC85B11', $info['guid']);
    }

    public function testGracefulShutdownEndsTheScript(): void
    {
        $s = $this->doc('graceful_shutdown');
        $this->assertNotNull($s->waitExit(5.0), 'shutdown() right after start: the script ends');
        $end = $s->stop();
        $this->assertSame(0, $end['code']);
        $this->assertNoPhpError($s);
        $this->assertFalse(@stream_socket_client('tcp://127.0.0.1:' . $s->port(), $errno, $errstr, 1.0), 'the port is released');
    }

    public function testShutdownFunction(): void
    {
        foreach ([SIGTERM, SIGINT] as $sig) {
            $s = $this->doc('shutdown_function');
            // one answer first: run() is serving (a signal before run() meets PHP's defaults)
            $this->assertResponse(404, '404 Not Found', Http::get($s->url('/')));
            $this->assertStopsCleanly($s, $sig);
        }
    }

    public static function signals(): array
    {
        return ['SIGINT' => [SIGINT], 'SIGTERM' => [SIGTERM]];
    }

    /** @dataProvider signals */
    public function testSignals(int $sig): void
    {
        $s = $this->doc('signals');
        $this->assertResponse(404, '404 Not Found', Http::get($s->url('/')));
        $end = $s->stop($sig, 5.0);
        $this->assertLessThan(1.0, $end['seconds'], 'the idle server stops within a second');
        $this->assertSame(0, $end['code']);
        $this->assertNoPhpError($s);
    }

    public function testSimultaneous(): void
    {
        $s = $this->doc('simultaneous');
        // the workers bind after the readiness line (see SimultaneousTest::testConnectionRightAfterTheReadinessLine):
        // bounded polling until both exist
        $this->waitUntil(fn () => count($s->children()) === 2, 10.0, 'two worker processes');
        $pids = [];
        $deadline = microtime(true) + 10;
        while (count($pids) < 2 && microtime(true) < $deadline) {
            try {
                $raw = Http::raw($s->port(), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 2.0);
            } catch (\RuntimeException) {
                usleep(50000);
                continue;
            }
            if ($raw === '') {
                continue; // a worker still binding: the connection was dropped
            }
            $this->assertMatchesRegularExpression('/\r\n\r\nServed by worker \d+$/', $raw);
            $pids[(int) substr($raw, strrpos($raw, ' ') + 1)] = true;
        }
        $this->assertCount(2, $pids, 'two workers answer');
        $kids = $s->children();
        sort($kids);
        $pids = array_keys($pids);
        sort($pids);
        $this->assertSame($kids, $pids, 'the workers are the children of the script');
        $s->recordDescendants();
        $this->assertStopsCleanly($s);
        $this->assertSame([], $s->liveDescendants());
    }

    public function testWebSocket(): void
    {
        $s = $this->doc('websocket');
        foreach (['/ws', '/ws/room/1'] as $path) {
            $c = WsClient::connect($s->wsUrl($path));
            $c->sendText("hi $path");
            $this->waitUntil(fn () => str_contains($s->stderr(), "[debug] SocketIO Message: hi $path"), 3.0, 'the logged message');
            $this->assertTrue($c->silentFor(0.2), 'the callback returns nothing: no reply');
            $c->close();
            $this->assertSame(1000, $c->closeCode);
        }
        try {
            WsClient::connect($s->wsUrl('/wsx'));
            $this->fail('/wsx does not match /ws(?:/.*)?');
        } catch (WsHandshakeFailed $e) {
            $this->assertSame(404, $e->status);
        }
    }

    /** The documented /socket.io handler serves a real Socket.IO client (issue 12). */
    public function testSocketIo(): void
    {
        if (($why = SioNode::missing()) !== null) {
            $this->markTestSkipped($why);
        }
        $s = $this->doc('socketio');
        $io = new SioNode();
        try {
            $c = $io->connect('a', $s->url());
            $io->emit('a', 'chat', ['hello-io', ['n' => 1]]);
            $this->waitUntil(fn () => str_contains($s->stderr(), '[debug] WebSocket Message: hello-io'), 3.0, 'the logged message');
            $this->assertStringContainsString('"sid":"' . $c['sid'] . '"', $s->stderr(), 'the payload names the socket');
            $this->assertStringContainsString('"event":"chat"', $s->stderr());
            $this->assertSame([], $io->ask('a', 'chat', ['with ack']), 'the handler returns nothing: an empty ack');
        } finally {
            $io->close();
        }
    }
}
