<?php

declare(strict_types=1);

namespace HttpSock\Process;

/**
 * Forks a fixed number of worker processes, keeps each slot filled until told to stop, then
 * stops the workers and reaps every one of them.
 *
 * This is the process manager behind `HttpServer::run(..., simultaneous: true)`; it knows nothing
 * about HTTP. Each worker is an ordinary forked PHP process that runs a closure; with the engine's
 * SO_REUSEPORT (`hs_set_reuse_port`) every worker binds the port itself and the kernel spreads
 * connections among them.
 *
 * Signals in the supervising (parent) process, while run() runs:
 * - SIGTERM, SIGINT: stop(): SIGTERM to every worker, up to {@see self::STOP_GRACE_SECONDS} for
 *   them to end, then SIGKILL to the rest. A second SIGTERM/SIGINT during that wait sends
 *   SIGKILL at once (a second Ctrl-C does not wait 10 s).
 * - SIGCHLD: a worker ended; unless stopping, it is restarted in the same slot.
 * The three signals are blocked and taken with pcntl_sigtimedwait(): the parent sleeps in the
 * kernel until a signal or the next scheduled restart is due, with no lost-wakeup window between
 * "check" and "sleep" and no polling. Handlers for them are installed as well (they call stop()
 * or do nothing) in case a caller unblocks them. Everything is restored when run() returns.
 *
 * Restart backoff: a slot that died more than {@see self::BURST_DEATHS} times within
 * {@see self::BURST_WINDOW_SECONDS} seconds is restarted after {@see self::BACKOFF_SECONDS}
 * instead of at once, and that is logged.
 *
 * The worker side (contract for the closure passed to run()):
 * - It runs in the child with SIGTERM, SIGINT and SIGCHLD back at their defaults and the signal
 *   mask the caller had before run(); it installs its own handlers (SIGTERM must make it return).
 * - Its int return value is the exit code (null gives 0); a Throwable escaping it is written to
 *   STDERR and gives exit code 1. The child then ends with exit(), so shutdown functions and
 *   destructors run in it as in any PHP script.
 * - Orphans: if the supervisor dies without stopping its workers (SIGKILL, OOM killer), the
 *   kernel re-parents them and nothing here can reach them. A worker must therefore check
 *   `posix_getppid()` against the parent pid it started with (for example between hs_poll()
 *   slices) and shut down when it changed. HttpServer does that.
 */
final class Supervisor
{
    /** Seconds stop() waits for workers to exit after SIGTERM before it sends SIGKILL. */
    public const STOP_GRACE_SECONDS = 10;

    /** More deaths than this in one slot within BURST_WINDOW_SECONDS trigger the backoff. */
    public const BURST_DEATHS = 5;

    /** Length of the window in which a slot's deaths are counted, in seconds. */
    public const BURST_WINDOW_SECONDS = 10;

    /** Delay before restarting a slot that dies too often, in seconds. */
    public const BACKOFF_SECONDS = 1;

    /** Longest single wait of the supervising loop; only a bound, nothing is polled. */
    private const MAX_WAIT_SECONDS = 60;

    private const SIGNALS = [SIGTERM, SIGINT, SIGCHLD];

    /** @var \Closure(string): void */
    private \Closure $log;

    /** Whether run() is active in this process or in the process this one was forked from. */
    private bool $running = false;

    /** Set by stop(); the loop in run() acts on it. */
    private bool $stopping = false;

    /** The process that called run(). */
    private int $masterPid = 0;

    /** @var array<int, int> running workers: pid => slot */
    private array $pids = [];

    /** @var array<int, int> slots waiting to be restarted: slot => due time (hrtime ns) */
    private array $pending = [];

    /** @var array<int, list<int>> recent deaths per slot: slot => hrtime ns values */
    private array $deaths = [];

    /** @var array<int, mixed> handlers in place before run(): signal => handler */
    private array $savedHandlers = [];

    /** @var list<int> signal mask in place before run() */
    private array $savedMask = [];

