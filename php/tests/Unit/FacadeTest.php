<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Exceptions\IoException;
use HttpSock\HttpServer;
use HttpSock\Limit;
use PHPUnit\Framework\TestCase;

/**
 * HttpServer's lifecycle without running a loop (libhttpsock in the test process: start()
 * binds, no thread is created).
 */
final class FacadeTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    private static function listening(int $port): bool
    {
        $c = @stream_socket_client("tcp://127.0.0.1:{$port}", $errno, $error, 1.0);
        if ($c === false) {
            return false;
        }
        fclose($c);
        return true;
    }

    public function testDroppingTheLastReferenceShutsDownAtOnce(): void
    {
        $server = new HttpServer('127.0.0.1', 0);
        // configuration of every kind: none of it may keep the server alive
        $server->get('/', static fn () => 'x');
        $server->websocket(true);
        $server->accept('/ws', static fn () => null);
        $server->onResponse(static fn (string $body) => $body);
        $server->error(static fn () => null);
        $server->setLimit(Limit::MAX_BODY_BYTES, 100);
        $server->every(1.0, static fn () => null);
        $disconnected = [];
        $server->connect();
        $server->disconnect(static function (array $server) use (&$disconnected): void {
            $disconnected[] = $server;
        });
        $port = $server->getAddress()['port'];
        $this->assertTrue(self::listening($port));
        unset($server);
        $this->assertFalse(self::listening($port), 'released by __destruct, not at the next garbage collection');
        $this->assertCount(1, $disconnected, 'the disconnect() callback is told, once');
        $this->assertSame(['address' => '127.0.0.1', 'port' => $port, 'endpoint' => "tcp://127.0.0.1:{$port}", 'connected' => false],
            array_diff_key($disconnected[0], ['id' => 0]));
    }

    public function testStartAfterShutdownAndTheCauseOfFailures(): void
    {
        $server = new HttpServer('127.0.0.1', 0, false);
        $this->assertFalse($server->isConnected());
        $server->start();
        $first = $server->getAddress()['port'];
        $this->assertTrue($server->isConnected());
        $server->shutdown();
        $this->assertFalse($server->isConnected());
        $this->assertFalse(self::listening($first));
        $this->assertSame($server, $server->start());
        $this->assertTrue($server->isConnected());
        $this->assertTrue(self::listening($server->getAddress()['port']));

        // the port is taken now: a second server cannot bind it
        try {
            new HttpServer('127.0.0.1', $server->getAddress()['port']);
            $this->fail('bound a taken port');
        } catch (IoException $e) {
            $this->assertStringContainsString((string) $server->getAddress()['port'], $e->getMessage());
        }
        $this->expectException(InvalidArgumentException::class);
        $server->setLimit(99, 1);
    }
}
