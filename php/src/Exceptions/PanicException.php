<?php

declare(strict_types=1);

namespace HttpSock\Exceptions;

/**
 * A bug inside the engine was caught (a Rust panic); the server is still usable
 * (`HS_ERR_PANIC`).
 */
final class PanicException extends RuntimeException
{
    /** The engine's `hs_status` of this cause. */
    public const STATUS = -7;
}
