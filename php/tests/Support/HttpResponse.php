<?php
declare(strict_types=1);

namespace HttpSock\Tests\Support;

use RuntimeException;

/** A parsed HTTP response. Header names are lower-cased; each maps to its list of values. */
final class HttpResponse
{
    /** @param array<string,string[]> $headers */
    public function __construct(
        public int $status,
        public string $reason,
        public string $protocol,
        public array $headers,
        public string $body,
        public string $rawHead,
    ) {
    }

    public static function parse(string $raw): self
    {
        // skip interim 1xx responses
        while (preg_match('#^HTTP/[\d.]+ 1\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n#', $raw, $m)
            && !str_starts_with($raw, 'HTTP/1.1 101')) {
            $raw = substr($raw, strlen($m[0]));
        }
        $p = strpos($raw, "\r\n\r\n");
        if ($p === false) {
            throw new RuntimeException('not an HTTP response: ' . json_encode($raw));
        }
        $head = substr($raw, 0, $p);
        $body = substr($raw, $p + 4);
        $lines = explode("\r\n", $head);
        if (!preg_match('#^(HTTP/[\d.]+) (\d{3}) ?(.*)$#', array_shift($lines), $m)) {
            throw new RuntimeException('bad status line: ' . json_encode($head));
        }
        $headers = [];
        foreach ($lines as $line) {
            [$k, $v] = array_map('trim', explode(':', $line, 2)) + [1 => ''];
            $headers[strtolower($k)][] = $v;
        }
        if (isset($headers['transfer-encoding']) && stripos(implode(',', $headers['transfer-encoding']), 'chunked') !== false) {
            $body = self::dechunk($body);
        }
        return new self((int) $m[2], $m[3], $m[1], $headers, $body, $head);
    }

    private static function dechunk(string $b): string
    {
        $out = '';
        while (($p = strpos($b, "\r\n")) !== false) {
            $size = hexdec(trim(explode(';', substr($b, 0, $p))[0]));
            if ($size === 0) {
                break;
            }
            $out .= substr($b, $p + 2, (int) $size);
            $b = substr($b, $p + 2 + (int) $size + 2);
        }
        return $out;
    }

    public function header(string $name): ?string
    {
        $v = $this->headers[strtolower($name)] ?? null;
        return $v === null ? null : implode(', ', $v);
    }

    public function json(): mixed
    {
        return json_decode($this->body, true, 512, JSON_THROW_ON_ERROR);
    }

    public function __toString(): string
    {
        return $this->rawHead . "\r\n\r\n" . $this->body;
    }
}
