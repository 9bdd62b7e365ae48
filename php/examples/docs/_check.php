<?php

/**
 * Runs every example of this folder against the real library and checks what the documentation
 * promises: each one starts on a free port of 127.0.0.1, prints its readiness line, answers its
 * requests, and stops cleanly (exit code 0, no PHP error on STDERR, no child left behind).
 *
 * Usage: php php/examples/docs/_check.php [NAME...]   (NAME: an example's file name without .php)
 * Exit code 0 when every example passes. Every wait is bounded; only processes started here are
 * signalled, by pid.
 */

declare(strict_types=1);

const READY_SECONDS = 10.0;
const STOP_SECONDS = 12.0;
const IO_SECONDS = 5.0;

/** One example process. */
final class Example
{
    /** @var resource */
    public $proc;
    /** @var resource */
    public $stdout;
    public int $pid;
    public int $port = 0;
    public string $out = '';
    public string $errFile;
    /** @var list<int>|null worker pids a check saw (simultaneous mode) */
    public ?array $kids = null;

    public function __construct(public string $name, ?int $port = null)
    {
        $this->errFile = tempnam(sys_get_temp_dir(), "hs-doc-{$name}-");
        $this->proc = proc_open(
            [PHP_BINARY, __DIR__ . "/{$name}.php", (string) ($port ?? 0)],
            [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['file', $this->errFile, 'w']],
            $pipes,
            dirname(__DIR__, 3),
        );
        $this->stdout = $pipes[1];
        stream_set_blocking($this->stdout, false);
        $this->pid = proc_get_status($this->proc)['pid'];
    }

    /** Waits for "listening on http://127.0.0.1:PORT"; returns false if it never comes. */
    public function ready(): bool
    {
        $deadline = microtime(true) + READY_SECONDS;
        while (microtime(true) < $deadline) {
            if (preg_match('~listening on http://127\.0\.0\.1:(\d+)~', $this->out, $m)) {
                $this->port = (int) $m[1];
                return true;
            }
            $r = [$this->stdout];
            $w = $e = null;
            if (@stream_select($r, $w, $e, 0, 100_000) > 0) {
                $chunk = fread($this->stdout, 8192);
                if ($chunk === '' || $chunk === false) {
                    if (feof($this->stdout)) {
                        return false;
                    }
                }
                $this->out .= (string) $chunk;
            }
        }
        return false;
    }

    public function stderr(): string
    {
        return (string) file_get_contents($this->errFile);
    }

    /** Waits for the process to end by itself; returns its exit code, or null on timeout. */
    public function waitExit(float $seconds): ?int
    {
        $deadline = microtime(true) + $seconds;
        do {
            $s = proc_get_status($this->proc);
            if (!$s['running']) {
                return $s['signaled'] ? 128 + $s['termsig'] : $s['exitcode'];
            }
            usleep(20_000);
        } while (microtime(true) < $deadline);
        return null;
    }

    /** Sends `$signal` and waits; SIGKILL (reported as a failure) if it does not end in time. */
    public function stop(int $signal = SIGTERM): ?int
    {
        if (proc_get_status($this->proc)['running']) {
            posix_kill($this->pid, $signal);
        }
        $code = $this->waitExit(STOP_SECONDS);
        if ($code === null) {
            posix_kill($this->pid, SIGKILL);
            $this->waitExit(STOP_SECONDS);
        }
        return $code;
    }

    public function close(): void
    {
        if (proc_get_status($this->proc)['running']) {
            posix_kill($this->pid, SIGKILL);
        }
        fclose($this->stdout);
        proc_close($this->proc);
        @unlink($this->errFile);
    }
}

/**
 * One HTTP/1.1 request on its own connection.
 *
 * @return array{status: int, headers: array<string, string>, body: string}
 */
