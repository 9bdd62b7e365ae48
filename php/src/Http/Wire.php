<?php

declare(strict_types=1);

namespace HttpSock\Http;

/**
 * The engine's packed request head (`hs_request_packed`, the head a packed route handler gets,
 * `hs_ws_client_head`), decoded in one place.
 *
 * The head is fields separated by NUL: route id ("-1" for none), connection id, peer port,
 * capture count, method, path, query, URI, version ("HTTP/1.0", "HTTP/1.1", "HTTP/2.0"), scheme
 * ("https" when the connection is TLS, else "http"), peer IP, headers ("name: value\r\n" per
 * field, names in lower case), then one (name, value) pair per capture (an unnamed capture has
 * an empty name; values as in the path, not percent-decoded). So `explode("\0", $head)` gives
 * exactly FIELDS + 2 * captures strings, and the constants below index them. The body is never
 * part of it.
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
}
