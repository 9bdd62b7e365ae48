<?php

declare(strict_types=1);

namespace HttpSock\Exceptions;

/**
 * The base of every exception the server throws. Each cause has its own subclass
 * ({@see EnvironmentException}, {@see InvalidArgumentException}, {@see StateException},
 * {@see IoException}, {@see NotFoundException}, {@see PatternException},
 * {@see QueueFullException}, {@see PanicException}); a failure of the engine carries its
 * `hs_status` as the exception code.
 *
 * When the Luminova framework is not loaded, `Luminova\Exceptions\RuntimeException` is an
 * alias of this class, so `catch (Luminova\Exceptions\RuntimeException $e)` catches them all.
 */
class RuntimeException extends \RuntimeException
{
    /** The engine's `hs_status` values and the exception each one gives: the one mapping. */
    private const BY_STATUS = [
        InvalidArgumentException::STATUS => InvalidArgumentException::class,
        StateException::STATUS => StateException::class,
        IoException::STATUS => IoException::class,
        NotFoundException::STATUS => NotFoundException::class,
        PatternException::STATUS => PatternException::class,
        QueueFullException::STATUS => QueueFullException::class,
        PanicException::STATUS => PanicException::class,
    ];

    /**
     * The exception for a negative status of the engine, with that status as its code (a status
     * this wrapper does not know gives this base class).
     *
     * @internal
     */
    public static function fromStatus(int $status, string $message, ?\Throwable $previous = null): self
    {
        $class = self::BY_STATUS[$status] ?? self::class;
        return new $class($message, $status, $previous);
    }
}
