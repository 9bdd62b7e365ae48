<?php

declare(strict_types=1);

namespace HttpSock\Server;

/**
 * What a worker process of simultaneous mode knows about its place: the cluster group, its
 * slot among the slots, the listening socket inherited from the supervisor, and the
 * supervisor's pid (the worker must not outlive it).
 *
 * @internal
 */
final class WorkerSlot
{
    public function __construct(
        public readonly string $group,
        public readonly int $slot,
        public readonly int $slots,
        public readonly int $listenerFd,
        public readonly int $parentPid,
        /** It replaces a worker of this slot that ended (the engine then catches up quietly). */
        public readonly bool $restarted = false
    ) {
    }
}
