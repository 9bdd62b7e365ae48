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
 * the callbacks get, replies, and the onOpen()/onClose() handlers.
 *
 * The engine keeps the clients (ids, upgrade requests): a payload is built from the client's
 * packed head when asked for. A message's payload is built once per client and kind (text,
 * binary), on its first such message, and kept until the client closes; an idle client costs
 * nothing here.
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
                    ? ($this->binaryPayload[$id] ??= $this->payload($id, $this->native?->wsClientHead($id)) + ['binary' => true])
                    : ($this->textPayload[$id] ??= $this->payload($id, $this->native?->wsClientHead($id)) + ['binary' => false]);
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
     * The connected clients of this process: id => payload.
     *
     * @return array<int, array<string, mixed>>
     */
    public function clients(): array
    {
        $clients = [];
        foreach ($this->native?->wsClients() ?? [] as $id) {
            $clients[$id] = $this->payload($id, $this->native->wsClientHead($id));
        }
        return $clients;
    }

    /**
     * What WebSocket callbacks get about a client: id, address, port, uri, path, query, headers,
     * params, route, secure (wss) (only the id once the client is unknown).
     *
     * @return array<string, mixed>
     */
    public function payload(int $id, ?string $head): array
    {
        if ($head === null) {
            return ['id' => $id];
        }
        $wire = Wire::fields($head);
        $request = new Request($wire, '', $this->serverPort);
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
        ];
    }

    private function opened(int $id, string $head): void
    {
        if ($this->openHandler === null) {
            return;
        }
        try {
            ($this->openHandler)($this->payload($id, $head));
        } catch (\Throwable $e) {
            $this->log->exception('onOpen callback', $e);
        }
    }

    private function closed(int $id, int $code, string $reason): void
    {
        $payload = $this->closeHandler === null ? null : $this->payload($id, $this->native?->wsClientHead($id));
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
