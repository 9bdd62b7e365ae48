<?php

declare(strict_types=1);

namespace HttpSock\Native;

use FFI;
use HttpSock\Exceptions\EnvironmentException;
use HttpSock\Exceptions\RuntimeException;

/**
 * Finds and loads libhttpsock.so through PHP FFI, once per process.
 *
 * The library is taken from the `HTTPSOCK_LIB` environment variable, else from the repository's
 * `target/release/libhttpsock.so`, else from the system linker path (`libhttpsock.so`). The
 * declarations come from `include/httpsock_ffi.h`: `HTTPSOCK_HEADER`, else the repository's
 * `include/`, else next to the library, else `/usr/local/include` and `/usr/include`.
 *
 * Together with {@see NativeServer} this is the only code that touches FFI.
 *
 * @internal
 */
final class Library
{
    private static ?FFI $ffi = null;
    private static ?FFI $libc = null;

    private function __construct()
    {
    }

    /**
     * The loaded library (loads it on first use).
     *
     * @throws EnvironmentException When FFI is unavailable or the library or header cannot be found.
     */
    public static function ffi(): FFI
    {
        return self::$ffi ??= self::load();
    }

    /**
     * Throws with the engine's message when `$rc` is a negative status (the exception subclass
     * of that status, {@see RuntimeException::fromStatus()}); returns `$rc` otherwise.
     *
     * @throws RuntimeException
     */
    public static function check(int $rc, string $what): int
    {
        if ($rc < 0) {
            throw RuntimeException::fromStatus($rc, self::failure($what, $rc));
        }
        return $rc;
    }

    /** "what failed: status text: hs_last_error()". */
    public static function failure(string $what, int $rc = 0): string
    {
        $ffi = self::ffi();
        $message = (string) $ffi->hs_last_error();
        $status = $rc < 0 ? (string) $ffi->hs_status_str($rc) : '';
        return trim("{$what} failed" . ($status !== '' ? ": {$status}" : '') . ($message !== '' ? ": {$message}" : ''));
    }

    /**
     * close(2) on a descriptor the engine owns but will never use again (the listening socket
     * of a server abandoned by a fatal error: NativeServer::free()). libc's, through FFI.
     */
    public static function closeDescriptor(int $fd): void
    {
        self::$libc ??= FFI::cdef('int close(int fd);');
        self::$libc->close($fd);
    }

    /** The engine's version, "MAJOR.MINOR.PATCH". */
    public static function version(): string
    {
        return (string) self::ffi()->hs_version();
    }

    private static function load(): FFI
    {
        if (!extension_loaded('ffi') || !class_exists(FFI::class)) {
            throw new EnvironmentException(
                'httpsock needs the PHP FFI extension: install it (Debian: apt-get install php-cli, '
                . 'FFI is built in) and enable it with ffi.enable=true (php -d ffi.enable=true, or in php.ini).'
            );
        }
        $library = self::libraryPath();
        $header = self::headerPath($library);
        $declarations = @file_get_contents($header);
        if ($declarations === false) {
            throw new EnvironmentException("httpsock: cannot read the FFI declarations {$header}.");
        }
        // Buffers that may hold NUL bytes (packed requests, bodies, WebSocket messages) are
        // declared `const uint8_t *` in the header: PHP keeps those as pointers for
        // FFI::string($ptr, $len), where a returned `const char *` would be cut at the first NUL.
        try {
            return FFI::cdef($declarations, $library ?? 'libhttpsock.so');
        } catch (\Throwable $e) {
            $why = $e->getMessage();
            if (str_contains($why, 'ffi.enable')) {
                throw new EnvironmentException(
                    "httpsock: FFI is restricted here ({$why}). Set ffi.enable=true in php.ini "
                    . '(or run php -d ffi.enable=true).',
                    0,
                    $e
                );
            }
            throw new EnvironmentException(
                'httpsock: cannot load ' . ($library ?? 'libhttpsock.so from the system linker path')
                . " ({$why}). Build it with `cargo build --release` in the httpsock repository, "
                . 'or point HTTPSOCK_LIB at libhttpsock.so.',
                0,
                $e
            );
        }
    }

    /** HTTPSOCK_LIB, else the repository build, else null (the system linker path). */
    private static function libraryPath(): ?string
    {
        $env = getenv('HTTPSOCK_LIB');
        if (is_string($env) && $env !== '') {
            if (!is_file($env)) {
                throw new EnvironmentException(
                    "httpsock: HTTPSOCK_LIB points at {$env}, which does not exist. Build the library "
                    . 'with `cargo build --release` (it lands in target/release/libhttpsock.so).'
                );
            }
            return $env;
        }
        $repo = self::repositoryRoot() . '/target/release/libhttpsock.so';
        return is_file($repo) ? $repo : null;
    }

    private static function headerPath(?string $library): string
    {
        $env = getenv('HTTPSOCK_HEADER');
        if (is_string($env) && $env !== '') {
            return $env;
        }
        $candidates = [self::repositoryRoot() . '/include/httpsock_ffi.h'];
        if ($library !== null) {
            $dir = dirname($library);
            $candidates[] = $dir . '/httpsock_ffi.h';
            $candidates[] = dirname($dir, 2) . '/include/httpsock_ffi.h';
            $candidates[] = dirname($dir) . '/include/httpsock_ffi.h';
        }
        $candidates[] = '/usr/local/include/httpsock_ffi.h';
        $candidates[] = '/usr/include/httpsock_ffi.h';
        foreach ($candidates as $candidate) {
            if (is_file($candidate)) {
                return $candidate;
            }
        }
        throw new EnvironmentException(
            'httpsock: include/httpsock_ffi.h not found (looked in ' . implode(', ', $candidates)
            . '). Set HTTPSOCK_HEADER to its path, or build the repository with `cargo build --release`.'
        );
    }

    /** The httpsock checkout this php/ directory belongs to (php/src/Native → ../../..). */
    private static function repositoryRoot(): string
    {
        return dirname(__DIR__, 3);
    }
}
