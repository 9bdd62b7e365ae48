<?php

declare(strict_types=1);

namespace HttpSock;

/**
 * The engine's own answers (the values of `hs_answer`). A case's name is the answer's
 * `X-Server-Response-Type` (the type an error() callback receives); the engine owns status,
 * headers and text of each, so none of them is written in PHP.
 *
 * A handler may return a case to send that answer: `return Answer::NOT_FOUND;`.
 */
enum Answer: int
{
    /** 404: no route matched. */
    case NOT_FOUND = 1;
    /** 429: over the rate limit. */
    case REQUEST_LIMIT = 2;
    /** 400: connection-required mode, the client has not connected. */
    case NOT_CONNECTED = 3;
    /** 400: a request the engine refuses. */
    case BAD_REQUEST = 4;
    /** 500: a handler failed. */
    case SERVER_ERROR = 5;
    /** 413: the body is over the limit. */
    case PAYLOAD_TOO_LARGE = 6;
    /** 200: what a route that sets nothing answers. */
    case DEFAULT = 7;
    /** 200: GET /connect. */
    case CONNECTED = 8;
    /** 200: GET /disconnect. */
    case DISCONNECTED = 9;
    /** 200 "PONG": GET /ping (`HS_ANSWER_PONG`; its type is PING). */
    case PING = 10;

    /** Whether the error() callback is asked to shape this answer (kinds 1-6). */
    public function isError(): bool
    {
        return $this->value <= self::PAYLOAD_TOO_LARGE->value;
    }
}
