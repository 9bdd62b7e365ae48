<?php

declare(strict_types=1);

namespace HttpSock\Server;

use Closure;
use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Exceptions\NotFoundException;
use HttpSock\Exceptions\StateException;
use HttpSock\Http\Reply;
use HttpSock\Native\Admission;
use HttpSock\Native\Library;
use HttpSock\Native\NativeServer;
use HttpSock\SocketIo\Args;
use HttpSock\SocketIo\Codec;
use HttpSock\SocketIo\Refusal;
use HttpSock\SocketIo\SocketNamespace;

/**
 * The PHP side of Socket.IO: each namespace's four callbacks (connect, event, ack,
 * disconnect), the `$socket` arrays the handlers get, acknowledgements both ways, and the
 * emits of {@see SocketNamespace} and its emitters.
 *
 * The engine keeps the sockets (each is a client of the WebSocket world: an id, the Engine.IO
 * handshake's head, a user, channels = rooms). A socket's array is built from the engine on its
 * first event and kept until it disconnects or its rooms change (join/leave events drop it, like
 * WsDispatcher's payloads); an idle socket costs nothing here. Pending acknowledgement
 * callbacks (toSocket()->emit(..., fn)) are kept by token until the engine answers (once: the
 * client's answer, or null after the timeout or when the socket goes).
 *
 * @internal
 */
final class SioDispatcher
{
    /** The path patterns of accept() that mean Socket.IO (README: "Socket.IO (PHP)"). */
    private const PATTERN = '~^\^?/socket(?:\.|\\\\\.)io(?![A-Za-z0-9_\-{])~';
    private const OPTIONS = ['path' => true, 'pingInterval' => true, 'pingTimeout' => true, 'maxHttpBufferSize' => true, 'connectTimeout' => true, 'connectionStateRecovery' => true];

    private ?NativeServer $native = null;
    private ?int $serverPort = null;
    /** @var array<string, SocketNamespace> name => namespace */
    private array $namespaces = [];
    /** @var array<string, int|string> hs_sio_enable's options */
    private array $options = [];
    /** Whether the step that enables Socket.IO is recorded (the options are fixed from then on). */
    private bool $enabled = false;
    /** @var array<int, array<string, mixed>> socket id => its array (socket(), onDisconnect) */
    private array $sockets = [];
    /** @var array<int, array<string, mixed>> socket id => its array plus 'ack' => false (events) */
    private array $plainEvent = [];
    /** @var array<int, array<string, mixed>> socket id => its array plus 'ack' => true (events) */
    private array $ackEvent = [];
    /** @var array<int, Closure> ack token => the callback of toSocket()->emit(..., fn) */
    private array $acks = [];

    public function __construct(private readonly DebugLog $log, private readonly WsDispatcher $ws)
    {
    }

    /**
     * Whether an accept() pattern is the Socket.IO endpoint: it begins with `/socket.io` (the dot
     * escaped or not, an optional `^`) not followed by a letter, digit, `_`, `-` or `{`.
     */
    public static function isSocketIoPattern(string $pattern): bool
    {
        return preg_match(self::PATTERN, $pattern) === 1;
    }

    /** The sockets from now on are those of `$native` (a fresh server has none yet). */
    public function attach(?NativeServer $native): void
    {
        $this->native = $native;
        $this->sockets = $this->plainEvent = $this->ackEvent = $this->acks = [];
    }

    public function setServerPort(?int $port): void
    {
        $this->serverPort = $port;
    }

    /** The socket's rooms changed (or it is gone): its cached array is stale. */
    public function forget(int $id): void
    {
        unset($this->sockets[$id], $this->plainEvent[$id], $this->ackEvent[$id]);
    }

    public function isEnabled(): bool
    {
        return $this->enabled;
    }

