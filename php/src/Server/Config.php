<?php

declare(strict_types=1);

namespace HttpSock\Server;

use Closure;
use HttpSock\Native\NativeServer;

/**
 * The server's configuration as a list of steps, each applied to a native server.
 *
 * Every configuring call of HttpServer is recorded here and, when a native server is live,
 * applied to it at once. A fresh native server gets the whole list replayed in order, so it is
 * configured exactly as the last one was: each worker of simultaneous mode, and start() after
 * shutdown(). Route ids come out the same on every replay (routes are registered in the same
 * order), which simultaneous mode relies on (hs_cluster_join).
 *
 * @internal
 */
final class Config
{
    /** @var list<Closure(NativeServer): void> */
    private array $steps = [];

    /**
     * @param Closure(): NativeServer $create A native server with nothing configured yet.
     */
    public function __construct(private readonly Closure $create)
    {
    }

    /**
     * Records `$step` (unless `$record` is false) and applies it to `$live` when that server is
     * alive.
     *
     * @param Closure(NativeServer): void $step
     */
    public function add(Closure $step, ?NativeServer $live, bool $record = true): void
    {
        if ($record) {
            $this->steps[] = $step;
        }
        if ($live !== null && $live->isAlive()) {
            $step($live);
        }
    }

    /** How many steps are recorded. */
    public function count(): int
    {
        return count($this->steps);
    }

    /** Applies every recorded step to `$native`, in order. */
    public function replay(NativeServer $native): NativeServer
    {
        foreach ($this->steps as $step) {
            $step($native);
        }
        return $native;
    }

    /**
     * A fresh native server with the whole configuration replayed; for a worker of
     * simultaneous mode also SO_REUSEPORT (before the routes) and its place in the cluster.
     */
    public function build(?WorkerSlot $worker = null): NativeServer
    {
        $native = ($this->create)();
        if ($worker !== null) {
            $native->setReusePort(true);
        }
        $this->replay($native);
        if ($worker !== null) {
            $native->clusterJoin($worker->group, $worker->slot, $worker->slots, $worker->restarted);
        }
        return $native;
    }
}