    /**
     * @param \Closure(string): void|null $log receives one line per event (start, exit, restart,
     *        backoff, stop); null writes them to STDERR.
     */
    public function __construct(?\Closure $log = null)
    {
        $this->log = $log ?? static function (string $line): void {
            fwrite(STDERR, '[supervisor ' . getmypid() . '] ' . $line . PHP_EOL);
        };
    }

    /**
     * Forks `$workers` workers and supervises them until stop() (or SIGTERM/SIGINT); returns
     * after every worker has been reaped and `$onStop` has run.
     *
     * In a worker this method does not return: the process exits with the worker's code.
     *
     * @param int $workers number of worker processes (slots), at least 1
     * @param \Closure(int $slot, int $slots): (int|null) $worker runs in each child;
     *        `$slot` is 0..$workers-1
     * @param \Closure(): void|null $onStop called in the parent once all workers are gone
     *
     * @throws \InvalidArgumentException if `$workers` < 1
     * @throws \LogicException if run() is already running on this instance
     * @throws \RuntimeException if pcntl/posix are missing or the first fork fails
     */
    public function run(int $workers, \Closure $worker, ?\Closure $onStop = null): void
    {
        if ($workers < 1) {
            throw new \InvalidArgumentException("workers must be at least 1, got {$workers}");
        }
        if ($this->running) {
            throw new \LogicException('Supervisor::run() is already running');
        }
        if (!\function_exists('pcntl_fork') || !\function_exists('posix_kill')) {
            throw new \RuntimeException('Supervisor needs the pcntl and posix extensions (PHP CLI)');
        }

        $this->running = true;
        $this->stopping = false;
        $this->masterPid = getmypid();
        $this->pids = $this->pending = $this->deaths = [];
        $this->takeSignals();

        try {
            for ($slot = 0; $slot < $workers; $slot++) {
                $this->spawn($slot, $workers, $worker, $slot === 0, false);
            }
            $this->supervise($workers, $worker);
            $this->terminateAll();
        } finally {
            // Reached in the parent only (a child never returns from spawn()). If an exception
            // escaped (a failed fork, a throwing log closure), no worker is left behind either.
            $this->killAll();
            $this->releaseSignals();
            $this->running = false;
            $this->stopping = false;
        }

        if ($onStop !== null) {
            $onStop();
        }
    }

    /**
     * Asks run() to stop all workers and return. Returns at once; safe to call from a signal
     * handler, from a log or stop closure, repeatedly, and when nothing runs (then it does
     * nothing).
     *
     * Called in a worker (a forked child, e.g. from inside the worker closure), it asks the
     * supervisor to stop the whole group by sending it SIGTERM; the worker then receives SIGTERM
     * like all the others.
     */
    public function stop(): void
    {
        if (!$this->running) {
            return;
        }
        if (getmypid() !== $this->masterPid) {
            if (posix_getppid() === $this->masterPid) {
                posix_kill($this->masterPid, SIGTERM);
            }
            return;
        }
        $this->stopping = true;
    }

    /**
     * The pids of the running workers (in the supervising process; empty elsewhere).
     *
     * @return list<int>
     */
    public function workerPids(): array
    {
        return getmypid() === $this->masterPid ? array_keys($this->pids) : [];
    }

    /** Parent loop: reap, restart, sleep until a signal or the next due restart. */
    private function supervise(int $slots, \Closure $worker): void
    {
        while (!$this->stopping) {
            $this->reap(true);
            if ($this->stopping) {
                break;
            }
            $now = hrtime(true);
            $wait = self::MAX_WAIT_SECONDS * 1_000_000_000;
            foreach ($this->pending as $slot => $due) {
                if ($due <= $now) {
                    unset($this->pending[$slot]);
                    $this->spawn($slot, $slots, $worker, false, true);
                } else {
                    $wait = min($wait, $due - $now);
                }
            }
            if (!$this->stopping) {
                $this->waitSignal($wait);
            }
        }
    }