    /**
     * socketioOptions(): checked here, used by the enable step.
     *
     * @param array<string, mixed> $options
     * @throws InvalidArgumentException For an unknown option or a bad value.
     * @throws StateException Once Socket.IO is enabled.
     */
    public function setOptions(array $options): void
    {
        if ($this->enabled) {
            throw new StateException(
                'socketioOptions(): call it before socketio() and before accept() of the Socket.IO path.',
                StateException::STATUS
            );
        }
        if (is_array($options['connectionStateRecovery'] ?? null)) {
            // Socket.IO's form: ['maxDisconnectionDuration' => ms]
            $recovery = $options['connectionStateRecovery'];
            if (array_diff(array_keys($recovery), ['maxDisconnectionDuration', 'skipMiddlewares']) !== []) {
                throw new InvalidArgumentException(
                    "socketioOptions(): 'connectionStateRecovery' takes 'maxDisconnectionDuration' (ms).",
                    InvalidArgumentException::STATUS
                );
            }
            $options['connectionStateRecovery'] = $recovery['maxDisconnectionDuration'] ?? 120000;
        }
        foreach ($options as $key => $value) {
            if (!isset(self::OPTIONS[$key])) {
                throw new InvalidArgumentException(
                    "socketioOptions(): unknown option '{$key}' (the options are " . implode(', ', array_keys(self::OPTIONS)) . ').',
                    InvalidArgumentException::STATUS
                );
            }
            if ($key === 'path') {
                if (!is_string($value) || !str_starts_with($value, '/')) {
                    throw new InvalidArgumentException("socketioOptions(): 'path' is a path starting with '/'.", InvalidArgumentException::STATUS);
                }
            } elseif (!is_int($value) || $value < 0 || $value > 0xFFFFFFFF) {
                throw new InvalidArgumentException(
                    "socketioOptions(): '{$key}' is a number of " . ($key === 'maxHttpBufferSize' ? 'bytes' : 'milliseconds') . ' (0: the default).',
                    InvalidArgumentException::STATUS
                );
            }
        }
        $this->options = $options + $this->options;
    }

    /** Marks Socket.IO enabled; true the first time (the caller records the enable step then). */
    public function markEnabled(): bool
    {
        if ($this->enabled) {
            return false;
        }
        $this->enabled = true;
        return true;
    }

    /** The enable step: hs_sio_enable with the options. */
    public function enable(NativeServer $native): void
    {
        $native->sioEnable($this->options);
    }

    /** The namespace of that name, if socketio() made it. */
    public function find(string $name): ?SocketNamespace
    {
        return $this->namespaces[$name] ?? null;
    }

    public function create(string $name): SocketNamespace
    {
        return $this->namespaces[$name] = new SocketNamespace($name, $this);
    }

    /**
     * The register step of a namespace: hs_sio_namespace with four trampolines bound to it (no
     * lookup per event). The route id comes out the same on every replay.
     */
    public function register(NativeServer $native, SocketNamespace $nsp): void
    {
        $nsp->route = $native->sioNamespace(
            $nsp->name,
            fn (int $id, string $head, string $auth): mixed => $this->connecting($nsp, $id, $head, $auth),
            $this->eventHandler($nsp),
            $this->acked(...),
            fn (int $id, string $reason) => $this->disconnected($nsp, $id, $reason),
            fn (\Throwable $e) => $this->log->exception("socketio(\"{$nsp->name}\") onConnect callback", $e)
        );
    }

    // ---- what SocketNamespace and its emitters call ----------------------------------------

    /** The live native server, for a call that needs one. */
    public function live(string $what): NativeServer
    {
        $native = $this->native;
        if ($native === null || !$native->isAlive()) {
            throw new StateException("{$what}: the server is not running.", StateException::STATUS);
        }
        return $native;
    }

    /** A socket id from an id or a Socket.IO id (sid); null when the sid names no socket. */
    public function idOf(string|int $socket): ?int
    {
        if (is_int($socket)) {
            return $socket;
        }
        return $this->native?->sioSocket($socket);
    }

    /**
     * A socket id, or a NotFoundException naming it.
     *
     * @throws NotFoundException
     */
    public function requireId(string|int $socket, string $what): int
    {
        $this->live($what);
        $id = $this->idOf($socket);
        if ($id === null) {
            throw new NotFoundException("{$what}: no socket has the id \"{$socket}\".", NotFoundException::STATUS);
        }
        return $id;
    }

    /**
     * Emits to a namespace's sockets (of a room; but one). Returns how many sockets of this
     * process got it.
     *
     * @param list<mixed> $args
     */
    public function emit(SocketNamespace $nsp, ?string $room, string|int|null $except, string $event, array $args): int
    {
        $native = $this->live("emit(\"{$event}\")");
        if ($args !== [] && end($args) instanceof Closure) {
            throw new InvalidArgumentException(
                "emit(\"{$event}\"): an acknowledgement callback is for one socket only: toSocket(\$sid)->emit(..., \$callback).",
                InvalidArgumentException::STATUS
            );
        }
        $exceptId = $except === null ? 0 : ($this->idOf($except) ?? 0);
        [$json, $attachments] = Codec::encode($args);
        return $native->sioEmit($nsp->route, $room, $exceptId, $event, $json, $attachments);
    }

