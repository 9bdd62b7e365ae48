<?php

declare(strict_types=1);

namespace HttpSock\SocketIo;

/**
 * Socket.IO arguments between the engine and PHP: the engine hands over (and takes) the
 * arguments of an event as JSON array text plus binary attachments, each attachment standing
 * in the JSON as `{"_placeholder":true,"num":N}`. Pure PHP, no FFI.
 *
 * @internal
 */
final class Codec
{
    public const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION;

    /** @var list<string>|null The attachments of the arguments being encoded (null: not encoding). */
    private static ?array $collecting = null;

    private function __construct()
    {
    }

    /**
     * The arguments of an event or an acknowledgement: the JSON array decoded (objects as
     * arrays), each placeholder replaced by a {@see Binary} of its attachment.
     *
     * @param list<string> $attachments
     * @return list<mixed>
     * @throws \JsonException For text that is not JSON (the engine checked it: never).
     * @throws \UnexpectedValueException For arguments that are not a JSON array, or a placeholder without its attachment.
     */
    public static function decode(string $json, array $attachments = []): array
    {
        if ($json === '' || $json === '[]') {
            return [];
        }
        $args = json_decode($json, true, 512, JSON_THROW_ON_ERROR);
        if (!is_array($args) || !array_is_list($args)) {
            throw new \UnexpectedValueException('Socket.IO arguments are a JSON array; got ' . substr($json, 0, 40));
        }
        return $attachments === [] ? $args : self::restore($args, $attachments);
    }

    /**
     * `$value` with every placeholder `{"_placeholder":true,"num":N}` (at any depth) replaced by
     * `new Binary($attachments[N])`.
     *
     * @param list<string> $attachments
     * @throws \UnexpectedValueException For a placeholder whose attachment is missing.
     */
    public static function restore(mixed $value, array $attachments): mixed
    {
        if (!is_array($value)) {
            return $value;
        }
        if (($value['_placeholder'] ?? null) === true && is_int($value['num'] ?? null) && count($value) === 2) {
            $num = $value['num'];
            if (!isset($attachments[$num])) {
                throw new \UnexpectedValueException("A binary placeholder for attachment {$num}, of " . count($attachments) . '.');
            }
            return new Binary($attachments[$num]);
        }
        foreach ($value as $key => $item) {
            if (is_array($item)) {
                $value[$key] = self::restore($item, $attachments);
            }
        }
        return $value;
    }

    /**
     * Arguments to send: [JSON array text, attachments]. A {@see Binary} (at any depth) becomes a
     * placeholder and an attachment; so does a string that is not valid UTF-8.
     *
     * @param list<mixed> $args
     * @return array{0: string, 1: list<string>}
     * @throws \JsonException For a value JSON cannot carry (NAN, INF, a resource, too deep).
     * @throws \InvalidArgumentException For a Closure among the arguments.
     */
    public static function encode(array $args): array
    {
        if ($args === []) {
            return ['[]', []];
        }
        foreach ($args as $arg) {
            if ($arg instanceof \Closure) {
                // json_encode() would send it as {}
                throw new \InvalidArgumentException('A Socket.IO argument cannot be a Closure (an acknowledgement callback goes last, to toSocket()->emit()).');
            }
        }
        $outer = self::$collecting;
        self::$collecting = [];
        try {
            $json = json_encode(array_values($args), self::JSON_FLAGS);
            if ($json === false && json_last_error() === JSON_ERROR_UTF8) {
                // Bytes in a plain string: they travel as binary (JSON cannot carry them).
                self::$collecting = [];
                $json = json_encode(self::wrapBytes(array_values($args)), self::JSON_FLAGS);
            }
            if ($json === false) {
                $error = json_last_error_msg();
                throw new \JsonException("A Socket.IO argument cannot be sent as JSON: {$error}.");
            }
            return [$json, self::$collecting];
        } finally {
            self::$collecting = $outer;
        }
    }

    /**
     * While encode() runs: takes `$bytes` as the next attachment and returns its placeholder.
     * Null outside encode().
     *
     * @return array{_placeholder: true, num: int}|null
     */
    public static function placeholder(string $bytes): ?array
    {
        if (self::$collecting === null) {
            return null;
        }
        self::$collecting[] = $bytes;
        return ['_placeholder' => true, 'num' => count(self::$collecting) - 1];
    }

    /**
     * The documented accept() form's `$message`: the first argument as text (a string as it is,
     * a Binary its bytes, none '', anything else as JSON).
     *
     * @param list<mixed> $args
     */
    public static function message(array $args): string
    {
        if ($args === []) {
            return '';
        }
        $first = $args[0];
        if (is_string($first)) {
            return $first;
        }
        if ($first instanceof Binary) {
            return $first->data;
        }
        return (string) json_encode($first, self::JSON_FLAGS | JSON_PARTIAL_OUTPUT_ON_ERROR);
    }

    /** `$value` with every string that is not valid UTF-8 wrapped in a Binary. */
    private static function wrapBytes(mixed $value): mixed
    {
        if (is_string($value)) {
            return preg_match('//u', $value) === 1 ? $value : new Binary($value);
        }
        if (is_array($value)) {
            foreach ($value as $key => $item) {
                $value[$key] = self::wrapBytes($item);
            }
        }
        return $value;
    }
}
