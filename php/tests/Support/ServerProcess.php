<?php
declare(strict_types=1);

namespace HttpSock\Tests\Support;

use RuntimeException;

/**
 * One server script running as a child process: `php <script> <port> [args...]`.
 *
 * The script is started on port 0 unless told otherwise and must print
 * `listening on http://127.0.0.1:PORT` (`https://` for TLS: url() and wsUrl() follow it) on
 * stdout once it accepts connections; that line is the
 * readiness signal (read with stream_select, bounded). stderr goes to a temporary file.
 * stop() sends SIGTERM and waits (bounded), then SIGKILL. Only this PID and the descendants
 * recorded from it are ever signalled.
 */
final class ServerProcess
{
    public const READY_TIMEOUT = 15.0;
    public const STOP_TIMEOUT = 5.0;

    /** @var resource|null */
    private $proc;
    /** @var resource|null */
    private $stdout;
    private string $stderrFile;
    private int $pid;
    private int $port = 0;
    /** "https" when the readiness line said so (a TLS server). */
    private string $scheme = 'http';
    private string $out = '';
    private ?array $exit = null;   // ['code' => int|null, 'signal' => int|null]
    /** @var int[] descendants seen while running (simultaneous mode workers) */
    private array $descendants = [];

    /**
     * @param string   $script path of the PHP script
     * @param string[] $args   arguments after the port
     * @param array<string,string> $env extra environment variables
     */
    public function __construct(
        private string $script,
        private int|string $portArg = 0,
        private array $args = [],
        private array $env = [],
        private bool $waitReady = true,
        private float $readyTimeout = self::READY_TIMEOUT,
    ) {
        if (!is_file($script)) {
            throw new RuntimeException("no such script: $script");
        }
        $this->stderrFile = tempnam(sys_get_temp_dir(), 'hs-stderr-');
        $cmd = array_merge([PHP_BINARY, $script], $portArg === '' ? [] : [(string) $portArg], $args);
        $env = array_merge(getenv(), $this->env);
        $pipes = [];
        $proc = proc_open(
            $cmd,
            [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['file', $this->stderrFile, 'w']],
            $pipes,
            dirname($script),
            $env,
        );
        if (!is_resource($proc)) {
            throw new RuntimeException('proc_open failed for ' . implode(' ', $cmd));
        }
        $this->proc = $proc;
        $this->stdout = $pipes[1];
        stream_set_blocking($this->stdout, false);
        $this->pid = (int) proc_get_status($proc)['pid'];
        if ($waitReady) {
            $m = $this->waitForLine('/listening on (https?):\/\/127\.0\.0\.1:(\d+)/', $this->readyTimeout);
            $this->scheme = $m[1];
            $this->port = (int) $m[2];
        }
    }

    public static function fixture(string $name, int|string $port = 0, array $args = [], array $env = []): self
    {
        return new self(HS_FIXTURES . '/' . $name . '.php', $port, $args, $env);
    }

    public function pid(): int
    {
        return $this->pid;
    }

    public function port(): int
    {
        return $this->port;
    }

    public function url(string $path = '/'): string
    {
        return $this->scheme . '://127.0.0.1:' . $this->port . $path;
    }

    public function wsUrl(string $path = '/'): string
    {
        return ($this->scheme === 'https' ? 'wss' : 'ws') . '://127.0.0.1:' . $this->port . $path;
    }

