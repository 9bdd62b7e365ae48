<?php

declare(strict_types=1);

namespace HttpSock\Server;

/**
 * Luminova's list of connected clients, per client IP: what connect(), disconnect(), on() and
 * off() keep and hand to their callbacks (an id, the address, the port, the connection time).
 * The engine enforces connection-required mode itself; this is only the information.
 *
 * @internal
 */
final class ClientList
{
    /** @var array<string, array<string, mixed>> client IP => client record */
    private array $clients = [];

    /**
     * GET /connect from `$ip`: a fresh record, marked connected.
     *
     * @return array<string, mixed> the record
     */
    public function connect(string $ip, ?int $port): array
    {
        return $this->clients[$ip] = self::record($ip, $port) + ['connected' => true];
    }

    /**
     * GET /disconnect from `$ip`: its record (a fresh one if it had none), marked disconnected,
     * and removed from the list.
     *
     * @return array<string, mixed> the record
     */
    public function disconnect(string $ip, ?int $port): array
    {
        $client = $this->clients[$ip] ?? self::record($ip, $port);
        $client['connected'] = false;
        unset($this->clients[$ip]);
        return $client;
    }

    /** on(): `$ip` marked connected (its record kept when it has one). */
    public function on(string $ip): void
    {
        $this->clients[$ip] = ($this->clients[$ip] ?? self::record($ip, null)) + ['connected' => true];
        $this->clients[$ip]['connected'] = true;
    }

    /** off(): `$ip` removed. */
    public function off(string $ip): void
    {
        unset($this->clients[$ip]);
    }

    /** @return array<string, array<string, mixed>> client IP => record */
    public function all(): array
    {
        return $this->clients;
    }

    /** @return array<string, mixed> Luminova's client record. */
    private static function record(string $ip, ?int $port): array
    {
        return ['id' => uniqid(), 'address' => $ip, 'port' => $port, 'connection_time' => time()];
    }
}
