<?php

declare(strict_types=1);

namespace HttpSock\Exceptions;

/**
 * The operating system refused: the address cannot be bound (the port is in use, the
 * address is not local) or resolved (`HS_ERR_IO`).
 */
final class IoException extends RuntimeException
{
    /** The engine's `hs_status` of this cause. */
    public const STATUS = -3;
}
