<?php
declare(strict_types=1);

namespace HttpSock\Tests\Support;

use RuntimeException;

/**
 * A small RFC 6455 client over stream_socket_client, for the tests.
 *
 * Client frames are masked with a random key; the handshake's Sec-WebSocket-Accept is checked;
 * fragmented messages are reassembled; pings are answered. Every read is bounded.
 */
final class WsClient
{
    public const TEXT = 0x1;
    public const BINARY = 0x2;
    public const CLOSE = 0x8;
    public const PING = 0x9;
    public const PONG = 0xA;
    public const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

    /** @var resource */
    private $sock;
    private string $buf = '';
    public ?int $closeCode = null;
    public string $closeReason = '';
    public bool $closed = false;
    /** @var array<string,string[]> handshake response headers (lower-cased) */
    public array $headers = [];
    /** pongs received (payloads) */
    public array $pongs = [];

    private function __construct($sock, string $rest, array $headers)
    {
        $this->sock = $sock;
        $this->buf = $rest;
        $this->headers = $headers;
    }

    /**
     * Opens a WebSocket to $url (ws://127.0.0.1:PORT/path). Throws WsHandshakeFailed (with the
     * HTTP response) when the server does not answer 101.
     * @param array<string,string> $headers
     */
    public static function connect(string $url, array $headers = [], float $timeout = 5.0): self
    {
        $u = parse_url($url);
        $port = $u['port'] ?? 80;
        $path = ($u['path'] ?? '/') . (isset($u['query']) ? '?' . $u['query'] : '');
        $sock = @stream_socket_client("tcp://{$u['host']}:$port", $errno, $errstr, $timeout);
        if ($sock === false) {
            throw new RuntimeException("ws connect $url: $errstr ($errno)");
        }
        $key = base64_encode(random_bytes(16));
        $req = "GET $path HTTP/1.1\r\nHost: {$u['host']}:$port\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            . "Sec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n";
        foreach ($headers as $k => $v) {
            $req .= "$k: $v\r\n";
        }
        fwrite($sock, $req . "\r\n");
        $deadline = microtime(true) + $timeout;
        $buf = '';
        while (($p = strpos($buf, "\r\n\r\n")) === false) {
            $chunk = self::readSome($sock, $deadline);
            if ($chunk === '') {
                throw new RuntimeException("ws $url: connection closed during the handshake: " . json_encode($buf));
            }
            $buf .= $chunk;
        }
        $head = substr($buf, 0, $p);
        $rest = substr($buf, $p + 4);
        $lines = explode("\r\n", $head);
        $status = (int) (explode(' ', $lines[0])[1] ?? 0);
        $hdrs = [];
        foreach (array_slice($lines, 1) as $line) {
            [$k, $v] = array_map('trim', explode(':', $line, 2)) + [1 => ''];
            $hdrs[strtolower($k)][] = $v;
        }
        if ($status !== 101) {
            // read the body, bounded, for the assertion messages
            $body = $rest;
            $len = (int) ($hdrs['content-length'][0] ?? 0);
            while (strlen($body) < $len && ($c = self::readSome($sock, $deadline, false)) !== '') {
                $body .= $c;
            }
            fclose($sock);
            throw new WsHandshakeFailed($status, $hdrs, $body, $head);
        }
        $expect = base64_encode(sha1($key . self::GUID, true));
        if (($hdrs['sec-websocket-accept'][0] ?? null) !== $expect) {
            fclose($sock);
            throw new RuntimeException("ws $url: bad Sec-WebSocket-Accept in " . json_encode($head));
        }
        return new self($sock, $rest, $hdrs);
    }

    private static function readSome($sock, float $deadline, bool $throw = true): string
    {
        $left = $deadline - microtime(true);
        $r = [$sock];
        $w = $e = null;
        if ($left <= 0 || @stream_select($r, $w, $e, (int) $left, (int) (fmod($left, 1) * 1e6)) < 1) {
            if ($throw) {
                throw new WsTimeout('WebSocket read timed out');
            }
            return '';
        }
        $c = fread($sock, 65536);
        return $c === false ? '' : $c;
    }

    /** The client's own TCP port (what the server sees as the peer port). */
    public function localPort(): int
    {
        $name = (string) stream_socket_get_name($this->sock, false);
        return (int) substr($name, strrpos($name, ':') + 1);
    }

    public function sendText(string $data): void
    {
        $this->sendFrame(self::TEXT, $data);
    }

    public function sendBinary(string $data): void
    {
        $this->sendFrame(self::BINARY, $data);
    }

    public function ping(string $data = ''): void
    {
        $this->sendFrame(self::PING, $data);
    }

    public function sendFrame(int $opcode, string $payload, bool $fin = true, bool $mask = true): void
    {
        $len = strlen($payload);
        $head = chr(($fin ? 0x80 : 0) | $opcode);
        $m = $mask ? 0x80 : 0;
        if ($len < 126) {
            $head .= chr($m | $len);
        } elseif ($len < 65536) {
            $head .= chr($m | 126) . pack('n', $len);
        } else {
            $head .= chr($m | 127) . pack('J', $len);
        }
        if ($mask) {
            $key = random_bytes(4);
            $head .= $key;
            $payload = $payload ^ str_repeat($key, intdiv($len, 4) + 1);
            $payload = substr($payload, 0, $len);
        }
        $data = $head . $payload;
        while ($data !== '') {
            $n = @fwrite($this->sock, $data);
            if ($n === false || $n === 0) {
                throw new RuntimeException('WebSocket write failed');
            }
            $data = substr($data, $n);
        }
    }