    /**
     * Emits to one socket; a Closure as the last argument is the acknowledgement callback
     * (`fn (?array $args)`: the client's answer, or null after `$timeout` seconds or when the
     * socket went away; 0: no timeout). False when the socket is unknown.
     *
     * @param list<mixed> $args
     */
    public function emitTo(string|int $socket, string $event, array $args, float $timeout): bool
    {
        $native = $this->live("toSocket()->emit(\"{$event}\")");
        $callback = $args !== [] && end($args) instanceof Closure ? array_pop($args) : null;
        $id = $this->idOf($socket);
        if ($id === null) {
            return false;
        }
        [$json, $attachments] = Codec::encode($args);
        $token = $native->sioEmitTo($id, $event, $json, $attachments, $callback !== null, (int) max(0, round($timeout * 1000)));
        if ($token < 0) {
            return false;
        }
        if ($callback !== null) {
            $this->acks[$token] = $callback;
        }
        return true;
    }

    /** The `$socket` array of a socket of this namespace (of any worker or node), or null. */
    public function socket(SocketNamespace $nsp, string|int $socket): ?array
    {
        $id = $this->idOf($socket);
        if ($id === null) {
            return null;
        }
        if (!isset($this->sockets[$id]) && $this->native?->sioNamespaceOf($id) !== $nsp->name) {
            return null; // unknown, or a socket of another namespace
        }
        $s = $this->sockets[$id] ?? $this->build($nsp, $id);
        return isset($s['sid']) && $s['namespace'] === $nsp->name ? $s : null;
    }

    /**
     * The sockets of a namespace (in `$room` when given), of every worker and node: id =>
     * socket array.
     *
     * @return array<int, array<string, mixed>>
     */
    public function sockets(SocketNamespace $nsp, ?string $room): array
    {
        $native = $this->live('sockets()');
        $ids = $native->wsClients($nsp->route);
        if ($room !== null) {
            $ids = array_values(array_intersect($ids, $native->wsChannelMembers($room)));
        }
        $out = [];
        foreach ($ids as $id) {
            $s = $this->sockets[$id] ?? $this->build($nsp, $id);
            if (isset($s['sid'])) {
                $out[$id] = $s;
            }
        }
        return $out;
    }

    // ---- the callbacks ------------------------------------------------------------------------

    /**
     * A socket asks to connect `$nsp`: onConnect()'s verdict (accept when there is none).
     *
     * @throws \Throwable What the callback throws or a verdict of no known form (the client
     *         gets "Internal server error"; debug() tells why).
     */
    private function connecting(SocketNamespace $nsp, int $id, string $head, string $auth): mixed
    {
        $handler = $nsp->connectHandler();
        if ($handler === null) {
            return true;
        }
        $socket = $this->fromHead($nsp, $id, $head);
        $decoded = $auth === '' ? [] : json_decode($auth, true);
        $socket['auth'] = $decoded ?? [];
        return self::verdict($handler($socket));
    }

    /**
     * What an onConnect() callback returned → true, an Admission or a Refusal.
     *
     * @throws \UnexpectedValueException For a value of no known form.
     */
    public static function verdict(mixed $result): mixed
    {
        if ($result === null || $result === true) {
            return true;
        }
        if ($result === false) {
            return new Refusal();
        }
        if (is_string($result)) {
            return new Refusal($result);
        }
        if ($result instanceof Refusal) {
            return $result;
        }
        if (is_array($result)) {
            return self::admission($result);
        }
        throw new \UnexpectedValueException(
            'An onConnect() callback returns true or null (accept), false or a string (refuse, with that message), '
            . "a Refusal, or ['user' => ..., 'info' => [...], 'rooms' => [...]] (accept); got " . get_debug_type($result) . '.'
        );
    }

    /** The event trampoline of a namespace: the hot path. */
    private function eventHandler(SocketNamespace $nsp): Closure
    {
        return function (int $id, string $event, string $json, array $attachments, int $ackId) use ($nsp): void {
            $native = $this->native;
            if ($native === null) {
                return;
            }
            try {
                $args = $json === '' || $json === '[]' ? [] : Codec::decode($json, $attachments);
                // Built once per socket and kind (acknowledged or not), not per event.
                $socket = $ackId >= 0
                    ? ($this->ackEvent[$id] ??= ($this->sockets[$id] ??= $this->build($nsp, $id)) + ['ack' => true])
                    : ($this->plainEvent[$id] ??= ($this->sockets[$id] ??= $this->build($nsp, $id)) + ['ack' => false]);
                $handler = $nsp->handler($event);
                if ($handler !== null) {
                    $result = $handler($socket, ...$args);
                    $back = false;
                } else {
                    $documented = $nsp->documentedHandler();
                    if ($documented === null) {
                        return; // nobody listens: as Socket.IO, no acknowledgement either
                    }
                    $payload = $socket;
                    $payload['event'] = $event;
                    $payload['args'] = $args;
                    $result = $documented(Codec::message($args), $payload);
                    $back = $result !== null;
                }
                if ($ackId >= 0) {
                    [$out, $bytes] = Codec::encode(Args::of($result));
                    $rc = $native->sioAck($id, $ackId, $out, $bytes);
                } elseif ($back) {
                    [$out, $bytes] = Codec::encode(Args::of($result));
                    $rc = $native->sioEmitTo($id, $event, $out, $bytes);
                } else {
                    return;
                }
                if ($rc < 0) {
                    $this->log->line('httpsock:', "Socket.IO answer to socket {$id} failed: " . Library::failure('send', $rc));
                }
            } catch (\Throwable $e) {
                // No acknowledgement: the client's timeout (if it set one) tells it.
                $this->log->exception("socketio(\"{$nsp->name}\") handler of \"{$event}\"", $e);
            }
        };
    }

