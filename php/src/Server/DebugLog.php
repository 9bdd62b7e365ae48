<?php

declare(strict_types=1);

namespace HttpSock\Server;

/**
 * The PHP side's debug output (debug()): exceptions thrown by user callbacks and the
 * supervisor's lines, on STDERR, only while debug mode is on. (The engine writes its own lines.)
 *
 * @internal
 */
final class DebugLog
{
    public bool $enabled = false;

    /** A throw from user code. */
    public function exception(string $where, \Throwable $e): void
    {
        if ($this->enabled) {
            self::write(sprintf(
                "httpsock: %s threw %s: %s in %s:%d\n",
                $where,
                $e::class,
                $e->getMessage(),
                $e->getFile(),
                $e->getLine()
            ));
        }
    }

    /** One line, prefixed. */
    public function line(string $prefix, string $line): void
    {
        if ($this->enabled) {
            self::write("{$prefix} {$line}\n");
        }
    }

    private static function write(string $text): void
    {
        defined('STDERR') ? @fwrite(STDERR, $text) : error_log(rtrim($text));
    }
}
