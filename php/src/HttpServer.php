<?php

declare(strict_types=1);

namespace HttpSock;

use Closure;
use HttpSock\Exceptions\RuntimeException;
use HttpSock\Http\Reply;
use HttpSock\Http\Request;
use HttpSock\Native\Library;
use HttpSock\Native\NativeServer;
use HttpSock\Process\Supervisor;

/**
 * Luminova's HttpServer API, served by libhttpsock: a keep-alive HTTP/1.1 and RFC 6455
 * WebSocket server whose routing, parsing and I/O run in Rust, with handlers in PHP.
 *
 * Every call that configures the server is also recorded, so that a fresh native server can be
 * built from the same configuration (for each worker of simultaneous mode, or start() after
 * shutdown()).
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

    /** Limits for setLimit() (the engine's hs_limit values; defaults in README.md). */
    public const LIMIT_IDLE_TIMEOUT_MS = 1;
    public const LIMIT_MAX_CONNECTIONS = 2;
    public const LIMIT_MAX_HEADER_BYTES = 3;
    public const LIMIT_MAX_BODY_BYTES = 4;
    public const LIMIT_WS_MAX_MESSAGE = 5;
    public const LIMIT_WS_PING_INTERVAL_MS = 6;
    public const LIMIT_WS_PING_TIMEOUT_MS = 7;
    public const LIMIT_WS_SEND_QUEUE = 8;
    public const LIMIT_SHUTDOWN_GRACE_MS = 9;

    private const TEXT = "Content-Type: text/plain\r\n";
    private const SERVER_ERROR = [500, self::TEXT . "X-Server-Response-Type: SERVER_ERROR\r\n", 'An error occurred on the server.'];
    /** Fixed answers, as raw responses (handed to the engine as they are). */
    private const PING = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Server-Response-Type: PING\r\n\r\nPONG";
    private const CONNECTED = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Server-Response-Type: CONNECTED\r\n\r\n"
        . 'Client successfully connected.';
    private const DISCONNECTED = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Server-Response-Type: DISCONNECTED\r\n\r\n"
        . 'Client successfully disconnected.';

    private static int $nextId = 0;

    private string $host;
    private int $port;
    private ?int $boundPort = null;
    private int $id;

    private ?NativeServer $native = null;
    private bool $started = false;
    private bool $running = false;
    private bool $debug = false;
    private int $maxProcesses = 0;
    private ?Supervisor $supervisor = null;
    private bool $exitHookRegistered = false;

    /** @var list<Closure(NativeServer): void> configuration, replayed on every fresh native server */
    private array $config = [];
    /** @var array<int, Closure> HTTP route id => callback */
    private array $routes = [];
    /** @var array<int, array{pattern: string, callback: Closure}> WebSocket route id => route */
    private array $wsRoutes = [];
    /**
     * @var array<int, string> WebSocket client id => its packed upgrade request. The payload
     * array is built from it when asked for (an idle client holds one string, not an array of
     * arrays: about 1.5 KiB less per client).
     */
    private array $wsWire = [];
    /** @var array<int, int> WebSocket client id => route id */
    private array $wsClientRoute = [];
    /** @var array<int, array<string, mixed>> client id => its payload plus 'binary' => false (from its first text message on) */
    private array $wsTextPayload = [];
    /** @var array<string, array<string, mixed>> client IP => Luminova-style client info */
    private array $clients = [];

    private ?Closure $errorHandler = null;
    private ?Closure $responseFilter = null;
    private ?Closure $disconnectHandler = null;
    private ?Closure $openHandler = null;
    private ?Closure $closeHandler = null;

    /**
     * Initializes the HTTP server by binding to the specified address and port.
     *
     * @param string $address The connection IP address, hostname or a valid TCP connection string to bind to
     *        (e.g., `127.0.0.1`, `example.com`, or `tcp://127.0.0.1:8080`).
     * @param int|null $port Optional port number to bind to (default: null: the port of a `tcp://` address,
     *        else 8080; 0 picks a free port, see getAddress()).
     * @param bool $autostart Whether to start the server automatically upon initialization (default: true).
     * @param resource|array|null $options Accepted for compatibility; stream context options do not apply
     *        (the engine owns the socket; no TLS).
     *
     * @throws RuntimeException If the server fails to create a valid socket.
     */
    public function __construct(string $address, ?int $port = null, bool $autostart = true, mixed $options = null)
    {
        [$this->host, $this->port] = self::parseAddress($address, $port);
        $this->id = ++self::$nextId;
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
        $this->debug = $debug;
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
        return $this->started && ($this->native?->isAlive() ?? false) || ($this->running && $this->supervisor !== null);
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
        return $port > 0 && NativeServer::freePort($port) > 0;
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
     * Sets one of the engine's limits (self::LIMIT_*): max connections, request head and body
     * size, WebSocket message size, ping interval and timeout, send queue, shutdown grace.
     *
     * @throws RuntimeException For an unknown limit or a value out of range.
     */
    public function setLimit(int $limit, int $value): self
    {
        $this->configure(static fn (NativeServer $n) => $n->setLimit($limit, $value));
        return $this;
    }

    /**
     * Set the number of worker processes of simultaneous mode (`run(..., true)`); default: the
     * number of CPUs.
     *
     * @param int $max The number of worker processes.
     *
     * @return self Returns instance of HttpServer.
     * @throws RuntimeException Throw if `$max` is not a positive integer.
     */
    public function setMaxProcesses(int $max): self
    {
        if ($max <= 0) {
            throw new RuntimeException('The maximum number of client processes must be a positive integer.');
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
        return ['address' => $this->host, 'port' => $this->boundPort ?? $this->port];
    }

    /**
     * Starts the server by binding to the specified address and port. Idempotent.
     *
     * @return self Returns the Http Server instance after the socket is successfully created.
     *
     * @throws RuntimeException If the server cannot bind to the address or port, or if the port is already in use.
     */
    public function start(): self
    {
        if ($this->started && $this->native !== null) {
            return $this;
        }
        $native = $this->native ?? $this->build();
        try {
            $native->start();
        } catch (RuntimeException $e) {
            $native->free();
            $this->native = null;
            throw new RuntimeException($e->getMessage(), $e->getCode(), $e);
        }
        $this->native = $native;
        $this->started = true;
        $this->boundPort = $native->port();
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
        $this->serve($native, null);
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
        $this->supervisor?->stop();
        $native = $this->native;
        if ($native !== null) {
            $native->shutdown();
            if ($native->isPolling()) {
                return; // inside a callback: the loop in run() ends and releases the server
            }
            // From a signal handler between poll slices, or outside run(): finish it here, so
            // that `shutdown(); exit;` is still graceful.
            if ($this->running) {
                while ($native->isAlive() && $native->poll(100) === 1) {
                }
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
        $ip = $address ?? $this->host;
        $this->clients[$ip] = ($this->clients[$ip] ?? self::clientInfo($ip, null)) + ['connected' => true];
        $this->clients[$ip]['connected'] = true;
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
        unset($this->clients[$address ?? $this->host]);
    }

    /**
     * Accept WebSocket clients on a path pattern (needs websocket(true)). The callback is called
     * for every message: `function (string $message, array $payload)` where $payload holds id,
     * address, port, uri, path, query, headers, params, route and binary. A string it returns is
     * sent back to that client in the frame type of the message (an array: as JSON text).
     *
     * @param string $pattern URI pattern (e.g, `/ws(?:/.*)?`, `/chat/{room}`).
     * @param Closure $response The message callback.
     */
    public function accept(string $pattern, Closure $response): void
    {
        $this->configure(function (NativeServer $n) use ($pattern, $response): void {
            $this->wsRoutes[$n->accept($pattern)] = ['pattern' => $pattern, 'callback' => $response];
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
        $this->route('GET', '/ping(?:/.*)?', static fn () => self::PING);
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
        $this->errorHandler = $response;
        $this->configure(static fn (NativeServer $n) => $n->enableErrorHook());
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
        $this->route('GET', '/connect(?:/.*)?', function (Request $request) use ($response): mixed {
            $ip = $request->getIp();
            $this->clients[$ip] = self::clientInfo($ip, $request->getClientPort()) + ['connected' => true];
            $result = $response?->__invoke($this->clients[$ip], $this->clients);
            return $result ?? self::CONNECTED;
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
        $this->route('GET', '/disconnect(?:/.*)?', function (Request $request) use ($response): mixed {
            $ip = $request->getIp();
            $client = ($this->clients[$ip] ?? self::clientInfo($ip, $request->getClientPort()));
            $client['connected'] = false;
            unset($this->clients[$ip]);
            $result = $response?->__invoke($client, $this->clients);
            return $result ?? self::DISCONNECTED;
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
     * @throws RuntimeException For an invalid method list or a pattern that does not compile.
     */
    public function route(string $methods, string $pattern, Closure $response): void
    {
        $methods = strtoupper($methods);
        $this->configure(function (NativeServer $n) use ($methods, $pattern, $response): void {
            $this->routes[$n->route($methods, $pattern)] = $response;
        });
    }

    /**
     * Sets a callback to intercept and modify every HTTP response body before it is sent:
     * `function(string $body, array $requestHeaders): string`.
     *
     * @param Closure $intercept Callback to modify the response content.
     */
    public function onResponse(Closure $intercept): void
    {
        $this->responseFilter = $intercept;
        $this->configure(static fn (NativeServer $n) => $n->enableResponseFilter());
    }

    // ---- additions: WebSocket clients and timers ------------------------------------------------

    /**
     * Called when a WebSocket client has connected: `function (array $client)` (the payload).
     */
    public function onOpen(Closure $callback): self
    {
        $this->openHandler = $callback;
        return $this;
    }

    /**
     * Called when a WebSocket client is gone: `function (array $client, int $code, string $reason)`.
     */
    public function onClose(Closure $callback): self
    {
        $this->closeHandler = $callback;
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
     * The WebSocket clients of this process: id => payload.
     *
     * @return array<int, array<string, mixed>>
     */
    public function getClients(): array
    {
        $clients = [];
        foreach ($this->wsWire as $id => $packed) {
            $clients[$id] = $this->wsPayload($id, $packed);
        }
        return $clients;
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
        $this->configure(function (NativeServer $n) use ($ms, $callback, &$id): void {
            $id = $n->addTimer($ms, true, $callback);
        }, !$this->running);
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

    /** Records a configuration step and applies it to the live native server, if any. */
    private function configure(Closure $step, bool $record = true): void
    {
        if ($record) {
            $this->config[] = $step;
        }
        if ($this->native !== null && $this->native->isAlive()) {
            $step($this->native);
        }
    }

    /** A fresh native server with the whole configuration replayed. */
    private function build(bool $reusePort = false, ?array $cluster = null): NativeServer
    {
        $native = new NativeServer(
            $this->host,
            $this->port,
            $this->dispatch(...),
            $this->dispatchError(...),
            $this->filter(...),
            [$this->wsOpen(...), $this->wsMessage(...), $this->wsClose(...)]
        );
        $this->routes = $this->wsRoutes = $this->wsWire = $this->wsClientRoute = $this->wsTextPayload = [];
        if ($reusePort) {
            $native->setReusePort(true);
        }
        foreach ($this->config as $step) {
            $step($native);
        }
        if ($cluster !== null) {
            $native->clusterJoin(...$cluster);
        }
        return $native;
    }

    /** The event loop, in slices, with PHP's signal handlers dispatched between them. */
    private function serve(NativeServer $native, ?int $parentPid): void
    {
        $installed = $this->installSignalHandlers();
        $dispatch = function_exists('pcntl_signal_dispatch');
        $this->running = true;
        $failure = null;
        try {
            while ($this->native === $native && $native->isAlive()) {
                $rc = $native->poll(100);
                if ($dispatch) {
                    pcntl_signal_dispatch();
                }
                if ($rc <= 0) {
                    if ($rc < 0) {
                        $failure = Library::failure('run()', $rc);
                    }
                    break;
                }
                if ($parentPid !== null && posix_getppid() !== $parentPid) {
                    $native->shutdown(); // the supervisor is gone: do not outlive it
                    $parentPid = null;
                }
            }
        } finally {
            $this->running = false;
            foreach ($installed as $signal => $previous) {
                pcntl_signal($signal, $previous);
            }
        }
        if ($failure !== null) {
            throw new RuntimeException($failure);
        }
    }

    /**
     * Without handlers of the user's for SIGINT/SIGTERM, Ctrl+C and SIGTERM shut down gracefully.
     *
     * @return array<int, int> signal => the disposition it had, for the signals handled here
     */
    private function installSignalHandlers(): array
    {
        if (!function_exists('pcntl_signal') || !function_exists('pcntl_signal_get_handler')) {
            return [];
        }
        $installed = [];
        foreach ([SIGINT, SIGTERM] as $signal) {
            // SIG_IGN too: a shell starts background jobs with SIGINT ignored.
            $current = pcntl_signal_get_handler($signal);
            if ($current === SIG_DFL || $current === SIG_IGN) {
                pcntl_signal($signal, function (): void {
                    $this->native?->shutdown();
                });
                $installed[$signal] = $current;
            }
        }
        return $installed;
    }

    /** Simultaneous mode: the workers each build their own server on the shared port. */
    private function runWorkers(): void
    {
        if (!function_exists('pcntl_fork') || !function_exists('posix_getppid')) {
            throw new RuntimeException('Simultaneous mode needs the pcntl and posix extensions (PHP CLI).');
        }
        // The parent keeps the socket start() bound (it never runs a loop on it: no thread or
        // event loop may exist before fork). It is marked SO_REUSEPORT so that each worker can
        // bind its own socket on the port beside it, and every worker also serves it
        // (hs_adopt_listener): the port is never without a listener, at startup or while a
        // worker restarts, and the workers' own sockets spread the load.
        if (!$this->started) {
            $this->start();
        }
        $shared = $this->native;
        $shared->setReusePort(true);
        $sharedFd = $shared->listenerFd();
        $workers = $this->maxProcesses > 0 ? $this->maxProcesses : self::cpuCount();
        $parent = getmypid();
        // A port of 0 would give each worker a different port: all use the one start() bound.
        $this->port = $this->boundPort = (int) $shared->port();
        $group = "php-{$parent}-{$this->port}";
        $debug = $this->debug;
        $this->supervisor = new Supervisor(static function (string $line) use ($debug): void {
            if ($debug) {
                fwrite(STDERR, "[httpsock supervisor] {$line}\n");
            }
        });
        $this->running = true;
        try {
            $this->supervisor->run(
                $workers,
                function (int $slot, int $slots) use ($group, $parent, $sharedFd): int {
                    $this->supervisor = null;
                    $native = $this->build(true, [$group, $slot, $slots]);
                    $native->adoptListener($sharedFd);
                    $native->start();
                    $this->native = $native;
                    $this->started = true;
                    $this->serve($native, $parent);
                    if ($this->native === $native) {
                        $this->release();
                    }
                    return 0;
                },
                function (): void {
                    $this->running = false;
                }
            );
        } finally {
            $this->running = false;
            $this->supervisor = null;
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
        $native?->free();
        $this->wsWire = $this->wsClientRoute = $this->wsTextPayload = [];
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
            $self = $server->get();
            if ($self !== null) {
                $self->release();
            }
        });
    }

    private function notifyDisconnect(): void
    {
        if ($this->disconnectHandler === null) {
            return;
        }
        $handler = $this->disconnectHandler;
        $this->disconnectHandler = null; // once
        try {
            $handler(['id' => $this->id, 'address' => $this->host, 'port' => $this->getAddress()['port'],
                'endpoint' => "tcp://{$this->host}:{$this->getAddress()['port']}", 'connected' => false], $this->clients);
        } catch (\Throwable $e) {
            $this->report('disconnect callback', $e);
        }
    }

    // ---- callbacks from the engine (all inside try/catch: a throw here would be fatal) ----------

    /** The hot path: one matched HTTP request → one reply. */
    private function dispatch(string $packed): mixed
    {
        $wire = explode("\0", $packed, Request::FIELDS + 1);
        $count = (int) $wire[Request::CAPTURES];
        $args = [];
        $params = [];
        if ($count === 0) {
            $body = $wire[Request::FIELDS] ?? '';
        } else {
            $parts = explode("\0", $wire[Request::FIELDS] ?? '', 2 * $count + 1);
            for ($i = 0; $i < $count; $i++) {
                $args[] = $value = rawurldecode($parts[2 * $i + 1] ?? '');
                $name = $parts[2 * $i] ?? '';
                $params[$name !== '' ? $name : $i] = $value;
            }
            $body = $parts[2 * $count] ?? '';
        }
        $request = new Request($wire, $body, $params, $this->boundPort);
        $callback = $this->routes[(int) $wire[Request::ROUTE]] ?? null;
        try {
            if ($callback === null) {
                return null;
            }
            return Reply::from($count === 0 ? $callback($request) : $callback($request, ...$args));
        } catch (\Throwable $e) {
            return $this->serverError($request, $e);
        }
    }

    private function serverError(?Request $request, \Throwable $e): mixed
    {
        $this->report('handler', $e);
        if ($this->errorHandler !== null) {
            try {
                $reply = Reply::from(($this->errorHandler)($request, 'SERVER_ERROR'));
                if ($reply !== null) {
                    return $reply;
                }
            } catch (\Throwable $e2) {
                $this->report('error callback', $e2);
            }
        }
        return self::SERVER_ERROR;
    }

    private function dispatchError(string $packed, int $type): mixed
    {
        if ($this->errorHandler === null) {
            return null;
        }
        try {
            $request = Request::fromWire($packed, $this->boundPort);
            return Reply::from(($this->errorHandler)($request, Library::ERROR_TYPES[$type] ?? 'NOT_FOUND'));
        } catch (\Throwable $e) {
            $this->report('error callback', $e);
            return null;
        }
    }

    private function filter(string $packed, string $body): ?string
    {
        if ($this->responseFilter === null) {
            return null;
        }
        try {
            $headers = Request::fromWire($packed, $this->boundPort)->getHeaders();
            $result = ($this->responseFilter)($body, $headers);
            return is_string($result) ? $result : null;
        } catch (\Throwable $e) {
            $this->report('onResponse callback', $e);
            return null;
        }
    }

    private function wsOpen(int $id, string $packed): void
    {
        $route = (int) ($packed === '' ? -1 : strstr($packed, "\0", true));
        $this->wsWire[$id] = $packed;
        $this->wsClientRoute[$id] = $route;
        if ($this->openHandler !== null) {
            try {
                ($this->openHandler)($this->wsPayload($id, $packed));
            } catch (\Throwable $e) {
                $this->report('onOpen callback', $e);
            }
        }
    }

    /**
     * What WebSocket callbacks get about a client: id, address, port, uri, path, query, headers,
     * params, route.
     *
     * @return array<string, mixed>
     */
    private function wsPayload(int $id, ?string $packed): array
    {
        if ($packed === null) {
            return ['id' => $id];
        }
        $request = Request::fromWire($packed, $this->boundPort);
        $route = $this->wsClientRoute[$id] ?? -1;
        return [
            'id' => $id,
            'address' => $request->getIp(),
            'port' => $request->getClientPort(),
            'uri' => $request->getUri(),
            'path' => $request->getPaths(),
            'query' => $request->getQuery(),
            'headers' => $request->getHeaders(),
            'params' => $request->getParams(),
            'route' => $this->wsRoutes[$route]['pattern'] ?? '',
        ];
    }

    private function wsMessage(int $id, string $message, bool $binary): void
    {
        $callback = $this->wsRoutes[$this->wsClientRoute[$id] ?? -1]['callback'] ?? null;
        if ($callback === null) {
            return;
        }
        try {
            // The text-message payload is built once per client (on its first message), not per
            // message; an idle client never pays for it.
            $payload = $binary
                ? $this->wsPayload($id, $this->wsWire[$id] ?? null) + ['binary' => true]
                : ($this->wsTextPayload[$id] ??= $this->wsPayload($id, $this->wsWire[$id] ?? null) + ['binary' => false]);
            $reply = $callback($message, $payload);
            if (is_array($reply) || $reply instanceof \JsonSerializable) {
                $this->native?->wsSend($id, json_encode($reply, Reply::JSON_FLAGS), false);
            } elseif (is_string($reply) || $reply instanceof \Stringable) {
                $rc = $this->native?->wsSend($id, (string) $reply, $binary) ?? 0;
                if ($rc < 0 && $this->debug) {
                    fwrite(STDERR, 'httpsock: reply to WebSocket client ' . $id . ' failed: ' . Library::failure('send', $rc) . "\n");
                }
            }
        } catch (\Throwable $e) {
            $this->report('accept callback', $e);
        }
    }

    private function wsClose(int $id, int $code, string $reason): void
    {
        $payload = $this->closeHandler === null ? null : $this->wsPayload($id, $this->wsWire[$id] ?? null);
        unset($this->wsWire[$id], $this->wsClientRoute[$id], $this->wsTextPayload[$id]);
        if ($this->closeHandler !== null) {
            try {
                ($this->closeHandler)($payload, $code, $reason);
            } catch (\Throwable $e) {
                $this->report('onClose callback', $e);
            }
        }
    }

    /** A throw from user code: on STDERR in debug mode. */
    private function report(string $where, \Throwable $e): void
    {
        if ($this->debug) {
            fwrite(STDERR, sprintf(
                "httpsock: %s threw %s: %s in %s:%d\n",
                $where,
                $e::class,
                $e->getMessage(),
                $e->getFile(),
                $e->getLine()
            ));
        }
    }

    /** @return array<string, mixed> Luminova's client record. */
    private static function clientInfo(string $ip, ?int $port): array
    {
        return ['id' => uniqid(), 'address' => $ip, 'port' => $port, 'connection_time' => time()];
    }

    /**
     * "127.0.0.1" + 8080, "tcp://host:port", "tcp://[::1]:8080", "host" (port 8080).
     *
     * @return array{0: string, 1: int}
     */
    private static function parseAddress(string $address, ?int $port): array
    {
        if (str_contains($address, '://')) {
            $url = parse_url($address);
            if ($url === false || !isset($url['host'])) {
                throw new RuntimeException("Invalid address: {$address}");
            }
            $host = trim($url['host'], '[]');
            return [$host, (int) ($url['port'] ?? $port ?? 8080)];
        }
        $host = trim($address, '[]');
        if ($port !== null && ($port < 0 || $port > 65535)) {
            throw new RuntimeException("Invalid port: {$port}");
        }
        return [$host === '' ? '127.0.0.1' : $host, $port ?? 8080];
    }

    private static function cpuCount(): int
    {
        $n = 0;
        if (is_readable('/proc/cpuinfo')) {
            $n = preg_match_all('/^processor\s*:/m', (string) file_get_contents('/proc/cpuinfo'));
        }
        if ($n < 1 && function_exists('shell_exec')) {
            $n = (int) @shell_exec('nproc 2>/dev/null');
        }
        return max(1, (int) $n);
    }
}
