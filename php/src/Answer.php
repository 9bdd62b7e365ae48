<?php

declare(strict_types=1);

namespace HttpSock;

use HttpSock\Native\NativeServer;

/**
 * The engine's own answers: the values of `hs_answer` (case names as in the C header, without
 * `HS_ANSWER_`). The engine owns status, headers and text of each; none is written in PHP.
 * typeName() is the answer's `X-Server-Response-Type`, the type an error() callback receives.
 *
 * A handler may return a case to send that answer: `return Answer::NOT_FOUND;`.
 */
enum Answer: int
{
    /** 404 NOT_FOUND: no route matched. */
    case NOT_FOUND = 1;
    /** 429 REQUEST_LIMIT: over the rate limit. */
    case REQUEST_LIMIT = 2;
    /** 400 NOT_CONNECTED: connection-required mode, the client has not connected. */
    case NOT_CONNECTED = 3;
    /** 400 BAD_REQUEST: a request the engine refuses. */
    case BAD_REQUEST = 4;
    /** 500 SERVER_ERROR: a handler failed. */
    case SERVER_ERROR = 5;
    /** 413 PAYLOAD_TOO_LARGE: the body is over the limit. */
    case PAYLOAD_TOO_LARGE = 6;
    /** 200 DEFAULT: what a route that sets nothing answers. */
    case DEFAULT = 7;
    /** 200 CONNECTED: GET /connect. */
    case CONNECTED = 8;
    /** 200 DISCONNECTED: GET /disconnect. */
    case DISCONNECTED = 9;
    /** 200 PING: a health check (ping()). */
    case PONG = 10;
    /** 501 BAD_REQUEST: a transfer coding other than chunked. */
    case NOT_IMPLEMENTED = 11;
    /** 503 TOO_MANY_CONNECTIONS: over the connection limit. */
    case TOO_MANY_CONNECTIONS = 12;
    /** 405 BAD_REQUEST: a WebSocket upgrade with another method than GET. */
    case UPGRADE_NEEDS_GET = 13;
    /** 400 INVALID_WS_KEY: a missing or invalid Sec-WebSocket-Key. */
    case BAD_WEBSOCKET_KEY = 14;
    /** 426 BAD_REQUEST: a WebSocket version other than 13. */
    case BAD_WEBSOCKET_VERSION = 15;
    /** 403 ORIGIN_REFUSED: a WebSocket upgrade from an origin not in setOrigins(). */
    case ORIGIN_REFUSED = 16;
    /** 403 UPGRADE_REFUSED: a WebSocket upgrade the authorize() callback refused (false). */
    case UPGRADE_REFUSED = 17;
    /** 503 ROUTE_FULL: a WebSocket upgrade on an accept route that has its most clients. */
    case ROUTE_FULL = 18;

    /**
     * The answer's `X-Server-Response-Type`, asked of the engine (hs_answer_name) once per kind:
     * the engine's table is the only one.
     */
    public function typeName(): string
    {
        static $names = [];
        return $names[$this->value] ??= NativeServer::answerName($this->value) ?? $this->name;
    }

    /** Whether the error() callback is asked to shape this answer (kinds 1-6). */
    public function isError(): bool
    {
        return $this->value <= self::PAYLOAD_TOO_LARGE->value;
    }
}
