<?php

declare(strict_types=1);

namespace HttpSock\Native;

use Closure;
use FFI;
use FFI\CData;

/**
 * What the fast HTTP trampoline of a {@see NativeServer} reads on every request: it is the
 * closure's `$this` (public fields: the closure runs in the scope of Http\Message, so that it
 * can fill Request and read Response directly).
 *
 * @internal
 */
final class FastState
{
    /** @var array<int, Closure> route id => the route's callback */
    public array $routes = [];
    /** The port handlers see as the server's (Request::getPort()). */
    public ?int $port = null;
    /** The last header array of a Response turned into lines, and those lines. */
    public mixed $lastHeaders = null;
    public string $lastLines = '';
    /** The fast buffers' four byte arrays (hs_fast_buffers). */
    public ?CData $in = null;
    public ?CData $inBody = null;
    public ?CData $outHead = null;
    public ?CData $outBody = null;
    public ?FFI $ffi = null;
    /** @var Closure(\Throwable): ?string|null */
    public ?Closure $onFailure = null;
}
