<?php
declare(strict_types=1);

namespace HttpSock\Tests\Support;

/** The server closed the TCP connection. */
class WsEof extends \RuntimeException
{
}
