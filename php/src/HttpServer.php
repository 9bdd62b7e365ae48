<?php

declare(strict_types=1);

namespace HttpSock;

use Closure;
use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Exceptions\RuntimeException;
use HttpSock\Exceptions\StateException;
use HttpSock\Http\Reply;
use HttpSock\Http\Request;
use HttpSock\Http\Wire;
use HttpSock\Native\Library;
use HttpSock\Native\NativeServer;
use HttpSock\Server\Address;
use HttpSock\Server\Authorizer;
use HttpSock\Server\ClientList;
use HttpSock\Server\Config;
use HttpSock\Server\DebugLog;
use HttpSock\Server\HttpDispatcher;
use HttpSock\Server\Loop;
use HttpSock\Server\Tls;
use HttpSock\Server\WorkerPool;
use HttpSock\Server\WorkerSlot;
use HttpSock\Server\SioDispatcher;
use HttpSock\Server\WsDispatcher;
use HttpSock\SocketIo\SocketNamespace;

/**
 * Luminova's HttpServer API, served by libhttpsock: a keep-alive HTTP/1.1 (and HTTP/2, TLS) and RFC 6455
 * WebSocket server whose routing, parsing and I/O run in Rust, with handlers in PHP.
 *
 * This class is the API; the work is done by small internal classes: Server\Config (the
 * configuration, replayed onto every fresh native server: each worker of simultaneous mode,
 * start() after shutdown()), Server\Loop (the event loop and signals), Server\WorkerPool
 * (simultaneous mode), Server\HttpDispatcher, Server\WsDispatcher and Server\SioDispatcher (the
 * callbacks: HTTP, WebSocket, Socket.IO), and Native\NativeServer (the only code that talks to the
 * engine). Socket.IO's public objects are in SocketIo\ (socketio()).
 *
 * @method void put(string $pattern, Closure $response) Define a route for PUT requests.
 * @method void patch(string $pattern, Closure $response) Define a route for PATCH requests.
 * @method void delete(string $pattern, Closure $response) Define a route for DELETE requests.
 * @method void options(string $pattern, Closure $response) Define a route for OPTIONS requests.
 * @method void head(string $pattern, Closure $response) Define a route for HEAD requests.
 */
class HttpServer
{
    /**
     * A unique identifier for the WebSocket connection, used in the handshake process to
     * establish communication (RFC 6455's GUID; the engine computes the handshake).
     */
    public string $guid = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

    /** Limits for setLimit(): the values of {@see Limit} (the engine's hs_limit; defaults in README.md). */
    public const LIMIT_IDLE_TIMEOUT_MS = 1;
    public const LIMIT_MAX_CONNECTIONS = 2;
    public const LIMIT_MAX_HEADER_BYTES = 3;
    public const LIMIT_MAX_BODY_BYTES = 4;
    public const LIMIT_WS_MAX_MESSAGE = 5;
    public const LIMIT_WS_PING_INTERVAL_MS = 6;
    public const LIMIT_WS_PING_TIMEOUT_MS = 7;
    public const LIMIT_WS_SEND_QUEUE = 8;
    public const LIMIT_SHUTDOWN_GRACE_MS = 9;
    public const LIMIT_H2_MAX_STREAMS = 10;

    private static int $nextId = 0;

    private readonly int $id;
    private Address $address;
    private ?int $boundPort = null;
    private int $maxProcesses = 0;

    /** The live native server, if any. */
    private ?NativeServer $native = null;
    private bool $started = false;
    private bool $exitHookRegistered = false;
    private ?Closure $disconnectHandler = null;
    /** The TLS settings from the constructor's `ssl` options, or null for plain HTTP. */
    private readonly ?Tls $tls;
    /** In a worker of simultaneous mode: its place (null in the parent and in sequential mode). */
    private ?WorkerSlot $worker = null;

    private readonly DebugLog $log;
    private readonly Config $config;
    private readonly HttpDispatcher $http;
    private readonly WsDispatcher $ws;
    private readonly SioDispatcher $sio;
    private readonly Authorizer $authorizer;
    /** Whether the steps that register authorize()'s hook and the room events are recorded. */
    private bool $authorizeStep = false;
    private bool $roomEventsStep = false;
    private readonly ClientList $clients;
    private readonly Loop $loop;
    private readonly WorkerPool $pool;

    /**
     * Initializes the HTTP server by binding to the specified address and port.
     *
     * @param string $address The connection IP address, hostname or a valid TCP connection string to bind to
     *        (e.g., `127.0.0.1`, `example.com`, `tcp://127.0.0.1:8080`; `ssl://127.0.0.1:8443` or
     *        `tls://…` for TLS, which needs a certificate in `$options`).
     * @param int|null $port Optional port number to bind to (default: null: the port of a URL address,
     *        else 8080; 0 picks a free port, see getAddress(); a port given here wins over the address's).
     * @param bool $autostart Whether to start the server automatically upon initialization (default: true).
     * @param resource|array|null $options Stream context options, as an array or a context resource
     *        (stream_context_create()). The `ssl` ones configure TLS (https, wss) with PHP's names:
     *        local_cert, local_pk, passphrase, SNI_server_certs, alpn_protocols, verify_peer +
     *        cafile (client certificates); a certificate turns TLS on whatever the address's
     *        scheme. An ssl option this server does not implement is an exception naming it (README,
     *        "TLS"). Other wrappers' options (`socket` …) do not apply: the engine owns the socket.
     *
     * @throws RuntimeException If the server fails to create a valid socket (InvalidArgumentException for an
     *         address, port or TLS option that cannot be used, IoException when binding fails with autostart
     *         or a certificate file cannot be read, EnvironmentException when FFI or libhttpsock is missing).
     */
    public function __construct(string $address, ?int $port = null, bool $autostart = true, mixed $options = null)
    {
        $this->address = Address::parse($address, $port);
        $this->tls = Tls::fromOptions(Tls::contextOptions($options), $this->address->tls ? $address : null);
        $this->id = ++self::$nextId;
        $this->log = new DebugLog();
        $this->http = new HttpDispatcher($this->log);
        $this->ws = new WsDispatcher($this->log);
        $this->sio = new SioDispatcher($this->log, $this->ws);
        $sio = $this->sio;
        $this->ws->setForgetHook(static fn (int $id) => $sio->forget($id));
        $this->authorizer = new Authorizer($this->log);
        $this->clients = new ClientList();
        $this->pool = new WorkerPool($this->log);
        // Weak: nothing the server owns holds the server, so dropping the last reference to it
        // shuts it down at once (__destruct), not at the next garbage collection.
        $self = \WeakReference::create($this);
        $this->loop = new Loop(static fn (): ?NativeServer => $self->get()?->native);
        $this->config = new Config(static fn (): NativeServer => $self->get()->fresh());
        if ($this->tls !== null) {
            // First of all steps: the certificates must be in place before hs_start.
            $tls = $this->tls;
            $this->configure(static fn (NativeServer $n) => $tls->apply($n));
            if (!$autostart) {
                $this->checkCertificates(); // what start() would find wrong, from the constructor
            }
        }
        if ($autostart) {
            $this->start();
        }
    }

