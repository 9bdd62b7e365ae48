<?php

declare(strict_types=1);

namespace HttpSock\Server;

use Closure;
use HttpSock\Exceptions\RuntimeException;
use HttpSock\Native\Library;
use HttpSock\Native\NativeServer;

/**
 * The event loop as PHP runs it: hs_poll in slices, PHP's signal handlers dispatched between
 * them (a blocking call would keep them from running), and, in a worker, a check that the
 * supervisor is still there.
 *
 * While it runs, SIGINT and SIGTERM shut the server down gracefully unless the program has
 * handlers of its own for them (a default or ignored disposition is replaced, then restored).
 *
 * @internal
 */
final class Loop
{
    /** Longest slice of hs_poll, in ms: the worst delay of a signal handler. */
    public const SLICE_MS = 100;

    private bool $running = false;

    /**
     * @param Closure(): ?NativeServer $current The server the program means to run now; the
     *        loop ends when it is another one (or none), and a stop signal shuts it down.
     */
    public function __construct(private readonly Closure $current)
    {
    }

    /** Whether serve() is running in this process. */
    public function isRunning(): bool
    {
        return $this->running;
    }

    /**
     * Serves `$native` until it has shut down or is no longer the current server.
     *
     * @param int|null $parentPid In a worker: the supervisor's pid; when the worker's parent is
     *        no longer that process, the server shuts down (a worker never outlives it).
     * @param (Closure(): void)|null $between Runs between two slices, after the signal handlers
     *        (outside every callback of the engine): work a signal handler asked for.
     *
     * @throws RuntimeException When the event loop fails.
     */
    public function serve(NativeServer $native, ?int $parentPid = null, ?Closure $between = null): void
    {
        $installed = $this->installSignalHandlers();
        $dispatch = function_exists('pcntl_signal_dispatch');
        $this->running = true;
        $failure = null;
        try {
            while (($this->current)() === $native && $native->isAlive()) {
                $rc = $native->poll(self::SLICE_MS);
                if ($rc < 0) {
                    $failure = RuntimeException::fromStatus($rc, Library::failure('run()', $rc));
                }
                if ($dispatch) {
                    pcntl_signal_dispatch();
                }
                if ($between !== null && $rc > 0) {
                    $between();
                }
                if ($rc <= 0) {
                    break;
                }
                if ($parentPid !== null && posix_getppid() !== $parentPid) {
                    $native->shutdown(); // the supervisor is gone: do not outlive it
                    $parentPid = null;
                }
            }
        } finally {
            $this->running = false;
            foreach ($installed as $signal => $previous) {
                pcntl_signal($signal, $previous);
            }
        }
        if ($failure !== null) {
            throw $failure;
        }
    }

    /**
     * Finishes a shutdown begun outside a callback (a signal handler between slices, or a
     * program's own code): polls until the server has closed its connections.
     */
    public function drain(NativeServer $native): void
    {
        while ($native->isAlive() && $native->poll(self::SLICE_MS) === 1) {
        }
    }

    /**
     * Without handlers of the program's for SIGINT/SIGTERM, Ctrl+C and SIGTERM shut down
     * gracefully.
     *
     * @return array<int, int> signal => the disposition it had, for the signals handled here
     */
    private function installSignalHandlers(): array
    {
        if (!function_exists('pcntl_signal') || !function_exists('pcntl_signal_get_handler')) {
            return [];
        }
        $current = $this->current;
        $installed = [];
        foreach ([SIGINT, SIGTERM] as $signal) {
            // SIG_IGN too: a shell starts background jobs with SIGINT ignored.
            $disposition = pcntl_signal_get_handler($signal);
            if ($disposition === SIG_DFL || $disposition === SIG_IGN) {
                pcntl_signal($signal, static function () use ($current): void {
                    $current()?->shutdown();
                });
                $installed[$signal] = $disposition;
            }
        }
        return $installed;
    }
}
