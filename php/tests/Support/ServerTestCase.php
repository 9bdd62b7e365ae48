<?php
declare(strict_types=1);

namespace HttpSock\Tests\Support;

use PHPUnit\Framework\TestCase;
use PHPUnit\Runner\BaseTestRunner;

/**
 * Base class: starts fixture servers, stops every one of them after the test (SIGTERM, then
 * SIGKILL), and prints their output when a test did not pass.
 */
abstract class ServerTestCase extends TestCase
{
    /** @var ServerProcess[] */
    private array $servers = [];

    protected function setUp(): void
    {
        if (!is_file(HS_LIBRARY)) {
            $this->fail(HS_LIBRARY . ' is missing: run `make build` first');
        }
        if (!is_file(HS_PHP_ROOT . '/autoload.php')) {
            $this->fail(HS_PHP_ROOT . '/autoload.php is missing');
        }
    }

    /**
     * Starts php/tests/fixtures/$name.php on a free port and waits for its listening line.
     * @param string[] $args arguments after the port
     */
    protected function server(string $name, array $args = [], array $env = []): ServerProcess
    {
        return $this->track(ServerProcess::fixture($name, 0, $args, $env));
    }

    /** Starts any script (an example, a doc script) with the given port argument. */
    protected function script(string $path, int|string $port = 0, array $args = [], array $env = [], bool $waitReady = true): ServerProcess
    {
        return $this->track(new ServerProcess($path, $port, $args, $env, $waitReady));
    }

    protected function track(ServerProcess $p): ServerProcess
    {
        $this->servers[] = $p;
        return $p;
    }

    protected function tearDown(): void
    {
        $failed = in_array($this->getStatus(), [BaseTestRunner::STATUS_FAILURE, BaseTestRunner::STATUS_ERROR], true);
        foreach ($this->servers as $s) {
            if ($failed) {
                // what the servers said, for the failure report
                fwrite(STDERR, "\n--- " . static::class . '::' . $this->getName() . ': ' . $s->describe() . "\n");
            }
            $s->stop();
        }
        $this->servers = [];
    }

    /** Asserts status, body and (optionally) headers of a response. */
    protected function assertResponse(int $status, ?string $body, HttpResponse $r, array $headers = []): void
    {
        $this->assertSame($status, $r->status, "status of:\n$r");
        if ($body !== null) {
            $this->assertSame($body, $r->body, "body of:\n$r");
        }
        foreach ($headers as $k => $v) {
            $this->assertSame($v, $r->header($k), "header $k of:\n$r");
        }
    }

    /**
     * Skips the test, naming a known bug of the code under test, when $present. Used at the
     * exact point where the bug shows, so that the test runs in full once the bug is fixed.
     */
    protected function knownBug(bool $present, string $what): void
    {
        if ($present) {
            $this->markTestSkipped('BUG: ' . $what);
        }
    }

    /** Bounded polling of a condition, for when no readiness signal exists. */
    protected function waitUntil(callable $cond, float $timeout = 5.0, string $what = 'condition'): mixed
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            $v = $cond();
            if ($v) {
                $this->addToAssertionCount(1);
                return $v;
            }
            if (microtime(true) >= $deadline) {
                $this->fail("timed out after {$timeout}s waiting for $what");
            }
            usleep(20000);
        }
    }
}
