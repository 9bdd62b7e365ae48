<?php

declare(strict_types=1);

namespace HttpSock\Server;

use Closure;
use HttpSock\Answer;
use HttpSock\Http\Reply;
use HttpSock\Http\Request;
use HttpSock\Http\Wire;

/**
 * The PHP side of HTTP requests: route id → the route's closure, its return value → a reply,
 * the error() hook and the onResponse() filter.
 *
 * request() is the hot path (once per request): one explode of the head, the closure looked up
 * by the route id and called directly, its result converted by Reply::from(). A throw is not
 * caught here: the trampoline answers it through the engine's 500 (failed() reports it).
 *
 * @internal
 */
final class HttpDispatcher
{
    /** @var array<int, Closure> route id => callback (of the current native server) */
    private array $routes = [];
    private ?Closure $errorHandler = null;
    private ?Closure $responseFilter = null;
    /** The port the server listens on, for Request::getPort(). */
    private ?int $serverPort = null;

    public function __construct(private readonly DebugLog $log)
    {
    }

    /** Forgets the route ids of the previous native server (a fresh one numbers them anew). */
    public function reset(): void
    {
        $this->routes = [];
    }

    /** The port handlers see as the server's (after start(): the bound one). */
    public function setServerPort(?int $port): void
    {
        $this->serverPort = $port;
    }

    public function addRoute(int $id, Closure $callback): void
    {
        $this->routes[$id] = $callback;
    }

    public function setErrorHandler(Closure $handler): void
    {
        $this->errorHandler = $handler;
    }

    public function setResponseFilter(Closure $filter): void
    {
        $this->responseFilter = $filter;
    }

    /**
     * One matched request → one reply (NativeServer's reply forms).
     *
     * @throws \Throwable Whatever the route's closure (or its result's conversion) throws.
     */
    public function request(string $head, string $body): mixed
    {
        // Wire::fields(), inlined: this runs once per request.
        $wire = explode("\0", $head);
        // A numeric string key is an int key: no cast needed.
        $callback = $this->routes[$wire[Wire::ROUTE]] ?? null;
        if ($callback === null) {
            return null;
        }
        if ($wire[Wire::CAPTURES] === '0') {
            return Reply::from($callback(Request::fromHead($head, $body, $this->serverPort)));
        }
        return Reply::from($callback(Request::fromHead($head, $body, $this->serverPort), ...Wire::args($wire)));
    }

    /**
     * A route's closure threw: reported in debug mode; the client gets the SERVER_ERROR answer.
     *
     * @return string The reason, for the engine's debug log.
     */
    public function failed(\Throwable $e): string
    {
        $this->log->exception('handler', $e);
        return $e::class . ': ' . $e->getMessage();
    }

    /**
     * The error hook: the error() callback shapes the answer of kind `$kind` (null: the
     * engine's own answer).
     */
    public function error(string $head, string $body, int $kind): mixed
    {
        if ($this->errorHandler === null) {
            return null;
        }
        try {
            $request = Request::fromHead($head, $body, $this->serverPort);
            return Reply::from(($this->errorHandler)($request, Answer::tryFrom($kind)?->typeName() ?? 'SERVER_ERROR'));
        } catch (\Throwable $e) {
            $this->log->exception('error callback', $e);
            return null;
        }
    }

    /** The response filter: onResponse()'s callback gets the body and the request headers. */
    public function filter(string $head, string $body): ?string
    {
        if ($this->responseFilter === null) {
            return null;
        }
        try {
            $headers = Request::fromHead($head, '', $this->serverPort)->getHeaders();
            $result = ($this->responseFilter)($body, $headers);
            return is_string($result) ? $result : null;
        } catch (\Throwable $e) {
            $this->log->exception('onResponse callback', $e);
            return null;
        }
    }
}