    /**
     * SIGTERM to every worker, wait for them up to STOP_GRACE_SECONDS (less if a second
     * SIGTERM/SIGINT comes), and SIGKILL whatever is left (killAll(), in run()'s finally).
     */
    private function terminateAll(): void
    {
        $this->pending = [];
        if ($this->pids === []) {
            return;
        }
        ($this->log)('stopping ' . \count($this->pids) . ' worker(s)');
        foreach (array_keys($this->pids) as $pid) {
            posix_kill($pid, SIGTERM);
        }
        $deadline = hrtime(true) + self::STOP_GRACE_SECONDS * 1_000_000_000;
        while ($this->reap(false) > 0) {
            $left = $deadline - hrtime(true);
            if ($left <= 0) {
                ($this->log)('workers still running after ' . self::STOP_GRACE_SECONDS . ' s: SIGKILL');
                return;
            }
            $signal = $this->waitSignal($left);
            if ($signal === SIGTERM || $signal === SIGINT) {
                ($this->log)('second stop signal: SIGKILL');
                return;
            }
        }
    }

    /** SIGKILL to every remaining worker and reap them (blocking: SIGKILL cannot be refused). */
    private function killAll(): void
    {
        if (getmypid() !== $this->masterPid) {
            return;
        }
        foreach (array_keys($this->pids) as $pid) {
            posix_kill($pid, SIGKILL);
        }
        foreach (array_keys($this->pids) as $pid) {
            $status = 0;
            pcntl_waitpid($pid, $status);
            $this->describeExit($pid, $status);
            unset($this->pids[$pid]);
        }
        $this->pending = [];
    }

    /**
     * Collects every ended worker without blocking. With `$restart`, schedules its slot.
     *
     * @return int workers still running
     */
    private function reap(bool $restart): int
    {
        $status = 0;
        while (($pid = pcntl_waitpid(-1, $status, WNOHANG)) > 0) {
            if (!isset($this->pids[$pid])) {
                continue; // a child forked by someone else in this process; nothing of ours
            }
            $slot = $this->pids[$pid];
            $this->describeExit($pid, $status);
            unset($this->pids[$pid]);
            if ($restart && !$this->stopping) {
                $this->schedule($slot);
            }
        }
        return \count($this->pids);
    }

    /** Restart a dead slot now, or after BACKOFF_SECONDS if it dies too often. */
    private function schedule(int $slot): void
    {
        $now = hrtime(true);
        $since = $now - self::BURST_WINDOW_SECONDS * 1_000_000_000;
        $recent = array_values(array_filter(
            $this->deaths[$slot] ?? [],
            static fn (int $t): bool => $t > $since,
        ));
        $recent[] = $now;
        $this->deaths[$slot] = $recent;

        $due = $now;
        if (\count($recent) > self::BURST_DEATHS) {
            $due += self::BACKOFF_SECONDS * 1_000_000_000;
            ($this->log)(sprintf(
                'slot %d died %d times in %d s: restarting it in %d s',
                $slot,
                \count($recent),
                self::BURST_WINDOW_SECONDS,
                self::BACKOFF_SECONDS,
            ));
        }
        $this->pending[$slot] = $due;
    }

