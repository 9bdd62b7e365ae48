<?php
declare(strict_types=1);

namespace HttpSock\Tests\Support;

use RuntimeException;

/**
 * HTTP clients for the tests: curl (the command-line client, one process per request) and a raw
 * socket client for requests that curl would rewrite.
 */
final class Http
{
    public const TIMEOUT = 10;

    /**
     * One request through curl.
     *
     * @param array<string,string>|string[] $headers "Name" => "value" or "Name: value" lines
     * @param string[] $curlArgs extra curl arguments (e.g. -F for multipart)
     */
    public static function request(
        string $method,
        string $url,
        array $headers = [],
        ?string $body = null,
        array $curlArgs = [],
        int $timeout = self::TIMEOUT,
    ): HttpResponse {
        $cmd = ['curl', '-sS', '--http1.1', '--globoff', '--max-time', (string) $timeout, '-i', '--noproxy', '*'];
        if (strtoupper($method) === 'HEAD') {
            $cmd[] = '-I';
        } else {
            $cmd[] = '-X';
            $cmd[] = $method;
        }
        $cmd[] = '-H';
        $cmd[] = 'Expect:';
        foreach ($headers as $k => $v) {
            $cmd[] = '-H';
            $cmd[] = is_int($k) ? $v : "$k: $v";
        }
        if ($body !== null) {
            $cmd[] = '--data-binary';
            $cmd[] = '@-';
        }
        array_push($cmd, ...$curlArgs);
        $cmd[] = $url;
        [$code, $out, $err] = self::run($cmd, $body ?? '', $timeout + 5);
        if ($code !== 0) {
            throw new RuntimeException("curl exited $code for $method $url: $err");
        }
        return HttpResponse::parse($out);
    }

    public static function get(string $url, array $headers = []): HttpResponse
    {
        return self::request('GET', $url, $headers);
    }

    public static function post(string $url, string $body, array $headers = []): HttpResponse
    {
        return self::request('POST', $url, $headers, $body);
    }

    /**
     * Sends $raw as it is on a new connection to 127.0.0.1:$port and reads until the server
     * closes or one complete response is there (Content-Length / chunked), bounded.
     */
    public static function raw(int $port, string $raw, float $timeout = 5.0): string
    {
        $s = self::connect($port, $timeout);
        fwrite($s, $raw);
        $buf = self::readResponse($s, $timeout);
        fclose($s);
        return $buf;
    }

    /** @return resource */
    public static function connect(int $port, float $timeout = 5.0)
    {
        $s = @stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, $timeout);
        if ($s === false) {
            throw new RuntimeException("connect 127.0.0.1:$port: $errstr ($errno)");
        }
        return $s;
    }

    /**
     * Reads one HTTP response from $s (bounded): the head, then Content-Length bytes, a chunked
     * body, or everything up to EOF.
     * @param resource $s
     */
    public static function readResponse($s, float $timeout = 5.0, bool $isHead = false): string
    {
        $deadline = microtime(true) + $timeout;
        $buf = '';
        $read = static function () use ($s, $deadline, &$buf): bool {
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                throw new RuntimeException("HTTP read timed out; got so far: " . json_encode($buf));
            }
            $r = [$s];
            $w = $e = null;
            if (@stream_select($r, $w, $e, (int) $left, (int) (fmod($left, 1) * 1e6)) < 1) {
                throw new RuntimeException("HTTP read timed out; got so far: " . json_encode($buf));
            }
            $chunk = fread($s, 65536);
            if ($chunk === '' || $chunk === false) {
                return false;
            }
            $buf .= $chunk;
            return true;
        };
        while (($p = strpos($buf, "\r\n\r\n")) === false) {
            if (!$read()) {
                return $buf;
            }
        }
        $head = substr($buf, 0, $p);
        if (preg_match('#^HTTP/1\.[01] 1\d\d#', $head) && !str_starts_with($head, 'HTTP/1.1 101')) {
            // interim response: drop it and read the real one
            $rest = substr($buf, $p + 4);
            $buf = '';
            return $rest . self::readResponse($s, max(0.1, $deadline - microtime(true)), $isHead);
        }
        $bodyStart = $p + 4;
        if ($isHead || preg_match('#^HTTP/1\.[01] (1\d\d|204|304)#', $head)) {
            return $buf;
        }
        if (preg_match('/\r\ncontent-length:\s*(\d+)/i', $head, $m)) {
            $want = $bodyStart + (int) $m[1];
            while (strlen($buf) < $want && $read()) {
            }
            return $buf;
        }
        if (preg_match('/\r\ntransfer-encoding:\s*chunked/i', $head)) {
            while (!preg_match('/(^|\r\n)0\r\n(.*\r\n)?\r\n$/s', substr($buf, $bodyStart)) && $read()) {
            }
            return $buf;
        }
        while ($read()) {
        }
        return $buf;
    }

    /**
     * Runs a command (no shell), feeding $stdin, bounded by $timeout seconds.
     * @param string[] $cmd
     * @return array{0:int,1:string,2:string} exit code, stdout, stderr
     */
    public static function run(array $cmd, string $stdin = '', float $timeout = 30.0, ?string $cwd = null, ?array $env = null): array
    {
        $pipes = [];
        $proc = proc_open($cmd, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, $cwd, $env);
        if (!is_resource($proc)) {
            throw new RuntimeException('proc_open failed: ' . implode(' ', $cmd));
        }
        stream_set_blocking($pipes[0], false);
        stream_set_blocking($pipes[1], false);
        stream_set_blocking($pipes[2], false);
        $out = $err = '';
        $deadline = microtime(true) + $timeout;
        $in = $stdin;
        $open = [1 => $pipes[1], 2 => $pipes[2]];
        if ($in === '') {
            fclose($pipes[0]);
            $pipes[0] = null;
        }
        while ($open) {
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                $pid = proc_get_status($proc)['pid'];
                posix_kill($pid, SIGKILL);
                proc_close($proc);
                throw new RuntimeException('timed out after ' . $timeout . 's: ' . implode(' ', $cmd) . "\nstdout: $out\nstderr: $err");
            }
            $r = array_values($open);
            $w = $pipes[0] !== null ? [$pipes[0]] : [];
            $e = null;
            if (@stream_select($r, $w, $e, 0, (int) min(200000, $left * 1e6)) === false) {
                continue;
            }
            if ($w) {
                $n = fwrite($pipes[0], $in);
                $in = (string) substr($in, (int) $n);
                if ($in === '') {
                    fclose($pipes[0]);
                    $pipes[0] = null;
                }
            }
            foreach ($r as $stream) {
                $chunk = fread($stream, 65536);
                $idx = $stream === $pipes[1] ? 1 : 2;
                if ($chunk === '' || $chunk === false) {
                    if (feof($stream)) {
                        fclose($stream);
                        unset($open[$idx]);
                    }
                    continue;
                }
                if ($idx === 1) {
                    $out .= $chunk;
                } else {
                    $err .= $chunk;
                }
            }
        }
        if ($pipes[0] !== null) {
            fclose($pipes[0]);
        }
        $code = proc_close($proc);
        return [$code, $out, $err];
    }
}
