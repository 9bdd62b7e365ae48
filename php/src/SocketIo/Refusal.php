<?php

declare(strict_types=1);

namespace HttpSock\SocketIo;

/**
 * What an onConnect() callback returns to refuse a socket with a message and data: the client
 * gets a `connect_error` whose Error has this `message` and `data` (Socket.IO's
 * `next(err)` with `err.data`). Returning a plain string refuses with that message and no data;
 * `false`, with "Not authorized".
 */
final class Refusal
{
    /**
     * @param string $message The error's message (the client's `err.message`).
     * @param mixed $data Anything JSON can carry (the client's `err.data`); null: none.
     */
    public function __construct(
        public readonly string $message = 'Not authorized',
        public readonly mixed $data = null
    ) {
    }
}
