<?php

declare(strict_types=1);

namespace HttpSock\Native;

use Closure;
use FFI;
use FFI\CData;
use HttpSock\Exceptions\RuntimeException;

/**
 * One native `hs_server` and the PHP closures the engine calls back.
 *
 * Every HTTP route shares one packed-request trampoline: the engine matches the route and hands
 * the whole request over in one buffer; the answer goes back in one call (hs_respond or
 * hs_response_set_raw), so a request costs one FFI call. Every trampoline catches \Throwable:
 * a throw that escapes an FFI callback is fatal in PHP.
 *
 * A reply, as returned by the PHP-side dispatchers, is null (leave the engine's default), a
 * string (a raw HTTP response, parsed by the engine) or [int $status, string $headerLines,
 * string $body].
 *
 * @internal
 */
final class NativeServer
{
    private FFI $ffi;
    private ?CData $handle;
    private bool $polling = false;
    private bool $abandoned = false;
    /** This server's own listening socket (hs_listener_fd right after start()), or -1. */
    private int $listenerFd = -1;

    /** @var list<mixed> Closures and structs handed to the engine, alive as long as the handle. */
    private array $keep = [];
    private ?Closure $packedTrampoline = null;
    private ?CData $wsHandlers = null;

    /** @var Closure(string): mixed */
    private Closure $onRequest;
    /** @var Closure(string, int): mixed */
    private Closure $onError;
    /** @var Closure(string, string): ?string */
    private Closure $onFilter;
    /** @var array{0: Closure, 1: Closure, 2: Closure} open, message, close */
    private array $onWs;

    /**
     * @param Closure(string $wire): mixed $onRequest Answers a matched HTTP request.
     * @param Closure(string $wire, int $type): mixed $onError Shapes an error answer.
     * @param Closure(string $wire, string $body): ?string $onFilter Rewrites a response body.
     * @param array{0: Closure(int, string): void, 1: Closure(int, string, bool): void, 2: Closure(int, int, string): void} $onWs
     *
     * @throws RuntimeException
     */
    public function __construct(
        string $address,
        int $port,
        Closure $onRequest,
        Closure $onError,
        Closure $onFilter,
        array $onWs
    ) {
        $this->ffi = Library::ffi();
        $handle = $this->ffi->hs_new($address, $port);
        if ($handle === null) {
            throw new RuntimeException(Library::failure("Creating a server on {$address}:{$port}"));
        }
        $this->handle = $handle;
        $this->onRequest = $onRequest;
        $this->onError = $onError;
        $this->onFilter = $onFilter;
        $this->onWs = $onWs;
    }

    /** Whether a callback of this server may be running (we are inside hs_poll). */
    public function isPolling(): bool
    {
        return $this->polling;
    }

    public function isAlive(): bool
    {
        return $this->handle !== null;
    }

    // ---- configuration ----------------------------------------------------------------------

    public function setDebug(bool $on): void
    {
        Library::check($this->ffi->hs_set_debug($this->h(), (int) $on), 'debug()');
    }

    public function setTimeout(int $seconds, int $microseconds): void
    {
        Library::check($this->ffi->hs_set_timeout($this->h(), $seconds, $microseconds), 'setTimeout()');
    }

    public function setRateLimit(int $max, int $window): void
    {
        Library::check($this->ffi->hs_set_rate_limit($this->h(), $max, $window), 'setRateLimit()');
    }

    public function setConnectionRequired(bool $on): void
    {
        Library::check($this->ffi->hs_set_connection_required($this->h(), (int) $on), 'connectionRequired()');
    }

    public function setHeader(string $name, ?string $value): void
    {
        Library::check($this->ffi->hs_set_header($this->h(), $name, $value), "setHeader({$name})");
    }

    public function clearHeaders(): void
    {
        Library::check($this->ffi->hs_clear_headers($this->h()), 'setHeaders()');
    }

