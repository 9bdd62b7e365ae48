<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Limit;
use HttpSock\Native\NativeServer;
use HttpSock\Server\Config;
use PHPUnit\Framework\TestCase;

/**
 * Server\Config: steps recorded, applied to the live server, replayed in order onto every fresh
 * one. Real native servers, never started (libhttpsock in the test process; no thread).
 */
final class ConfigTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    private static function config(int &$created): Config
    {
        return new Config(static function () use (&$created): NativeServer {
            $created++;
            return new NativeServer('127.0.0.1', 0, static fn () => null, static fn () => '');
        });
    }

    public function testEveryBuildReplaysEveryStepInOrder(): void
    {
        $created = 0;
        $config = self::config($created);
        $routes = [];
        $config->add(static fn (NativeServer $n) => $n->setLimit(Limit::MAX_BODY_BYTES->value, 1234), null);
        $config->add(static function (NativeServer $n) use (&$routes): void {
            $routes[] = $n->route('GET', '/a', static fn () => null);
            $routes[] = $n->route('GET', '/b/{x}', static fn () => null);
        }, null);
        // a later step overrides an earlier one, as it did on the first server
        $config->add(static fn (NativeServer $n) => $n->setLimit(Limit::WS_SEND_QUEUE->value, 7), null);
        $config->add(static fn (NativeServer $n) => $n->setLimit(Limit::WS_SEND_QUEUE->value, 9), null);
        $this->assertSame(0, $created, 'recording builds nothing');
        $this->assertSame(4, $config->count());

        $a = $config->build();
        $b = $config->build();
        $this->assertSame(2, $created);
        $this->assertNotSame($a, $b);
        foreach ([$a, $b] as $native) {
            $this->assertSame(1234, $native->limit(Limit::MAX_BODY_BYTES->value));
            $this->assertSame(9, $native->limit(Limit::WS_SEND_QUEUE->value));
        }
        $this->assertSame([0, 1, 0, 1], $routes, 'the same route ids on every server');
        $a->free();
        $b->free();
    }

    public function testAStepReachesTheLiveServerAtOnce(): void
    {
        $created = 0;
        $config = self::config($created);
        $live = $config->build();
        $default = $live->limit(Limit::WS_PING_INTERVAL_MS->value);

        $config->add(static fn (NativeServer $n) => $n->setLimit(Limit::WS_PING_INTERVAL_MS->value, 4321), $live);
        $this->assertSame(4321, $live->limit(Limit::WS_PING_INTERVAL_MS->value), 'applied to the live server');

        // not recorded: the live server only
        $config->add(static fn (NativeServer $n) => $n->setLimit(Limit::SHUTDOWN_GRACE_MS->value, 55), $live, false);
        $this->assertSame(55, $live->limit(Limit::SHUTDOWN_GRACE_MS->value));

        $next = $config->build();
        $this->assertSame(4321, $next->limit(Limit::WS_PING_INTERVAL_MS->value), 'replayed');
        $this->assertNotSame(55, $next->limit(Limit::SHUTDOWN_GRACE_MS->value), 'an unrecorded step is not replayed');
        $this->assertNotSame(4321, $default);

        // a released server is left alone (no exception), and the step is still recorded
        $live->free();
        $config->add(static fn (NativeServer $n) => $n->setLimit(Limit::MAX_CONNECTIONS->value, 3), $live);
        $this->assertSame(3, $config->build()->limit(Limit::MAX_CONNECTIONS->value));
        $next->free();
    }
}
