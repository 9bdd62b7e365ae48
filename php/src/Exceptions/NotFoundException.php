<?php

declare(strict_types=1);

namespace HttpSock\Exceptions;

/**
 * An unknown connection, timer or route id: it may have closed or ended (`HS_ERR_NOT_FOUND`).
 */
final class NotFoundException extends RuntimeException
{
    /** The engine's `hs_status` of this cause. */
    public const STATUS = -4;
}
