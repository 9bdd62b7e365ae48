<?php

declare(strict_types=1);

namespace HttpSock\Server;

use Closure;
use HttpSock\Http\Reply;
use HttpSock\Http\Request;
use HttpSock\Http\Wire;
use HttpSock\Native\Library;
use HttpSock\Native\NativeServer;

/**
 * The PHP side of WebSocket clients: each accept() route's message callback, the payload array
 * the callbacks get, replies, and the onOpen()/onClose()/onJoin()/onLeave()/onPresence()
 * handlers.
 *
 * The engine keeps the clients (ids, upgrade requests, users, channels) of every worker and
 * node: a payload is built from the client's packed head and record when asked for. A message's
 * payload is built once per client and kind (text, binary), on its first such message, and kept
 * until the client closes or its channels change (the engine's join/leave events drop it); an
 * idle client costs nothing here.
 *
 * @internal
 */
final class WsDispatcher
{
    /** The native server whose clients these are (for heads and replies). */
    private ?NativeServer $native = null;
    /** @var array<int, string> route id => pattern */
    private array $patterns = [];
    /** @var array<int, array<string, mixed>> client id => its payload plus 'binary' => false */
    private array $textPayload = [];
    /** @var array<int, array<string, mixed>> client id => its payload plus 'binary' => true */
    private array $binaryPayload = [];
    private ?Closure $openHandler = null;
    private ?Closure $closeHandler = null;
    private ?Closure $joinHandler = null;
    private ?Closure $leaveHandler = null;
    private ?Closure $presenceHandler = null;
    /** Told when a client's channels change (Socket.IO's cached sockets: SioDispatcher::forget). */
    private ?Closure $forgetHook = null;
    private ?int $serverPort = null;

    public function __construct(private readonly DebugLog $log)
    {
    }

    /** The clients from now on are those of `$native` (a fresh server has none yet). */
    public function attach(?NativeServer $native): void
    {
        $this->native = $native;
        $this->patterns = $this->textPayload = $this->binaryPayload = [];
    }

    public function setServerPort(?int $port): void
    {
        $this->serverPort = $port;
    }

    public function setOpenHandler(Closure $handler): void
    {
        $this->openHandler = $handler;
    }

    public function setCloseHandler(Closure $handler): void
    {
        $this->closeHandler = $handler;
    }

    public function setJoinHandler(Closure $handler): void
    {
        $this->joinHandler = $handler;
    }

    public function setLeaveHandler(Closure $handler): void
    {
        $this->leaveHandler = $handler;
    }

    public function setPresenceHandler(Closure $handler): void
    {
        $this->presenceHandler = $handler;
    }

    /** `$hook(int $id)` is called when a client's channels change (join and leave events). */
    public function setForgetHook(Closure $hook): void
    {
        $this->forgetHook = $hook;
    }

    /**
     * Takes `$native`'s channel and presence events: join and leave also drop the client's
     * cached payloads (their `channels` changed).
     */
    public function listen(NativeServer $native): void
    {
        $native->roomEvents($this->joined(...), $this->left(...), $this->presenceChanged(...));
    }

    /** The client's channels changed here (join()/leave()): its cached payloads are stale. */
    public function forget(int $id): void
    {
        unset($this->textPayload[$id], $this->binaryPayload[$id]);
    }

    /**
     * Registers an accept() route on `$native`, with a message trampoline of its own: the
     * route's callback is bound in it (no lookup per message).
     */
    public function accept(NativeServer $native, string $pattern, Closure $callback): int
    {
        $message = function (int $id, string $message, bool $binary) use ($callback): void {
            try {
                // Each payload is built once per client (on its first message of that kind), not
                // per message; an idle client never pays for it.
                $payload = $binary
                    ? ($this->binaryPayload[$id] ??= $this->payloadOf($id) + ['binary' => true])
                    : ($this->textPayload[$id] ??= $this->payloadOf($id) + ['binary' => false]);
                $reply = $callback($message, $payload);
                if (is_array($reply) || $reply instanceof \JsonSerializable) {
                    $this->native?->wsSend($id, json_encode($reply, Reply::JSON_FLAGS), false);
                } elseif (is_string($reply) || $reply instanceof \Stringable) {
                    $rc = $this->native?->wsSend($id, (string) $reply, $binary) ?? 0;
                    if ($rc < 0) {
                        $this->log->line('httpsock:', "reply to WebSocket client {$id} failed: " . Library::failure('send', $rc));
                    }
                }
            } catch (\Throwable $e) {
                $this->log->exception('accept callback', $e);
            }
        };
        $route = $native->accept($pattern, $this->opened(...), $message, $this->closed(...));
        $this->patterns[$route] = $pattern;
        return $route;
    }

