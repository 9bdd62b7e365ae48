<?php

declare(strict_types=1);

namespace HttpSock\Server;

use HttpSock\Exceptions\InvalidArgumentException;

/**
 * The host and port a server binds to, as the constructor's address and port give them.
 *
 * @internal
 */
final class Address
{
    public function __construct(
        public readonly string $host,
        public readonly int $port
    ) {
    }

    /**
     * `127.0.0.1` + port, `localhost`, `::1`, `[::1]`, `0.0.0.0`, a host name, `tcp://host:port`,
     * `tcp://[::1]:port`. A null port means the port of a `tcp://` address, else 8080; an
     * explicit port wins over the URL's.
     *
     * @throws InvalidArgumentException For an address or port that cannot be used.
     */
    public static function parse(string $address, ?int $port): self
    {
        if ($port !== null && ($port < 0 || $port > 65535)) {
            throw new InvalidArgumentException("Invalid port: {$port}", InvalidArgumentException::STATUS);
        }
        if (str_contains($address, '://')) {
            $url = parse_url($address);
            if ($url === false || !isset($url['host'])) {
                throw new InvalidArgumentException("Invalid address: {$address}", InvalidArgumentException::STATUS);
            }
            return new self(trim($url['host'], '[]'), $port ?? (int) ($url['port'] ?? 8080));
        }
        $host = trim($address, '[]');
        if ($host === '') {
            throw new InvalidArgumentException('Invalid address: empty', InvalidArgumentException::STATUS);
        }
        return new self($host, $port ?? 8080);
    }

    /** `tcp://host:port` (brackets around an IPv6 host). */
    public function endpoint(?int $port = null): string
    {
        $host = str_contains($this->host, ':') ? "[{$this->host}]" : $this->host;
        return "tcp://{$host}:" . ($port ?? $this->port);
    }
}