    /**
     * Magic method to route calls to undefined methods: `$server->put('/post', fn ...)` defines
     * a PUT route (likewise patch, delete, options, head...).
     *
     * @param string $method HTTP method (e.g., 'PUT', 'PATCH').
     * @param array $arguments The arguments to pass to the route (pattern, callback).
     */
    public function __call(string $method, array $arguments): void
    {
        $this->route(strtoupper($method), ...$arguments);
    }

    /**
     * Enables or disables debug mode: one line per connection, request, response, upgrade and
     * WebSocket frame from the engine, and handler exceptions, on STDERR.
     *
     * @param bool $debug Indicates whether to enable (true) or disable (false) debug mode.
     *
     * @return self Returns instance of HttpServer.
     */
    public function debug(bool $debug = true): self
    {
        $this->log->enabled = $debug;
        $this->configure(static fn (NativeServer $n) => $n->setDebug($debug));
        return $this;
    }

    /**
     * Specifies whether the client must connect to the server (GET /connect) before sending
     * and receiving HTTP requests; GET /disconnect ends that. Per client IP.
     *
     * @param bool $required Whether a connection is required before handling requests (default: true).
     *
     * @return self Returns instance of HttpServer.
     */
    public function connectionRequired(bool $required = true): self
    {
        $this->configure(static fn (NativeServer $n) => $n->setConnectionRequired($required));
        return $this;
    }

    /**
     * Configures whether the server should accept WebSocket connections.
     *
     * @param bool $accept Set to true to enable WebSocket connections; false to disable.
     *
     * @return self Returns instance of HttpServer.
     */
    public function websocket(bool $accept = true): self
    {
        $this->configure(static fn (NativeServer $n) => $n->setWebSocket($accept));
        return $this;
    }

    /**
     * Check if socket server is successfully connected to address and port (listening).
     *
     * @return bool Return true if is connected or otherwise false.
     */
    public function isConnected(): bool
    {
        return ($this->started && ($this->native?->isAlive() ?? false)) || $this->pool->isSupervising();
    }

    /**
     * Checks whether the configured port is free: true when nothing accepts connections on the
     * address and port, false when something (this server included) listens there.
     *
     * @return bool Return true if the port is free, false if it is in use.
     */
    public function isPortFree(): bool
    {
        $address = $this->getAddress();
        if ($address['port'] === 0) {
            return true;
        }
        return !NativeServer::portInUse($address['address'], $address['port']);
    }

    /**
     * Check if the port is in use and free it if necessary: ends the other processes listening
     * on it (SIGTERM, then SIGKILL after 1 s). Never this process.
     *
     * @param int|null $port The port number to check (default: the server's port).
     *
     * @return bool Returns true if the port was freed, false otherwise.
     */
    public function freePortIfStuck(?int $port = null): bool
    {
        $port ??= $this->getAddress()['port'];
        return $port > 0 && NativeServer::killPortHolders($port) > 0;
    }

    /**
     * Automatically close connections that are idle for too long.
     *
     * @param int $timeout The server timeout in seconds wait for idle connections.
     * @param int $microseconds The microseconds part of the timeout to be set (default: 0).
     *
     * @return self Returns instance of HttpServer.
     * @throws RuntimeException If the total is below 1 ms.
     */
    public function setTimeout(int $timeout, int $microseconds = 0): self
    {
        $this->configure(static fn (NativeServer $n) => $n->setTimeout($timeout, $microseconds));
        return $this;
    }

    /**
     * Sets the rate limit for incoming client requests, per client IP (429 REQUEST_LIMIT beyond
     * it). Off until called; 0 turns it off again.
     *
     * @param int $maxRequests Maximum number of requests allowed in the time window.
     * @param int $timeWindow Time window in seconds for the request limit.
     *
     * @return self Returns instance of HttpServer.
     */
    public function setRateLimit(int $maxRequests, int $timeWindow): self
    {
        $max = max(0, $maxRequests);
        $window = max(1, $timeWindow);
        $this->configure(static fn (NativeServer $n) => $n->setRateLimit($max, $window));
        return $this;
    }

    /**
     * Sets one of the engine's limits: max connections, request head and body size, WebSocket
     * message size, ping interval and timeout, send queue, shutdown grace, idle timeout.
     *
     * @param Limit|int $limit A {@see Limit} case, or its value (self::LIMIT_*).
     * @param int $value The new value (bytes, milliseconds or a count, as the limit says).
     *
     * @return self Returns instance of HttpServer.
     * @throws RuntimeException For an unknown limit or a value out of range.
     */
    public function setLimit(Limit|int $limit, int $value): self
    {
        $which = $limit instanceof Limit ? $limit->value : $limit;
        $this->configure(static fn (NativeServer $n) => $n->setLimit($which, $value));
        return $this;
    }

