<?php

declare(strict_types=1);

namespace HttpSock\Exceptions;

/**
 * The call does not fit the server's state: it has been released, or the call must come
 * before or after the event loop started (`HS_ERR_STATE`).
 */
final class StateException extends RuntimeException
{
    /** The engine's `hs_status` of this cause. */
    public const STATUS = -2;
}
