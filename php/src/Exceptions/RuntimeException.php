<?php

declare(strict_types=1);

namespace HttpSock\Exceptions;

/**
 * Thrown for every failure of the server: a library that cannot be loaded, an address that
 * cannot be bound, an invalid argument, a negative status from the engine.
 *
 * When the Luminova framework is not loaded, `Luminova\Exceptions\RuntimeException` is an
 * alias of this class, so `catch (Luminova\Exceptions\RuntimeException $e)` catches it.
 */
class RuntimeException extends \RuntimeException
{
}
