<?php
declare(strict_types=1);

namespace HttpSock\Tests\Support;

/** The server answered the upgrade request with something other than 101. */
class WsHandshakeFailed extends \RuntimeException
{
    /** @param array<string,string[]> $headers */
    public function __construct(public int $status, public array $headers, public string $body, public string $head)
    {
        parent::__construct("WebSocket handshake answered $status: $head\r\n\r\n$body");
    }
}
