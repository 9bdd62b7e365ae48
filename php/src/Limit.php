<?php

declare(strict_types=1);

namespace HttpSock;

/**
 * The engine's limits, for {@see HttpServer::setLimit()} (the values of `hs_limit`; defaults and
 * ranges in the README). `HttpServer::LIMIT_*` are the same values as plain integers.
 */
enum Limit: int
{
    /** Milliseconds a connection may stay idle (also the time allowed for a request head). */
    case IDLE_TIMEOUT_MS = 1;
    /** Open connections at once (HTTP + WebSocket); 0 = no limit. */
    case MAX_CONNECTIONS = 2;
    /** Largest request head in bytes (431 beyond it). */
    case MAX_HEADER_BYTES = 3;
    /** Largest request body in bytes (413 beyond it). */
    case MAX_BODY_BYTES = 4;
    /** Largest WebSocket message in bytes (the client is closed with 1009 beyond it). */
    case WS_MAX_MESSAGE = 5;
    /** A silent WebSocket client is pinged after this many milliseconds. */
    case WS_PING_INTERVAL_MS = 6;
    /** ...and dropped when nothing came from it for this many milliseconds after that ping. */
    case WS_PING_TIMEOUT_MS = 7;
    /** Messages queued per WebSocket client; a client whose queue is full is dropped. */
    case WS_SEND_QUEUE = 8;
    /** Longest wait of a graceful shutdown for in-flight work, in milliseconds. */
    case SHUTDOWN_GRACE_MS = 9;
    /** Concurrent streams per HTTP/2 connection (default 100); more are refused (RST_STREAM REFUSED_STREAM). */
    case H2_MAX_STREAMS = 10;
}
