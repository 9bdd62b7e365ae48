<?php

declare(strict_types=1);

namespace HttpSock\Server;

use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Native\NativeServer;

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
     * `tcp://[::1]:port`, parsed by the engine (hs_parse_address, the parser hs_new uses). A
     * null port means the port of a `tcp://` address, else 8080; 0 the port of a `tcp://`
     * address, else any free port; another port wins over the address's.
     *
     * @throws InvalidArgumentException For an address or port the engine refuses.
     */
    public static function parse(string $address, ?int $port): self
    {
        if ($port === -1) {
            throw new InvalidArgumentException('Invalid port: -1', InvalidArgumentException::STATUS);
        }
        [$host, $port] = NativeServer::parseAddress($address, $port ?? -1);
        return new self($host, $port);
    }

    /** `tcp://host:port` (brackets around an IPv6 host). */
    public function endpoint(?int $port = null): string
    {
        $host = str_contains($this->host, ':') ? "[{$this->host}]" : $this->host;
        return "tcp://{$host}:" . ($port ?? $this->port);
    }
}
