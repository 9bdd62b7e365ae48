<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Exceptions\RuntimeException;
use HttpSock\HttpServer;
use PHPUnit\Framework\TestCase;

/**
 * The configuration calls of issue 11 check what they are given when called, with or without a
 * started server, and a failed call leaves no step behind (start() still works): useRedis()
 * (options, the URL, Redis answering: the message names host and port; no Redis is needed, the
 * port is a closed one), setOrigins(), accept()'s client limit.
 */
final class RoomsConfigTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    /** A loopback port nothing listens on (bound, then closed: the kernel does not hand it out at once). */
    private static function closedPort(): int
    {
        $socket = stream_socket_server('tcp://127.0.0.1:0', $errno, $error);
        self::assertNotFalse($socket, $error);
        $name = (string) stream_socket_get_name($socket, false);
        fclose($socket);
        return (int) substr($name, strrpos($name, ':') + 1);
    }

    /** @return iterable<string, array{0: bool}> */
    public static function startedOrNot(): iterable
    {
        yield 'before start()' => [false];
        yield 'on a started server' => [true];
    }

    /** @dataProvider startedOrNot */
    public function testUnreachableRedisNamesHostAndPort(bool $autostart): void
    {
        $port = self::closedPort();
        $server = new HttpServer('127.0.0.1', 0, $autostart);
        try {
            $server->useRedis("redis://127.0.0.1:{$port}");
            $this->fail('useRedis() with nothing listening did not throw');
        } catch (RuntimeException $e) {
            $this->assertStringContainsString("127.0.0.1:{$port}", $e->getMessage());
            $this->assertStringStartsWith('useRedis() failed', $e->getMessage());
        }
        // nothing recorded: the server still starts
        $server->start();
        $this->assertTrue($server->isConnected());
        $server->shutdown();
    }

    public function testBadUrlsAreInvalidArguments(): void
    {
        $server = new HttpServer('127.0.0.1', 0, false);
        foreach (['http://127.0.0.1:6379', 'not a url', 'redis://127.0.0.1:99999'] as $url) {
            try {
                $server->useRedis($url);
                $this->fail("useRedis('{$url}') did not throw");
            } catch (InvalidArgumentException $e) {
                $this->assertStringStartsWith('useRedis() failed', $e->getMessage(), $url);
            }
        }
    }

    /** @return iterable<string, array{0: array<string, mixed>, 1: string}> */
    public static function badOptions(): iterable
    {
        yield 'unknown' => [['prefx' => 'x'], "unknown option 'prefx'"];
        yield 'empty prefix' => [['prefix' => ''], "'prefix' and 'node' are non-empty strings"];
        yield 'node not a string' => [['node' => 5], "'prefix' and 'node' are non-empty strings"];
        yield 'ttl 0' => [['ttl' => 0], "'ttl' is a number of seconds above 0"];
        yield 'ttl text' => [['ttl' => '10'], "'ttl' is a number of seconds above 0"];
    }

    /** @dataProvider badOptions */
    public function testBadOptions(array $options, string $message): void
    {
        $server = new HttpServer('127.0.0.1', 0, false);
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage($message);
        $server->useRedis('redis://127.0.0.1:' . self::closedPort(), $options);
    }

    /** @dataProvider startedOrNot */
    public function testSetOriginsRefusesWhatIsNoOrigin(bool $autostart): void
    {
        $server = new HttpServer('127.0.0.1', 0, $autostart);
        $server->setOrigins(['https://app.example.com', 'http://127.0.0.1:8080', '*', 'null']);
        $server->setOrigins([]);
        foreach (['https://app.example.com/path', 'https://*.example.com', 'http://host:99999'] as $bad) {
            try {
                $server->setOrigins(['https://ok.example.com', $bad]);
                $this->fail("setOrigins(['{$bad}']) did not throw");
            } catch (InvalidArgumentException $e) {
                $this->assertStringContainsString($bad, $e->getMessage(), 'the message names the entry');
            }
        }
        foreach ([[''], [5], [null]] as $bad) {
            try {
                $server->setOrigins($bad);
                $this->fail('setOrigins(' . json_encode($bad) . ') did not throw');
            } catch (InvalidArgumentException $e) {
                $this->assertStringContainsString('setOrigins()', $e->getMessage());
            }
        }
        $server->start();
        $this->assertTrue($server->isConnected(), 'the failed calls left nothing behind');
        $server->shutdown();
    }

    public function testAcceptLimitIsNotNegative(): void
    {
        $server = new HttpServer('127.0.0.1', 0, false);
        $server->websocket(true);
        $server->accept('/a', static fn () => null, 3);
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('$maxClients');
        $server->accept('/b', static fn () => null, -1);
    }
}
