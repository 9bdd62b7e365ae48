<?php
declare(strict_types=1);

namespace HttpSock\Tests\Support;

use RuntimeException;

/**
 * A redis-server of a test's own: a free loopback port, no persistence, a directory of its own;
 * stopped by pid (SIGTERM, then SIGKILL). start() returns null when redis-server is missing.
 */
final class RedisServer
{
    /** @var resource|null */
    private $proc;
    private int $pid = 0;
    private string $dir;
    public readonly string $url;

    public static function start(): ?self
    {
        $binary = trim((string) shell_exec('command -v redis-server 2>/dev/null'));
        return $binary === '' ? null : new self($binary);
    }

    private function __construct(string $binary)
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $name = (string) stream_socket_get_name($probe, false);
        fclose($probe);
        $port = (int) substr($name, strrpos($name, ':') + 1);
        $this->dir = sys_get_temp_dir() . '/hs-sio-redis-' . getmypid() . '-' . $port;
        @mkdir($this->dir);
        $pipes = [];
        $this->proc = proc_open(
            [$binary, '--port', (string) $port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                '--dir', $this->dir, '--loglevel', 'notice', '--daemonize', 'no'],
            [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
            $pipes
        );
        if (!is_resource($this->proc)) {
            throw new RuntimeException('redis-server did not start');
        }
        $this->pid = (int) proc_get_status($this->proc)['pid'];
        stream_set_blocking($pipes[1], false);
        $out = '';
        $deadline = microtime(true) + 10.0;
        while (!str_contains($out, 'Ready to accept connections')) {
            $left = $deadline - microtime(true);
            if ($left <= 0 || !proc_get_status($this->proc)['running']) {
                $this->stop();
                throw new RuntimeException("redis-server on port {$port} not ready: {$out}");
            }
            $r = [$pipes[1]];
            $w = $e = null;
            if (@stream_select($r, $w, $e, 0, (int) (min($left, 0.2) * 1e6)) > 0) {
                $out .= (string) fread($pipes[1], 65536);
            }
        }
        $this->url = "redis://127.0.0.1:{$port}";
    }

    public function stop(): void
    {
        if ($this->proc !== null) {
            if (ServerProcess::alive($this->pid)) {
                posix_kill($this->pid, SIGTERM);
            }
            $deadline = microtime(true) + 5.0;
            while (proc_get_status($this->proc)['running'] && microtime(true) < $deadline) {
                usleep(10000);
            }
            if (proc_get_status($this->proc)['running']) {
                posix_kill($this->pid, SIGKILL);
            }
            proc_close($this->proc);
            $this->proc = null;
        }
        if (is_dir($this->dir)) {
            array_map('unlink', glob($this->dir . '/*') ?: []);
            @rmdir($this->dir);
        }
    }

    public function __destruct()
    {
        $this->stop();
    }
}
