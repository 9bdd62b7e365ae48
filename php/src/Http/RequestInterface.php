<?php

declare(strict_types=1);

namespace HttpSock\Http;

/**
 * What a handler's request offers: Luminova's HttpRequestInterface, as far as a standalone
 * server can (no framework configuration: no trusted hosts, sessions, user-agent parsing).
 *
 * When the Luminova framework is not loaded, `Luminova\Interface\HttpRequestInterface` is an
 * alias of this interface, so handlers typed `function (HttpRequestInterface $request)` work.
 *
 * Field bags per method are also readable through __call: getPut(), getPatch(), getDelete(),
 * getOptions(), getHead()... each `(?string $field = null, mixed $default = null)`.
 */
interface RequestInterface extends \Stringable
{
    /** getPut/getPatch/getDelete/...: a body field (or all fields) when the method matches. */
    public function __call(string $method, array $arguments): mixed;

    /** The raw request body. */
    public function __toString(): string;

    /** The raw request body. */
    public function toString(): string;

    /** The body fields as multipart/form-data text. */
    public function toMultipart(): string;

    /** A query-string field, or all of them when $field is null. */
    public function getGet(string|null $field, mixed $default = null): mixed;

    /** A body field of a POST request, or all of them when $field is null. */
    public function getPost(string|null $field, mixed $default = null): mixed;

    /** A body field of a request of $method, as an array. */
    public function getArray(string $method, string $field, array $default = []): array;

    /** The body fields (form, multipart or JSON) as an array, or as an object. */
    public function getBody(bool $object = false): array|object;

    /** An uploaded file (or the list of files of a multiple input), or null. */
    public function getFile(string $name, ?int $index = null): UploadedFile|array|null;

    /** Every uploaded file: field name => list of ['name', 'type', 'size', 'error', 'content']. */
    public function getFiles(): array;

    /** The request method, lower case ("get"). */
    public function getMethod(): string;

    /** The multipart boundary, or null. */
    public function getBoundary(): ?string;

    public function isGet(): bool;

    public function isPost(): bool;

    public function isMethod(string $method): bool;

    /** The Content-Type header, or "". */
    public function getContentType(): string;

    /** The Authorization header, or null. */
    public function getAuth(): ?string;

    /** Whether the request came over TLS to this server (https, wss). */
    public function isSecure(): bool;

    public function isAJAX(): bool;

    /** Whether the path starts with /api. */
    public function isApi(): bool;

    /** The raw query string (without "?"). */
    public function getQuery(): string;

    /** The query fields as an array. */
    public function getQueries(): ?array;

    /** scheme://host[:port]/path?query. */
    public function getUrl(): string;

    /** Path and query as received ("/foo/bar?query=123"). */
    public function getUri(): string;

    /** The path as received, without the query. */
    public function getPaths(): string;

    /** Path and query as received (not decoded). */
    public function getRequestUri(): string;

    /** The host name from the Host header, without port. */
    public function getHost(bool $exception = false): ?string;

    /** The host name with its port. */
    public function getHostname(bool $exception = false, bool $port = true): ?string;

    /** The Origin header, or null. */
    public function getOrigin(): ?string;

    /** X-Forwarded-Port, else the port of the Host header, else the server's port. */
    public function getPort(): int|string|null;

    /** "https" when the request came over TLS to this server, else "http" (X-Forwarded-Proto is not trusted). */
    public function getScheme(): string;

    /** "HTTP/1.1", "HTTP/1.0" or "HTTP/2.0". */
    public function getProtocol(string $default = 'HTTP/1.1'): string;

    /** One request header (case-insensitive name), or null. */
    public function getHeader(string $name): ?string;

    /** Every request header: Canonical-Name => value. */
    public function getHeaders(): array;
}
