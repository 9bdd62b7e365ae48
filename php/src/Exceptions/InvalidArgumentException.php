<?php

declare(strict_types=1);

namespace HttpSock\Exceptions;

/**
 * An argument is invalid: an address or port, a limit or its value, a method list, a
 * WebSocket close code, a non-positive process count (`HS_ERR_INVALID`).
 */
final class InvalidArgumentException extends RuntimeException
{
    /** The engine's `hs_status` of this cause. */
    public const STATUS = -1;
}