    /**
     * HTTP/2 (an addition of ours): over TLS, negotiated by ALPN (`h2`) with clients that offer it;
     * on a plain port, cleartext HTTP/2 by prior knowledge (h2c: the connection preface tells).
     * Both are on by default; everything that works over HTTP/1.1 works over HTTP/2. Call before
     * start() (or with autostart false): it applies to the next start.
     *
     * @param bool $enabled HTTP/2 over TLS (default: true).
     * @param bool $cleartext h2c on a plain port (default: true).
     *
     * @return self Returns instance of HttpServer.
     * @throws RuntimeException On a server that has already served (StateException).
     */
    public function http2(bool $enabled = true, bool $cleartext = true): self
    {
        $this->configure(static fn (NativeServer $n) => $n->setHttp2($enabled, $cleartext));
        return $this;
    }

    /**
     * WebSocket compression, permessage-deflate (RFC 7692; an addition of ours): negotiated
     * when a client offers it (browsers do). On by default.
     *
     * @param bool $enabled Negotiate it (default: true).
     * @param int $minSize Messages shorter than this many bytes go out uncompressed (default: 256).
     * @param bool $contextTakeover Keep a compressor per connection when the client allows it:
     *        better ratio for similar messages, but hundreds of KiB of memory per connection
     *        (default: false: compressors are shared and reset per message).
     * @param int $maxWindowBits The largest LZ77 window the server uses, 8..15 (default: 15).
     *
     * @return self Returns instance of HttpServer.
     * @throws RuntimeException For a value out of range (InvalidArgumentException).
     */
    public function websocketCompression(bool $enabled = true, int $minSize = 256, bool $contextTakeover = false, int $maxWindowBits = 15): self
    {
        if ($minSize < 0 || $maxWindowBits < 8 || $maxWindowBits > 15) {
            throw new InvalidArgumentException(
                "websocketCompression(): minSize must be >= 0 and maxWindowBits 8..15, got {$minSize} and {$maxWindowBits}.",
                InvalidArgumentException::STATUS
            );
        }
        $this->configure(static fn (NativeServer $n) => $n->setWsDeflate($enabled, $minSize, $contextTakeover, $maxWindowBits));
        return $this;
    }

    /**
     * Whether the server speaks TLS (https, wss): an `ssl://`/`tls://` address or a certificate
     * in the options. (An addition of ours.)
     */
    public function isSecure(): bool
    {
        return $this->tls !== null;
    }

    /**
     * Re-reads the certificate, key and CA files given in the options (an addition of ours): new
     * TLS handshakes get the new certificate, open connections go on. A key with a passphrase is
     * decrypted again. All or nothing: on failure the certificates in use stay.
     *
     * In simultaneous mode, called in the supervising process (e.g. from a SIGHUP handler of the
     * program's) it checks the files first (the common failure throws here), then every worker
     * reloads and confirms; a worker that fails or does not confirm within 5 s makes this throw
     * too, naming it (that worker keeps its old certificate). Called in a worker (a handler, a
     * timer), that worker reloads at once and asks the supervisor to reload every worker (their
     * failures are then only logged, with debug()).
     *
     * @return self Returns instance of HttpServer.
     * @throws RuntimeException Naming the file and the fix (IoException for a file that cannot be
     *         read, InvalidArgumentException for a certificate or key that is not valid or does not
     *         match); StateException on a server without TLS.
     */
    public function reloadCertificates(): self
    {
        $tls = $this->tls;
        if ($tls === null) {
            throw new StateException(
                'reloadCertificates(): this server has no TLS certificate (give one in $options: '
                . "['ssl' => ['local_cert' => ..., 'local_pk' => ...]]).",
                StateException::STATUS
            );
        }
        if ($this->pool->isSupervising()) {
            $this->checkCertificates();
            $failures = $this->pool->reloadWorkers();
            if ($failures !== []) {
                throw new RuntimeException('reloadCertificates(): the files are valid, but ' . implode('; ', $failures) . '.');
            }
            return $this;
        }
        $native = $this->native;
        if ($native === null || !$native->isAlive()) {
            $this->checkCertificates(); // the next start() reads them anyway
            return $this;
        }
        $tls->reload($native);
        if ($this->worker !== null) {
            WorkerPool::askParentToReload($this->worker);
        }
        return $this;
    }

    /**
     * Set the number of worker processes of simultaneous mode (`run(..., true)`); default: the
     * number of CPUs.
     *
     * @param int $max The number of worker processes.
     *
     * @return self Returns instance of HttpServer.
     * @throws RuntimeException Throw if `$max` is not a positive integer (InvalidArgumentException).
     */
    public function setMaxProcesses(int $max): self
    {
        if ($max <= 0) {
            throw new InvalidArgumentException(
                'The maximum number of client processes must be a positive integer.',
                InvalidArgumentException::STATUS
            );
        }
        $this->maxProcesses = $max;
        return $this;
    }

    /**
     * Set a header sent with every HTTP response (unless the handler sets the same name).
     *
     * @param string $key The header key/name to set.
     * @param mixed $value The value of the header key (null removes it).
     *
     * @return self Returns instance of HttpServer.
     */
    public function setHeader(string $key, mixed $value): self
    {
        $text = $value === null ? null : Reply::text($value);
        $this->configure(static fn (NativeServer $n) => $n->setHeader($key, $text));
        return $this;
    }

    /**
     * Set the headers sent with every HTTP response, replacing all earlier ones (the CORS
     * defaults included).
     *
     * @param array<string,mixed> $headers Associative array of headers, where the key is the header name
     *        and the value is the header value.
     *
     * @return self Returns instance of HttpServer.
     */
    public function setHeaders(array $headers): self
    {
        $this->configure(static fn (NativeServer $n) => $n->clearHeaders());
        foreach ($headers as $key => $value) {
            $this->setHeader((string) $key, $value);
        }
        return $this;
    }

    /**
     * Get the server socket resource for registration in the event loop. The engine owns the
     * socket, so there is no PHP stream: always null.
     *
     * @return resource|null The server socket resource or null.
     */
    public function getSocket(): mixed
    {
        return null;
    }

    /**
     * Get the ID of the server (unique in this process, > 0).
     *
     * @return int Return the ID of the server socket.
     */
    public function getId(): int
    {
        return $this->id;
    }

