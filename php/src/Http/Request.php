<?php

declare(strict_types=1);

namespace HttpSock\Http;

/**
 * The request a handler receives, over the fields of the engine's packed head ({@see Wire}).
 *
 * Nothing is parsed up front: headers, query fields, body fields and uploads are parsed the
 * first time they are asked for.
 */
final class Request extends Message implements RequestInterface
{
    /** @var array<string|int,string>|null the captures, decoded when first asked for */
    private ?array $params = null;
    /** @var array<string,string>|null lower-case name => value */
    private ?array $headers = null;
    /** @var array<string,string> getHeader()'s search keys by name (see headerKey()). */
    private static array $headerKeys = [];
    private ?array $queries = null;
    private ?array $fields = null;
    /** @var array<string,list<UploadedFile>>|null */
    private ?array $files = null;
    /** @var array<string,string>|null */
    private ?array $cookies = null;

    // Protected (this class is final): the engine's fast trampoline, bound to the scope of
    // Message, fills them without a constructor call. The packed head ({@see Wire}) from byte
    // `$offset` on (the fast path puts the decoded captures before it), the body, the port the
    // server listens on.
    protected string $head = '';
    protected string $body = '';
    protected ?int $serverPort = null;
    protected int $offset = 0;
    /**
     * Where the query and the headers block are in `$head`, as the engine's fast path gives
     * them (hs_fast_handler: 21-bit fields): `$spans` = query start | query length | headers
     * start, `$lengths` = … | … | headers length. -1: not known (split the head instead).
     */
    protected int $spans = -1;
    protected int $lengths = 0;
    /** @var list<string>|null The packed head's fields, split the first time one is read. */
    private ?array $wire = null;

    /**
     * A request from a packed head (error hook, response filter, WebSocket payloads).
     *
     * @internal
     */
    public static function fromHead(string $head, string $body = '', ?int $serverPort = null): self
    {
        $request = new self();
        $request->head = $head;
        $request->body = $body;
        $request->serverPort = $serverPort;
        return $request;
    }

    /**
     * The packed head's fields (split once, on first use: a handler that reads nothing of the
     * request never pays for it).
     *
     * @return list<string>
     */
    private function split(): array
    {
        return $this->wire = explode("\0", $this->offset === 0 ? $this->head : substr($this->head, $this->offset));
    }

    // ---- extras of this server --------------------------------------------------------------

    /** The client's IP address. */
    public function getIp(): string
    {
        return ($this->wire ?? $this->split())[Wire::PEER_IP];
    }

    /** The client's TCP port. */
    public function getClientPort(): int
    {
        return (int) ($this->wire ?? $this->split())[Wire::PEER_PORT];
    }

    /** The id of the TCP connection (shared by its keep-alive requests). */
    public function getConnectionId(): int
    {
        return (int) ($this->wire ?? $this->split())[Wire::CONN];
    }

    /**
     * The route's captures: name => percent-decoded value ({name} segments), or index => value.
     *
     * @return array<string|int,string>
     */
    public function getParams(): array
    {
        return $this->params ??= Wire::params($this->wire ?? $this->split());
    }

    /** One capture by name, or $default. */
    public function getParam(string $name, ?string $default = null): ?string
    {
        return $this->getParams()[$name] ?? $default;
    }

    /**
     * The cookies the client sent: name => value (values URL-decoded, as PHP's `$_COOKIE`; the
     * first of a repeated name wins). Useful in authorize(): a browser sends its cookies with
     * the WebSocket upgrade.
     *
     * @return array<string,string>
     */
    public function getCookies(): array
    {
        if ($this->cookies !== null) {
            return $this->cookies;
        }
        $cookies = [];
        // Every Cookie field (HTTP/2 sends one per cookie), each "a=1; b=2".
        foreach (explode("\r\n", ($this->wire ?? $this->split())[Wire::HEADERS]) as $line) {
            if (strncmp($line, 'cookie:', 7) !== 0) {
                continue;
            }
            foreach (explode(';', substr($line, 7)) as $pair) {
                $eq = strpos($pair, '=');
                if ($eq === false) {
                    continue;
                }
                $name = trim(substr($pair, 0, $eq));
                if ($name !== '' && !isset($cookies[$name])) {
                    $cookies[$name] = urldecode(trim(substr($pair, $eq + 1), " \t\""));
                }
            }
        }
        return $this->cookies = $cookies;
    }

    /** One cookie's value, or $default. */
    public function getCookie(string $name, ?string $default = null): ?string
    {
        return $this->getCookies()[$name] ?? $default;
    }

    // ---- HttpRequestInterface ---------------------------------------------------------------