    /** The answer to a toSocket()->emit(..., fn): once per token; null args: no answer. */
    private function acked(int $id, int $token, ?string $json, array $attachments): void
    {
        $callback = $this->acks[$token] ?? null;
        unset($this->acks[$token]);
        if ($callback === null) {
            return;
        }
        try {
            $callback($json === null ? null : Codec::decode($json, $attachments));
        } catch (\Throwable $e) {
            $this->log->exception('Socket.IO acknowledgement callback', $e);
        }
    }

    private function disconnected(SocketNamespace $nsp, int $id, string $reason): void
    {
        $handler = $nsp->disconnectHandler();
        if ($handler !== null) {
            try {
                $handler($this->sockets[$id] ?? $this->build($nsp, $id), $reason);
            } catch (\Throwable $e) {
                $this->log->exception("socketio(\"{$nsp->name}\") onDisconnect callback", $e);
            }
        }
        $this->forget($id);
    }

    // ---- socket arrays --------------------------------------------------------------------------

    /**
     * A socket's array, read from the engine now: id, sid, namespace, then the WebSocket payload's
     * address, port, uri, path, query, headers (of the Engine.IO handshake request; empty for a
     * socket of another worker or node), secure, user, info, channels (its rooms), node.
     *
     * @return array<string, mixed>
     */
    private function build(SocketNamespace $nsp, int $id): array
    {
        $native = $this->native;
        $head = $native?->wsClientHead($id);
        if ($native === null || $head === null) {
            return ['id' => $id, 'namespace' => $nsp->name];
        }
        $payload = $this->ws->payload($id, $head, $native->wsClientRecord($id));
        unset($payload['id'], $payload['route'], $payload['params']);
        return ['id' => $id, 'sid' => $native->sioSid($id) ?? '', 'namespace' => $nsp->name] + $payload;
    }

    /** The array of a socket that is connecting: from the handshake's head (no record yet, maybe). */
    private function fromHead(SocketNamespace $nsp, int $id, string $head): array
    {
        $record = $this->native?->wsClientRecord($id);
        $payload = $this->ws->payload($id, $head, $record);
        unset($payload['id'], $payload['route'], $payload['params']);
        return ['id' => $id, 'sid' => $this->native?->sioSid($id) ?? '', 'namespace' => $nsp->name] + $payload;
    }

    /** @param array<mixed> $grant */
    private static function admission(array $grant): Admission
    {
        foreach (array_keys($grant) as $key) {
            if (!in_array($key, ['user', 'info', 'rooms', 'channels'], true)) {
                throw new \UnexpectedValueException("An onConnect() callback's array takes 'user', 'info' and 'rooms'; got '{$key}'.");
            }
        }
        $user = $grant['user'] ?? null;
        if ($user !== null && !((is_string($user) && $user !== '') || is_int($user))) {
            throw new \UnexpectedValueException("onConnect(): 'user' is a non-empty string or an int; got " . get_debug_type($user) . '.');
        }
        $info = $grant['info'] ?? [];
        if (!is_array($info)) {
            throw new \UnexpectedValueException("onConnect(): 'info' is an array; got " . get_debug_type($info) . '.');
        }
        if ($user === null && $info !== []) {
            throw new \UnexpectedValueException("onConnect(): 'info' is about a user: give 'user' too.");
        }
        $rooms = [...(array) ($grant['rooms'] ?? []), ...(array) ($grant['channels'] ?? [])];
        if (!array_is_list($rooms)) {
            throw new \UnexpectedValueException("onConnect(): 'rooms' is a list of room names.");
        }
        foreach ($rooms as $room) {
            if (!is_string($room)) {
                throw new \UnexpectedValueException('onConnect(): a room name is a string; got ' . get_debug_type($room) . '.');
            }
            if ($user === null && str_starts_with($room, 'presence-')) {
                throw new \UnexpectedValueException("onConnect(): '{$room}' is a presence channel: its members are users, give 'user'.");
            }
        }
        return new Admission(
            $user === null ? null : (string) $user,
            $user === null ? '' : json_encode($info, Reply::JSON_FLAGS),
            $rooms
        );
    }
}