function http(int $port, string $method, string $path, string $body = '', array $headers = []): array
{
    $s = @stream_socket_client("tcp://127.0.0.1:{$port}", $errno, $errstr, IO_SECONDS);
    if ($s === false) {
        return ['status' => 0, 'headers' => [], 'body' => "connect failed: {$errstr}"];
    }
    stream_set_timeout($s, (int) IO_SECONDS);
    $head = "{$method} {$path} HTTP/1.1\r\nHost: 127.0.0.1:{$port}\r\nConnection: close\r\n";
    foreach ($headers as $name => $value) {
        $head .= "{$name}: {$value}\r\n";
    }
    if ($body !== '' || in_array($method, ['POST', 'PUT'], true)) {
        $head .= 'Content-Length: ' . strlen($body) . "\r\n";
    }
    fwrite($s, $head . "\r\n" . $body);
    $raw = stream_get_contents($s);
    fclose($s);
    [$top, $rest] = explode("\r\n\r\n", (string) $raw, 2) + ['', ''];
    $lines = explode("\r\n", $top);
    $status = (int) (explode(' ', $lines[0])[1] ?? 0);
    $parsed = [];
    foreach (array_slice($lines, 1) as $line) {
        [$k, $v] = explode(':', $line, 2) + ['', ''];
        $parsed[strtolower(trim($k))] = trim($v);
    }
    return ['status' => $status, 'headers' => $parsed, 'body' => $rest];
}

