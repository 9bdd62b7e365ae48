<?php

declare(strict_types=1);

namespace HttpSock\Server;

use Closure;
use HttpSock\Answer;
use HttpSock\Http\Reply;
use HttpSock\Http\Request;
use HttpSock\Native\Admission;

/**
 * The PHP side of authorize(): the upgrade request as a Request, the callback's answer turned
 * into the engine's verdict.
 *
 * | the callback returns | the upgrade |
 * |---|---|
 * | `true`, `null` | accepted |
 * | `false` | refused: the engine's 403 (`UPGRADE_REFUSED`) |
 * | a Response (any object with getStatusCode), an {@see Answer} | refused with that answer |
 * | `['user' => string\|int, 'info' => array, 'channels' => list<string>]` (each optional) | accepted with that user, joined to those channels |
 * | a throw, anything else | the engine's 500; a debug line |
 *
 * Runs once per upgrade, never per message.
 *
 * @internal
 */
final class Authorizer
{
    private const KEYS = ['user' => true, 'info' => true, 'channels' => true];

    private ?Closure $callback = null;
    private ?int $serverPort = null;

    public function __construct(private readonly DebugLog $log)
    {
    }

    public function set(Closure $callback): void
    {
        $this->callback = $callback;
    }

    public function setServerPort(?int $port): void
    {
        $this->serverPort = $port;
    }

    /**
     * The verdict on one upgrade (NativeServer::authorize()'s forms).
     *
     * @throws \Throwable Whatever the callback throws, or an UnexpectedValueException for an
     *         answer that is none of the forms.
     */
    public function decide(string $head): mixed
    {
        if ($this->callback === null) {
            return true;
        }
        return self::verdict(($this->callback)(Request::fromHead($head, '', $this->serverPort)));
    }

    /** The callback threw (or answered nonsense): the client gets the 500; debug() tells why. */
    public function failed(\Throwable $e): void
    {
        $this->log->exception('authorize callback', $e);
    }

    /**
     * What the callback returned → true, false, an Admission or a reply (a refusal).
     *
     * @throws \UnexpectedValueException For a value that is none of the forms.
     * @throws \JsonException For an `info` that cannot be encoded.
     */
    public static function verdict(mixed $result): mixed
    {
        if ($result === null || $result === true) {
            return true;
        }
        if ($result === false) {
            return false;
        }
        if (is_array($result)) {
            return self::admission($result);
        }
        if ($result instanceof Answer || (is_object($result) && method_exists($result, 'getStatusCode'))) {
            return Reply::from($result);
        }
        throw new \UnexpectedValueException(
            'An authorize() callback returns true or null (accept), false (403), a Response (that answer) '
            . "or ['user' => ..., 'info' => [...], 'channels' => [...]] (accept); got " . get_debug_type($result) . '.'
        );
    }

    /** @param array<mixed> $grant */
    private static function admission(array $grant): Admission
    {
        foreach (array_keys($grant) as $key) {
            if (!isset(self::KEYS[$key])) {
                throw new \UnexpectedValueException(
                    "An authorize() callback's array takes 'user', 'info' and 'channels'; got '{$key}'."
                );
            }
        }
        $user = $grant['user'] ?? null;
        if ($user !== null && !((is_string($user) && $user !== '') || is_int($user))) {
            throw new \UnexpectedValueException("authorize(): 'user' is a non-empty string or an int; got " . get_debug_type($user) . '.');
        }
        $info = $grant['info'] ?? [];
        if (!is_array($info)) {
            throw new \UnexpectedValueException("authorize(): 'info' is an array; got " . get_debug_type($info) . '.');
        }
        if ($user === null && $info !== []) {
            throw new \UnexpectedValueException("authorize(): 'info' is about a user: give 'user' too.");
        }
        $channels = $grant['channels'] ?? [];
        if (!is_array($channels) || !array_is_list($channels)) {
            throw new \UnexpectedValueException("authorize(): 'channels' is a list of channel names.");
        }
        foreach ($channels as $channel) {
            if (!is_string($channel)) {
                throw new \UnexpectedValueException("authorize(): a channel name is a string; got " . get_debug_type($channel) . '.');
            }
            if ($user === null && str_starts_with($channel, 'presence-')) {
                // join() refuses it too (StateException); the engine would drop it silently
                throw new \UnexpectedValueException("authorize(): '{$channel}' is a presence channel: its members are users, give 'user'.");
            }
        }
        return new Admission(
            $user === null ? null : (string) $user,
            $user === null ? '' : json_encode($info, Reply::JSON_FLAGS),
            $channels
        );
    }
}