    /**
     * Next data message: [opcode, payload]. Pings are answered, pongs recorded. A close frame
     * from the server is answered and returned as [CLOSE, payload] (closeCode/closeReason set).
     * Throws WsTimeout when nothing comes within $timeout seconds.
     * @return array{0:int,1:string}
     */
    public function receive(float $timeout = 5.0): array
    {
        $deadline = microtime(true) + $timeout;
        $msgOp = null;
        $msg = '';
        while (true) {
            [$fin, $op, $payload] = $this->readFrame($deadline);
            if ($op === self::PING) {
                $this->sendFrame(self::PONG, $payload);
                continue;
            }
            if ($op === self::PONG) {
                $this->pongs[] = $payload;
                continue;
            }
            if ($op === self::CLOSE) {
                $this->closeCode = strlen($payload) >= 2 ? unpack('n', $payload)[1] : null;
                $this->closeReason = (string) substr($payload, 2);
                if (!$this->closed) {
                    try {
                        $this->sendFrame(self::CLOSE, substr($payload, 0, 2));
                    } catch (RuntimeException) {
                    }
                    $this->closed = true;
                }
                return [self::CLOSE, $payload];
            }
            if ($op === 0) {
                if ($msgOp === null) {
                    throw new RuntimeException('continuation frame without a message');
                }
                $msg .= $payload;
            } else {
                if ($msgOp !== null) {
                    throw new RuntimeException('new data frame inside a fragmented message');
                }
                $msgOp = $op;
                $msg = $payload;
            }
            if ($fin) {
                return [$msgOp, $msg];
            }
        }
    }

    /** Next data message, which must be text; returns its payload. */
    public function receiveText(float $timeout = 5.0): string
    {
        [$op, $data] = $this->receive($timeout);
        if ($op !== self::TEXT) {
            throw new RuntimeException(sprintf('expected a text message, got opcode %d: %s', $op, json_encode($data)));
        }
        return $data;
    }

    /** Next text message decoded as JSON. */
    public function receiveJson(float $timeout = 5.0): mixed
    {
        return json_decode($this->receiveText($timeout), true, 512, JSON_THROW_ON_ERROR);
    }

    /** Receives until a message satisfies $pred (bounded); returns it. Others are dropped. */
    public function receiveUntil(callable $pred, float $timeout = 5.0): array
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                throw new WsTimeout('no matching WebSocket message');
            }
            $m = $this->receive($left);
            if ($pred($m[0], $m[1])) {
                return $m;
            }
            if ($m[0] === self::CLOSE) {
                throw new RuntimeException('closed while waiting: ' . $this->closeCode . ' ' . $this->closeReason);
            }
        }
    }

    /** Asserts (by returning true) that nothing arrives within $seconds. */
    public function silentFor(float $seconds): bool
    {
        try {
            $m = $this->receive($seconds);
            throw new RuntimeException('unexpected message: ' . json_encode([$m[0], $m[1]]));
        } catch (WsTimeout) {
            return true;
        }
    }

    /** Sends a close frame and waits (bounded) for the server's close frame and the end of the TCP stream. */
    public function close(int $code = 1000, string $reason = '', float $timeout = 5.0): void
    {
        if (!$this->closed) {
            $this->sendFrame(self::CLOSE, pack('n', $code) . $reason);
            $this->closed = true;
            $deadline = microtime(true) + $timeout;
            try {
                while (true) {
                    [, $op, $payload] = $this->readFrame($deadline);
                    if ($op === self::CLOSE) {
                        $this->closeCode = strlen($payload) >= 2 ? unpack('n', $payload)[1] : null;
                        $this->closeReason = (string) substr($payload, 2);
                        break;
                    }
                }
            } catch (RuntimeException) {
            }
        }
        $this->disconnect();
    }

    /** Waits (bounded) until the server closes the TCP connection; true if it did. */
    public function waitEof(float $timeout = 5.0): bool
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            try {
                $c = self::readSome($this->sock, $deadline);
            } catch (WsTimeout) {
                return false;
            }
            if ($c === '' && feof($this->sock)) {
                return true;
            }
            $this->buf .= $c;
        }
    }

    /** Drops the TCP connection without a close frame. */
    public function disconnect(): void
    {
        if (is_resource($this->sock)) {
            fclose($this->sock);
        }
    }

    /** @return array{0:bool,1:int,2:string} fin, opcode, payload */
    private function readFrame(float $deadline): array
    {
        $need = function (int $n) use ($deadline): string {
            while (strlen($this->buf) < $n) {
                $c = self::readSome($this->sock, $deadline);
                if ($c === '') {
                    if (feof($this->sock)) {
                        throw new WsEof('connection closed by the server');
                    }
                    continue;
                }
                $this->buf .= $c;
            }
            $out = substr($this->buf, 0, $n);
            $this->buf = (string) substr($this->buf, $n);
            return $out;
        };
        $h = $need(2);
        $b0 = ord($h[0]);
        $b1 = ord($h[1]);
        if ($b1 & 0x80) {
            throw new RuntimeException('server frame is masked');
        }
        if ($b0 & 0x70) {
            throw new RuntimeException('server frame has RSV bits set');
        }
        $len = $b1 & 0x7F;
        if ($len === 126) {
            $len = unpack('n', $need(2))[1];
        } elseif ($len === 127) {
            $len = unpack('J', $need(8))[1];
        }
        $payload = $len > 0 ? $need($len) : '';
        return [(bool) ($b0 & 0x80), $b0 & 0x0F, $payload];
    }

    public function __destruct()
    {
        $this->disconnect();
    }
}