    public function __call(string $method, array $arguments): mixed
    {
        if (strlen($method) > 3 && str_starts_with($method, 'get')) {
            $verb = strtoupper(substr($method, 3));
            $field = $arguments[0] ?? null;
            return $this->fieldOf($verb, is_string($field) ? $field : null, $arguments[1] ?? null);
        }
        throw new \BadMethodCallException('Call to undefined method ' . self::class . "::{$method}()");
    }

    public function __toString(): string
    {
        return $this->body;
    }

    public function toString(): string
    {
        return $this->body;
    }

    public function toMultipart(): string
    {
        if ($this->getBoundary() !== null) {
            return $this->body;
        }
        $boundary = '----httpsock' . bin2hex(random_bytes(8));
        $out = '';
        foreach ($this->flatten($this->getBody()) as [$name, $value]) {
            $out .= "--{$boundary}\r\nContent-Disposition: form-data; name=\"{$name}\"\r\n\r\n{$value}\r\n";
        }
        return $out . "--{$boundary}--\r\n";
    }

    public function getGet(string|null $field, mixed $default = null): mixed
    {
        // The parse written here, not a call to getQueries(): a call costs as much as the parse.
        if ($this->queries === null) {
            parse_str($this->spans >= 0
                ? substr($this->head, $this->spans & 0x1fffff, $this->spans >> 21 & 0x1fffff)
                : ($this->wire ?? $this->split())[Wire::QUERY], $queries);
            $this->queries = $queries;
        }
        return $field === null ? $this->queries : ($this->queries[$field] ?? $default);
    }

    public function getPost(string|null $field, mixed $default = null): mixed
    {
        return $this->fieldOf('POST', $field, $default);
    }

    public function getArray(string $method, string $field, array $default = []): array
    {
        $value = strtoupper($method) === 'GET'
            ? $this->getGet($field, $default)
            : $this->fieldOf(strtoupper($method), $field, $default);
        if (is_string($value)) {
            $decoded = json_decode($value, true);
            return is_array($decoded) ? $decoded : $default;
        }
        return is_array($value) ? $value : $default;
    }

    public function getBody(bool $object = false): array|object
    {
        $fields = $this->fields ??= $this->parseBody();
        return $object ? json_decode(json_encode($fields, Reply::JSON_FLAGS) ?: '{}', false) : $fields;
    }

    public function getFile(string $name, ?int $index = null): UploadedFile|array|null
    {
        $files = $this->uploads()[$name] ?? null;
        if ($files === null) {
            return null;
        }
        if ($index !== null) {
            return $files[$index] ?? null;
        }
        return count($files) === 1 ? $files[0] : $files;
    }

    public function getFiles(): array
    {
        $out = [];
        foreach ($this->uploads() as $field => $files) {
            foreach ($files as $file) {
                $out[$field][] = $file->toArray();
            }
        }
        return $out;
    }

    public function getMethod(): string
    {
        return strtolower(($this->wire ?? $this->split())[Wire::METHOD]);
    }

    public function getBoundary(): ?string
    {
        return preg_match('/boundary="?([^";]+)"?/i', $this->getContentType(), $m) === 1 ? $m[1] : null;
    }

    public function isGet(): bool
    {
        return ($this->wire ?? $this->split())[Wire::METHOD] === 'GET';
    }

    public function isPost(): bool
    {
        return ($this->wire ?? $this->split())[Wire::METHOD] === 'POST';
    }

    public function isMethod(string $method): bool
    {
        return strcasecmp(($this->wire ?? $this->split())[Wire::METHOD], $method) === 0;
    }

    public function getContentType(): string
    {
        return $this->getHeader('content-type') ?? '';
    }

    public function getAuth(): ?string
    {
        return $this->getHeader('authorization');
    }

    /**
     * Whether this request came over TLS (https, wss): this connection is TLS, or it comes from
     * a reverse proxy on this machine (a loopback peer) that says `X-Forwarded-Proto: https`.
     * Luminova believed that header from any client; a remote client could then pass for a
     * secure one, so only a local proxy is believed.
     */
    public function isSecure(): bool
    {
        if (($this->wire ?? $this->split())[Wire::SCHEME] === 'https') {
            return true;
        }
        $ip = ($this->wire ?? $this->split())[Wire::PEER_IP];
        $local = str_starts_with($ip, '127.') || $ip === '::1' || str_starts_with($ip, '::ffff:127.');
        return $local && strcasecmp(trim(explode(',', $this->getHeader('x-forwarded-proto') ?? '')[0]), 'https') === 0;
    }

    public function isAJAX(): bool
    {
        return strcasecmp($this->getHeader('x-requested-with') ?? '', 'XMLHttpRequest') === 0;
    }

    public function isApi(): bool
    {
        $path = '/' . ltrim(($this->wire ?? $this->split())[Wire::PATH], '/');
        return $path === '/api' || str_starts_with($path, '/api/') || str_starts_with($path, '/public/api');
    }

