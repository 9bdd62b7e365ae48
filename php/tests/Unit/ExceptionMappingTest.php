<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Exceptions\EnvironmentException;
use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Exceptions\IoException;
use HttpSock\Exceptions\NotFoundException;
use HttpSock\Exceptions\PanicException;
use HttpSock\Exceptions\PatternException;
use HttpSock\Exceptions\QueueFullException;
use HttpSock\Exceptions\RuntimeException;
use HttpSock\Exceptions\StateException;
use HttpSock\Native\NativeServer;
use PHPUnit\Framework\TestCase;

/**
 * The engine's statuses → exception subclasses (one mapping, RuntimeException::fromStatus), and
 * the real engine failures that produce them. Loads libhttpsock into the test process (nothing
 * is run: no thread, no event loop).
 */
final class ExceptionMappingTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    public function testEveryStatusHasItsSubclass(): void
    {
        $expected = [
            -1 => InvalidArgumentException::class,
            -2 => StateException::class,
            -3 => IoException::class,
            -4 => NotFoundException::class,
            -5 => PatternException::class,
            -6 => QueueFullException::class,
            -7 => PanicException::class,
        ];
        $previous = new \LogicException('cause');
        foreach ($expected as $status => $class) {
            $e = RuntimeException::fromStatus($status, "status {$status}", $previous);
            $this->assertSame($class, $e::class);
            $this->assertSame($status, $e->getCode());
            $this->assertSame($class::STATUS, $status);
            $this->assertSame("status {$status}", $e->getMessage());
            $this->assertSame($previous, $e->getPrevious());
            $this->assertInstanceOf(\RuntimeException::class, $e);
        }
        $unknown = RuntimeException::fromStatus(-99, 'new status');
        $this->assertSame(RuntimeException::class, $unknown::class, 'an unknown status gives the base class');
        $this->assertSame(-99, $unknown->getCode());
        $this->assertInstanceOf(RuntimeException::class, new EnvironmentException('x'));
    }

    public function testLuminovasNameCatchesEverySubclass(): void
    {
        foreach ([new EnvironmentException('a'), new PatternException('b'), RuntimeException::fromStatus(-3, 'c')] as $thrown) {
            try {
                throw $thrown;
            } catch (\Luminova\Exceptions\RuntimeException $e) {
                $this->assertSame($thrown, $e);
            }
        }
    }

    public function testEngineFailuresThrowTheirCause(): void
    {
        $native = new NativeServer('127.0.0.1', 0, static fn () => null, static fn () => '');
        $this->assertThrowsCode(PatternException::class, -5, static fn () => $native->route('GET', '/a/(unclosed', static fn () => null), '/a/(unclosed');
        $this->assertThrowsCode(InvalidArgumentException::class, -1, static fn () => $native->route('NOT A METHOD', '/', static fn () => null), '');
        $this->assertThrowsCode(InvalidArgumentException::class, -1, static fn () => $native->setLimit(99, 1), '');
        $native->free();
        $this->assertThrowsCode(StateException::class, -2, static fn () => $native->setLimit(1, 1000), 'released');

        $holder = stream_socket_server('tcp://127.0.0.1:0');
        $this->assertNotFalse($holder);
        $port = (int) substr((string) strrchr(stream_socket_get_name($holder, false), ':'), 1);
        $busy = new NativeServer('127.0.0.1', $port, static fn () => null, static fn () => '');
        try {
            $this->assertThrowsCode(IoException::class, -3, static fn () => $busy->start(), (string) $port);
        } finally {
            $busy->free();
            fclose($holder);
        }
    }

    private function assertThrowsCode(string $class, int $code, \Closure $call, string $inMessage): void
    {
        try {
            $call();
        } catch (RuntimeException $e) {
            $this->assertSame($class, $e::class, $e->getMessage());
            $this->assertSame($code, $e->getCode());
            $this->assertStringContainsString($inMessage, $e->getMessage());
            return;
        }
        $this->fail("no {$class} thrown");
    }
}
