<?php

declare(strict_types=1);

namespace HttpSock\SocketIo;

/**
 * Several arguments at once, where a handler's return value is one argument: return
 * `new Args('ok', 42)` to acknowledge with two arguments (the client's callback gets
 * `('ok', 42)`), `new Args()` to acknowledge with none. Any other value returned is one
 * argument (an array too: one JSON array or object).
 */
final class Args
{
    /** @var list<mixed> */
    public readonly array $list;

    public function __construct(mixed ...$args)
    {
        $this->list = array_values($args);
    }

    /**
     * What a handler returned, as the list of arguments to send: an Args its list, null none
     * (an empty acknowledgement), anything else one argument.
     *
     * @return list<mixed>
     */
    public static function of(mixed $returned): array
    {
        if ($returned instanceof self) {
            return $returned->list;
        }
        return $returned === null ? [] : [$returned];
    }
}