    /**
     * Waits (bounded) for a stdout line matching $regex; returns the match groups.
     * @return string[]
     */
    public function waitForLine(string $regex, float $timeout = 5.0): array
    {
        $deadline = microtime(true) + $timeout;
        $searchFrom = 0;
        while (true) {
            $nl = strpos($this->out, "\n", $searchFrom);
            while ($nl !== false) {
                $line = substr($this->out, $searchFrom, $nl - $searchFrom);
                $searchFrom = $nl + 1;
                if (preg_match($regex, $line, $m)) {
                    return $m;
                }
                $nl = strpos($this->out, "\n", $searchFrom);
            }
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                throw new RuntimeException(sprintf(
                    "%s: no line matching %s within %.1fs\nstdout: %s\nstderr: %s",
                    basename($this->script), $regex, $timeout, $this->out, $this->stderr()
                ));
            }
            if (!$this->isRunning() && !$this->drain(0)) {
                throw new RuntimeException(sprintf(
                    "%s exited (%s) before printing %s\nstdout: %s\nstderr: %s",
                    basename($this->script), json_encode($this->exit), $regex, $this->out, $this->stderr()
                ));
            }
            $this->drain(min($left, 0.2));
        }
    }

    /** Reads what stdout has, waiting up to $timeout seconds for the first bytes. */
    public function drain(float $timeout = 0.0): bool
    {
        if ($this->stdout === null) {
            return false;
        }
        $r = [$this->stdout];
        $w = $e = null;
        $sec = (int) $timeout;
        $usec = (int) (($timeout - $sec) * 1e6);
        if (@stream_select($r, $w, $e, $sec, $usec) < 1) {
            return false;
        }
        $got = false;
        while (($chunk = fread($this->stdout, 65536)) !== false && $chunk !== '') {
            $this->out .= $chunk;
            $got = true;
        }
        if (!$got && feof($this->stdout)) {
            fclose($this->stdout);
            $this->stdout = null;
        }
        return $got;
    }

    public function stdout(): string
    {
        while ($this->drain(0)) {
        }
        return $this->out;
    }

    public function stderr(): string
    {
        clearstatcache(true, $this->stderrFile);
        return is_file($this->stderrFile) ? (string) file_get_contents($this->stderrFile) : '';
    }

    public function isRunning(): bool
    {
        if ($this->exit !== null || $this->proc === null) {
            return false;
        }
        $st = proc_get_status($this->proc);
        if ($st['running']) {
            return true;
        }
        // proc_get_status reports the exit code only once (PHP < 8.3): keep it.
        $this->exit = [
            'code' => $st['signaled'] ? null : $st['exitcode'],
            'signal' => $st['signaled'] ? $st['termsig'] : null,
        ];
        return false;
    }

    /** Child PIDs of this process now (from /proc). @return int[] */
    public function children(): array
    {
        return self::childrenOf($this->pid);
    }

    /** @return int[] */
    public static function childrenOf(int $pid): array
    {
        $kids = [];
        foreach (glob("/proc/$pid/task/*/children") ?: [] as $f) {
            foreach (preg_split('/\s+/', trim((string) @file_get_contents($f))) as $k) {
                if ($k !== '') {
                    $kids[] = (int) $k;
                }
            }
        }
        return array_values(array_unique($kids));
    }

    /** Records the current descendants so that stop() can clean up after a broken supervisor. */
    public function recordDescendants(): array
    {
        $todo = [$this->pid];
        while ($todo) {
            foreach (self::childrenOf(array_pop($todo)) as $k) {
                if (!in_array($k, $this->descendants, true)) {
                    $this->descendants[] = $k;
                    $todo[] = $k;
                }
            }
        }
        return $this->descendants;
    }

    public function signal(int $sig): void
    {
        if ($this->isRunning()) {
            posix_kill($this->pid, $sig);
        }
    }

    /**
     * Waits (bounded) for the process to exit by itself.
     * @return array{code:int|null,signal:int|null}|null null when still running at the deadline
     */
    public function waitExit(float $timeout): ?array
    {
        $deadline = microtime(true) + $timeout;
        while ($this->isRunning()) {
            if (microtime(true) >= $deadline) {
                return null;
            }
            // drain stdout so that a chatty process never blocks on a full pipe
            if (!$this->drain(0.01)) {
                usleep(5000);
            }
        }
        return $this->exit;
    }

    /**
     * SIGTERM, bounded wait, SIGKILL. Returns how it ended and how long the graceful part took.
     * @return array{code:int|null,signal:int|null,seconds:float,killed:bool}
     */
    public function stop(int $sig = SIGTERM, float $timeout = self::STOP_TIMEOUT): array
    {
        $t0 = microtime(true);
        $killed = false;
        if ($this->isRunning()) {
            $this->recordDescendants();
            posix_kill($this->pid, $sig);
            if ($this->waitExit($timeout) === null) {
                posix_kill($this->pid, SIGKILL);
                $killed = true;
                $this->waitExit(5.0);
            }
        }
        $seconds = microtime(true) - $t0;
        $this->reapDescendants();
        $this->close();
        return ($this->exit ?? ['code' => null, 'signal' => null]) + ['seconds' => $seconds, 'killed' => $killed];
    }

    /** Descendants recorded earlier that still run (should be none after a clean stop). @return int[] */
    public function liveDescendants(): array
    {
        $live = [];
        foreach ($this->descendants as $pid) {
            if (self::alive($pid)) {
                $live[] = $pid;
            }
        }
        return $live;
    }

    public static function alive(int $pid): bool
    {
        $stat = @file_get_contents("/proc/$pid/stat");
        if ($stat === false) {
            return false;
        }
        // state is the field after the ")" of the command name; Z = zombie, X = dead
        $state = substr($stat, strrpos($stat, ')') + 2, 1);
        return $state !== 'Z' && $state !== 'X';
    }

    private function reapDescendants(): void
    {
        foreach ($this->liveDescendants() as $pid) {
            posix_kill($pid, SIGKILL);
        }
    }

    private function close(): void
    {
        if ($this->stdout !== null) {
            $this->stdout();
            if ($this->stdout !== null) {
                fclose($this->stdout);
                $this->stdout = null;
            }
        }
        if ($this->proc !== null) {
            proc_close($this->proc);
            $this->proc = null;
        }
    }

    public function __destruct()
    {
        if ($this->proc !== null) {
            $this->stop(SIGKILL, 2.0);
        }
        if (is_file($this->stderrFile)) {
            @unlink($this->stderrFile);
        }
    }

    public function describe(): string
    {
        return sprintf("%s (pid %d, port %d)\nstdout: %s\nstderr: %s",
            basename($this->script), $this->pid, $this->port, $this->stdout(), $this->stderr());
    }
}