    /**
     * The address and port the server binds to; after start(), the port actually bound (useful
     * with port 0).
     *
     * @return array{address: string, port: int} Return an associative array containing 'address' and 'port'.
     */
    public function getAddress(): array
    {
        return ['address' => $this->address->host, 'port' => $this->boundPort ?? $this->address->port];
    }

    /**
     * Starts the server by binding to the specified address and port. Idempotent.
     *
     * @return self Returns the Http Server instance after the socket is successfully created.
     *
     * @throws RuntimeException If the server cannot bind to the address or port, or if the port is already in use
     *         (IoException).
     */
    public function start(): self
    {
        if ($this->started && $this->native !== null) {
            return $this;
        }
        $native = $this->native ?? $this->config->build();
        try {
            $native->start();
        } catch (RuntimeException $e) {
            $native->free();
            $this->native = null;
            throw $e;
        }
        $this->native = $native;
        $this->started = true;
        $this->boundPort = $native->port();
        $native->setServerPort($this->boundPort);
        $this->http->setServerPort($this->boundPort);
        $this->ws->setServerPort($this->boundPort);
        $this->sio->setServerPort($this->boundPort);
        $this->authorizer->setServerPort($this->boundPort);
        $this->registerExitHook();
        return $this;
    }

    /**
     * Runs the server until shutdown() or SIGINT/SIGTERM.
     *
     * Sequential mode: one process serves every connection (concurrently, in the engine).
     * Simultaneous mode: setMaxProcesses() worker processes (default: the CPU count) share the
     * port; this process supervises them (restarts a worker that dies; SIGTERM/SIGINT or
     * shutdown() ends them all).
     *
     * @param int|null $timeout Unused (Luminova's select timeout; the engine waits for events).
     * @param int $sleep Unused (Luminova's pause between accepts; nothing is polled here).
     * @param bool $simultaneous Whether to serve with several worker processes (default: false).
     *
     * @throws RuntimeException If the server cannot start or the event loop fails.
     */
    public function run(int|null $timeout = 100000, int $sleep = 10000, bool $simultaneous = false): void
    {
        if ($simultaneous) {
            $this->runWorkers();
            return;
        }
        $this->start();
        $native = $this->native;
        if ($native === null) {
            return;
        }
        $this->loop->serve($native);
        if ($this->native === $native) {
            $this->release();
            $this->notifyDisconnect();
        }
    }

    /**
     * Gracefully shuts down the server: stops accepting, lets in-flight requests finish, closes
     * WebSocket clients with 1001, then releases the socket. Safe from a signal handler, from a
     * callback, from register_shutdown_function() and __destruct, in any order, repeatedly.
     * If a disconnect() callback is registered, it is called with the server's details.
     *
     * @param bool $kill Whether to also free the port if another process holds it (default: false).
     */
    public function shutdown(bool $kill = false): void
    {
        $this->pool->stop();
        $native = $this->native;
        if ($native !== null) {
            $native->shutdown();
            if ($native->isPolling()) {
                return; // inside a callback: the loop in run() ends and releases the server
            }
            // From a signal handler between poll slices, or outside run(): finish it here, so
            // that `shutdown(); exit;` is still graceful.
            if ($this->loop->isRunning() || $this->pool->isSupervising()) {
                $this->loop->drain($native);
            }
            $this->release();
            $this->notifyDisconnect();
        }
        if ($kill) {
            $this->freePortIfStuck();
        }
    }

    /**
     * Marks a client as connected to the server (connection-required mode).
     *
     * @param string|null $address The client's IP address or identifier.
     *        If not provided, defaults to the server's own IP address.
     */
    public function on(?string $address = null): void
    {
        $this->configure(static fn (NativeServer $n) => $n->clientOn($address));
        $this->clients->on($address ?? $this->address->host);
    }

    /**
     * Marks a client as disconnected and removes it from the active clients list.
     *
     * @param string|null $address The client's IP address or identifier.
     *        If not provided, defaults to the server's own IP address.
     */
    public function off(?string $address = null): void
    {
        $this->configure(static fn (NativeServer $n) => $n->clientOff($address));
        $this->clients->off($address ?? $this->address->host);
    }

    /**
     * Accept WebSocket clients on a path pattern (needs websocket(true)). The callback is called
     * for every message: `function (string $message, array $payload)` where $payload holds id,
     * address, port, uri, path, query, headers, params, route, secure (wss), user, info,
     * channels, node and binary. A string it returns is sent back to that client in the frame
     * type of the message (an array: as JSON text).
     *
     * Socket.IO: a pattern that begins with `/socket.io` (the dot escaped or not, an optional
     * `^`) not followed by a letter, digit, `_`, `-` or `{` — `/socket.io(?:/.*)?`,
     * `/socket.io/.*`, `/socket.io` — serves Socket.IO clients on `/socket.io/` (Engine.IO v4,
     * polling and websocket) instead of a WebSocket route: the callback is called for every
     * event of the default namespace `/` that socketio('/')->on() does not handle, with
     * `$message` the event's first argument as text (JSON when it is not a string) and
     * `$payload` holding id, sid, namespace, event, args, ack, address, port, uri, path, query,
     * headers, secure, user, info, channels, node. A value it returns (not null) is the
     * acknowledgement when the client waits for one (else it is emitted back to that socket as
     * the same event); README, "Socket.IO (PHP)".
     *
     * @param string $pattern URI pattern (e.g, `/ws(?:/.*)?`, `/chat/{room}`).
     * @param Closure $response The message callback.
     * @param int $maxClients The most clients this route holds at once, counted over every
     *        worker and node; one more gets 503 (`ROUTE_FULL`) instead of the 101. 0: no limit
     *        (an addition of ours; default 0).
     *
     * @throws RuntimeException For a negative `$maxClients` (InvalidArgumentException) or a
     *         pattern that does not compile (PatternException).
     */
    public function accept(string $pattern, Closure $response, int $maxClients = 0): void
    {
        if ($maxClients < 0) {
            throw new InvalidArgumentException(
                "accept({$pattern}): \$maxClients is a number of clients (0: no limit); got {$maxClients}.",
                InvalidArgumentException::STATUS
            );
        }
        if (SioDispatcher::isSocketIoPattern($pattern)) {
            if ($maxClients !== 0) {
                throw new InvalidArgumentException(
                    "accept({$pattern}): a client limit is for WebSocket routes; this pattern is the Socket.IO endpoint.",
                    InvalidArgumentException::STATUS
                );
            }
            $this->socketio('/')->setDocumentedHandler($response);
            return;
        }
        $this->listenToRooms();
        $ws = $this->ws;
        $this->configure(static function (NativeServer $n) use ($ws, $pattern, $response, $maxClients): void {
            $route = $ws->accept($n, $pattern, $response);
            if ($maxClients > 0) {
                $n->wsRouteLimit($route, $maxClients);
            }
        });
    }

