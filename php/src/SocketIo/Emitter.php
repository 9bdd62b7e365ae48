<?php

declare(strict_types=1);

namespace HttpSock\SocketIo;

use HttpSock\Exceptions\RuntimeException;
use HttpSock\Server\SioDispatcher;

/**
 * Sockets of a namespace to emit to: those in a room (`to($room)`), all but one
 * (`except($sid)`), or both (`to($room)->except($sid)`). Immutable: each call returns a new one.
 */
final class Emitter
{
    /** @internal */
    public function __construct(
        private readonly SioDispatcher $sio,
        private readonly SocketNamespace $nsp,
        private readonly ?string $room,
        private readonly string|int|null $except
    ) {
    }

    /** The same sockets but one (usually the sender: Socket.IO's `socket.broadcast`). */
    public function except(string|int $socket): self
    {
        return new self($this->sio, $this->nsp, $this->room, $socket);
    }

    /** The sockets of a room (this one's room is replaced: one room per emit). */
    public function to(string $room): self
    {
        return new self($this->sio, $this->nsp, $room, $this->except);
    }

    /**
     * Emits an event to these sockets, on every worker and node.
     *
     * @return int How many sockets of this process it was queued for.
     * @throws RuntimeException StateException when the server is not running;
     *         InvalidArgumentException for a bad room name or a callback (acknowledgements are
     *         for one socket: toSocket()).
     */
    public function emit(string $event, mixed ...$args): int
    {
        return $this->sio->emit($this->nsp, $this->room, $this->except, $event, array_values($args));
    }
}
