<?php
declare(strict_types=1);

namespace HttpSock\Tests\Support;

use RuntimeException;

/**
 * Real Socket.IO clients: a Node process running fixtures/sio_driver.cjs with npm's
 * `socket.io-client` 4.x, driven one JSON request per line (the script's header lists them).
 * Binary values are `['$bin' => base64]` both ways (see bin()).
 *
 * socket.io-client is looked for in SIO_NODE_MODULES, the repository's
 * tests/socketio/node_modules (`make deps`), then /tmp/sio-node/node_modules
 * (`npm install socket.io-client@4 --prefix /tmp/sio-node`).
 */
final class SioNode
{
    /** @var resource|null */
    private $proc;
    /** @var resource */
    private $stdin;
    /** @var resource */
    private $stdout;
    private string $buffer = '';
    private int $seq = 0;
    private string $stderrFile;

    /** The node_modules directory holding socket.io-client, or null. */
    public static function modules(): ?string
    {
        $candidates = array_filter([
            getenv('SIO_NODE_MODULES') ?: null,
            HS_TEST_ROOT . '/tests/socketio/node_modules',
            '/tmp/sio-node/node_modules',
        ]);
        foreach ($candidates as $dir) {
            if (is_file("{$dir}/socket.io-client/package.json")) {
                return $dir;
            }
        }
        return null;
    }

    /** Why the Socket.IO tests cannot run here, or null when they can. */
    public static function missing(): ?string
    {
        if (trim((string) shell_exec('command -v node 2>/dev/null')) === '') {
            return 'node is not installed';
        }
        if (self::modules() === null) {
            return 'socket.io-client is not installed (make deps, or npm install socket.io-client@4 --prefix /tmp/sio-node)';
        }
        return null;
    }

    public function __construct()
    {
        $this->stderrFile = (string) tempnam(sys_get_temp_dir(), 'hs-sio-node-');
        $pipes = [];
        $env = array_merge(getenv(), ['NODE_PATH' => (string) self::modules()]);
        $proc = proc_open(
            ['node', HS_FIXTURES . '/sio_driver.cjs'],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', $this->stderrFile, 'w']],
            $pipes,
            HS_FIXTURES,
            $env
        );
        if (!is_resource($proc)) {
            throw new RuntimeException('cannot start node');
        }
        $this->proc = $proc;
        $this->stdin = $pipes[0];
        $this->stdout = $pipes[1];
        stream_set_blocking($this->stdout, false);
    }

    /** A binary value as the driver takes and gives it. */
    public static function bin(string $bytes): array
    {
        return ['$bin' => base64_encode($bytes)];
    }

    /**
     * One request; its answer (['ok' => bool, ...]). Waits at most `$timeout` seconds.
     *
     * @param array<string, mixed> $request
     * @return array<string, mixed>
     */
    public function call(string $op, array $request = [], float $timeout = 20.0): array
    {
        $id = ++$this->seq;
        fwrite($this->stdin, json_encode(['id' => $id, 'op' => $op] + $request, JSON_UNESCAPED_SLASHES) . "\n");
        fflush($this->stdin);
        $deadline = microtime(true) + $timeout;
        while (true) {
            while (($nl = strpos($this->buffer, "\n")) !== false) {
                $line = substr($this->buffer, 0, $nl);
                $this->buffer = substr($this->buffer, $nl + 1);
                $answer = json_decode($line, true);
                if (is_array($answer) && ($answer['re'] ?? null) === $id) {
                    return $answer;
                }
            }
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                throw new RuntimeException("node driver: no answer to {$op} within {$timeout}s; stderr: " . $this->stderr());
            }
            $r = [$this->stdout];
            $w = $e = null;
            if (@stream_select($r, $w, $e, 0, (int) (min($left, 0.2) * 1e6)) > 0) {
                $chunk = fread($this->stdout, 65536);
                if ($chunk === '' || $chunk === false) {
                    if (feof($this->stdout)) {
                        throw new RuntimeException('node driver exited; stderr: ' . $this->stderr());
                    }
                } else {
                    $this->buffer .= $chunk;
                }
            }
        }
    }

    /** call(), and the answer must be ok. */
    public function ok(string $op, array $request = [], float $timeout = 20.0): array
    {
        $answer = $this->call($op, $request, $timeout);
        if (($answer['ok'] ?? false) !== true) {
            throw new RuntimeException("node driver: {$op} " . json_encode($request, JSON_UNESCAPED_SLASHES) . ' failed: ' . json_encode($answer, JSON_UNESCAPED_SLASHES));
        }
        return $answer;
    }

    /** Connects socket `$name`; returns ['sid' => ..., 'transport' => ...]. */
    public function connect(string $name, string $url, array $opts = [], string $nsp = '/'): array
    {
        return $this->ok('connect', ['name' => $name, 'url' => $url, 'nsp' => $nsp, 'opts' => (object) $opts]);
    }

    /** Emits and returns the acknowledgement's arguments (a list). */
    public function ask(string $name, string $event, array $args = [], int $timeoutMs = 3000): array
    {
        return $this->ok('emit', ['name' => $name, 'event' => $event, 'args' => $args, 'ack' => true, 'timeout' => $timeoutMs])['ack'];
    }

    public function emit(string $name, string $event, array $args = []): void
    {
        $this->ok('emit', ['name' => $name, 'event' => $event, 'args' => $args]);
    }

    /** The arguments of the next `$event` the socket got, or null when none came in time. */
    public function wait(string $name, string $event, int $timeoutMs = 3000): ?array
    {
        $answer = $this->call('wait', ['name' => $name, 'event' => $event, 'timeout' => $timeoutMs]);
        return ($answer['ok'] ?? false) ? $answer['args'] : null;
    }

    public function stderr(): string
    {
        return is_file($this->stderrFile) ? (string) file_get_contents($this->stderrFile) : '';
    }

    public function close(): void
    {
        if ($this->proc === null) {
            return;
        }
        @fwrite($this->stdin, json_encode(['id' => 0, 'op' => 'exit']) . "\n");
        @fclose($this->stdin);
        $deadline = microtime(true) + 3.0;
        while (proc_get_status($this->proc)['running'] && microtime(true) < $deadline) {
            usleep(10000);
        }
        $status = proc_get_status($this->proc);
        if ($status['running']) {
            posix_kill($status['pid'], SIGKILL);
        }
        @fclose($this->stdout);
        proc_close($this->proc);
        $this->proc = null;
        @unlink($this->stderrFile);
    }

    public function __destruct()
    {
        $this->close();
    }
}
