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
    /**
     * @param bool $tls Whether the address asked for TLS (`ssl://`, `tls://`): a certificate is
     *        then required. (Certificates given with another address turn TLS on as well.)
     */
    public function __construct(
        public readonly string $host,
        public readonly int $port,
        public readonly bool $tls = false
    ) {
    }

    /**
     * `127.0.0.1` + port, `localhost`, `::1`, `[::1]`, `0.0.0.0`, a host name, `tcp://host:port`,
     * `tcp://[::1]:port`, `ssl://host:port` and `tls://host:port` (TLS), parsed by the engine
     * (hs_parse_address, the parser hs_new uses). A null port means the port of a URL address,
     * else 8080; 0 the port of a URL address, else any free port; another port wins over the
     * address's.
     *
     * @throws InvalidArgumentException For an address or port the engine refuses.
     */
    public static function parse(string $address, ?int $port): self
    {
        if ($port === -1) {
            throw new InvalidArgumentException('Invalid port: -1', InvalidArgumentException::STATUS);
        }
        // TLS is this wrapper's business (the certificates come from $options): the engine
        // parses the host and port of a tcp:// URL.
        $tls = preg_match('#^(ssl|tls)://#i', $address) === 1;
        if ($tls) {
            $address = 'tcp://' . substr($address, 6);
        }
        [$host, $port] = NativeServer::parseAddress($address, $port ?? -1);
        return new self($host, $port, $tls);
    }

    /** The same address with another port. */
    public function withPort(int $port): self
    {
        return new self($this->host, $port, $this->tls);
    }

    /** `tcp://host:port`, `tls://host:port` with `$tls` (brackets around an IPv6 host). */
    public function endpoint(?int $port = null, bool $tls = false): string
    {
        $host = str_contains($this->host, ':') ? "[{$this->host}]" : $this->host;
        return ($tls ? 'tls' : 'tcp') . "://{$host}:" . ($port ?? $this->port);
    }
}