    /**
     * Define a route for GET requests (HEAD requests are answered by it, without a body).
     *
     * @param string $pattern URI pattern (e.g, '/', '/user/{id}') to match.
     * @param Closure $response The response callback: `function (HttpRequestInterface $request, string ...$captures)`.
     */
    public function get(string $pattern, Closure $response): void
    {
        $this->route('GET', $pattern, $response);
    }

    /**
     * Define a route for POST requests.
     *
     * @param string $pattern URI pattern (e.g, '/') to match.
     * @param Closure $response The response callback.
     */
    public function post(string $pattern, Closure $response): void
    {
        $this->route('POST', $pattern, $response);
    }

    /**
     * Register a simple "ping" route for health checks: GET /ping answers 200 "PONG".
     */
    public function ping(): void
    {
        $this->route('GET', '/ping(?:/.*)?', static fn () => Answer::PONG);
    }

    /**
     * Define a callback that shapes error answers: `function (?HttpRequestInterface $request, string $type)`
     * with $type NOT_FOUND, REQUEST_LIMIT, NOT_CONNECTED, BAD_REQUEST, SERVER_ERROR or
     * PAYLOAD_TOO_LARGE. It may return a Response, a string, an array, or null for the default.
     *
     * @param Closure $response The response callback.
     */
    public function error(Closure $response): void
    {
        $this->http->setErrorHandler($response);
        $http = $this->http;
        $this->configure(static fn (NativeServer $n) => $n->onError($http->error(...)));
    }

    /**
     * Define the GET /connect route. The callback receives the client's information (an array)
     * and the list of connected clients; the answer is "Client successfully connected." unless
     * the callback returns a response.
     *
     * @param Closure|null $response The response callback: function(array $client, array $clients).
     */
    public function connect(?Closure $response = null): void
    {
        $clients = $this->clients;
        $this->route('GET', '/connect(?:/.*)?', static function (Request $request) use ($response, $clients): mixed {
            $client = $clients->connect($request->getIp(), $request->getClientPort());
            return $response?->__invoke($client, $clients->all()) ?? Answer::CONNECTED;
        });
    }

    /**
     * Define the GET /disconnect route. The callback receives the client's information (an
     * array) and the list of connected clients; the answer is "Client successfully
     * disconnected." unless the callback returns a response. Called on shutdown() too, with
     * the server's details.
     *
     * @param Closure|null $response The response callback (optional): function(array $client, array $clients).
     */
    public function disconnect(?Closure $response = null): void
    {
        $this->disconnectHandler = $response;
        $clients = $this->clients;
        $this->route('GET', '/disconnect(?:/.*)?', static function (Request $request) use ($response, $clients): mixed {
            $client = $clients->disconnect($request->getIp(), $request->getClientPort());
            return $response?->__invoke($client, $clients->all()) ?? Answer::DISCONNECTED;
        });
    }

    /**
     * Define a route for specific HTTP methods. `{name}` segments are captures, passed to the
     * callback after the request, in order.
     *
     * @param string $methods HTTP methods to accept (e.g, `GET|POST|PUT`, or `ALL`).
     * @param string $pattern URI pattern (e.g, `/`, `/user/{id}`); an anchored regular expression.
     * @param Closure $response The response callback.
     *
     * @throws RuntimeException For an invalid method list (InvalidArgumentException) or a pattern that does not
     *         compile (PatternException).
     */
    public function route(string $methods, string $pattern, Closure $response): void
    {
        $methods = strtoupper($methods);
        $http = $this->http;
        $this->configure(static fn (NativeServer $n) => $http->addRoute($n->route($methods, $pattern, $response), $response));
    }

    /**
     * Sets a callback to intercept and modify every HTTP response body before it is sent:
     * `function(string $body, array $requestHeaders): string`.
     *
     * @param Closure $intercept Callback to modify the response content.
     */
    public function onResponse(Closure $intercept): void
    {
        $this->http->setResponseFilter($intercept);
        $http = $this->http;
        $this->configure(static fn (NativeServer $n) => $n->onResponse($http->filter(...)));
    }

    // ---- additions: WebSocket clients and timers ------------------------------------------------

    /**
     * Called when a WebSocket client has connected: `function (array $client)` (the payload).
     */
    public function onOpen(Closure $callback): self
    {
        $this->ws->setOpenHandler($callback);
        return $this;
    }

    /**
     * Called when a WebSocket client is gone: `function (array $client, int $code, string $reason)`.
     */
    public function onClose(Closure $callback): self
    {
        $this->ws->setCloseHandler($callback);
        return $this;
    }

    /**
     * Sends a message to one WebSocket client (of any worker in simultaneous mode).
     *
     * @return bool False when the client is gone or does not read (it is then dropped).
     */
    public function send(int $id, string $message, bool $binary = false): bool
    {
        return ($this->native?->wsSend($id, $message, $binary) ?? -1) === 0;
    }

    /**
     * Sends a message to every WebSocket client (of every worker), except `$exceptId`.
     *
     * @return int How many clients of this process it was queued for.
     */
    public function broadcast(string $message, ?int $exceptId = null, bool $binary = false): int
    {
        return $this->native?->wsBroadcast($message, $binary, $exceptId ?? 0) ?? 0;
    }

    /**
     * Closes a WebSocket client (code 1000-1003, 1007-1014 or 3000-4999; reason at most 123 bytes).
     */
    public function close(int $id, int $code = 1000, string $reason = ''): bool
    {
        return ($this->native?->wsClose($id, $code, $reason) ?? -1) === 0;
    }

