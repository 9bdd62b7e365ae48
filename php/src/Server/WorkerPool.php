<?php

declare(strict_types=1);

namespace HttpSock\Server;

use Closure;
use HttpSock\Exceptions\EnvironmentException;
use HttpSock\Native\NativeServer;
use HttpSock\Process\Supervisor;

/**
 * Simultaneous mode: worker processes that serve one port together, supervised by this one
 * (over {@see Supervisor}, which restarts a worker that dies and ends them all on
 * SIGTERM/SIGINT or stop()).
 *
 * The parent keeps the socket start() bound and never runs a loop on it (no thread or event
 * loop may exist before fork). It is marked SO_REUSEPORT so that each worker can bind its own
 * socket on the port beside it, and every worker also serves it (hs_adopt_listener): the port
 * is never without a listener, at startup or while a worker restarts, and the workers' own
 * sockets spread the load.
 *
 * @internal
 */
final class WorkerPool
{
    private ?Supervisor $supervisor = null;

    public function __construct(private readonly DebugLog $log)
    {
    }

    /** Whether this process is supervising workers. */
    public function isSupervising(): bool
    {
        return $this->supervisor !== null;
    }

    /**
     * Runs `$workers` workers until stop() or SIGTERM/SIGINT; returns in the parent once every
     * worker has ended. `$worker` runs in each worker process and serves until its server shuts
     * down (the process then exits).
     *
     * @param NativeServer $shared The parent's started server (its socket is shared).
     * @param Closure(WorkerSlot): void $worker
     *
     * @throws EnvironmentException Without the pcntl and posix extensions.
     */
    public function run(NativeServer $shared, int $workers, Closure $worker): void
    {
        if (!function_exists('pcntl_fork') || !function_exists('posix_getppid')) {
            throw new EnvironmentException('Simultaneous mode needs the pcntl and posix extensions (PHP CLI).');
        }
        $shared->setReusePort(true);
        $listenerFd = $shared->listenerFd();
        $parent = getmypid();
        $group = "php-{$parent}-{$shared->port()}";
        $log = $this->log;
        $this->supervisor = new Supervisor(static function (string $line) use ($log): void {
            $log->line('[httpsock supervisor]', $line);
        });
        try {
            $this->supervisor->run(
                $workers,
                function (int $slot, int $slots) use ($worker, $group, $listenerFd, $parent): int {
                    $this->supervisor = null; // a worker supervises nothing
                    $worker(new WorkerSlot($group, $slot, $slots, $listenerFd, $parent));
                    return 0;
                }
            );
        } finally {
            $this->supervisor = null;
        }
    }

    /** Asks the supervisor to end every worker (from a signal handler or a callback too). */
    public function stop(): void
    {
        $this->supervisor?->stop();
    }

    /** The number of CPUs: the default number of workers. */
    public static function cpuCount(): int
    {
        $n = 0;
        if (is_readable('/proc/cpuinfo')) {
            $n = preg_match_all('/^processor\s*:/m', (string) file_get_contents('/proc/cpuinfo'));
        }
        if ($n < 1 && function_exists('shell_exec')) {
            $n = (int) @shell_exec('nproc 2>/dev/null');
        }
        return max(1, (int) $n);
    }
}
