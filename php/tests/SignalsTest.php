<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\ServerProcess;
use HttpSock\Tests\Support\ServerTestCase;

/**
 * The documented pcntl_signal() handlers, Ctrl+C without a handler, shutdown() from a handler,
 * register_shutdown_function([$server, 'shutdown']) with __destruct, exit() in a handler.
 * Fixture: fixtures/signals.php.
 */
final class SignalsTest extends ServerTestCase
{
    private function assertCleanOutput(ServerProcess $s): void
    {
        $out = $s->stderr() . $s->stdout();
        foreach (['Fatal error', 'panicked', 'Segmentation', 'Warning:', 'core dumped'] as $bad) {
            $this->assertStringNotContainsString($bad, $out, 'output of ' . $s->describe());
        }
    }

    public static function signals(): array
    {
        return ['SIGINT' => [SIGINT], 'SIGTERM' => [SIGTERM]];
    }

    /** @dataProvider signals */
    public function testDocumentedPcntlHandlerStopsIdleServerWithinASecond(int $sig): void
    {
        $s = $this->server('signals', ['pcntl']);
        $this->assertResponse(200, 'idle', Http::get($s->url('/')));
        $end = $s->stop($sig, 5.0);
        $this->assertFalse($end['killed'], 'ended without SIGKILL');
        $this->assertLessThan(1.0, $end['seconds'], 'an idle server stops within a second');
        $this->assertNull($end['signal'], 'exited, not killed by the signal');
        $this->assertSame(0, $end['code']);
        $this->assertStringContainsString("event signal $sig", $s->stdout(), 'the pcntl handler ran');
        $this->assertStringContainsString('event last-shutdown-function', $s->stdout());
        $this->assertCleanOutput($s);
    }

    public function testCtrlCWithoutHandlerShutsDownGracefully(): void
    {
        $s = $this->server('signals');
        $this->assertResponse(200, 'idle', Http::get($s->url('/')));
        $end = $s->stop(SIGINT, 5.0);
        $this->assertFalse($end['killed']);
        $this->assertLessThan(1.0, $end['seconds']);
        $this->assertNull($end['signal'], 'run() returned: the process was not killed by SIGINT');
        $this->assertSame(0, $end['code']);
        $this->assertStringContainsString('event after-run', $s->stdout(), 'run() returned and the script went on');
        $this->assertCleanOutput($s);
    }

    public function testSigtermWithoutHandlerEndsTheServer(): void
    {
        $s = $this->server('signals');
        $this->assertResponse(200, 'idle', Http::get($s->url('/')));
        $end = $s->stop(SIGTERM, 5.0);
        $this->assertFalse($end['killed']);
        $this->assertLessThan(1.0, $end['seconds']);
        $this->assertCleanOutput($s);
    }

    public function testShutdownFunctionAndDestructorAreSafeTogether(): void
    {
        $s = $this->server('signals', ['pcntl', 'shutdownfn']);
        $this->assertResponse(200, 'idle', Http::get($s->url('/')));
        $end = $s->stop(SIGTERM, 5.0);
        $this->assertFalse($end['killed']);
        $this->assertSame(0, $end['code']);
        $this->assertStringContainsString('event last-shutdown-function', $s->stdout(), 'every shutdown function ran');
        $this->assertCleanOutput($s);
    }

    public function testShutdownFromAHandlerEndsRun(): void
    {
        $s = $this->server('signals', ['shutdownfn']);
        try {
            $r = Http::get($s->url('/stop'));
            $this->assertResponse(200, 'stopping', $r);
        } catch (\RuntimeException) {
            // the connection may be closed by the shutdown before the answer: acceptable
        }
        $this->assertNotNull($s->waitExit(3.0), 'the process ends after shutdown() in a handler');
        $this->assertStringContainsString('event after-run', $s->stdout());
        $this->assertStringContainsString('event last-shutdown-function', $s->stdout());
        $end = $s->stop();
        $this->assertSame(0, $end['code']);
        $this->assertCleanOutput($s);
        // the port is released
        $this->assertFalse(@stream_socket_client('tcp://127.0.0.1:' . $s->port(), $errno, $errstr, 1.0), 'nothing listens any more');
    }

    public function testExitInsideAHandlerRunsShutdownFunctionsWithoutHanging(): void
    {
        $s = $this->server('signals', ['shutdownfn']);
        try {
            Http::raw($s->port(), "GET /exit HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 5.0);
        } catch (\RuntimeException) {
        }
        $this->assertNotNull($s->waitExit(5.0), 'exit() in a handler ends the process (shutdown() must not deadlock)');
        $end = $s->stop();
        // exit() unwinds like an exception, which PHP refuses inside an FFI callback: "Fatal
        // error: Throwing from FFI callbacks is not allowed", exit code 255
        $this->assertNull($end['signal'], 'not killed by a signal (no crash)');
        $this->assertContains($end['code'], [3, 255]);
        $this->assertStringContainsString('event last-shutdown-function', $s->stdout());
        $this->assertStringNotContainsString('panicked', $s->stderr());
        $this->assertStringNotContainsString('Segmentation', $s->stderr());
    }
}