    public function setWebSocket(bool $on): void
    {
        Library::check($this->ffi->hs_websocket($this->h(), (int) $on), 'websocket()');
    }

    public function setLimit(int $which, int $value): void
    {
        Library::check($this->ffi->hs_set_limit($this->h(), $which, $value), 'setLimit()');
    }

    public function setReusePort(bool $on): void
    {
        Library::check($this->ffi->hs_set_reuse_port($this->h(), (int) $on), 'hs_set_reuse_port');
    }

    /**
     * The listening socket's descriptor, between start() and the first poll: forked workers
     * inherit it and serve it with adoptListener(), so the port is never without a listener.
     */
    public function listenerFd(): int
    {
        return Library::check($this->ffi->hs_listener_fd($this->h()), 'hs_listener_fd');
    }

    /** Serves an inherited listening socket (duplicated) beside this server's own. */
    public function adoptListener(int $fd): void
    {
        Library::check($this->ffi->hs_adopt_listener($this->h(), $fd), 'hs_adopt_listener');
    }

    public function clusterJoin(string $group, int $slot, int $slots): void
    {
        Library::check($this->ffi->hs_cluster_join($this->h(), $group, $slot, $slots), 'hs_cluster_join');
    }

    public function clientOn(?string $address): void
    {
        Library::check($this->ffi->hs_client_on($this->h(), $address), 'on()');
    }

    public function clientOff(?string $address): bool
    {
        return Library::check($this->ffi->hs_client_off($this->h(), $address), 'off()') === 1;
    }

    // ---- routes and hooks -------------------------------------------------------------------

    /** Registers an HTTP route on the shared trampoline; returns the engine's route id. */
    public function route(string $methods, string $pattern): int
    {
        $this->packedTrampoline ??= $this->packedTrampoline();
        return Library::check(
            $this->ffi->hs_route_packed($this->h(), $methods, $pattern, $this->packedTrampoline, null),
            "route({$methods} {$pattern})"
        );
    }

