<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Answer;
use HttpSock\Http\Request;
use HttpSock\Http\Response;
use HttpSock\Http\Wire;
use HttpSock\Native\Admission;
use HttpSock\Server\Authorizer;
use HttpSock\Server\DebugLog;
use PHPUnit\Framework\TestCase;

/**
 * The pure-PHP parts of issue 11's API, without the engine: the decoders of a client's record
 * and of a presence list (Http\Wire), user ids back to ints, authorize()'s answers turned into
 * verdicts (Server\Authorizer), cookies of the upgrade request.
 */
final class RoomsUnitTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    private static function bytes(string $s): string
    {
        return pack('V', strlen($s)) . $s;
    }

    /** A record as the plan packs it. */
    private static function record(string $node, ?string $user, string $info, array $channels): string
    {
        $out = self::bytes($node) . ($user === null ? "\0" : "\1") . self::bytes($user ?? '') . self::bytes($info)
            . pack('V', count($channels));
        foreach ($channels as $c) {
            $out .= self::bytes($c);
        }
        return $out;
    }

    public function testRecordDecodes(): void
    {
        $packed = self::record('web-1-4242', '42', '{"name":"Ann"}', ['red', 'presence-lobby', "bin\0ary"]);
        $this->assertSame(
            ['node' => 'web-1-4242', 'user' => '42', 'info' => '{"name":"Ann"}', 'channels' => ['red', 'presence-lobby', "bin\0ary"]],
            Wire::record($packed)
        );
        $this->assertSame(
            ['node' => '', 'user' => null, 'info' => '', 'channels' => []],
            Wire::record(self::record('', null, '', []))
        );
        // an empty user id with the flag set is a user (the flag decides, not the length)
        $this->assertSame('', Wire::record(self::record('n', '', '', []))['user']);
    }

    public function testRecordCutShortThrows(): void
    {
        $packed = self::record('node', 'u', '{}', ['red', 'blue']);
        for ($cut = 0; $cut < strlen($packed); $cut++) {
            try {
                Wire::record(substr($packed, 0, $cut));
                $this->fail("a record cut at {$cut} of " . strlen($packed) . ' bytes decoded');
            } catch (\UnexpectedValueException $e) {
                $this->assertStringContainsString('cut short', $e->getMessage());
            }
        }
    }

    public function testPresenceDecodes(): void
    {
        $this->assertSame([], Wire::presence(''));
        $packed = self::bytes('7') . self::bytes('{"n":1}') . self::bytes('ann') . self::bytes('');
        $this->assertSame([['7', '{"n":1}'], ['ann', '']], Wire::presence($packed));
        $this->expectException(\UnexpectedValueException::class);
        Wire::presence(substr($packed, 0, -1) . 'x' . pack('V', 9));
    }

    public function testUserIdsBackToInt(): void
    {
        $this->assertSame(42, Wire::userId('42'));
        $this->assertSame(0, Wire::userId('0'));
        $this->assertSame(PHP_INT_MAX, Wire::userId((string) PHP_INT_MAX));
        foreach (['007', '-1', '1.5', '1e3', ' 1', '', 'ann', '9223372036854775808', '99999999999999999999'] as $text) {
            $this->assertSame($text, Wire::userId($text), "'{$text}' stays a string");
        }
    }

    public function testVerdicts(): void
    {
        $this->assertTrue(Authorizer::verdict(true));
        $this->assertTrue(Authorizer::verdict(null));
        $this->assertFalse(Authorizer::verdict(false));
        $this->assertSame([401, "WWW-Authenticate: Bearer\r\n", 'token needed'],
            Authorizer::verdict(new Response(401, ['WWW-Authenticate' => 'Bearer'], 'token needed')));
        $this->assertSame(Answer::NOT_FOUND, Authorizer::verdict(Answer::NOT_FOUND));

        $a = Authorizer::verdict(['user' => 42, 'info' => ['name' => 'Ann'], 'channels' => ['red', 'presence-x']]);
        $this->assertInstanceOf(Admission::class, $a);
        $this->assertSame('42', $a->user);
        $this->assertSame('{"name":"Ann"}', $a->info);
        $this->assertSame(['red', 'presence-x'], $a->channels);

        $b = Authorizer::verdict(['user' => 'ann']);
        $this->assertSame(['ann', '[]', []], [$b->user, $b->info, $b->channels]);
        $c = Authorizer::verdict(['channels' => ['red']]);
        $this->assertSame([null, '', ['red']], [$c->user, $c->info, $c->channels]);
        $this->assertSame([null, '', []], [Authorizer::verdict([])->user, Authorizer::verdict([])->info, Authorizer::verdict([])->channels]);
    }

    /** @return iterable<string, array{0: mixed, 1: string}> */
    public static function badAnswers(): iterable
    {
        yield 'a string' => ['yes', 'got string'];
        yield 'an int' => [1, 'got int'];
        yield 'an unknown key' => [['user' => 1, 'channel' => 'red'], "got 'channel'"];
        yield 'a float user' => [['user' => 1.5], "'user' is a non-empty string or an int"];
        yield 'an empty user' => [['user' => ''], "'user' is a non-empty string or an int"];
        yield 'info without user' => [['info' => ['a' => 1]], "give 'user' too"];
        yield 'info not an array' => [['user' => 1, 'info' => 'x'], "'info' is an array"];
        yield 'channels not a list' => [['channels' => ['a' => 'red']], "'channels' is a list"];
        yield 'a channel not a string' => [['channels' => [1]], 'a channel name is a string'];
        yield 'a presence channel without a user' => [['channels' => ['red', 'presence-x']], "'presence-x' is a presence channel"];
    }

    /** @dataProvider badAnswers */
    public function testBadAnswersAreFailures(mixed $answer, string $message): void
    {
        $this->expectException(\UnexpectedValueException::class);
        $this->expectExceptionMessage($message);
        Authorizer::verdict($answer);
    }

    public function testDecideBuildsTheRequest(): void
    {
        $authorizer = new Authorizer(new DebugLog());
        $this->assertTrue($authorizer->decide('anything'), 'no callback: every upgrade is accepted');
        $seen = null;
        $authorizer->set(function (Request $request) use (&$seen) {
            $seen = [$request->getCookie('token'), $request->getGet('room'), $request->getIp(), $request->getHeader('origin'), $request->getParam('name')];
            return ['user' => 7];
        });
        $authorizer->setServerPort(8080);
        $head = implode("\0", [
            '2', '9', '50000', '1', 'GET', '/chat/lobby', 'room=red', '/chat/lobby?room=red', 'HTTP/1.1', 'http', '127.0.0.1',
            "host: 127.0.0.1:8080\r\norigin: http://a.test\r\ncookie: token=abc%20d; theme=dark\r\n", 'name', 'lobby',
        ]);
        $verdict = $authorizer->decide($head);
        $this->assertSame('7', $verdict->user);
        $this->assertSame(['abc d', 'red', '127.0.0.1', 'http://a.test', 'lobby'], $seen);
    }

    public function testCookies(): void
    {
        $request = Request::fromHead(implode("\0", [
            '-1', '1', '1', '0', 'GET', '/', '', '/', 'HTTP/2.0', 'https', '::1',
            "cookie: a=1; b=\"two\"\r\nx-cookie: c=no\r\ncookie: c=3; a=again; novalue\r\n",
        ]));
        $this->assertSame(['a' => '1', 'b' => 'two', 'c' => '3'], $request->getCookies());
        $this->assertSame('3', $request->getCookie('c'));
        $this->assertNull($request->getCookie('x'));
        $this->assertSame('d', $request->getCookie('x', 'd'));
        $this->assertSame([], Request::fromHead(implode("\0", array_fill(0, 12, '')))->getCookies());
    }
}
