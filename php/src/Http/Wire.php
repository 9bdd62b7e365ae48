<?php

declare(strict_types=1);

namespace HttpSock\Http;

/**
 * The engine's packed formats, decoded in one place: the request head (`hs_request_packed`, the
 * head a packed route handler gets, `hs_ws_client_head`), a client's record
 * (`hs_ws_client_record`) and a presence list (`hs_ws_presence`).
 *
 * The head is fields separated by NUL: route id ("-1" for none), connection id, peer port,
 * capture count, method, path, query, URI, version ("HTTP/1.0", "HTTP/1.1", "HTTP/2.0"), scheme
 * ("https" when the connection is TLS, else "http"), peer IP, headers ("name: value\r\n" per
 * field, names in lower case), then one (name, value) pair per capture (an unnamed capture has
 * an empty name; values as in the path, not percent-decoded). So `explode("\0", $head)` gives
 * exactly FIELDS + 2 * captures strings, and the constants below index them. The body is never
 * part of it. For a client of another worker or node, `hs_ws_client_head` gives its summary head:
 * the same fields with an empty headers field.
 *
 * @internal
 */
final class Wire
{
    public const ROUTE = 0;
    public const CONN = 1;
    public const PEER_PORT = 2;
    public const CAPTURES = 3;
    public const METHOD = 4;
    public const PATH = 5;
    public const QUERY = 6;
    public const URI = 7;
    public const VERSION = 8;
    /** "https" over TLS, "http" otherwise: the truth about this connection, not a header's claim. */
    public const SCHEME = 9;
    public const PEER_IP = 10;
    public const HEADERS = 11;
    /** How many fields come before the captures. */
    public const FIELDS = 12;

    private function __construct()
    {
    }

    /**
     * The fields of a head. (The HTTP dispatcher's hot path writes this one explode inline.)
     *
     * @return list<string>
     */
    public static function fields(string $head): array
    {
        return explode("\0", $head);
    }

    /**
     * A client's record (`hs_ws_client_record`): `[u32 node_len][node][u8 has_user][u32
     * user_len][user][u32 info_len][info][u32 n]{[u32 len][channel]}`, lengths little-endian.
     * `user` is null when the client has none (`info` is then empty).
     *
     * @return array{node: string, user: ?string, info: string, channels: list<string>}
     * @throws \UnexpectedValueException For a record that is cut short.
     */
    public static function record(string $packed): array
    {
        $at = 0;
        $node = self::bytes($packed, $at);
        if ($at >= strlen($packed)) {
            throw new \UnexpectedValueException('A client record cut short (no user flag).');
        }
        $hasUser = $packed[$at++] !== "\0";
        $user = self::bytes($packed, $at);
        $info = self::bytes($packed, $at);
        $channels = [];
        for ($n = self::u32($packed, $at); $n > 0; $n--) {
            $channels[] = self::bytes($packed, $at);
        }
        return ['node' => $node, 'user' => $hasUser ? $user : null, 'info' => $info, 'channels' => $channels];
    }

    /**
     * A presence list (`hs_ws_presence`): repeated `[u32 user_len][user][u32 info_len][info]`,
     * lengths little-endian.
     *
     * @return list<array{0: string, 1: string}> [user id, info] pairs, in the engine's order
     * @throws \UnexpectedValueException For a list that is cut short.
     */
    public static function presence(string $packed): array
    {
        $out = [];
        for ($at = 0, $end = strlen($packed); $at < $end;) {
            $user = self::bytes($packed, $at);
            $out[] = [$user, self::bytes($packed, $at)];
        }
        return $out;
    }

    /**
     * A user id as PHP hands it out: a decimal integer's text (no sign, no leading zero, in
     * range) becomes an int again, as it was given to authorize(); any other id stays a string.
     */
    public static function userId(string $id): string|int
    {
        if ($id !== '' && ctype_digit($id) && ($id === '0' || $id[0] !== '0') && strlen($id) <= 19) {
            $int = (int) $id;
            if ((string) $int === $id) {
                return $int;
            }
        }
        return $id;
    }

    /**
     * The captures' values, percent-decoded, in order: the arguments after the request.
     *
     * @param list<string> $fields
     * @return list<string>
     */
    public static function args(array $fields): array
    {
        $args = [];
        for ($i = self::FIELDS + 1, $n = count($fields); $i < $n; $i += 2) {
            $args[] = rawurldecode($fields[$i]);
        }
        return $args;
    }

    /**
     * The captures by name (`{id}` gives "id"), an unnamed one by its position; percent-decoded.
     *
     * @param list<string> $fields
     * @return array<string|int, string>
     */
    public static function params(array $fields): array
    {
        $params = [];
        for ($i = self::FIELDS, $index = 0, $n = count($fields); $i + 1 < $n; $i += 2, $index++) {
            $name = $fields[$i];
            $params[$name !== '' ? $name : $index] = rawurldecode($fields[$i + 1]);
        }
        return $params;
    }

    /** A little-endian u32 at `$at` (advanced past it). */
    private static function u32(string $packed, int &$at): int
    {
        if ($at + 4 > strlen($packed)) {
            throw new \UnexpectedValueException("A packed list cut short at byte {$at}.");
        }
        $value = unpack('V', $packed, $at)[1];
        $at += 4;
        return $value;
    }

    /** A u32 length and that many bytes at `$at` (advanced past them). */
    private static function bytes(string $packed, int &$at): string
    {
        $len = self::u32($packed, $at);
        if ($at + $len > strlen($packed)) {
            throw new \UnexpectedValueException("A packed list cut short at byte {$at} ({$len} bytes announced).");
        }
        $value = (string) substr($packed, $at, $len);
        $at += $len;
        return $value;
    }
}
