<?php

declare(strict_types=1);

namespace HttpSock\Native;

use Closure;
use FFI;
use FFI\CData;
use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Exceptions\StateException;
use HttpSock\Http\Reply;
use HttpSock\Http\Request;
use HttpSock\Http\Response;

/**
 * One native `hs_server` and the trampolines through which the engine calls PHP.
 *
 * Every HTTP route shares one packed-request trampoline: the engine matches the route and hands
 * over the request head (one string, {@see \HttpSock\Http\Wire}) and the body apart; the answer
 * goes back in one call (hs_respond, hs_response_set_raw or hs_response_answer). Every
 * trampoline catches \Throwable: a throw that escapes an FFI callback is fatal in PHP. A
 * handler's throw is answered by hs_response_fail: the engine sends its SERVER_ERROR answer,
 * shaped by the error hook, so PHP keeps no answer text.
 *
 * A reply, as the PHP-side dispatchers return it: null (the engine's default stays), a string
 * (a raw HTTP response, parsed by the engine), [int $status, string $headerLines, string $body],
 * or an {@see \HttpSock\Answer} (the engine's own answer of that kind).
 *
 * The engine keeps the WebSocket clients (wsClients(), wsClientHead()): PHP keeps no registry.
 *
 * Together with {@see Library} this is the only code that touches FFI.
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
    private ?Closure $fastTrampoline = null;
    /** What the fast trampoline reads: routes, port, buffers (its `$this`). */
    private FastState $state;
    /** The fast buffers (hs_fast_buffers) and the four byte arrays behind them. */
    private ?CData $fast = null;
    /** @var list<CData> */
    private array $fastArrays = [];

    /** @var Closure(string $head, string $body): mixed */
    private Closure $onRequest;
    /** @var Closure(\Throwable): ?string */
    private Closure $onFailure;

    /** A buffer for hs_ws_client_head, grown to the longest head asked for. */
    private ?CData $headBuffer = null;
    private int $headCapacity = 0;
    /** A buffer for hs_ws_client_record and hs_ws_presence, grown likewise. */
    private ?CData $recordBuffer = null;
    private int $recordCapacity = 0;
    /** A buffer for Socket.IO arguments (hs_sio_emit, hs_sio_ack), grown likewise. */
    private ?CData $argsBuffer = null;
    private int $argsCapacity = 0;
    /** @var list<CData> The attachments of the last Socket.IO emit or ack. */
    private array $attachmentBuffers = [];
    private ?CData $sidBuffer = null;

    /**
     * @param Closure(string $head, string $body): mixed $onRequest Answers a matched HTTP request.
     * @param Closure(\Throwable $e): ?string $onFailure Told when $onRequest threw (the client
     *        gets the 500 answer, shaped by the error hook); returns the reason for the log.
     *
     * @throws InvalidArgumentException When the engine refuses the address or port.
     */
    public function __construct(string $host, int $port, Closure $onRequest, Closure $onFailure)
    {
        $this->ffi = Library::ffi();
        $handle = $this->ffi->hs_new($host, $port);
        if ($handle === null) {
            throw new InvalidArgumentException(Library::failure("Creating a server on {$host}:{$port}"));
        }
        $this->handle = $handle;
        $this->onRequest = $onRequest;
        $this->onFailure = $onFailure;
        $this->state = new FastState();
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

    /** The current value of one of the engine's limits (hs_limit). */
    public function limit(int $which): int
    {
        $value = $this->ffi->new('uint64_t');
        Library::check($this->ffi->hs_get_limit($this->h(), $which, FFI::addr($value)), 'hs_get_limit');
        return (int) $value->cdata;
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

    public function clusterJoin(string $group, int $slot, int $slots, bool $restarted = false): void
    {
        Library::check($this->ffi->hs_cluster_join($this->h(), $group, $slot, $slots), 'hs_cluster_join');
        if ($restarted) {
            // Replaces a worker that died: catch up without firing presence events again.
            Library::check($this->ffi->hs_cluster_restarted($this->h(), 1), 'hs_cluster_restarted');
        }
    }

    public function clientOn(?string $address): void
    {
        Library::check($this->ffi->hs_client_on($this->h(), $address), 'on()');
    }

    public function clientOff(?string $address): bool
    {
        return Library::check($this->ffi->hs_client_off($this->h(), $address), 'off()') === 1;
    }

    // ---- TLS, HTTP/2, WebSocket compression ------------------------------------------------

    /** A certificate (chain) and key from files; `$name` null: the default certificate. */
    public function tlsCertFile(?string $name, string $certPath, ?string $keyPath): void
    {
        Library::check($this->ffi->hs_tls_cert_file($this->h(), $name, $certPath, $keyPath), 'Loading the certificate');
    }

    /** A certificate (chain) and unencrypted key as PEM text; `$name` null: the default one. */
    public function tlsCertPem(?string $name, string $cert, string $key): void
    {
        Library::check(
            $this->ffi->hs_tls_cert_pem($this->h(), $name, $this->bytes($cert), strlen($cert), $this->bytes($key), strlen($key)),
            'Loading the certificate'
        );
    }

    /** Client certificates verified against the CA certificates of a PEM file (mutual TLS). */
    public function tlsClientCaFile(string $path, bool $required): void
    {
        Library::check($this->ffi->hs_tls_client_ca_file($this->h(), $path, (int) $required), 'Loading the client CA certificates');
    }

    /** The ALPN protocols offered, comma-separated, in order of preference. */
    public function tlsAlpn(string $protocols): void
    {
        Library::check($this->ffi->hs_tls_alpn($this->h(), $protocols), 'Setting the ALPN protocols');
    }

    /** Re-reads every certificate, key and CA file given by path: all or nothing. */
    public function tlsReload(): void
    {
        Library::check($this->ffi->hs_tls_reload($this->h()), 'Reloading the certificates');
    }

    public function setHttp2(bool $enabled, bool $h2c): void
    {
        Library::check($this->ffi->hs_set_http2($this->h(), (int) $enabled, (int) $h2c), 'http2()');
    }

    public function setWsDeflate(bool $enabled, int $minSize, bool $contextTakeover, int $maxWindowBits): void
    {
        Library::check(
            $this->ffi->hs_set_ws_deflate($this->h(), (int) $enabled, $minSize, (int) $contextTakeover, $maxWindowBits),
            'websocketCompression()'
        );
    }

    // ---- routes and hooks -------------------------------------------------------------------

    /**
     * Registers an HTTP route; returns the engine's route id. Its requests come through the
     * fast trampoline (request and reply in the fast buffers, `$callback` called directly), or,
     * when one does not fit them, through the packed trampoline and `$onRequest`.
     */
    public function route(string $methods, string $pattern, Closure $callback): int
    {
        $this->packedTrampoline ??= $this->packedTrampoline();
        $this->fastTrampoline ??= $this->fastTrampoline();
        $id = Library::check(
            $this->ffi->hs_route_fast($this->h(), $methods, $pattern, FFI::addr($this->fast), $this->fastTrampoline, $this->packedTrampoline, null),
            "route({$methods} {$pattern})"
        );
        $this->state->routes[$id] = $callback;
        return $id;
    }

    /** The port handlers see as the server's (Request::getPort()). */
    public function setServerPort(?int $port): void
    {
        $this->state->port = $port;
    }

    /**
     * Sets the error hook: `$hook(string $head, string $body, int $kind)` returns a reply, or
     * null for the engine's answer of that kind.
     */
    public function onError(Closure $hook): void
    {
        $ffi = $this->ffi;
        $trampoline = static function ($userData, $req, $kind, $res) use ($hook, $ffi): void {
            try {
                $len = $ffi->new('size_t');
                $head = FFI::string($ffi->hs_request_packed($req, FFI::addr($len)), $len->cdata);
                $body = $ffi->hs_request_body($req, FFI::addr($len));
                $body = $len->cdata > 0 ? FFI::string($body, $len->cdata) : '';
                self::reply($ffi, $res, $hook($head, $body, (int) $kind));
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $this->keep[] = $trampoline;
        Library::check($this->ffi->hs_on_error($this->h(), $trampoline, null), 'error()');
    }

    /**
     * Sets the response filter: `$filter(string $head, string $body)` returns the new body, or
     * null to keep it.
     */
    public function onResponse(Closure $filter): void
    {
        $ffi = $this->ffi;
        $trampoline = static function ($userData, $req, $res) use ($filter, $ffi): void {
            try {
                $len = $ffi->new('size_t');
                $head = FFI::string($ffi->hs_request_packed($req, FFI::addr($len)), $len->cdata);
                $body = $ffi->hs_response_body($res, FFI::addr($len));
                $body = $len->cdata > 0 ? FFI::string($body, $len->cdata) : '';
                $new = $filter($head, $body);
                if ($new !== null && $new !== $body) {
                    $ffi->hs_response_set_body($res, $new, strlen($new));
                }
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $this->keep[] = $trampoline;
        Library::check($this->ffi->hs_on_response($this->h(), $trampoline, null), 'onResponse()');
    }

    /**
     * Registers a WebSocket route with its own handlers: `$open(int $id, string $head)`,
     * `$message(int $id, string $data, bool $binary)`, `$close(int $id, int $code, string
     * $reason)`. Returns the engine's route id.
     */
    public function accept(string $pattern, Closure $open, Closure $message, Closure $close): int
    {
        $ffi = $this->ffi;
        // The WebSocket payloads are built from the heads the engine keeps (wsClientHead): the
        // engine keeps them only for a host that asks, and this one reads them.
        Library::check($ffi->hs_ws_keep_heads($this->h(), 1), 'accept()');
        $handlers = $ffi->new('hs_ws_handlers');
        $onOpen = static function ($userData, $id, $req) use ($open, $ffi): void {
            try {
                $len = $ffi->new('size_t');
                $open((int) $id, FFI::string($ffi->hs_request_packed($req, FFI::addr($len)), $len->cdata));
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
        return Library::check(
            $this->ffi->hs_accept($this->h(), $pattern, FFI::addr($handlers), null),
            "accept({$pattern})"
        );
    }

    /** The most clients route `$routeId` holds at once, over every worker and node (0: no limit). */
    public function wsRouteLimit(int $routeId, int $maxClients): void
    {
        Library::check($this->ffi->hs_ws_route_limit($this->h(), $routeId, $maxClients), 'accept(): the client limit');
    }

    /** The origins an upgrade may come from (exact, or "*"); an empty list: no check. */
    public function wsSetOrigins(array $origins): void
    {
        $n = count($origins);
        $list = null;
        $strings = [];
        if ($n > 0) {
            $list = $this->ffi->new("const char *[{$n}]");
            foreach (array_values($origins) as $i => $origin) {
                $len = strlen($origin);
                $strings[$i] = $this->ffi->new('char[' . ($len + 1) . ']');
                FFI::memcpy($strings[$i], $origin, $len);
                $list[$i] = $this->ffi->cast('const char *', $strings[$i]);
            }
        }
        Library::check($this->ffi->hs_ws_set_origins($this->h(), $list, $n), 'setOrigins()');
    }

    /**
     * Decides WebSocket upgrades before the 101 (hs_ws_authorize): `$decide(string $head)` gets
     * the packed head of the upgrade request and returns true (accept), an {@see Admission}
     * (accept, with a user and channels), false (refuse: the engine's 403) or a reply (refuse
     * with that answer: NativeServer's reply forms). A throw (also from applying an Admission,
     * e.g. a bad channel name) gives the engine's 500; `$onFailure` is told (it logs).
     *
     * @param Closure(string $head): mixed $decide
     * @param Closure(\Throwable): void $onFailure
     */
    public function authorize(Closure $decide, Closure $onFailure): void
    {
        $ffi = $this->ffi;
        $trampoline = static function ($userData, $req, $admission, $res) use ($decide, $onFailure, $ffi): int {
            try {
                $len = $ffi->new('size_t');
                $verdict = $decide(FFI::string($ffi->hs_request_packed($req, FFI::addr($len)), $len->cdata));
                if ($verdict === true) {
                    return 1;
                }
                if ($verdict instanceof Admission) {
                    if ($verdict->user !== null) {
                        $info = self::copy($ffi, $verdict->info);
                        Library::check(
                            $ffi->hs_admission_user($admission, $verdict->user, $info, strlen($verdict->info)),
                            'authorize(): the user'
                        );
                    }
                    foreach ($verdict->channels as $channel) {
                        Library::check($ffi->hs_admission_join($admission, $channel), "authorize(): joining \"{$channel}\"");
                    }
                    return 1;
                }
                if ($verdict !== false) {
                    self::reply($ffi, $res, $verdict);
                }
                return 0;
            } catch (\Throwable $e) {
                try {
                    $onFailure($e);
                } catch (\Throwable $e2) {
                    self::lastResort($e2);
                }
                return -1;
            }
        };
        $this->keep[] = $trampoline;
        Library::check($this->ffi->hs_ws_authorize($this->h(), $trampoline, null), 'authorize()');
    }

    /**
     * The channel and presence events (hs_ws_room_events): `$join(int $id, string $channel)`
     * and `$leave(...)` for this process's clients, `$presence(string $channel, bool $joined,
     * string $user, string $info)` once per user and node (in its slot-0 worker). Three
     * callbacks, registered once.
     */
    public function roomEvents(Closure $join, Closure $leave, Closure $presence): void
    {
        $events = $this->ffi->new('hs_room_events');
        $onJoin = static function ($userData, $id, $channel) use ($join): void {
            try {
                $join((int) $id, (string) $channel);
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $onLeave = static function ($userData, $id, $channel) use ($leave): void {
            try {
                $leave((int) $id, (string) $channel);
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $onPresence = static function ($userData, $channel, $event, $user, $info, $infoLen) use ($presence): void {
            try {
                $presence((string) $channel, $event !== 0, (string) $user, $infoLen > 0 ? FFI::string($info, $infoLen) : '');
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $events->on_join = $onJoin;
        $events->on_leave = $onLeave;
        $events->on_presence = $onPresence;
        array_push($this->keep, $onJoin, $onLeave, $onPresence, $events);
        Library::check($this->ffi->hs_ws_room_events($this->h(), FFI::addr($events), null), 'hs_ws_room_events');
    }

    /**
     * The Redis backplane (hs_redis): checks the URL and that Redis answers; the exception names
     * host and port.
     */
    public function redis(string $url, string $prefix, string $node, int $ttlMs): void
    {
        Library::check($this->ffi->hs_redis($this->h(), $url, $prefix, $node, $ttlMs), 'useRedis()');
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

    // ---- WebSocket clients ------------------------------------------------------------------

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

    /**
     * The WebSocket client ids of every worker and node (the engine's world view); of one route
     * (a Socket.IO namespace's route: its sockets) when `$route` >= 0.
     *
     * @return list<int>
     */
    public function wsClients(int $route = -1): array
    {
        if ($this->handle === null) {
            return [];
        }
        for ($cap = 64;;) {
            $ids = $this->ffi->new("uint64_t[{$cap}]");
            $total = $this->ffi->hs_ws_clients($this->handle, $route, $ids, $cap);
            if ($total < 0) {
                return [];
            }
            if ($total <= $cap) {
                $out = [];
                for ($i = 0; $i < $total; $i++) {
                    $out[] = (int) $ids[$i];
                }
                return $out;
            }
            $cap = $total + 16; // more clients came between the two calls: ask again
        }
    }

    /**
     * The packed head of a client's upgrade request (also inside its close callback; for a
     * client of another worker or node its summary head, without headers), or null when the
     * client is unknown.
     */
    public function wsClientHead(int $id): ?string
    {
        if ($this->handle === null) {
            return null;
        }
        $len = $this->ffi->hs_ws_client_head($this->handle, $id, $this->headBuffer, $this->headCapacity);
        if ($len > $this->headCapacity) {
            $this->headCapacity = max(4096, $len);
            $this->headBuffer = $this->ffi->new("uint8_t[{$this->headCapacity}]");
            $len = $this->ffi->hs_ws_client_head($this->handle, $id, $this->headBuffer, $this->headCapacity);
        }
        return $len < 0 ? null : ($len === 0 ? '' : FFI::string($this->headBuffer, $len));
    }

    // ---- Socket.IO ------------------------------------------------------------------------------

    /**
     * Serves Socket.IO (Engine.IO v4) on its path (hs_sio_enable). Options, each optional:
     * path, pingInterval (ms), pingTimeout (ms), maxHttpBufferSize (bytes), connectTimeout (ms),
     * connectionStateRecovery (ms; 0: off).
     *
     * @param array{path?: string, pingInterval?: int, pingTimeout?: int, maxHttpBufferSize?: int, connectTimeout?: int, connectionStateRecovery?: int} $options
     */
    public function sioEnable(array $options): void
    {
        $ffi = $this->ffi;
        $opts = $ffi->new('hs_sio_options');
        if (isset($options['path'])) {
            $path = $options['path'];
            $buffer = $ffi->new('char[' . (strlen($path) + 1) . ']');
            FFI::memcpy($buffer, $path, strlen($path));
            $this->keep[] = $buffer;
            $opts->path = $ffi->cast('const char *', $buffer);
        }
        $opts->ping_interval_ms = $options['pingInterval'] ?? 0;
        $opts->ping_timeout_ms = $options['pingTimeout'] ?? 0;
        $opts->max_payload = $options['maxHttpBufferSize'] ?? 0;
        $opts->connect_timeout_ms = $options['connectTimeout'] ?? 0;
        $opts->recovery_ms = $options['connectionStateRecovery'] ?? 0;
        $this->keep[] = $opts;
        Library::check($ffi->hs_sio_enable($this->h(), FFI::addr($opts)), 'socketio()');
    }

    /**
     * Registers Socket.IO namespace `$name` with its own four trampolines (the namespace is
     * bound in the closures: no lookup per event). Returns its route id.
     *
     * - `$connect(int $id, string $head, string $auth)`: true (accept), an {@see Admission}
     *   (accept with a user and rooms), a {@see \HttpSock\SocketIo\Refusal} or false (refuse);
     *   a throw: the engine's "Internal server error" and `$onFailure` is told.
     * - `$event(int $id, string $event, string $argsJson, list<string> $attachments, int $ackId)`.
     * - `$ack(int $id, int $token, ?string $argsJson, list<string> $attachments)` (null: no answer).
     * - `$disconnect(int $id, string $reason)`.
     */
    public function sioNamespace(string $name, Closure $connect, Closure $event, Closure $ack, Closure $disconnect, Closure $onFailure): int
    {
        $ffi = $this->ffi;
        Library::check($ffi->hs_ws_keep_heads($this->h(), 1), 'socketio()');
        $handlers = $ffi->new('hs_sio_handlers');
        $onConnect = static function ($userData, $id, $req, $auth, $authLen, $admission) use ($connect, $onFailure, $ffi): int {
            try {
                $len = $ffi->new('size_t');
                $head = FFI::string($ffi->hs_request_packed($req, FFI::addr($len)), $len->cdata);
                $verdict = $connect((int) $id, $head, $authLen > 0 ? FFI::string($auth, $authLen) : '');
                if ($verdict === true) {
                    return 1;
                }
                if ($verdict instanceof Admission) {
                    if ($verdict->user !== null) {
                        $info = self::copy($ffi, $verdict->info);
                        Library::check(
                            $ffi->hs_admission_user($admission, $verdict->user, $info, strlen($verdict->info)),
                            'onConnect(): the user'
                        );
                    }
                    foreach ($verdict->channels as $channel) {
                        Library::check($ffi->hs_admission_join($admission, $channel), "onConnect(): joining \"{$channel}\"");
                    }
                    return 1;
                }
                if ($verdict instanceof \HttpSock\SocketIo\Refusal) {
                    $data = $verdict->data === null ? '' : json_encode($verdict->data, \HttpSock\SocketIo\Codec::JSON_FLAGS | JSON_THROW_ON_ERROR);
                    Library::check(
                        $ffi->hs_admission_refuse($admission, $verdict->message, $data === '' ? null : self::copy($ffi, $data), strlen($data)),
                        'onConnect(): the refusal'
                    );
                }
                return 0;
            } catch (\Throwable $e) {
                try {
                    $onFailure($e);
                } catch (\Throwable $e2) {
                    self::lastResort($e2);
                }
                return -1;
            }
        };
        $onEvent = static function ($userData, $id, $name, $nameLen, $args, $argsLen, $atts, $n, $ackId) use ($event): void {
            try {
                $attachments = [];
                for ($i = 0; $i < $n; $i++) {
                    $b = $atts[$i];
                    $attachments[] = $b->len > 0 ? FFI::string($b->data, $b->len) : '';
                }
                // `const char *event` (not NUL-terminated): PHP hands a `const char *` argument
                // over as a string read up to a NUL, so only its first $nameLen bytes count.
                $event((int) $id, is_string($name) ? substr($name, 0, $nameLen) : FFI::string($name, $nameLen), $argsLen > 0 ? FFI::string($args, $argsLen) : '', $attachments, (int) $ackId);
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $onAck = static function ($userData, $id, $token, $args, $argsLen, $atts, $n) use ($ack): void {
            try {
                $attachments = [];
                for ($i = 0; $i < $n; $i++) {
                    $b = $atts[$i];
                    $attachments[] = $b->len > 0 ? FFI::string($b->data, $b->len) : '';
                }
                $ack((int) $id, (int) $token, $args === null ? null : ($argsLen > 0 ? FFI::string($args, $argsLen) : ''), $attachments);
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $onDisconnect = static function ($userData, $id, $reason) use ($disconnect): void {
            try {
                $disconnect((int) $id, $reason === null ? '' : (string) $reason);
            } catch (\Throwable $e) {
                self::lastResort($e);
            }
        };
        $handlers->on_connect = $onConnect;
        $handlers->on_event = $onEvent;
        $handlers->on_ack = $onAck;
        $handlers->on_disconnect = $onDisconnect;
        array_push($this->keep, $onConnect, $onEvent, $onAck, $onDisconnect, $handlers);
        return Library::check(
            $ffi->hs_sio_namespace($this->h(), $name, FFI::addr($handlers), null),
            "socketio(\"{$name}\")"
        );
    }

    /**
     * Emits to every socket of namespace route `$route`, or to those in `$room`, on every
     * worker and node, except socket `$except` (0: none). Returns how many sockets of this
     * process got it.
     *
     * @param list<string> $attachments
     */
    public function sioEmit(int $route, ?string $room, int $except, string $event, string $json, array $attachments): int
    {
        $h = $this->h();
        [$atts, $n] = $this->attachments($attachments);
        return Library::check(
            $this->ffi->hs_sio_emit($h, $route, $room, $except, $event, $this->args($json), strlen($json), $atts, $n),
            "emit(\"{$event}\")"
        );
    }

    /**
     * Emits to one socket (of any worker or node). With `$wantAck`, returns the token its
     * namespace's ack callback will be called with (once: the answer, or null after
     * `$timeoutMs`; 0 = until the socket goes); else 0. A negative status when the socket is
     * unknown.
     *
     * @param list<string> $attachments
     */
    public function sioEmitTo(int $id, string $event, string $json, array $attachments, bool $wantAck = false, int $timeoutMs = 0): int
    {
        if ($this->handle === null) {
            return -2;
        }
        [$atts, $n] = $this->attachments($attachments);
        $token = $wantAck ? $this->ffi->new('uint64_t') : null;
        $rc = $this->ffi->hs_sio_emit_to(
            $this->handle, $id, $event, $this->args($json), strlen($json), $atts, $n,
            $timeoutMs, $token === null ? null : FFI::addr($token)
        );
        if ($rc < 0) {
            return $rc;
        }
        return $token === null ? 0 : (int) $token->cdata;
    }

    /**
     * Acknowledges event `$ackId` of socket `$id` with these arguments; 0 or a negative status.
     *
     * @param list<string> $attachments
     */
    public function sioAck(int $id, int $ackId, string $json, array $attachments): int
    {
        if ($this->handle === null) {
            return -2;
        }
        [$atts, $n] = $this->attachments($attachments);
        return $this->ffi->hs_sio_ack($this->handle, $id, $ackId, $this->args($json), strlen($json), $atts, $n);
    }

    /** A socket's Socket.IO id (the client's `socket.id`), or null when the socket is unknown. */
    public function sioSid(int $id): ?string
    {
        if ($this->handle === null) {
            return null;
        }
        $this->sidBuffer ??= $this->ffi->new('char[64]');
        $len = $this->ffi->hs_sio_sid($this->handle, $id, $this->sidBuffer, 64);
        if ($len >= 64) {
            $cap = $len + 1;
            $buffer = $this->ffi->new("char[{$cap}]");
            $len = $this->ffi->hs_sio_sid($this->handle, $id, $buffer, $cap);
            return $len < 0 ? null : FFI::string($buffer, $len);
        }
        return $len < 0 ? null : FFI::string($this->sidBuffer, $len);
    }

    /** The socket a Socket.IO id names, or null when it names none. */
    public function sioSocket(string $sid): ?int
    {
        if ($this->handle === null) {
            return null;
        }
        $out = $this->ffi->new('uint64_t');
        $rc = $this->ffi->hs_sio_socket($this->handle, $sid, FFI::addr($out));
        return $rc < 0 ? null : (int) $out->cdata;
    }

    /** The namespace of a socket, or null when the socket is unknown. */
    public function sioNamespaceOf(int $id): ?string
    {
        if ($this->handle === null) {
            return null;
        }
        $buffer = $this->ffi->new('char[256]');
        $len = $this->ffi->hs_sio_namespace_of($this->handle, $id, $buffer, 256);
        if ($len >= 256) {
            $cap = $len + 1;
            $buffer = $this->ffi->new("char[{$cap}]");
            $len = $this->ffi->hs_sio_namespace_of($this->handle, $id, $buffer, $cap);
        }
        return $len < 0 ? null : FFI::string($buffer, $len);
    }

    // ---- channels and presence ---------------------------------------------------------------

    /** Adds a client (of any worker or node) to a channel. */
    public function wsJoin(int $id, string $channel): void
    {
        Library::check($this->ffi->hs_ws_join($this->h(), $id, $channel), "join({$id}, \"{$channel}\")");
    }

    /** Removes a client (of any worker or node) from a channel. */
    public function wsLeave(int $id, string $channel): void
    {
        Library::check($this->ffi->hs_ws_leave($this->h(), $id, $channel), "leave({$id}, \"{$channel}\")");
    }

    /** Sends to every member of a channel, everywhere, except `$except` (0: none); returns how many. */
    public function wsPublish(string $channel, string $data, bool $binary, int $except): int
    {
        // `const char *data` with a length: the PHP string passes as it is, NULs included.
        return Library::check(
            $this->ffi->hs_ws_publish($this->h(), $channel, $data, strlen($data), (int) $binary, $except),
            "publish(\"{$channel}\")"
        );
    }

    /**
     * The ids of a channel's members, of every worker and node.
     *
     * @return list<int>
     */
    public function wsChannelMembers(string $channel): array
    {
        for ($cap = 64;;) {
            $ids = $this->ffi->new("uint64_t[{$cap}]");
            $total = Library::check(
                $this->ffi->hs_ws_channel_members($this->h(), $channel, $ids, $cap),
                "members(\"{$channel}\")"
            );
            if ($total <= $cap) {
                $out = [];
                for ($i = 0; $i < $total; $i++) {
                    $out[] = (int) $ids[$i];
                }
                return $out;
            }
            $cap = $total + 16; // more members came between the two calls: ask again
        }
    }

    /** A presence channel's users, packed ({@see \HttpSock\Http\Wire::presence()}). */
    public function wsPresence(string $channel): string
    {
        $h = $this->h();
        do {
            $len = Library::check(
                $this->ffi->hs_ws_presence($h, $channel, $this->recordBuffer, $this->recordCapacity),
                "presence(\"{$channel}\")"
            );
        } while ($len > $this->recordCapacity && $this->growRecordBuffer($len));
        return $len === 0 ? '' : FFI::string($this->recordBuffer, $len);
    }

    /**
     * A client's record, packed ({@see \HttpSock\Http\Wire::record()}): of any worker or node.
     * Null when the client is unknown, unless `$required` (then a NotFoundException).
     */
    public function wsClientRecord(int $id, bool $required = false): ?string
    {
        if ($this->handle === null) {
            if ($required) {
                throw new StateException("channels({$id}): the server is not running.", StateException::STATUS);
            }
            return null;
        }
        do {
            $len = $this->ffi->hs_ws_client_record($this->handle, $id, $this->recordBuffer, $this->recordCapacity);
            if ($len < 0) {
                if ($required) {
                    Library::check($len, "channels({$id})");
                }
                return null;
            }
        } while ($len > $this->recordCapacity && $this->growRecordBuffer($len));
        return $len === 0 ? '' : FFI::string($this->recordBuffer, $len);
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
            $this->packedTrampoline = null;
        }
    }

    public function __destruct()
    {
        $this->free();
    }

    // ---- process-wide helpers ---------------------------------------------------------------

    /** Whether something accepts connections on address:port. */
    public static function portInUse(string $address, int $port): bool
    {
        return Library::check(Library::ffi()->hs_port_in_use($address, $port), 'isPortFree()') === 1;
    }

    /** Ends the other processes listening on the port; returns how many ended. */
    public static function killPortHolders(int $port): int
    {
        return Library::check(Library::ffi()->hs_kill_port_holders($port), 'freePortIfStuck()');
    }

    /**
     * The engine's address parser (hs_parse_address): [host without brackets, port]. `$port`
     * -1 means the default (the port of a `tcp://` address, else 8080).
     *
     * @return array{0: string, 1: int}
     * @throws InvalidArgumentException For an address or port the engine refuses.
     */
    public static function parseAddress(string $address, int $port): array
    {
        $ffi = Library::ffi();
        $out = $ffi->new('int');
        for ($cap = 256;;) {
            $host = $ffi->new("char[{$cap}]");
            $len = Library::check(
                $ffi->hs_parse_address($address, $port, $host, $cap, FFI::addr($out)),
                "Parsing the address \"{$address}\""
            );
            if ($len < $cap) {
                return [FFI::string($host, $len), (int) $out->cdata];
            }
            $cap = $len + 1; // truncated: the full length is known now
        }
    }

    /** The X-Server-Response-Type name of an answer kind (hs_answer_name), or null. */
    public static function answerName(int $kind): ?string
    {
        $name = Library::ffi()->hs_answer_name($kind);
        return $name === null ? null : (string) $name;
    }

    // ---- internals --------------------------------------------------------------------------

    /**
     * JSON argument text as the engine takes it (`const uint8_t *`): copied into a buffer
     * reused from call to call (the engine copies it during the call).
     */
    private function args(string $json): CData
    {
        $n = strlen($json);
        if ($this->argsBuffer === null || $n > $this->argsCapacity) {
            $this->argsCapacity = max(1024, $n);
            $this->argsBuffer = $this->ffi->new("uint8_t[{$this->argsCapacity}]");
        }
        if ($n > 0) {
            FFI::memcpy($this->argsBuffer, $json, $n);
        }
        return $this->argsBuffer;
    }

    /**
     * Binary attachments as an `hs_bytes` array (and its length), or [null, 0]. The byte
     * buffers are kept by the array's owner object until the next call.
     *
     * @param list<string> $attachments
     * @return array{0: CData|null, 1: int}
     */
    private function attachments(array $attachments): array
    {
        $n = count($attachments);
        if ($n === 0) {
            return [null, 0];
        }
        $list = $this->ffi->new("hs_bytes[{$n}]");
        $this->attachmentBuffers = [];
        foreach ($attachments as $i => $bytes) {
            $buffer = $this->bytes($bytes);
            $this->attachmentBuffers[] = $buffer;
            $list[$i]->data = $this->ffi->cast('const uint8_t *', $buffer);
            $list[$i]->len = strlen($bytes);
        }
        return [$list, $n];
    }

    /** Grows the record buffer to hold `$len` bytes; true (for a retry loop). */
    private function growRecordBuffer(int $len): bool
    {
        $this->recordCapacity = max(4096, $len);
        $this->recordBuffer = $this->ffi->new("uint8_t[{$this->recordCapacity}]");
        return true;
    }

    /** A copy of `$data` as a C byte array (static: for the trampolines). */
    private static function copy(FFI $ffi, string $data): CData
    {
        $n = strlen($data);
        $buffer = $ffi->new('uint8_t[' . max(1, $n) . ']');
        if ($n > 0) {
            FFI::memcpy($buffer, $data, $n);
        }
        return $buffer;
    }

    /** A copy of `$data` as a C byte array (a PHP string passes only as `char *`). */
    private function bytes(string $data): CData
    {
        $n = strlen($data);
        $buffer = $this->ffi->new('uint8_t[' . max(1, $n) . ']');
        if ($n > 0) {
            FFI::memcpy($buffer, $data, $n);
        }
        return $buffer;
    }

    private function h(): CData
    {
        if ($this->handle === null) {
            throw new StateException('The native server has already been released (shutdown() was called).', StateException::STATUS);
        }
        return $this->handle;
    }

    /** Capacities of the fast buffers: a request or reply beyond them takes the packed path. */
    public const FAST_HEAD = 72 * 1024;
    public const FAST_BODY = 64 * 1024;
    public const FAST_REPLY_HEADERS = 8 * 1024;
    public const FAST_REPLY_BODY = 128 * 1024;

    /**
     * The trampoline of every HTTP route whose request and reply fit the fast buffers: the hot
     * path. The engine wrote the decoded captures and the packed head into `head`, the body into
     * `body`; the reply goes back in `reply_headers`/`reply_body`, described by the returned
     * int (hs_fast_reply: kind | status << 3 | header length << 13 | body length << 37). No
     * pointer argument (no CData made per call) and no second FFI call.
     */
    private function fastTrampoline(): Closure
    {
        $ffi = $this->ffi;
        $fast = $ffi->new('hs_fast_buffers');
        $arrays = [];
        foreach (['head' => self::FAST_HEAD, 'body' => self::FAST_BODY, 'reply_headers' => self::FAST_REPLY_HEADERS, 'reply_body' => self::FAST_REPLY_BODY] as $field => $cap) {
            $arrays[] = $array = $ffi->new("uint8_t[{$cap}]");
            $fast->{$field} = FFI::addr($array[0]);
            $fast->{$field . '_cap'} = $cap;
        }
        $this->fast = $fast;
        $this->fastArrays = $arrays;
        $state = $this->state;
        [$state->in, $state->inBody, $state->outHead, $state->outBody] = $arrays;
        $state->ffi = $ffi;
        $state->onFailure = $this->onFailure;
        // Not static: `$this` is the FastState (a property read per use is cheaper than a
        // `use` variable, which is bound on every call whether used or not).
        $trampoline = function ($userData, int $route, int $lengths, int $spans): int {
            // hs_fast_handler: three 21-bit fields per argument. $route: route id | captures |
            // their bytes; $lengths: head | body | headers block; $spans: query start | query
            // length | headers start (read by Request when asked).
            try {
                // Bound to Message's scope: the fields are set and read directly (no
                // constructor, no getter).
                $request = new Request();
                $request->head = $head = FFI::string($this->in, $lengths & 0x1fffff);
                if ($lengths & 0x3ffffe00000) {
                    $request->body = FFI::string($this->inBody, $lengths >> 21 & 0x1fffff);
                }
                $request->serverPort = $this->port;
                $request->lengths = $lengths;
                $request->spans = $spans;
                if ($route < 0x200000) {
                    $result = $this->routes[$route]($request);
                } else {
                    $request->offset = $route >> 42;
                    $result = ($route >> 21 & 0x1fffff) === 1
                        ? $this->routes[$route & 0x1fffff]($request, substr($head, 0, ($route >> 42) - 1))
                        : $this->routes[$route & 0x1fffff]($request, ...explode("\0", substr($head, 0, ($route >> 42) - 1)));
                }
                // Our Response (or Luminova's name for it) read directly; a subclass may override
                // the getters, so it goes the general way (Reply::from), as any other value.
                if ($result instanceof Response && ($result::class === Response::class || $result::class === \Luminova\Http\Message\Response::class)) {
                    $status = $result->statusCode;
                    $body = $result->body ?? $result->contents;
                    if (!is_string($body)) {
                        [$status, $lines, $body] = Reply::parts($status, $result->headers, $body);
                    } elseif ($result->headers === $this->lastHeaders) {
                        $lines = $this->lastLines;
                        if ($status === 0) {
                            $status = 200;
                        }
                    } else {
                        [$status, $lines, $body] = Reply::parts($status, $headers = $result->headers, $body);
                        if (Reply::textOnly($headers)) {
                            $this->lastHeaders = $headers;
                            $this->lastLines = $lines;
                        }
                    }
                } elseif (is_array($result)) {
                    [$status, $lines, $body] = [200, Reply::JSON_HEADER, json_encode($result, Reply::JSON_FLAGS)];
                } elseif (is_string($result) && !str_starts_with($result, 'HTTP/')) {
                    [$status, $lines, $body] = [200, Reply::HTML_HEADER, $result];
                } else {
                    $reply = Reply::from($result);
                    if (!is_array($reply)) {
                        return NativeServer::fastOther($this->ffi, $this->outBody, NativeServer::FAST_REPLY_BODY, $reply);
                    }
                    [$status, $lines, $body] = $reply;
                }
                $hl = strlen($lines);
                $bl = strlen($body);
                if ($hl > NativeServer::FAST_REPLY_HEADERS || $bl > NativeServer::FAST_REPLY_BODY) {
                    $this->ffi->hs_respond($this->ffi->hs_fast_response(), $status, $lines, $hl, $body, $bl);
                    return 5; // HS_FAST_DONE
                }
                if ($hl > 0) {
                    FFI::memcpy($this->outHead, $lines, $hl);
                }
                if ($bl > 0) {
                    FFI::memcpy($this->outBody, $body, $bl);
                }
                // HS_FAST_RESPOND; a status outside 0-1023 is sent as 1023, which the engine
                // refuses with a 500 as it would the status itself.
                return 1 | ($status >= 0 && $status < 1024 ? $status : 1023) << 3 | $hl << 13 | $bl << 37;
            } catch (\Throwable $e) {
                return NativeServer::fastFailed($this->outBody, NativeServer::FAST_REPLY_BODY, $this->onFailure, $e);
            }
        };
        return Closure::bind($trampoline, $state, \HttpSock\Http\Message::class);
    }

    /** A fast handler threw: its reason for the engine's log, and HS_FAST_FAIL. @internal */
    public static function fastFailed(CData $outBody, int $cap, Closure $onFailure, \Throwable $e): int
    {
        try {
            $reason = substr((string) $onFailure($e), 0, $cap);
        } catch (\Throwable $e2) {
            self::lastResort($e2);
            $reason = '';
        }
        if ($reason !== '') {
            FFI::memcpy($outBody, $reason, strlen($reason));
        }
        return 4 | strlen($reason) << 37; // HS_FAST_FAIL
    }

    /**
     * A fast reply that is not [status, headers, body]: null (the engine's default), a raw
     * response string, or an Answer.
     *
     * @param null|string|\HttpSock\Answer $reply
     * @internal (public: called from the fast trampoline, bound to another class's scope)
     */
    public static function fastOther(FFI $ffi, CData $outBody, int $cap, mixed $reply): int
    {
        if ($reply === null) {
            return 0; // HS_FAST_NONE
        }
        if (is_string($reply)) {
            $n = strlen($reply);
            if ($n > $cap) {
                $ffi->hs_response_set_raw($ffi->hs_fast_response(), $reply, $n);
                return 5; // HS_FAST_DONE
            }
            FFI::memcpy($outBody, $reply, $n);
            return 2 | $n << 37; // HS_FAST_RAW
        }
        return 3 | $reply->value << 3; // HS_FAST_ANSWER
    }

    /** The trampoline of every HTTP route for requests beyond the fast buffers. */
    private function packedTrampoline(): Closure
    {
        $onRequest = $this->onRequest;
        $onFailure = $this->onFailure;
        $ffi = $this->ffi;
        return static function ($userData, $head, $headLen, $body, $bodyLen, $res) use ($onRequest, $onFailure, $ffi): void {
            try {
                $reply = $onRequest(FFI::string($head, $headLen), $bodyLen > 0 ? FFI::string($body, $bodyLen) : '');
                // reply(), inlined: this runs once per request.
                if (is_array($reply)) {
                    [$status, $headers, $body] = $reply;
                    $ffi->hs_respond($res, $status, $headers, strlen($headers), $body, strlen($body));
                } elseif (is_string($reply)) {
                    $ffi->hs_response_set_raw($res, $reply, strlen($reply));
                } elseif ($reply !== null) {
                    $ffi->hs_response_answer($res, $reply->value);
                }
            } catch (\Throwable $e) {
                self::fail($ffi, $res, $onFailure, $e);
            }
        };
    }

    /**
     * The handler threw: the client gets the engine's SERVER_ERROR answer, shaped by the error
     * hook (the engine calls it after the handler returned); the reason goes to its debug log.
     */
    private static function fail(FFI $ffi, CData $res, Closure $onFailure, \Throwable $e): void
    {
        try {
            $reason = $onFailure($e);
        } catch (\Throwable $e2) {
            self::lastResort($e2);
            $reason = null;
        }
        $ffi->hs_response_fail($res, $reason);
    }

    /**
     * Hands a reply to the engine in one call (none for null: the engine's default stays).
     *
     * @param null|string|\HttpSock\Answer|array{0: int, 1: string, 2: string} $reply
     */
    private static function reply(FFI $ffi, CData $res, mixed $reply): void
    {
        if ($reply === null) {
            return;
        }
        if (is_string($reply)) {
            $ffi->hs_response_set_raw($res, $reply, strlen($reply));
        } elseif (is_array($reply)) {
            [$status, $headers, $body] = $reply;
            $ffi->hs_respond($res, $status, $headers, strlen($headers), $body, strlen($body));
        } else {
            $ffi->hs_response_answer($res, $reply->value);
        }
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
