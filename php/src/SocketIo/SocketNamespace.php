<?php

declare(strict_types=1);

namespace HttpSock\SocketIo;

use Closure;
use HttpSock\Exceptions\RuntimeException;
use HttpSock\Server\SioDispatcher;

/**
 * A Socket.IO namespace (`HttpServer::socketio('/chat')`; Socket.IO's `io.of('/chat')`): its
 * event handlers, who may connect, and emits to its sockets on every worker and node.
 *
 * A socket is addressed by its Socket.IO id (`$socket['sid']`, the client's `socket.id`) or by
 * its numeric id (`$socket['id']`, the id HttpServer's WebSocket calls take). Handlers get the
 * socket as an array: id, sid, namespace, address, port, uri, path, query, headers (of the
 * Engine.IO handshake request), secure, user, info, channels (its rooms), node; onConnect's
 * also `auth` (the client's `auth` option, decoded; [] when none).
 *
 * Handlers run in the worker that holds the socket (simultaneous mode: each worker has its own
 * copy of the handlers, set before run()).
 */
final class SocketNamespace
{
    /** @internal The engine's route id of this namespace (hs_sio_namespace). */
    public int $route = -1;

    /** @var array<string, Closure> event => handler */
    private array $handlers = [];
    private ?Closure $connect = null;
    private ?Closure $disconnect = null;
    private ?Closure $documented = null;

    /** @internal Made by HttpServer::socketio(). */
    public function __construct(public readonly string $name, private readonly SioDispatcher $sio)
    {
    }

    /**
     * Handles an event: `function (array $socket, mixed ...$args)`. The arguments are decoded
     * JSON (objects as arrays; binary attachments as {@see Binary}); `$socket['ack']` says
     * whether the client waits for an acknowledgement. Then the return value is its argument (an
     * {@see Args}: several; null: none); otherwise the return value is dropped. A throw: no acknowledgement, a line with debug(),
     * the server goes on. One handler per event (a second replaces the first).
     */
    public function on(string $event, Closure $handler): self
    {
        $this->handlers[$event] = $handler;
        return $this;
    }

    /**
     * Decides each socket that connects to this namespace: `function (array $socket)` (with
     * `auth`; its user, info and channels are those authorize() gave the Engine.IO session). `true` or `null` accepts; `false` refuses ("Not authorized"); a string refuses
     * with that message; a {@see Refusal} with a message and data (the client's
     * `connect_error`); `['user' => string|int, 'info' => array, 'rooms' => list<string>]`
     * (each optional) accepts, naming the user the socket acts for and the rooms it joins at
     * once. A throw (or another answer) refuses with "Internal server error" (debug() tells why).
     */
    public function onConnect(Closure $callback): self
    {
        $this->connect = $callback;
        return $this;
    }

    /**
     * Called when a socket of this namespace is gone: `function (array $socket, string
     * $reason)`, with Socket.IO's reason ("client namespace disconnect", "server namespace
     * disconnect", "transport close", "transport error", "ping timeout", "parse error",
     * "server shutting down", "forced close").
     */
    public function onDisconnect(Closure $callback): self
    {
        $this->disconnect = $callback;
        return $this;
    }

    /**
     * Emits an event to every socket of this namespace, on every worker and node.
     *
     * @return int How many sockets of this process it was queued for.
     * @throws RuntimeException StateException when the server is not running; a value that
     *         JSON cannot carry (\JsonException).
     */
    public function emit(string $event, mixed ...$args): int
    {
        return $this->sio->emit($this, null, null, $event, array_values($args));
    }

    /** The sockets of this namespace in `$room` (on every worker and node), to emit to. */
    public function to(string $room): Emitter
    {
        return new Emitter($this->sio, $this, $room, null);
    }

    /** Every socket of this namespace but one (usually the sender), to emit to. */
    public function except(string|int $socket): Emitter
    {
        return new Emitter($this->sio, $this, null, $socket);
    }

    /** One socket (of any worker or node), to emit to (with an acknowledgement if wanted). */
    public function toSocket(string|int $socket): SocketEmitter
    {
        return new SocketEmitter($this->sio, $socket);
    }

    /**
     * Adds a socket (of any worker or node) to a room. A room is a channel of HttpServer's
     * (join(), members(), presence- rooms list users).
     *
     * @throws RuntimeException NotFoundException for an unknown socket; the engine's errors as join().
     */
    public function join(string|int $socket, string $room): void
    {
        $id = $this->sio->requireId($socket, "join(\"{$room}\")");
        $this->sio->live('join()')->wsJoin($id, $room);
        $this->sio->forget($id);
    }

    /**
     * Removes a socket (of any worker or node) from a room. A socket leaves every room when it
     * disconnects.
     *
     * @throws RuntimeException NotFoundException for an unknown socket; the engine's errors as leave().
     */
    public function leave(string|int $socket, string $room): void
    {
        $id = $this->sio->requireId($socket, "leave(\"{$room}\")");
        $this->sio->live('leave()')->wsLeave($id, $room);
        $this->sio->forget($id);
    }

    /**
     * Disconnects a socket (of any worker or node) from this namespace: the client sees
     * "io server disconnect" and does not reconnect by itself.
     *
     * @return bool False when the socket is unknown.
     */
    public function disconnect(string|int $socket): bool
    {
        $id = $this->sio->idOf($socket);
        return $id !== null && $this->sio->live('disconnect()')->wsClose($id, 1000, '') === 0;
    }

    /** A socket's array (of any worker or node), or null when it is unknown. */
    public function socket(string|int $socket): ?array
    {
        return $this->sio->socket($this, $socket);
    }

    /**
     * The sockets of this namespace, of every worker and node: id => socket array (a socket of
     * another worker or node has no headers).
     *
     * @return array<int, array<string, mixed>>
     */
    public function sockets(): array
    {
        return $this->sio->sockets($this, null);
    }

    /**
     * The sockets of this namespace in a room, of every worker and node: id => socket array.
     *
     * @return array<int, array<string, mixed>>
     */
    public function members(string $room): array
    {
        return $this->sio->sockets($this, $room);
    }

    /** @internal The handler of an event, if on() set one. */
    public function handler(string $event): ?Closure
    {
        return $this->handlers[$event] ?? null;
    }

    /** @internal */
    public function connectHandler(): ?Closure
    {
        return $this->connect;
    }

    /** @internal */
    public function disconnectHandler(): ?Closure
    {
        return $this->disconnect;
    }

    /**
     * @internal The documented accept('/socket.io(?:/.*)?', fn (string $message, array
     * $payload)) handler: every event on() does not handle.
     */
    public function setDocumentedHandler(Closure $handler): void
    {
        $this->documented = $handler;
    }

    /** @internal */
    public function documentedHandler(): ?Closure
    {
        return $this->documented;
    }
}
