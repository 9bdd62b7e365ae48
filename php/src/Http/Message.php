<?php

declare(strict_types=1);

namespace HttpSock\Http;

/**
 * The common parent of {@see Request} and {@see Response}, and nothing more: the engine's fast
 * trampoline (Native\NativeServer) is bound to this class's scope, which lets it fill a
 * Request's fields and read a Response's without a constructor or method call. In PHP every
 * user-level call costs several hundred instructions, as much as the engine's whole routing:
 * on a hello-world request these two calls were a tenth of the server's work.
 *
 * @internal
 */
abstract class Message
{
}
