<?php

declare(strict_types=1);

namespace HttpSock\Exceptions;

/**
 * A WebSocket client's send queue is full because it does not read; the engine drops that
 * client (`HS_ERR_FULL`).
 */
final class QueueFullException extends RuntimeException
{
    /** The engine's `hs_status` of this cause. */
    public const STATUS = -6;
}
