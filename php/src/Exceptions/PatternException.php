<?php

declare(strict_types=1);

namespace HttpSock\Exceptions;

/**
 * A route pattern does not compile; the message quotes it and the regular expression error
 * (`HS_ERR_PATTERN`).
 */
final class PatternException extends RuntimeException
{
    /** The engine's `hs_status` of this cause. */
    public const STATUS = -5;
}