    /**
     * The WebSocket clients of every worker and node: id => payload (a client of another
     * worker or node has no `headers`; its `node` says where it is).
     *
     * @return array<int, array<string, mixed>>
     */
    public function getClients(): array
    {
        return $this->ws->clients();
    }

    // ---- additions: Socket.IO -----------------------------------------------------------------

    /**
     * A Socket.IO namespace (`/` the default one; Socket.IO's `io.of($namespace)`), served on
     * `/socket.io/` (Engine.IO v4: polling, websocket and the upgrade between them), with its
     * handlers and emits: `on($event, fn (array $socket, mixed ...$args))` (its return value is
     * the acknowledgement), `onConnect(fn (array $socket))` (may refuse), `onDisconnect(fn (array
     * $socket, string $reason))`, `emit()`, `to($room)->emit()`, `except($sid)->emit()`,
     * `toSocket($sid)->emit()`, `join()`, `leave()`, `disconnect()`, `sockets()`, `members()`.
     * The same object every call for one name. Rooms are this server's channels; emits reach
     * the sockets of every worker and node (useRedis()). The global authorize() and
     * setOrigins() decide the Engine.IO handshake. A client that asks for a namespace never
     * registered gets "Invalid namespace" (the default `/` always exists).
     *
     * @param string $namespace `/` or `/name` (Socket.IO's namespaces).
     *
     * @throws RuntimeException InvalidArgumentException for a namespace that does not start
     *         with `/`.
     */
    public function socketio(string $namespace = '/'): SocketNamespace
    {
        $found = $this->sio->find($namespace);
        if ($found !== null) {
            return $found;
        }
        if (!str_starts_with($namespace, '/') || preg_match('/[\x00-\x20,]/', $namespace) === 1) {
            throw new InvalidArgumentException(
                "socketio(\"{$namespace}\"): a namespace starts with '/' and has no spaces, commas or control characters.",
                InvalidArgumentException::STATUS
            );
        }
        $sio = $this->sio;
        $this->listenToRooms(); // the rooms' join/leave events keep the sockets' arrays current
        if ($sio->markEnabled()) {
            $this->configure(static fn (NativeServer $n) => $sio->enable($n));
        }
        $nsp = $sio->create($namespace);
        $this->configure(static fn (NativeServer $n) => $sio->register($n, $nsp));
        return $nsp;
    }

    /**
     * Socket.IO's server options (before socketio() and accept() of the Socket.IO path), with
     * Socket.IO's names: `path` (default `/socket.io/`), `pingInterval` (ms, default 25000),
     * `pingTimeout` (ms, default 20000), `maxHttpBufferSize` (bytes of a polling body or a
     * websocket message, default 1000000), `connectTimeout` (ms to connect a namespace after
     * the handshake, default 45000), `connectionStateRecovery` (ms, or Socket.IO's
     * `['maxDisconnectionDuration' => ms]`: how long a socket whose connection was lost waits for
     * its client to come back with its rooms and what was sent meanwhile; default 0: off). 0
     * keeps a default.
     *
     * @param array{path?: string, pingInterval?: int, pingTimeout?: int, maxHttpBufferSize?: int, connectTimeout?: int, connectionStateRecovery?: int|array{maxDisconnectionDuration?: int}} $options
     *
     * @return self Returns instance of HttpServer.
     * @throws RuntimeException InvalidArgumentException for an unknown option or a bad value;
     *         StateException once Socket.IO is on.
     */
    public function socketioOptions(array $options): self
    {
        $this->sio->setOptions($options);
        return $this;
    }

    // ---- additions: upgrade authorization, channels, presence, Redis ------------------------

    /**
     * Decides every WebSocket upgrade before it is answered: `function (HttpRequestInterface
     * $request): bool|array|Response|null` (the upgrade request: headers, cookies, query,
     * captures, peer). `true` or `null` accepts; `false` refuses with 403 (`UPGRADE_REFUSED`); a
     * Response is sent as the refusal (e.g. 401 and a body; the client never becomes a
     * WebSocket); `['user' => string|int, 'info' => array, 'channels' => list<string>]` (each
     * key optional) accepts, naming the user the client acts for (presence channels list it) and
     * the channels it joins at once. A throw answers 500 (`SERVER_ERROR`; with debug(), the
     * exception on STDERR) and the server goes on. Plain HTTP routes are not concerned.
     *
     * @param Closure $callback The decision.
     *
     * @return self Returns instance of HttpServer.
     */
    public function authorize(Closure $callback): self
    {
        $this->authorizer->set($callback);
        if (!$this->authorizeStep) {
            $this->authorizeStep = true;
            $authorizer = $this->authorizer;
            $this->configure(static fn (NativeServer $n) => $n->authorize($authorizer->decide(...), $authorizer->failed(...)));
        }
        return $this;
    }

    /**
     * The origins a WebSocket upgrade may come from: an upgrade whose `Origin` header is not in
     * the list gets 403 (`ORIGIN_REFUSED`); one without an `Origin` header (not a browser) is
     * let through. Exact origins (`https://example.com`, `http://127.0.0.1:8080`), or `*` for
     * any; an empty list (the default) checks nothing.
     *
     * @param list<string> $origins The allowed origins.
     *
     * @return self Returns instance of HttpServer.
     * @throws RuntimeException For an entry that is not an origin (InvalidArgumentException).
     */
    public function setOrigins(array $origins): self
    {
        foreach ($origins as $origin) {
            if (!is_string($origin) || $origin === '') {
                throw new InvalidArgumentException(
                    'setOrigins(): an origin is a non-empty string ("https://example.com", or "*"); got '
                    . get_debug_type($origin) . '.',
                    InvalidArgumentException::STATUS
                );
            }
        }
        $origins = array_values($origins);
        $this->configureChecked(static fn (NativeServer $n) => $n->wsSetOrigins($origins));
        return $this;
    }

