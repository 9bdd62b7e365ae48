<?php
declare(strict_types=1);

namespace HttpSock\Tests\Support;

/** Nothing arrived on a WebSocket within the time allowed. */
class WsTimeout extends \RuntimeException
{
}
