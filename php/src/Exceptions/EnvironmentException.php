<?php

declare(strict_types=1);

namespace HttpSock\Exceptions;

/**
 * This PHP or system cannot run the server: the FFI extension is missing or restricted,
 * libhttpsock.so or its header cannot be found or loaded, or a feature needs an extension that
 * is missing (pcntl and posix for simultaneous mode).
 */
final class EnvironmentException extends RuntimeException
{
}