    public function getQuery(): string
    {
        return $this->spans >= 0
            ? substr($this->head, $this->spans & 0x1fffff, $this->spans >> 21 & 0x1fffff)
            : ($this->wire ?? $this->split())[Wire::QUERY];
    }

    public function getQueries(): ?array
    {
        return $this->getGet(null);
    }

    public function getUrl(): string
    {
        return $this->getScheme() . '://' . ($this->getHostname() ?? '127.0.0.1') . ($this->wire ?? $this->split())[Wire::URI];
    }

    public function getUri(): string
    {
        return ($this->wire ?? $this->split())[Wire::URI];
    }

    public function getPaths(): string
    {
        return ($this->wire ?? $this->split())[Wire::PATH];
    }

    public function getRequestUri(): string
    {
        return ($this->wire ?? $this->split())[Wire::URI];
    }

    public function getHost(bool $exception = false): ?string
    {
        $host = $this->getHostname($exception, false);
        return $host;
    }

    public function getHostname(bool $exception = false, bool $port = true): ?string
    {
        $host = $this->getHeader('host');
        if ($host === null || $host === '') {
            if ($exception) {
                throw new \HttpSock\Exceptions\RuntimeException('The request has no Host header.');
            }
            return null;
        }
        if (!$port) {
            $host = preg_replace('/:\d+$/', '', $host) ?? $host;
        }
        return $host;
    }

    public function getOrigin(): ?string
    {
        return $this->getHeader('origin');
    }

    public function getPort(): int|string|null
    {
        $forwarded = $this->getHeader('x-forwarded-port');
        if ($forwarded !== null && ctype_digit($forwarded)) {
            return (int) $forwarded;
        }
        if (preg_match('/:(\d+)$/', $this->getHeader('host') ?? '', $m) === 1) {
            return (int) $m[1];
        }
        return $this->serverPort;
    }

    /** "https" when isSecure(), else "http". */
    public function getScheme(): string
    {
        return $this->isSecure() ? 'https' : 'http';
    }

    /** "HTTP/1.0", "HTTP/1.1" or "HTTP/2.0", as the client spoke. */
    public function getProtocol(string $default = 'HTTP/1.1'): string
    {
        return ($this->wire ?? $this->split())[Wire::VERSION] !== '' ? ($this->wire ?? $this->split())[Wire::VERSION] : $default;
    }

    public function getHeader(string $name): ?string
    {
        if ($this->headers !== null) {
            return $this->headers[strtolower($name)] ?? null;
        }
        // One field asked for before any other: found in the block (names arrive in lower case)
        // without parsing every field into an array, and on the fast path without taking the
        // block out of the head. Each PHP function call here costs a few hundred instructions
        // (callgrind): the search key of a name is made once per process (checked, lower-cased),
        // the first line is compared only when its first byte matches, and the value is cut
        // without a trim when it starts as the engine writes it ("name: value").
        $key = self::$headerKeys[$name] ?? self::headerKey($name);
        if ($key === '') {
            return null;
        }
        if ($this->spans >= 0) {
            $text = $this->head;
            $start = $this->spans >> 42;
            $end = $start + ($this->lengths >> 42);
        } else {
            $text = ($this->wire ?? $this->split())[Wire::HEADERS];
            $start = 0;
            $end = strlen($text);
        }
        // $key is "\n" . name . ":"; every line ends with "\r\n", the first has no "\n" before it.
        $keyLen = strlen($key) - 1;
        if ($start < $end && $text[$start] === $key[1] && $end - $start >= $keyLen
            && substr_compare($text, substr($key, 1), $start, $keyLen) === 0) {
            $line = $start;
        } else {
            $line = strpos($text, $key, $start);
            if ($line === false || $line >= $end) {
                return null;
            }
            $line++;
        }
        $value = null;
        while (true) {
            $from = $line + $keyLen;
            if ($from < $end && $text[$from] === ' ') {
                $from++;
            }
            $eol = strpos($text, "\r\n", $from);
            $eol = $eol === false || $eol > $end ? $end : $eol;
            $item = substr($text, $from, $eol - $from);
            if ($item !== '' && ($item[0] === ' ' || $item[0] === "\t")) {
                $item = ltrim($item);
            }
            $value = $value === null ? $item : "{$value}, {$item}";
            $line = strpos($text, $key, $eol);
            if ($line === false || $line >= $end) {
                return $value;
            }
            $line++;
        }
    }

    /**
     * The search key of a header name ("\n" . lower-case name . ":"), or '' for a name no field
     * can have; remembered for the first 256 names asked for (handlers ask for a few literal
     * names; a name from client input must not grow the table without bound).
     */
    private static function headerKey(string $name): string
    {
        $key = $name === '' || strpbrk($name, ":\r\n") !== false ? '' : "\n" . strtolower($name) . ':';
        if (count(self::$headerKeys) < 256) {
            self::$headerKeys[$name] = $key;
        }
        return $key;
    }