    /**
     * Adds a WebSocket client (of any worker or node) to a channel. A channel named
     * `presence-…` lists users: the client must have one (authorize()).
     *
     * @throws RuntimeException With the engine's message: an unknown client (NotFoundException),
     *         a bad channel name or a client in 100 channels (InvalidArgumentException), a
     *         presence channel for a client without a user, or no running server (StateException).
     */
    public function join(int $clientId, string $channel): void
    {
        $this->live('join()')->wsJoin($clientId, $channel);
        $this->ws->forget($clientId);
        $this->sio->forget($clientId);
    }

    /**
     * Removes a WebSocket client (of any worker or node) from a channel. A client leaves every
     * channel when it closes.
     *
     * @throws RuntimeException With the engine's message (as join()).
     */
    public function leave(int $clientId, string $channel): void
    {
        $this->live('leave()')->wsLeave($clientId, $channel);
        $this->ws->forget($clientId);
        $this->sio->forget($clientId);
    }

    /**
     * Sends a message to every member of a channel, on every worker and node, except
     * `$exceptId`. The frame is encoded once, whatever the number of members.
     *
     * @param string $channel The channel.
     * @param string|array $message Text (an array: as JSON text).
     * @param int|null $exceptId A client not to send it to (usually the sender).
     * @param bool $binary Send a string as a binary message (an addition of ours; default false).
     *
     * @throws RuntimeException With the engine's message (a bad channel name, text that is not
     *         UTF-8: InvalidArgumentException); StateException when the server is not running.
     */
    public function publish(string $channel, string|array $message, ?int $exceptId = null, bool $binary = false): void
    {
        if (is_array($message)) {
            $message = json_encode($message, Reply::JSON_FLAGS);
            $binary = false;
        }
        $this->live('publish()')->wsPublish($channel, $message, $binary, $exceptId ?? 0);
    }

    /**
     * A channel's members, on every worker and node: client id => payload.
     *
     * @return array<int, array<string, mixed>>
     * @throws RuntimeException With the engine's message (a bad channel name).
     */
    public function members(string $channel): array
    {
        return $this->ws->payloads($this->live('members()')->wsChannelMembers($channel));
    }

    /**
     * A presence channel's users, on every worker and node, once each however many
     * connections they have: user id => info (as authorize() gave them).
     *
     * @return array<string|int, array<mixed>>
     * @throws RuntimeException With the engine's message (a bad channel name).
     */
    public function presence(string $channel): array
    {
        $users = [];
        foreach (Wire::presence($this->live('presence()')->wsPresence($channel)) as [$user, $info]) {
            $users[Wire::userId($user)] = WsDispatcher::info($info);
        }
        return $users;
    }

    /**
     * The channels a WebSocket client (of any worker or node) is in.
     *
     * @return list<string>
     * @throws RuntimeException NotFoundException for an unknown client.
     */
    public function channels(int $clientId): array
    {
        return Wire::record((string) $this->live('channels()')->wsClientRecord($clientId, true))['channels'];
    }

    /**
     * Called when a client of this worker joins a channel: `function (array $client, string
     * $channel)` (the payload; its `channels` include `$channel`).
     */
    public function onJoin(Closure $callback): self
    {
        $this->ws->setJoinHandler($callback);
        $this->listenToRooms();
        return $this;
    }

    /**
     * Called when a client of this worker leaves a channel (also when it closes): `function
     * (array $client, string $channel)`.
     */
    public function onLeave(Closure $callback): self
    {
        $this->ws->setLeaveHandler($callback);
        $this->listenToRooms();
        return $this;
    }

    /**
     * Called when a user joins or leaves a presence channel (`presence-…`): `function (string
     * $channel, string $event, string|int $user, array $info)`, `$event` `join` or `leave`.
     * Once per user on each node, however many connections (browser tabs) it has: `join` with
     * its first, `leave` when its last has left. In simultaneous mode in one worker of each
     * node (slot 0), not in each.
     */
    public function onPresence(Closure $callback): self
    {
        $this->ws->setPresenceHandler($callback);
        $this->listenToRooms();
        return $this;
    }

    /**
     * Shares clients, channels and presence with the other nodes (servers, machines) of the
     * app through Redis pub/sub. Delivery between nodes is at most once: while Redis is
     * unreachable, local delivery goes on and cross-node messages are dropped; the link comes
     * back by itself. Works in sequential and simultaneous mode (the workers of one node share
     * its node name).
     *
     * @param string $url `redis://[user:password@]host[:port][/db]` or `redis+unix:///path`
     *        (no TLS: `rediss://` is refused).
     * @param array{prefix?: string, node?: string, ttl?: int|float} $options `prefix`: of every
     *        key and channel in Redis, one per app (default `httpsock`); `node`: this node's name,
     *        unique among the nodes (default host name + `-` + pid); `ttl`: seconds after which
     *        a node that stopped answering is gone and its clients leave everywhere (default 10).
     *
     * @return self Returns instance of HttpServer.
     * @throws RuntimeException InvalidArgumentException for a bad option or URL; IoException
     *         when Redis does not answer (the message names host and port); StateException when
     *         called twice or while the server runs.
     */
    public function useRedis(string $url, array $options = []): self
    {
        foreach (array_keys($options) as $key) {
            if (!in_array($key, ['prefix', 'node', 'ttl'], true)) {
                throw new InvalidArgumentException(
                    "useRedis(): unknown option '{$key}' (the options are prefix, node and ttl).",
                    InvalidArgumentException::STATUS
                );
            }
        }
        $prefix = $options['prefix'] ?? 'httpsock';
        $node = $options['node'] ?? (gethostname() ?: 'localhost') . '-' . getmypid();
        $ttl = $options['ttl'] ?? 10;
        if (!is_string($prefix) || $prefix === '' || !is_string($node) || $node === '') {
            throw new InvalidArgumentException(
                "useRedis(): 'prefix' and 'node' are non-empty strings.",
                InvalidArgumentException::STATUS
            );
        }
        if ((!is_int($ttl) && !is_float($ttl)) || $ttl <= 0) {
            throw new InvalidArgumentException(
                "useRedis(): 'ttl' is a number of seconds above 0.",
                InvalidArgumentException::STATUS
            );
        }
        $ttlMs = max(1, (int) round($ttl * 1000));
        // Checked now (the URL, Redis answering), also before start().
        $this->configureChecked(static fn (NativeServer $n) => $n->redis($url, $prefix, $node, $ttlMs));
        return $this;
    }

