<?php

declare(strict_types=1);

namespace HttpSock\SocketIo;

use HttpSock\Exceptions\RuntimeException;
use HttpSock\Server\SioDispatcher;

/** One socket to emit to (`toSocket($sid)`), of any worker or node. Immutable. */
final class SocketEmitter
{
    /** @internal */
    public function __construct(
        private readonly SioDispatcher $sio,
        private readonly string|int $socket,
        private readonly float $timeout = 0.0
    ) {
    }

    /**
     * How long an acknowledgement is awaited, in seconds; after it the callback gets null
     * (default 0: until the socket goes away).
     */
    public function timeout(float $seconds): self
    {
        return new self($this->sio, $this->socket, max(0.0, $seconds));
    }

    /**
     * Emits an event to the socket. A Closure as the last argument asks for an acknowledgement
     * (as Socket.IO's JS API): `function (?array $args)` is called once, in this worker, with
     * the client's answer (a list of arguments, decoded) or null when timeout() passed or the
     * socket went away first.
     *
     * @return bool False when the socket is unknown or gone (the callback is then not called).
     * @throws RuntimeException StateException when the server is not running.
     */
    public function emit(string $event, mixed ...$args): bool
    {
        return $this->sio->emitTo($this->socket, $event, array_values($args), $this->timeout);
    }
}