/** Opens a WebSocket on `$path`, sends one text message, closes. Returns an error or null. */
function wsSend(int $port, string $path, string $text): ?string
{
    $s = @stream_socket_client("tcp://127.0.0.1:{$port}", $errno, $errstr, IO_SECONDS);
    if ($s === false) {
        return "connect failed: {$errstr}";
    }
    stream_set_timeout($s, (int) IO_SECONDS);
    $key = base64_encode(random_bytes(16));
    fwrite($s, "GET {$path} HTTP/1.1\r\nHost: 127.0.0.1:{$port}\r\nUpgrade: websocket\r\n"
        . "Connection: Upgrade\r\nSec-WebSocket-Key: {$key}\r\nSec-WebSocket-Version: 13\r\n\r\n");
    $head = '';
    while (!str_contains($head, "\r\n\r\n") && !feof($s)) {
        $line = fgets($s);
        if ($line === false) {
            break;
        }
        $head .= $line;
    }
    $accept = base64_encode(sha1($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11', true));
    if (!str_starts_with($head, 'HTTP/1.1 101') || !str_contains($head, $accept)) {
        fclose($s);
        return 'handshake failed: ' . trim(strtok($head, "\r\n") ?: '(nothing)');
    }
    $frame = static function (int $opcode, string $payload): string {
        $mask = random_bytes(4);
        $masked = $payload ^ str_repeat($mask, intdiv(strlen($payload), 4) + 1);
        return chr(0x80 | $opcode) . chr(0x80 | strlen($payload)) . $mask . substr($masked, 0, strlen($payload));
    };
    fwrite($s, $frame(0x1, $text));
    fwrite($s, $frame(0x8, pack('n', 1000)));
    stream_get_contents($s); // until the server closes (bounded by the stream timeout)
    fclose($s);
    return null;
}

/** Polls `$probe` every 20 ms for at most `$seconds`. */
function eventually(callable $probe, float $seconds = IO_SECONDS): bool
{
    $deadline = microtime(true) + $seconds;
    do {
        if ($probe()) {
            return true;
        }
        usleep(20_000);
    } while (microtime(true) < $deadline);
    return false;
}

function freePort(): int
{
    $s = stream_socket_server('tcp://127.0.0.1:0');
    $port = (int) substr(strrchr(stream_socket_get_name($s, false), ':'), 1);
    fclose($s);
    return $port;
}

function portFree(int $port): bool
{
    $s = @stream_socket_server("tcp://127.0.0.1:{$port}");
    if ($s === false) {
        return false;
    }
    fclose($s);
    return true;
}

/** @return list<int> pids whose parent is `$pid` */
function children(int $pid): array
{
    $found = [];
    foreach (glob('/proc/[0-9]*/stat') ?: [] as $file) {
        $stat = @file_get_contents($file);
        if ($stat !== false && preg_match('/\) \S+ (\d+)/', $stat, $m) && (int) $m[1] === $pid) {
            $found[] = (int) basename(dirname($file));
        }
    }
    return $found;
}

// ---- what each example must do ---------------------------------------------------------------
// Each check gets the running example, returns a list of failures, and may set $notes.
// 'stop' => how it ends: a signal to send (default SIGTERM) or 'self' (it ends by itself).

$expect = static fn (bool $ok, string $what) => $ok ? [] : [$what];
$status = static fn (array $r, int $code, string $what) => $r['status'] === $code
    ? [] : ["{$what}: status {$r['status']}, expected {$code} (body: " . substr($r['body'], 0, 80) . ')'];

$checks = [
    'basic_setup' => ['check' => fn (Example $x) => $status(http($x->port, 'GET', '/'), 404, 'GET / (no route)')],
    'rate_limiting' => ['check' => function (Example $x) use ($status) {
        for ($i = 1; $i <= 100; $i++) {
            $r = http($x->port, 'GET', '/');
            if ($r['status'] === 429) {
                return ["request {$i} already got 429"];
            }
        }
        return $status(http($x->port, 'GET', '/'), 429, 'request 101');
    }],
    'timeouts' => ['check' => fn (Example $x) => $status(http($x->port, 'GET', '/'), 404, 'GET /')],
    'graceful_shutdown' => ['stop' => 'self', 'check' => fn (Example $x) => []],
    'get_response_object' => ['check' => function (Example $x) use ($status, $expect) {
        $r = http($x->port, 'GET', '/');
        return array_merge(
            $status($r, 200, 'GET /'),
            $expect(($r['headers']['content-type'] ?? '') === 'text/html', 'Content-Type text/html'),
            $expect($r['body'] === '<h1>Hello, World!</h1>', 'body <h1>Hello, World!</h1>'),
        );
    }],
    'get_raw_string' => ['check' => function (Example $x, ?string &$notes) use ($expect) {
        $r = http($x->port, 'GET', '/');
        $notes = "the doc's malformed raw string gives: {$r['status']} " . json_encode($r['body']);
        // The server must answer something and stay up; what it makes of the typo is reported.
        return array_merge(
            $expect($r['status'] > 0, 'an answer'),
            $expect(http($x->port, 'GET', '/')['status'] > 0, 'still serving'),
        );
    }],
    'put_call' => ['check' => function (Example $x) use ($status, $expect) {
        $r = http($x->port, 'PUT', '/post');
        return array_merge(
            $status($r, 200, 'PUT /post'),
            $expect($r['body'] === 'Post was created', 'body "Post was created"'),
            $status(http($x->port, 'GET', '/post'), 404, 'GET /post'),
        );
    }],
    'websocket' => ['check' => function (Example $x) use ($expect) {
        $err = wsSend($x->port, '/ws', 'hello-docs');
        return array_merge(
            $expect($err === null, "WebSocket /ws: {$err}"),
            $expect(eventually(fn () => str_contains($x->stderr(), 'SocketIO Message: hello-docs')), 'message logged'),
        );
    }],
    'socketio' => ['check' => function (Example $x) use ($expect) {
        // A Socket.IO client in its simplest form: Engine.IO long-polling by hand. The handshake,
        // then one POST carrying CONNECT to "/" and the event message("hello-io").
        $open = http($x->port, 'GET', '/socket.io/?EIO=4&transport=polling');
        $sid = preg_match('/"sid":"([^"]+)"/', $open['body'], $m) === 1 ? $m[1] : null;
        $post = $sid === null ? null : http($x->port, 'POST', '/socket.io/?EIO=4&transport=polling&sid=' . rawurlencode($sid),
            "40\x1e42[\"message\",\"hello-io\"]", ['Content-Type' => 'text/plain;charset=UTF-8']);
        return array_merge(
            $expect($open['status'] === 200 && $sid !== null, "the Engine.IO handshake: {$open['status']} {$open['body']}"),
            $expect(($post['status'] ?? 0) === 200, 'the POST of CONNECT and the event: ' . json_encode($post)),
            $expect(eventually(fn () => str_contains($x->stderr(), 'WebSocket Message: hello-io')), 'message logged'),
        );
    }],
    'debug' => ['check' => function (Example $x) use ($status, $expect) {
        return array_merge(
            $status(http($x->port, 'GET', '/'), 404, 'GET /'),
            $expect(eventually(fn () => trim($x->stderr()) !== ''), 'debug output on STDERR'),
        );
    }],
    'signals' => ['stop' => SIGINT, 'check' => fn (Example $x) => $status(http($x->port, 'GET', '/'), 404, 'GET /')],
    'shutdown_function' => ['check' => fn (Example $x) => $status(http($x->port, 'GET', '/'), 404, 'GET /')],
    'on_response' => ['check' => function (Example $x) use ($expect) {
        $r = http($x->port, 'GET', '/');
        return $expect(str_ends_with($r['body'], '<p>Prepend Content</p>'), 'body ends with <p>Prepend Content</p>: '
            . json_encode($r['body']));
    }],
    'connection_required' => ['check' => function (Example $x) use ($status, $expect) {
        $f = $status(http($x->port, 'GET', '/'), 400, 'GET / before /connect');
        $f = array_merge($f, $status(http($x->port, 'GET', '/connect'), 200, 'GET /connect'));
        $r = http($x->port, 'GET', '/');
        return array_merge(
            $f,
            $status($r, 200, 'GET / after /connect'),
            $expect($r['body'] === 'Welcome, connected client!', 'the route answers after /connect'),
            $status(http($x->port, 'GET', '/disconnect'), 200, 'GET /disconnect'),
            $status(http($x->port, 'GET', '/'), 400, 'GET / after /disconnect'),
            $expect(str_contains($x->stderr(), 'Client connected'), 'connect() callback ran'),
            $expect(eventually(fn () => str_contains($x->stderr(), 'Client disconnected')), 'disconnect() callback ran'),
        );
    }],
    'ping' => ['check' => function (Example $x) use ($status, $expect) {
        $r = http($x->port, 'GET', '/ping');
        return array_merge($status($r, 200, 'GET /ping'), $expect($r['body'] === 'PONG', 'body PONG'));
    }],
    'error' => ['check' => function (Example $x) use ($status, $expect) {
        $r = http($x->port, 'GET', '/nowhere');
        return array_merge($status($r, 404, 'GET /nowhere'), $expect($r['body'] === 'No page at /nowhere', 'custom body'));
    }],
    'route' => ['check' => function (Example $x) use ($status, $expect) {
        $f = [];
        foreach (['GET', 'POST', 'PUT'] as $m) {
            $r = http($x->port, $m, '/item');
            $f = array_merge($f, $status($r, 200, "{$m} /item"), $expect($r['body'] === "{$m} /item", "{$m} body"));
        }
        return array_merge($f, $status(http($x->port, 'DELETE', '/item'), 404, 'DELETE /item'));
    }],
    'post' => ['check' => function (Example $x) use ($status, $expect) {
        $r = http($x->port, 'POST', '/hello', 'name=Ada', ['Content-Type' => 'application/x-www-form-urlencoded']);
        return array_merge($status($r, 200, 'POST /hello'), $expect($r['body'] === 'Hello, Ada!', 'body Hello, Ada!'));
    }],
    'set_headers' => ['check' => function (Example $x) use ($status, $expect) {
        $r = http($x->port, 'GET', '/');
        return array_merge(
            $status($r, 200, 'GET /'),
            $expect(($r['headers']['x-powered-by'] ?? '') === 'httpsock', 'X-Powered-By'),
            $expect(($r['headers']['x-frame-options'] ?? '') === 'DENY', 'X-Frame-Options'),
            $expect(($r['headers']['cache-control'] ?? '') === 'no-store', 'Cache-Control'),
        );
    }],
    'on_off' => ['check' => fn (Example $x) => array_merge(
        $status(http($x->port, 'GET', '/'), 200, 'GET / (on() at start)'),
        $status(http($x->port, 'GET', '/leave'), 200, 'GET /leave'),
        $status(http($x->port, 'GET', '/'), 400, 'GET / after off()'),
    )],
    'server_info' => ['check' => function (Example $x, ?string &$notes) use ($status, $expect) {
        $ok = eventually(fn () => str_contains($x->stderr(), '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'));
        $notes = trim(strtok($x->stderr(), "\n") ?: '');
        return array_merge($expect($ok, 'info printed with the guid'), $status(http($x->port, 'GET', '/'), 404, 'GET /'));
    }],
    'simultaneous' => ['port' => 'fixed', 'check' => function (Example $x, ?string &$notes) use ($expect) {
        // The readiness line precedes the workers' bind: retry for a bounded time.
        $first = null;
        eventually(function () use ($x, &$first) {
            $first = http($x->port, 'GET', '/');
            return $first['status'] === 200;
        }, READY_SECONDS);
        $workers = [];
        for ($i = 0; $i < 20; $i++) {
            $workers[http($x->port, 'GET', '/')['body']] = true;
        }
        $kids = children($x->pid);
        $notes = count($kids) . ' worker processes; answers from: ' . implode(', ', array_keys($workers));
        $f = array_merge(
            $expect(($first['status'] ?? 0) === 200, 'GET / answered by a worker'),
            $expect(count($kids) === 2, 'setMaxProcesses(2) gives 2 workers, found ' . count($kids)),
        );
        if ($kids !== []) {
            // A killed worker is replaced.
            posix_kill($kids[0], SIGKILL);
            $f = array_merge($f, $expect(eventually(function () use ($x, $kids) {
                $now = children($x->pid);
                return count($now) === count($kids) && !in_array($kids[0], $now, true);
            }), 'a killed worker is replaced'));
        }
        $x->kids = children($x->pid);
        return $f;
    }],
];

$only = array_slice($argv, 1);
$failed = 0;
foreach ($checks as $name => $spec) {
    if ($only !== [] && !in_array($name, $only, true)) {
        continue;
    }
    $x = new Example($name, ($spec['port'] ?? null) === 'fixed' ? freePort() : null);
    $failures = [];
    $notes = null;
    if (!$x->ready()) {
        $failures[] = 'no readiness line within ' . READY_SECONDS . ' s; stdout: ' . json_encode($x->out);
    } else {
        try {
            $failures = ($spec['check'])($x, $notes);
        } catch (\Throwable $e) {
            $failures[] = 'check threw ' . $e::class . ': ' . $e->getMessage();
        }
    }
    $kids = $x->kids ?? children($x->pid);
    $how = $spec['stop'] ?? SIGTERM;
    $code = $how === 'self' ? $x->waitExit(STOP_SECONDS) : $x->stop($how);
    if ($code === null) {
        $failures[] = 'did not exit within ' . STOP_SECONDS . ' s' . ($how === 'self' ? '' : " of signal {$how}");
    } elseif ($code !== 0) {
        $failures[] = "exit code {$code}";
    }
    if ($x->port > 0 && !eventually(fn () => portFree($x->port), 2.0)) {
        $failures[] = "port {$x->port} still taken after exit";
    }
    foreach ($kids as $kid) {
        if (file_exists("/proc/{$kid}")) {
            $failures[] = "child {$kid} left behind";
            posix_kill($kid, SIGKILL);
        }
    }
    if (preg_match('/PHP (Fatal error|Warning|Notice|Deprecated)[^\n]*/', $x->stderr(), $m)) {
        $failures[] = 'STDERR: ' . $m[0];
    }
    $x->close();
    printf("%-20s %s\n", $name, $failures === [] ? 'ok' : 'FAIL');
    foreach ($failures as $f) {
        echo "    - {$f}\n";
    }
    if ($notes !== null && $notes !== '') {
        echo "    note: {$notes}\n";
    }
    $failed += $failures === [] ? 0 : 1;
}
echo $failed === 0 ? "all examples pass\n" : "{$failed} example(s) failed\n";
exit($failed === 0 ? 0 : 1);