    /**
     * Calls `$callback()` every `$seconds` seconds on the event loop while the server runs (in
     * every worker in simultaneous mode).
     *
     * @return int The timer id, for cancel().
     */
    public function every(float $seconds, Closure $callback): int
    {
        $ms = max(1, (int) round($seconds * 1000));
        $id = 0;
        // Added while the loop runs, a timer is for this run only (not replayed).
        $this->configure(static function (NativeServer $n) use ($ms, $callback, &$id): void {
            $id = $n->addTimer($ms, true, $callback);
        }, !$this->loop->isRunning());
        return $id;
    }

    /** Cancels a timer started with every(). */
    public function cancel(int $timerId): bool
    {
        return $this->native?->cancelTimer($timerId) ?? false;
    }

    /** The version of libhttpsock. */
    public static function version(): string
    {
        return Library::version();
    }

    public function __destruct()
    {
        $this->shutdown();
    }

    // ---- internals ----------------------------------------------------------------------------

    /** The live native server, for a call that needs one. */
    private function live(string $what): NativeServer
    {
        $native = $this->native;
        if ($native === null || !$native->isAlive()) {
            throw new StateException("{$what}: the server is not running.", StateException::STATUS);
        }
        return $native;
    }

    /** Records (once) the step that takes the channel and presence events. */
    private function listenToRooms(): void
    {
        if (!$this->roomEventsStep) {
            $this->roomEventsStep = true;
            $ws = $this->ws;
            $this->configure(static fn (NativeServer $n) => $ws->listen($n));
        }
    }

    /**
     * Applies a configuration step to the live native server, or else to a scratch one (never
     * started), and records it only when it succeeded: what would fail at start() throws here,
     * and a failed call leaves nothing behind.
     */
    private function configureChecked(Closure $step): void
    {
        if ($this->native !== null && $this->native->isAlive()) {
            $step($this->native);
        } else {
            $scratch = new NativeServer($this->address->host, $this->address->port, static fn () => null, static fn () => null);
            try {
                $step($scratch);
            } finally {
                $scratch->free();
            }
        }
        $this->config->add($step, null);
    }

    /** Records a configuration step and applies it to the live native server, if any. */
    private function configure(Closure $step, bool $record = true): void
    {
        $this->config->add($step, $this->native, $record);
    }

    /** A native server with nothing configured, its callbacks wired to the dispatchers. */
    private function fresh(): NativeServer
    {
        $native = new NativeServer(
            $this->address->host,
            $this->address->port,
            $this->http->request(...),
            $this->http->failed(...)
        );
        $native->setServerPort($this->boundPort);
        $this->http->reset();
        $this->ws->attach($native);
        $this->sio->attach($native);
        return $native;
    }

    /**
     * The certificates as a fresh native server would load them, checked on a scratch one (never
     * started): throws what start() would throw, naming the file.
     */
    private function checkCertificates(): void
    {
        $scratch = new NativeServer($this->address->host, $this->address->port, static fn () => null, static fn () => null);
        try {
            $this->tls?->apply($scratch);
        } finally {
            $scratch->free();
        }
    }

    /** Simultaneous mode: the workers each build their own server on the shared port. */
    private function runWorkers(): void
    {
        if (!$this->started) {
            $this->start();
        }
        $shared = $this->native;
        // A port of 0 would give each worker a different port: all use the one start() bound.
        $this->address = $this->address->withPort((int) $shared->port());
        $log = $this->log;
        $reloadRequested = $this->tls === null ? null : function () use ($log): void {
            // A worker reloaded itself and asks for the others (from the supervisor's signal
            // dispatch: nothing may escape).
            try {
                $this->reloadCertificates();
            } catch (\Throwable $e) {
                $log->exception('reloadCertificates() asked by a worker', $e);
            }
        };
        try {
            $this->pool->run(
                $shared,
                $this->maxProcesses > 0 ? $this->maxProcesses : WorkerPool::cpuCount(),
                function (WorkerSlot $worker): void {
                    $this->worker = $worker;
                    $tls = $this->tls;
                    $between = $tls === null ? null : $this->pool->workerReloads(function () use ($tls): void {
                        if ($this->native !== null && $this->native->isAlive()) {
                            $tls->reload($this->native);
                        }
                    });
                    $native = $this->config->build($worker);
                    $native->adoptListener($worker->listenerFd);
                    $native->start();
                    $this->native = $native;
                    $this->started = true;
                    $this->loop->serve($native, $worker->parentPid, $between);
                    if ($this->native === $native) {
                        $this->release();
                    }
                },
                $reloadRequested
            );
        } finally {
            // Only the parent gets here (workers exit inside the supervisor): every worker has
            // ended, so the shared socket can close.
            $this->release();
        }
    }

    /** Frees the native server (idempotent). */
    private function release(): void
    {
        $native = $this->native;
        $this->native = null;
        $this->started = false;
        $this->ws->attach(null);
        $this->sio->attach(null);
        $native?->free();
    }

    /** At exit (also after a fatal error inside a callback), release the engine safely. */
    private function registerExitHook(): void
    {
        if ($this->exitHookRegistered) {
            return;
        }
        $this->exitHookRegistered = true;
        $server = \WeakReference::create($this);
        register_shutdown_function(static function () use ($server): void {
            $server->get()?->release();
        });
    }

    private function notifyDisconnect(): void
    {
        if ($this->disconnectHandler === null) {
            return;
        }
        $handler = $this->disconnectHandler;
        $this->disconnectHandler = null; // once
        $port = $this->getAddress()['port'];
        try {
            $handler([
                'id' => $this->id,
                'address' => $this->address->host,
                'port' => $port,
                'endpoint' => $this->address->endpoint($port, $this->tls !== null),
                'connected' => false,
            ], $this->clients->all());
        } catch (\Throwable $e) {
            $this->log->exception('disconnect callback', $e);
        }
    }
}
