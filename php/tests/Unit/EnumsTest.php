<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Answer;
use HttpSock\HttpServer;
use HttpSock\Limit;
use PHPUnit\Framework\TestCase;

/**
 * Limit and Answer mirror the engine's hs_limit and hs_answer; HttpServer::LIMIT_* stay ints.
 */
final class EnumsTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    public function testLimitConstantsAreTheEnumValues(): void
    {
        foreach (Limit::cases() as $limit) {
            $this->assertSame($limit->value, constant(HttpServer::class . '::LIMIT_' . $limit->name));
        }
        $this->assertCount(9, Limit::cases());
        $this->assertSame(range(1, 9), array_map(static fn (Limit $l) => $l->value, Limit::cases()));
    }

    public function testAnswerNamesAreTheResponseTypes(): void
    {
        $names = [];
        foreach (Answer::cases() as $answer) {
            $names[$answer->value] = $answer->name;
        }
        $this->assertSame([
            1 => 'NOT_FOUND', 2 => 'REQUEST_LIMIT', 3 => 'NOT_CONNECTED', 4 => 'BAD_REQUEST',
            5 => 'SERVER_ERROR', 6 => 'PAYLOAD_TOO_LARGE', 7 => 'DEFAULT', 8 => 'CONNECTED',
            9 => 'DISCONNECTED', 10 => 'PING',
        ], $names);
        $this->assertSame([true, true, true, true, true, true, false, false, false, false],
            array_map(static fn (Answer $a) => $a->isError(), Answer::cases()));
    }
}
