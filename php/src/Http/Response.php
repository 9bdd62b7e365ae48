<?php

declare(strict_types=1);

namespace HttpSock\Http;

/**
 * An HTTP response a handler returns: status, headers and body.
 *
 * ```php
 * return new Response(200, ['Content-Type' => 'text/html'], '<h1>Hello, World!</h1>');
 * ```
 *
 * A body that is an array or a JSON-serializable object is sent as JSON (with
 * `Content-Type: application/json` unless a Content-Type is given). `Luminova\Http\Message\Response`
 * extends this class when the Luminova framework is not loaded.
 */
class Response extends Message implements \Stringable
{
    // Declared with defaults, not promoted: an initialised typed property is written on the VM's
    // fast path, an uninitialised one through the slow write handler (measured: about 80
    // instructions per property and response).
    protected int $statusCode = 200;
    /** @var array<string|int,mixed> */
    protected array $headers = [];
    protected mixed $body = '';
    protected mixed $contents = null;
    /** @var array<string,mixed> */
    protected array $info = [];

    /**
     * @param int $statusCode The HTTP status code (200-999; a 1xx gives a 500).
     * @param array<string|int,mixed> $headers Header name => value (a list value sends the header
     *        once per item); a list entry "Name: value" is also accepted.
     * @param mixed $body The response body: a string, or an array/object sent as JSON.
     * @param mixed $contents Optional decoded contents (returned by getContents()).
     * @param array<string,mixed> $info Optional extra information (returned by getInfo()).
     */
    public function __construct(
        int $statusCode = 200,
        array $headers = [],
        mixed $body = '',
        mixed $contents = null,
        array $info = []
    ) {
        $this->statusCode = $statusCode;
        $this->headers = $headers;
        $this->body = $body;
        $this->contents = $contents;
        $this->info = $info;
    }

    /** Get the HTTP status code of the response. */
    public function getStatusCode(): int
    {
        return $this->statusCode;
    }

    /**
     * Get the response headers.
     *
     * @return array<string|int,mixed>
     */
    public function getHeaders(): array
    {
        return $this->headers;
    }

    /** Get one response header by case-insensitive name, or null. */
    public function getHeader(string $name): mixed
    {
        foreach ($this->headers as $key => $value) {
            if (is_string($key) && strcasecmp($key, $name) === 0) {
                return $value;
            }
        }
        return null;
    }

    /** Get the response body as given. */
    public function getBody(): mixed
    {
        return $this->body;
    }

    /** Get the response contents (the body when no separate contents were given). */
    public function getContents(): mixed
    {
        return $this->contents ?? $this->body;
    }

    /**
     * Get the response info.
     *
     * @return array<string,mixed>
     */
    public function getInfo(): array
    {
        return $this->info;
    }

    /**
     * [status, header lines, body] for the engine: what Reply::fromResponse() gives, read from
     * the fields directly (Reply::from() uses it for this class itself, not for subclasses).
     *
     * @internal
     * @return array{0: int, 1: string, 2: string}
     */
    public function reply(): array
    {
        return Reply::parts($this->statusCode, $this->headers, $this->body ?? $this->contents);
    }

    /** The whole response as raw HTTP/1.1 text (status line, headers, blank line, body). */
    public function toString(): string
    {
        [$status, $headers, $body] = Reply::fromResponse($this);
        return sprintf("HTTP/1.1 %d %s\r\n", $status, Reply::reason($status))
            . $headers . 'Content-Length: ' . strlen($body) . "\r\n\r\n" . $body;
    }

    public function __toString(): string
    {
        return $this->toString();
    }
}