    /** Turns the error hook on (the PHP side decides per call whether to shape the answer). */
    public function enableErrorHook(): void
    {
        $onError = $this->onError;
        $ffi = $this->ffi;
        $hook = static function ($userData, $req, $type, $res) use ($onError, $ffi): void {
            try {
                $len = $ffi->new('size_t');
                $wire = FFI::string($ffi->hs_request_packed($req, FFI::addr($len)), $len->cdata) . "\0";
                $body = $ffi->hs_request_body($req, FFI::addr($len));
                $wire .= $len->cdata > 0 ? FFI::string($body, $len->cdata) : '';
                self::answer($ffi, $res, $onError($wire, (int) $type));
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $this->keep[] = $hook;
        Library::check($this->ffi->hs_on_error($this->h(), $hook, null), 'error()');
    }

    /** Turns the response filter on. */
    public function enableResponseFilter(): void
    {
        $onFilter = $this->onFilter;
        $ffi = $this->ffi;
        $filter = static function ($userData, $req, $res) use ($onFilter, $ffi): void {
            try {
                $len = $ffi->new('size_t');
                $wire = FFI::string($ffi->hs_request_packed($req, FFI::addr($len)), $len->cdata) . "\0";
                $body = $ffi->hs_response_body($res, FFI::addr($len));
                $body = $len->cdata > 0 ? FFI::string($body, $len->cdata) : '';
                $new = $onFilter($wire, $body);
                if ($new !== null && $new !== $body) {
                    $ffi->hs_response_set_body($res, $new, strlen($new));
                }
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $this->keep[] = $filter;
        Library::check($this->ffi->hs_on_response($this->h(), $filter, null), 'onResponse()');
    }

    /** Registers a WebSocket route on the shared open/message/close trampolines. */
    public function accept(string $pattern): int
    {
        $this->wsHandlers ??= $this->wsHandlers();
        return Library::check(
            $this->ffi->hs_accept($this->h(), $pattern, FFI::addr($this->wsHandlers), null),
            "accept({$pattern})"
        );
    }

    /** Calls $tick every $ms milliseconds (or once); returns the timer id. */
    public function addTimer(int $ms, bool $repeat, Closure $tick): int
    {
        $cb = static function ($userData) use ($tick): void {
            try {
                $tick();
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $this->keep[] = $cb;
        return Library::check($this->ffi->hs_add_timer($this->h(), max(1, $ms), (int) $repeat, $cb, null), 'every()');
    }

    public function cancelTimer(int $id): bool
    {
        return $this->handle !== null && $this->ffi->hs_cancel_timer($this->handle, $id) === 0;
    }

    // ---- WebSocket sending ------------------------------------------------------------------

    /** 0 on success, a negative status otherwise (the client may have gone). */
    public function wsSend(int $id, string $data, bool $binary): int
    {
        return $this->handle === null ? -2 : $this->ffi->hs_ws_send($this->handle, $id, $data, strlen($data), (int) $binary);
    }

    /** How many clients the message was queued for (cluster-wide peers not counted). */
    public function wsBroadcast(string $data, bool $binary, int $except): int
    {
        if ($this->handle === null) {
            return 0;
        }
        return Library::check(
            $this->ffi->hs_ws_broadcast($this->handle, $data, strlen($data), (int) $binary, $except),
            'broadcast()'
        );
    }

    public function wsClose(int $id, int $code, string $reason): int
    {
        return $this->handle === null ? -2 : $this->ffi->hs_ws_close($this->handle, $id, $code, $reason);
    }

    public function wsCount(): int
    {
        return $this->handle === null ? 0 : max(0, $this->ffi->hs_ws_count($this->handle, -1));
    }

    // ---- lifecycle --------------------------------------------------------------------------

    public function start(): void
    {
        Library::check($this->ffi->hs_start($this->h()), 'start()');
        // Known only between hs_start and the first poll; kept for free() after a fatal error.
        $fd = $this->ffi->hs_listener_fd($this->h());
        if ($fd >= 0) {
            $this->listenerFd = $fd;
        }
    }

    /** The bound port, or null before start(). */
    public function port(): ?int
    {
        if ($this->handle === null) {
            return null;
        }
        $port = $this->ffi->hs_port($this->handle);
        return $port >= 0 ? $port : null;
    }

    /** One slice of the event loop: 1 still running, 0 shut down (negative: error). */
    public function poll(int $ms): int
    {
        $this->polling = true;
        $rc = $this->ffi->hs_poll($this->h(), $ms);
        $this->polling = false;
        return $rc;
    }

    /** Starts a graceful shutdown; async-signal-safe and idempotent. */
    public function shutdown(): void
    {
        if ($this->handle !== null) {
            $this->ffi->hs_shutdown($this->handle);
        }
    }

    /**
     * Releases the native server. When a callback was left by a fatal error (we are still
     * "inside" hs_poll), the engine leaks the server on purpose and the closures stay alive.
     */
    public function free(): void
    {
        if ($this->handle === null) {
            return;
        }
        $handle = $this->handle;
        $this->handle = null;
        if ($this->polling) {
            $this->abandoned = true;
            $this->ffi->hs_shutdown($handle);
            // A fatal error left a callback: the loop never runs again and the process is about
            // to exit. Stop listening first. The kernel releases an exiting process's
            // descriptors newest first, so its connections would close before its listening
            // socket; a client that sees its connection drop and reconnects at once could land
            // in this dying process's accept queue (a SO_REUSEPORT worker's own socket) and be
            // reset. Once it is closed, the kernel sends new connections to the other sockets on
            // the port. (Nothing uses the descriptor again: the engine is leaked, never run.)
            if ($this->listenerFd >= 0) {
                Library::closeDescriptor($this->listenerFd);
                $this->listenerFd = -1;
            }
        }
        $this->ffi->hs_free($handle);
        if (!$this->abandoned) {
            $this->keep = [];
            $this->wsHandlers = null;
            $this->packedTrampoline = null;
        }
    }

    public function __destruct()
    {
        $this->free();
    }

    // ---- process-wide helpers ---------------------------------------------------------------

    /** 1 when something accepts connections on address:port, 0 when not. */
    public static function portInUse(string $address, int $port): bool
    {
        return Library::check(Library::ffi()->hs_port_in_use($address, $port), 'isPortFree()') === 1;
    }

    /** How many processes holding the port were ended. */
    public static function freePort(int $port): int
    {
        return Library::check(Library::ffi()->hs_kill_port_holders($port), 'freePortIfStuck()');
    }

    // ---- internals --------------------------------------------------------------------------

    private function h(): CData
    {
        if ($this->handle === null) {
            throw new RuntimeException('The native server has already been released (shutdown() was called).');
        }
        return $this->handle;
    }

    private function packedTrampoline(): Closure
    {
        $onRequest = $this->onRequest;
        $ffi = $this->ffi;
        return static function ($userData, $head, $headLen, $body, $bodyLen, $res) use ($onRequest, $ffi): void {
            try {
                // answer(), inlined: this runs once per request.
                $reply = $onRequest(FFI::string($head, $headLen) . "\0" . ($bodyLen > 0 ? FFI::string($body, $bodyLen) : ''));
                if (is_array($reply)) {
                    [$status, $headers, $body] = $reply;
                    $ffi->hs_respond($res, $status, $headers, strlen($headers), $body, strlen($body));
                } elseif ($reply !== null) {
                    $ffi->hs_response_set_raw($res, $reply, strlen($reply));
                }
            } catch (\Throwable $e) {
                self::lastResort($e);
                $head = "Content-Type: text/plain\r\nX-Server-Response-Type: SERVER_ERROR\r\n";
                $body = 'An error occurred on the server.';
                $ffi->hs_respond($res, 500, $head, strlen($head), $body, strlen($body));
            }
        };
    }

    private function wsHandlers(): CData
    {
        [$open, $message, $close] = $this->onWs;
        $ffi = $this->ffi;
        $handlers = $ffi->new('hs_ws_handlers');
        $onOpen = static function ($userData, $id, $req) use ($open, $ffi): void {
            try {
                $len = $ffi->new('size_t');
                $open((int) $id, FFI::string($ffi->hs_request_packed($req, FFI::addr($len)), $len->cdata) . "\0");
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $onMessage = static function ($userData, $id, $data, $len, $binary) use ($message): void {
            try {
                $message((int) $id, $len > 0 ? FFI::string($data, $len) : '', $binary !== 0);
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $onClose = static function ($userData, $id, $code, $reason) use ($close): void {
            try {
                $close((int) $id, (int) $code, (string) $reason);
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $handlers->on_open = $onOpen;
        $handlers->on_message = $onMessage;
        $handlers->on_close = $onClose;
        array_push($this->keep, $onOpen, $onMessage, $onClose, $handlers);
        return $handlers;
    }

    /** Hands a reply to the engine in one call (none for null: the engine's default stays). */
    private static function answer(FFI $ffi, CData $res, mixed $reply): void
    {
        if ($reply === null) {
            return;
        }
        if (is_string($reply)) {
            $ffi->hs_response_set_raw($res, $reply, strlen($reply));
            return;
        }
        [$status, $headers, $body] = $reply;
        $ffi->hs_respond($res, $status, $headers, strlen($headers), $body, strlen($body));
    }

    /** A dispatcher itself failed: never let it escape (fatal in PHP); tell stderr. */
    private static function lastResort(\Throwable $e): void
    {
        $line = sprintf(
            "httpsock: uncaught %s in a callback: %s (%s:%d)\n",
            $e::class,
            $e->getMessage(),
            $e->getFile(),
            $e->getLine()
        );
        defined('STDERR') ? @fwrite(STDERR, $line) : error_log(rtrim($line));
    }
}
