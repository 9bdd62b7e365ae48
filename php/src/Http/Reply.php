<?php

declare(strict_types=1);

namespace HttpSock\Http;

use HttpSock\Answer;

/**
 * Turns what a handler returned into what the engine takes in one call.
 *
 * - a Response (ours, Luminova's, or any object with getStatusCode/getHeaders/getBody):
 *   [status, header lines, body];
 * - a string starting with "HTTP/": the raw response, parsed by the engine;
 * - any other string (or Stringable, int, float): 200 text/html;
 * - an array or JsonSerializable: 200 application/json;
 * - an {@see Answer}: as is (the engine sends that answer of its own);
 * - null: null (the engine sends its default answer).
 *
 * @internal
 */
final class Reply
{
    public const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR;
    public const HTML_HEADER = "Content-Type: text/html\r\n";
    public const JSON_HEADER = "Content-Type: application/json\r\n";

    private const REASONS = [
        100 => 'Continue', 101 => 'Switching Protocols', 200 => 'OK', 201 => 'Created',
        202 => 'Accepted', 204 => 'No Content', 206 => 'Partial Content', 301 => 'Moved Permanently',
        302 => 'Found', 303 => 'See Other', 304 => 'Not Modified', 307 => 'Temporary Redirect',
        308 => 'Permanent Redirect', 400 => 'Bad Request', 401 => 'Unauthorized', 403 => 'Forbidden',
        404 => 'Not Found', 405 => 'Method Not Allowed', 408 => 'Request Timeout', 409 => 'Conflict',
        410 => 'Gone', 413 => 'Payload Too Large', 415 => 'Unsupported Media Type',
        422 => 'Unprocessable Entity', 429 => 'Too Many Requests', 500 => 'Internal Server Error',
        501 => 'Not Implemented', 502 => 'Bad Gateway', 503 => 'Service Unavailable',
    ];

    /** @var array<string|int,mixed> The last header array parts() turned into lines. */
    private static array $lastHeaders = [];
    private static string $lastLines = '';

    private function __construct()
    {
    }

    /** @param array<string|int,mixed> $headers */
    public static function textOnly(array $headers): bool
    {
        foreach ($headers as $value) {
            if (!is_string($value)) {
                return false;
            }
        }
        return true;
    }

    /**
     * @return null|string|Answer|array{0: int, 1: string, 2: string}
     * @throws \UnexpectedValueException For a value that is not a response.
     * @throws \JsonException For an array that cannot be encoded.
     */
    public static function from(mixed $result): null|string|array|Answer
    {
        if ($result === null) {
            return null;
        }
        if (is_string($result)) {
            return str_starts_with($result, 'HTTP/') ? $result : [200, self::HTML_HEADER, $result];
        }
        if (is_array($result) || $result instanceof \JsonSerializable) {
            return [200, self::JSON_HEADER, json_encode($result, self::JSON_FLAGS)];
        }
        if (is_object($result)) {
            // Our Response (or Luminova's name for it) as is: its fields are read directly. A
            // subclass may override the getters, so it goes the general way.
            $class = $result::class;
            if ($class === Response::class || $class === \Luminova\Http\Message\Response::class) {
                return $result->reply();
            }
            if (method_exists($result, 'getStatusCode')) {
                return self::fromResponse($result);
            }
            if ($result instanceof Answer) {
                return $result;
            }
        }
        if ($result instanceof \Stringable || is_int($result) || is_float($result)) {
            return self::from((string) $result);
        }
        throw new \UnexpectedValueException(
            'A handler must return a Response, a string, an array or null; got ' . get_debug_type($result) . '.'
        );
    }

    /**
     * @param object $response A Response, or any object with getStatusCode/getHeaders/getBody.
     * @return array{0: int, 1: string, 2: string}
     */
    public static function fromResponse(object $response): array
    {
        $status = (int) $response->getStatusCode();
        $headers = method_exists($response, 'getHeaders') ? (array) $response->getHeaders() : [];
        $body = method_exists($response, 'getBody') ? $response->getBody() : '';
        if ($body === null && method_exists($response, 'getContents')) {
            $body = $response->getContents();
        }
        return self::parts($status, $headers, $body);
    }

    /**
     * [status, header lines, body] from a response's parts: an array or object body becomes
     * JSON (with a JSON Content-Type unless one is set), status 0 becomes 200.
     *
     * @param array<string|int,mixed> $headers
     * @return array{0: int, 1: string, 2: string}
     */
    public static function parts(int $status, array $headers, mixed $body): array
    {
        // Handlers send the same few header arrays again and again (often one literal array,
        // the same in memory each time): the lines of the last one are kept. Only an array of
        // text values is kept, so an equal array gives the same lines.
        if ($headers === self::$lastHeaders) {
            $lines = self::$lastLines;
        } else {
            $lines = self::headerLines($headers);
            if (self::textOnly($headers)) {
                self::$lastHeaders = $headers;
                self::$lastLines = $lines;
            }
        }
        if (is_array($body) || $body instanceof \JsonSerializable || $body instanceof \stdClass) {
            $body = json_encode($body, self::JSON_FLAGS);
            if (stripos($lines, 'content-type:') === false) {
                $lines .= self::JSON_HEADER;
            }
        }
        return [$status === 0 ? 200 : $status, $lines, (string) $body];
    }

    /**
     * "Name: value\r\n" lines; CR and LF inside names and values are replaced, so a value can
     * never add a header of its own.
     *
     * @param array<string|int,mixed> $headers
     */
    public static function headerLines(array $headers): string
    {
        $out = '';
        foreach ($headers as $name => $value) {
            if (is_int($name)) {
                if (is_string($value) && str_contains($value, ':')) {
                    $out .= self::clean($value) . "\r\n";
                }
                continue;
            }
            if (strpbrk($name, ": \r\n") !== false) {
                $name = str_replace([':', "\r", "\n", ' '], '', $name);
            }
            // The common case first: one text value without a line break.
            if (is_string($value) && strpbrk($value, "\r\n") === false) {
                $out .= "{$name}: {$value}\r\n";
                continue;
            }
            foreach (is_array($value) ? $value : [$value] as $item) {
                $out .= $name . ': ' . self::clean(self::text($item)) . "\r\n";
            }
        }
        return $out;
    }

    /** The reason phrase of a status code ("OK"). */
    public static function reason(int $status): string
    {
        return self::REASONS[$status] ?? 'Status';
    }

    /** A header value as text. */
    public static function text(mixed $value): string
    {
        return match (true) {
            is_bool($value) => $value ? 'true' : 'false',
            is_scalar($value), $value instanceof \Stringable => (string) $value,
            $value === null => '',
            default => json_encode($value, self::JSON_FLAGS),
        };
    }

    private static function clean(string $value): string
    {
        return str_replace(["\r\n", "\r", "\n"], ' ', $value);
    }
}
