<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Answer;
use HttpSock\Http\Request;
use HttpSock\Http\Response;
use HttpSock\Server\DebugLog;
use HttpSock\Server\HttpDispatcher;
use PHPUnit\Framework\TestCase;

/**
 * Server\HttpDispatcher without an engine: heads in, replies out.
 */
final class HttpDispatcherTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    private static function head(int $route, array $captures = [], string $path = '/x'): string
    {
        $fields = [(string) $route, '1', '40000', (string) count($captures), 'GET', $path, '', $path, 'HTTP/1.1', 'http', '127.0.0.1', "x-id: 5\r\n"];
        foreach ($captures as [$name, $value]) {
            array_push($fields, $name, $value);
        }
        return implode("\0", $fields);
    }

    public function testTheRouteOfTheIdGetsTheRequestAndTheCaptures(): void
    {
        $d = new HttpDispatcher(new DebugLog());
        $d->setServerPort(8123);
        $seen = [];
        $d->addRoute(0, static fn () => 'zero');
        $d->addRoute(2, static function (Request $r, string ...$args) use (&$seen): Response {
            $seen = [$r->getHeader('x-id'), $r->getPort(), $r->toString(), $args, $r->getParams()];
            return new Response(201, ['X-A' => 'b'], 'made');
        });
        $this->assertSame([201, "X-A: b\r\n", 'made'], $d->request(self::head(2, [['id', 'a%2Fb'], ['', 'c']]), 'body'));
        $this->assertSame(['5', 8123, 'body', ['a/b', 'c'], ['id' => 'a/b', 1 => 'c']], $seen);
        $this->assertSame([200, "Content-Type: text/html\r\n", 'zero'], $d->request(self::head(0), ''));
        $this->assertNull($d->request(self::head(7), ''), 'an unknown route id: the engine default');
        $this->assertNull($d->request(self::head(-1), ''));
    }

    public function testAnAnswerPassesThroughAndAThrowIsNotCaught(): void
    {
        $d = new HttpDispatcher(new DebugLog());
        $d->addRoute(0, static fn () => Answer::PONG);
        $d->addRoute(1, static fn () => throw new \DomainException('boom'));
        $this->assertSame(Answer::PONG, $d->request(self::head(0), ''));
        try {
            $d->request(self::head(1), '');
            $this->fail('the throw reaches the trampoline');
        } catch (\DomainException $e) {
            $this->assertSame('DomainException: boom', $d->failed($e), 'the reason for the engine log');
        }
        $d->reset();
        $this->assertNull($d->request(self::head(0), ''), 'reset() forgets the route ids');
    }

    public function testErrorHookGetsTheTypeName(): void
    {
        $d = new HttpDispatcher(new DebugLog());
        $this->assertNull($d->error(self::head(-1), '', Answer::NOT_FOUND->value), 'no error() callback: the engine answers');
        $d->setErrorHandler(static fn (Request $r, string $type) => $type === 'NOT_FOUND' ? "no {$r->getPaths()}" : null);
        $this->assertSame([200, "Content-Type: text/html\r\n", 'no /gone'], $d->error(self::head(-1, [], '/gone'), '', 1));
        $this->assertNull($d->error(self::head(-1), '', Answer::REQUEST_LIMIT->value), 'null: the engine answers');
        $types = [];
        $d->setErrorHandler(static function (Request $r, string $type) use (&$types) {
            $types[] = $type;
            throw new \RuntimeException('hook fails');
        });
        foreach (Answer::cases() as $kind) {
            if ($kind->isError()) {
                $this->assertNull($d->error(self::head(-1), '', $kind->value), 'a throwing hook: the engine answers');
            }
        }
        $this->assertSame(['NOT_FOUND', 'REQUEST_LIMIT', 'NOT_CONNECTED', 'BAD_REQUEST', 'SERVER_ERROR', 'PAYLOAD_TOO_LARGE'], $types);
    }

    public function testFilterGetsTheBodyAndTheRequestHeaders(): void
    {
        $d = new HttpDispatcher(new DebugLog());
        $this->assertNull($d->filter(self::head(0), 'body'));
        $d->setResponseFilter(static fn (string $body, array $headers) => $body . '|' . json_encode($headers));
        $this->assertSame('body|{"X-Id":"5"}', $d->filter(self::head(0), 'body'));
        $d->setResponseFilter(static fn (string $body, array $headers) => 42);
        $this->assertNull($d->filter(self::head(0), 'body'), 'not a string: the body stays');
    }
}
