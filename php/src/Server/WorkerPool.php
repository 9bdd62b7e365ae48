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
 * Certificate reloads (HttpServer::reloadCertificates()): the parent sends every worker
 * {@see self::RELOAD_SIGNAL}; a worker's handler only sets a flag, and its loop, between two
 * hs_poll slices, re-reads the certificates and answers on a datagram socket pair made before
 * the fork (`"<pid> ok"` or `"<pid> error <message>"`). The parent waits for every answer, up
 * to {@see self::RELOAD_TIMEOUT} seconds. A worker calling reloadCertificates() reloads itself
 * and sends the parent the same signal, which then reloads every worker.
 *
 * @internal
 */
final class WorkerPool
{
    /** Parent → worker: reload the certificates; worker → parent: please reload every worker. */
    public const RELOAD_SIGNAL = SIGUSR2;

    /** Seconds the parent waits for every worker to confirm a reload. */
    public const RELOAD_TIMEOUT = 5.0;

    private ?Supervisor $supervisor = null;

    /** @var array{0: resource, 1: resource}|null [parent end, worker end] of the reload channel */
    private ?array $channel = null;

    /** Set by a worker's RELOAD_SIGNAL handler; acted on between two poll slices. */
    private bool $reloadPending = false;

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
     * @param Closure(): void|null $reloadRequested Runs in the parent when a worker asks for a
     *        reload of every worker (RELOAD_SIGNAL); null when the server has no TLS.
     *
     * @throws EnvironmentException Without the pcntl and posix extensions.
     */
    public function run(NativeServer $shared, int $workers, Closure $worker, ?Closure $reloadRequested = null): void
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
        $previousHandler = null;
        if ($reloadRequested !== null) {
            $pair = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_DGRAM, STREAM_IPPROTO_IP);
            if ($pair !== false) {
                $this->channel = $pair;
                stream_set_blocking($pair[0], false);
            }
            $previousHandler = pcntl_signal_get_handler(self::RELOAD_SIGNAL);
            pcntl_signal(self::RELOAD_SIGNAL, static function () use ($reloadRequested): void {
                $reloadRequested();
            });
        }
        try {
            $this->supervisor->run(
                $workers,
                function (int $slot, int $slots, bool $restarted = false) use ($worker, $group, $listenerFd, $parent): int {
                    $this->supervisor = null; // a worker supervises nothing
                    $worker(new WorkerSlot($group, $slot, $slots, $listenerFd, $parent, $restarted));
                    return 0;
                }
            );
        } finally {
            $this->supervisor = null;
            if ($reloadRequested !== null) {
                pcntl_signal(self::RELOAD_SIGNAL, $previousHandler ?? SIG_DFL);
                if ($this->channel !== null) {
                    fclose($this->channel[0]);
                    fclose($this->channel[1]);
                    $this->channel = null;
                }
            }
        }
    }

    /**
     * In the parent: asks every worker to reload its certificates and waits for their answers
     * (bounded by RELOAD_TIMEOUT).
     *
     * @return list<string> One line per worker that failed or did not answer; empty when every
     *         worker reloaded.
     */
    public function reloadWorkers(): array
    {
        if ($this->supervisor === null) {
            return [];
        }
        $channel = $this->channel[0] ?? null;
        if ($channel !== null) {
            while (($stale = @stream_socket_recvfrom($channel, 65536)) !== false && $stale !== '') {
                // answers to an earlier reload that came too late: not about this one
            }
        }
        $waiting = [];
        foreach ($this->supervisor->workerPids() as $pid) {
            if (posix_kill($pid, self::RELOAD_SIGNAL)) {
                $waiting[$pid] = true;
            }
        }
        if ($channel === null) {
            return $waiting === [] ? [] : ['no answer channel to the workers: their reload is not confirmed'];
        }
        $failures = [];
        $deadline = microtime(true) + self::RELOAD_TIMEOUT;
        while ($waiting !== []) {
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                break;
            }
            $read = [$channel];
            $write = $except = null;
            $ready = @stream_select($read, $write, $except, (int) $left, (int) (fmod($left, 1.0) * 1e6));
            if ($ready === false) {
                continue; // EINTR: a signal; the deadline still bounds the wait
            }
            while (($message = @stream_socket_recvfrom($channel, 65536)) !== false && $message !== '') {
                [$pid, $status, $detail] = array_pad(explode(' ', $message, 3), 3, '');
                if (!isset($waiting[(int) $pid])) {
                    continue;
                }
                unset($waiting[(int) $pid]);
                if ($status !== 'ok') {
                    $failures[] = "worker {$pid}: {$detail}";
                }
            }
            foreach (array_keys($waiting) as $pid) {
                if (!self::alive($pid)) {
                    unset($waiting[$pid]); // gone: its replacement reads the files as they are now
                }
            }
        }
        foreach (array_keys($waiting) as $pid) {
            $failures[] = sprintf(
                'worker %d did not confirm within %.0f s (busy in a handler? it reloads when it is back in its loop)',
                $pid,
                self::RELOAD_TIMEOUT
            );
        }
        return $failures;
    }

    /**
     * In a worker: takes RELOAD_SIGNAL (the handler only sets a flag) and returns the closure
     * its loop runs between two poll slices: it reloads with `$reload` when asked and answers
     * the parent.
     *
     * @param Closure(): void $reload Reloads this worker's certificates; throws on failure.
     * @return Closure(): void
     */
    public function workerReloads(Closure $reload): Closure
    {
        $this->reloadPending = false;
        pcntl_signal(self::RELOAD_SIGNAL, function (): void {
            $this->reloadPending = true;
        });
        $channel = $this->channel[1] ?? null;
        return function () use ($reload, $channel): void {
            if (!$this->reloadPending) {
                return;
            }
            $this->reloadPending = false;
            try {
                $reload();
                $answer = getmypid() . ' ok';
            } catch (\Throwable $e) {
                $answer = getmypid() . ' error ' . substr($e->getMessage(), 0, 2000);
                $this->log->exception('certificate reload', $e);
            }
            if ($channel !== null) {
                @stream_socket_sendto($channel, $answer);
            }
        };
    }

    /** In a worker: asks the parent to reload every worker (after this one reloaded itself). */
    public static function askParentToReload(WorkerSlot $worker): void
    {
        if (posix_getppid() === $worker->parentPid) {
            posix_kill($worker->parentPid, self::RELOAD_SIGNAL);
        }
    }

    /** Whether a process runs (a zombie does not: it has ended, its parent has not reaped it). */
    private static function alive(int $pid): bool
    {
        $stat = @file_get_contents("/proc/{$pid}/stat");
        if ($stat === false) {
            return posix_kill($pid, 0);
        }
        $state = substr($stat, (int) strrpos($stat, ')') + 2, 1);
        return $state !== 'Z' && $state !== 'X';
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