    public function getHeaders(): array
    {
        $out = [];
        foreach ($this->headers ??= self::parseHeaders(($this->wire ?? $this->split())[Wire::HEADERS]) as $name => $value) {
            $out[self::canonical($name)] = $value;
        }
        return $out;
    }

    // ---- internals ----------------------------------------------------------------------------

    /**
     * "name: value\r\n" lines → lower-case name => value (repeated names joined with ", ").
     *
     * @return array<string,string>
     */
    public static function parseHeaders(string $block): array
    {
        $headers = [];
        foreach (explode("\r\n", $block) as $line) {
            $colon = strpos($line, ':');
            if ($colon === false) {
                continue;
            }
            $name = substr($line, 0, $colon);
            $value = ltrim(substr($line, $colon + 1));
            $headers[$name] = isset($headers[$name]) ? $headers[$name] . ', ' . $value : $value;
        }
        return $headers;
    }

    /** "content-type" → "Content-Type" ("sec-websocket-key" → "Sec-WebSocket-Key"). */
    public static function canonical(string $name): string
    {
        return str_replace([' ', 'Websocket'], ['-', 'WebSocket'], ucwords(str_replace('-', ' ', $name)));
    }

    private function fieldOf(string $verb, ?string $field, mixed $default): mixed
    {
        if (($this->wire ?? $this->split())[Wire::METHOD] !== $verb) {
            return $field === null ? [] : $default;
        }
        $fields = $this->getBody();
        return $field === null ? $fields : ($fields[$field] ?? $default);
    }

    /** @return array<string,mixed> */
    private function parseBody(): array
    {
        if ($this->body === '') {
            return [];
        }
        $type = strtolower($this->getContentType());
        if (str_contains($type, 'multipart/form-data')) {
            $this->parseMultipart();
            return $this->fields ?? [];
        }
        if (str_contains($type, 'json') || ($type === '' && ($this->body[0] === '{' || $this->body[0] === '['))) {
            $decoded = json_decode($this->body, true);
            return is_array($decoded) ? $decoded : [];
        }
        if ($type === '' || str_contains($type, 'x-www-form-urlencoded')) {
            parse_str($this->body, $fields);
            return $fields;
        }
        return [];
    }

    /** @return array<string,list<UploadedFile>> */
    private function uploads(): array
    {
        if ($this->files === null) {
            $this->files = [];
            if ($this->getBoundary() !== null) {
                $this->parseMultipart();
            }
        }
        return $this->files;
    }

    /** Fills $this->fields and $this->files from a multipart/form-data body. */
    private function parseMultipart(): void
    {
        $boundary = $this->getBoundary();
        $this->files = [];
        $query = '';
        if ($boundary !== null) {
            $parts = explode('--' . $boundary, $this->body);
            array_shift($parts); // the preamble
            foreach ($parts as $part) {
                if (str_starts_with($part, '--')) {
                    break; // the closing delimiter
                }
                $split = strpos($part, "\r\n\r\n");
                if ($split === false) {
                    continue;
                }
                $head = array_change_key_case(self::parseHeaders(substr($part, 2, $split - 2)));
                $content = substr($part, $split + 4);
                if (str_ends_with($content, "\r\n")) {
                    $content = substr($content, 0, -2);
                }
                $disposition = $head['content-disposition'] ?? '';
                if (preg_match('/(?:^|;)\s*name="([^"]*)"/i', $disposition, $n) !== 1) {
                    continue;
                }
                if (preg_match('/filename="([^"]*)"/i', $disposition, $f) === 1) {
                    $field = preg_replace('/\[\]$/', '', $n[1]) ?? $n[1];
                    $this->files[$field][] = new UploadedFile(
                        $field,
                        $f[1],
                        $head['content-type'] ?? 'application/octet-stream',
                        $content
                    );
                    continue;
                }
                $query .= urlencode($n[1]) . '=' . urlencode($content) . '&';
            }
        }
        parse_str($query, $fields);
        $this->fields = $fields;
    }

    /**
     * @param array<string|int,mixed> $fields
     * @return list<array{0: string, 1: string}>
     */
    private function flatten(array $fields, string $prefix = ''): array
    {
        $out = [];
        foreach ($fields as $key => $value) {
            $name = $prefix === '' ? (string) $key : "{$prefix}[{$key}]";
            if (is_array($value)) {
                array_push($out, ...$this->flatten($value, $name));
            } else {
                $out[] = [$name, Reply::text($value)];
            }
        }
        return $out;
    }
}
