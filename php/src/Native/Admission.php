<?php

declare(strict_types=1);

namespace HttpSock\Native;

/**
 * An accepted WebSocket upgrade that brings something to its client: the user it acts for
 * (`hs_admission_user`) and the channels it joins as it opens (`hs_admission_join`). What an
 * authorizer hands {@see NativeServer::authorize()} to accept with more than a plain yes.
 *
 * @internal
 */
final class Admission
{
    /**
     * @param string|null $user The user id (null: none).
     * @param string $info The user's information, as the engine keeps it (JSON from PHP).
     * @param list<string> $channels Channels to join.
     */
    public function __construct(
        public readonly ?string $user,
        public readonly string $info,
        public readonly array $channels
    ) {
    }
}
