<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Answer;
use HttpSock\HttpServer;
use HttpSock\Limit;
use HttpSock\Native\NativeServer;
use PHPUnit\Framework\TestCase;

/**
 * Limit and Answer mirror the engine's hs_limit and hs_answer (Answer's type names are checked
 * against hs_answer_name); HttpServer::LIMIT_* stay ints.
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
        $this->assertCount(10, Limit::cases());
        $this->assertSame(range(1, 10), array_map(static fn (Limit $l) => $l->value, Limit::cases()));
    }

    public function testAnswerMirrorsTheEngine(): void
    {
        $this->assertSame(range(1, 18), array_map(static fn (Answer $a) => $a->value, Answer::cases()));
        foreach (Answer::cases() as $answer) {
            $this->assertSame(NativeServer::answerName($answer->value), $answer->typeName(), $answer->name);
        }
        $this->assertNull(NativeServer::answerName(0));
        $this->assertNull(NativeServer::answerName(19), 'a kind the engine added: the enum must learn it');
        $this->assertSame('PING', Answer::PONG->typeName());
        $errors = array_values(array_filter(Answer::cases(), static fn (Answer $a) => $a->isError()));
        $this->assertSame(['NOT_FOUND', 'REQUEST_LIMIT', 'NOT_CONNECTED', 'BAD_REQUEST', 'SERVER_ERROR', 'PAYLOAD_TOO_LARGE'],
            array_map(static fn (Answer $a) => $a->typeName(), $errors), 'the kinds of the error hook');
    }
}