    /**
     * Forks one worker for `$slot`. In the child this never returns.
     *
     * `$restart`: it replaces a worker of `$slot` that ended (the worker closure's third
     * argument).
     *
     * @throws \RuntimeException if the fork fails and `$fatal` (a failed restart is retried
     *         after the backoff instead)
     */
    private function spawn(int $slot, int $slots, \Closure $worker, bool $fatal, bool $restart): void
    {
        $pid = pcntl_fork();
        if ($pid === -1) {
            $error = pcntl_strerror(pcntl_get_last_error());
            if ($fatal) {
                throw new \RuntimeException("fork failed: {$error}");
            }
            ($this->log)("fork for slot {$slot} failed ({$error}): retrying in " . self::BACKOFF_SECONDS . ' s');
            $this->pending[$slot] = hrtime(true) + self::BACKOFF_SECONDS * 1_000_000_000;
            return;
        }
        if ($pid > 0) {
            $this->pids[$pid] = $slot;
            ($this->log)("worker slot {$slot} started: pid {$pid}");
            return;
        }

        // Child.
        $this->pids = $this->pending = $this->deaths = [];
        foreach (self::SIGNALS as $signal) {
            pcntl_signal($signal, SIG_DFL);
        }
        pcntl_sigprocmask(SIG_SETMASK, $this->savedMask); // the caller's mask, as before run()
        $code = 1;
        try {
            // The third argument: whether this worker replaces one of its slot that ended.
            $result = $worker($slot, $slots, $restart);
            $code = \is_int($result) ? $result : 0;
        } catch (\Throwable $e) {
            fwrite(STDERR, sprintf(
                "worker slot %d (pid %d): uncaught %s: %s in %s:%d\n",
                $slot,
                getmypid(),
                $e::class,
                $e->getMessage(),
                $e->getFile(),
                $e->getLine(),
            ));
        }
        exit($code);
    }

    /**
     * Sleeps until SIGTERM, SIGINT or SIGCHLD arrives or `$ns` nanoseconds pass.
     *
     * @return int the signal taken, or 0 (timeout, or interrupted by another signal)
     */
    private function waitSignal(int $ns): int
    {
        $ns = max(1, $ns);
        $info = [];
        // EINTR (another signal, a debugger attaching) is an ordinary wake-up here: no warning.
        $signal = @pcntl_sigtimedwait(self::SIGNALS, $info, intdiv($ns, 1_000_000_000), $ns % 1_000_000_000);
        // Handlers the caller installed for other signals (which may call stop()).
        pcntl_signal_dispatch();
        if ($signal === SIGTERM || $signal === SIGINT) {
            if (!$this->stopping) {
                ($this->log)('signal ' . $signal . ': stopping');
            }
            $this->stopping = true;
            return $signal;
        }
        return $signal === SIGCHLD ? SIGCHLD : 0;
    }

    /** Blocks SIGTERM/SIGINT/SIGCHLD (taken by waitSignal()) and installs fallback handlers. */
    private function takeSignals(): void
    {
        $this->savedHandlers = [];
        foreach (self::SIGNALS as $signal) {
            $this->savedHandlers[$signal] = pcntl_signal_get_handler($signal);
        }
        $stop = function (): void {
            $this->stop();
        };
        // Handlers first: pcntl_signal() unblocks the signal it installs (zend_sigaction does).
        pcntl_signal(SIGTERM, $stop, false);
        pcntl_signal(SIGINT, $stop, false);
        pcntl_signal(SIGCHLD, static function (): void {
        }, false);
        $old = [];
        pcntl_sigprocmask(SIG_BLOCK, self::SIGNALS, $old);
        $this->savedMask = $old;
    }

    /** Drops the signals still pending for us and puts back the caller's handlers and mask. */
    private function releaseSignals(): void
    {
        $info = [];
        while (\in_array(@pcntl_sigtimedwait(self::SIGNALS, $info, 0, 0), self::SIGNALS, true)) {
            // discard: every worker is reaped, and a late stop signal has been answered
        }
        foreach ($this->savedHandlers as $signal => $handler) {
            pcntl_signal($signal, $handler ?? SIG_DFL); // unblocks $signal, hence the mask after
        }
        pcntl_sigprocmask(SIG_SETMASK, $this->savedMask);
    }

    private function describeExit(int $pid, int $status): void
    {
        $slot = $this->pids[$pid] ?? -1;
        if (pcntl_wifsignaled($status)) {
            $how = 'killed by signal ' . pcntl_wtermsig($status);
        } else {
            $how = 'exited with code ' . pcntl_wexitstatus($status);
        }
        ($this->log)("worker slot {$slot} (pid {$pid}) {$how}");
    }
}