    /**
     * The connected clients of every worker and node: id => payload.
     *
     * @return array<int, array<string, mixed>>
     */
    public function clients(): array
    {
        return $this->payloads($this->native?->wsClients() ?? []);
    }

    /**
     * The payloads of these clients (of any worker or node): id => payload; a client gone in
     * the meantime is left out.
     *
     * @param list<int> $ids
     * @return array<int, array<string, mixed>>
     */
    public function payloads(array $ids): array
    {
        $clients = [];
        foreach ($ids as $id) {
            $head = $this->native?->wsClientHead($id);
            if ($head !== null) {
                $clients[$id] = $this->payload($id, $head, $this->native?->wsClientRecord($id));
            }
        }
        return $clients;
    }

    /** A client's payload, read from the engine now. */
    public function payloadOf(int $id): array
    {
        return $this->payload($id, $this->native?->wsClientHead($id), $this->native?->wsClientRecord($id));
    }

    /**
     * What WebSocket callbacks get about a client: id, address, port, uri, path, query, headers
     * (empty for a client of another worker or node), params, route, secure (wss), user (null
     * when none), info (the user's), channels, node (only the id once the client is unknown).
     *
     * @return array<string, mixed>
     */
    public function payload(int $id, ?string $head, ?string $record = null): array
    {
        if ($head === null) {
            return ['id' => $id];
        }
        $wire = Wire::fields($head);
        $request = Request::fromHead($head, '', $this->serverPort);
        $record = $record === null || $record === '' ? null : Wire::record($record);
        $user = $record['user'] ?? null;
        return [
            'id' => $id,
            'address' => $request->getIp(),
            'port' => $request->getClientPort(),
            'uri' => $request->getUri(),
            'path' => $request->getPaths(),
            'query' => $request->getQuery(),
            'headers' => $request->getHeaders(),
            'params' => $request->getParams(),
            'route' => $this->patterns[(int) $wire[Wire::ROUTE]] ?? '',
            'secure' => $request->isSecure(),
            'user' => $user === null ? null : Wire::userId($user),
            'info' => $user === null ? [] : self::info($record['info']),
            'channels' => $record['channels'] ?? [],
            'node' => $record['node'] ?? '',
        ];
    }

    /** A user's info as authorize() gave it (JSON in the engine); [] when it is not JSON. */
    public static function info(string $json): array
    {
        if ($json === '') {
            return [];
        }
        $info = json_decode($json, true);
        return is_array($info) ? $info : [];
    }

    private function opened(int $id, string $head): void
    {
        if ($this->openHandler === null) {
            return;
        }
        try {
            ($this->openHandler)($this->payload($id, $head, $this->native?->wsClientRecord($id)));
        } catch (\Throwable $e) {
            $this->log->exception('onOpen callback', $e);
        }
    }

    private function joined(int $id, string $channel): void
    {
        unset($this->textPayload[$id], $this->binaryPayload[$id]);
        if ($this->forgetHook !== null) {
            ($this->forgetHook)($id);
        }
        if ($this->joinHandler === null) {
            return;
        }
        try {
            ($this->joinHandler)($this->payloadOf($id), $channel);
        } catch (\Throwable $e) {
            $this->log->exception('onJoin callback', $e);
        }
    }

    private function left(int $id, string $channel): void
    {
        unset($this->textPayload[$id], $this->binaryPayload[$id]);
        if ($this->forgetHook !== null) {
            ($this->forgetHook)($id);
        }
        if ($this->leaveHandler === null) {
            return;
        }
        try {
            ($this->leaveHandler)($this->payloadOf($id), $channel);
        } catch (\Throwable $e) {
            $this->log->exception('onLeave callback', $e);
        }
    }

    private function presenceChanged(string $channel, bool $joined, string $user, string $info): void
    {
        if ($this->presenceHandler === null) {
            return;
        }
        try {
            ($this->presenceHandler)($channel, $joined ? 'join' : 'leave', Wire::userId($user), self::info($info));
        } catch (\Throwable $e) {
            $this->log->exception('onPresence callback', $e);
        }
    }

    private function closed(int $id, int $code, string $reason): void
    {
        $payload = $this->closeHandler === null ? null : $this->payloadOf($id);
        unset($this->textPayload[$id], $this->binaryPayload[$id]);
        if ($payload !== null) {
            try {
                ($this->closeHandler)($payload, $code, $reason);
            } catch (\Throwable $e) {
                $this->log->exception('onClose callback', $e);
            }
        }
    }
}
