<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Certificates;
use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\HttpResponse;
use HttpSock\Tests\Support\ServerProcess;
use HttpSock\Tests\Support\ServerTestCase;

/**
 * TLS through the PHP wrapper, with real clients: curl over https (HTTP/1.1 and HTTP/2) and h2c,
 * PHP's own TLS client (stream_socket_client with ssl://: the certificate the server showed, SNI,
 * keep-alive across a reload), Python websockets over wss, openssl s_client for ALPN, mutual
 * TLS, reloadCertificates() in sequential and simultaneous mode. Fixture: fixtures/tls.php;
 * certificates: Support\Certificates (openssl CLI).
 */
final class TlsTest extends ServerTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        if (!Certificates::available()) {
            $this->markTestSkipped('the openssl command-line tool is missing (Debian package openssl)');
        }
    }

    private static function c(string $name): string
    {
        return Certificates::path($name);
    }

    /** @param string[] $args */
    private function tls(array $args = []): ServerProcess
    {
        // fx_opt() takes the first name=value: the test's own come first; "key=" means none
        $defaults = ['cert=' . self::c('first.pem'), 'key=' . self::c('first.key')];
        return $this->server('tls', array_merge($args, $defaults));
    }

    /**
     * curl -k with extra arguments; returns [exit code, response, stderr].
     *
     * @param string[] $args
     * @return array{0: int, 1: ?HttpResponse, 2: string}
     */
    private function curl(string $url, array $args = []): array
    {
        $cmd = array_merge(['curl', '-sS', '-k', '-i', '--max-time', '10', '--noproxy', '*'], $args, [$url]);
        [$code, $out, $err] = Http::run($cmd, '', 15.0);
        return [$code, $code === 0 ? HttpResponse::parse($out) : null, $err];
    }

    /** Waits (bounded) for the $n-th stdout line matching $regex; returns its first group. */
    private function nth(ServerProcess $s, string $regex, int $n, float $timeout = 10.0): string
    {
        $deadline = microtime(true) + $timeout;
        while (preg_match_all($regex . 'm', $s->stdout(), $m) < $n) {
            if (microtime(true) > $deadline) {
                $this->fail("no line #$n matching $regex within {$timeout}s\n" . $s->describe());
            }
            $s->drain(0.1);
        }
        return $m[1][$n - 1];
    }

    /** GET /info over curl: the JSON the handler returned. */
    private function info(ServerProcess $s, array $args = ['--http1.1']): array
    {
        [$code, $r, $err] = $this->curl($s->url('/info'), $args);
        $this->assertSame(0, $code, "curl: $err");
        $this->assertSame(200, $r->status, (string) $r);
        return json_decode($r->body, true, 512, JSON_THROW_ON_ERROR);
    }

    /**
     * A TLS connection with PHP's client (no verification: the certificates are self-signed).
     *
     * @return resource
     */
    private static function connect(int $port, ?string $serverName = null, array $ssl = [])
    {
        $context = stream_context_create(['ssl' => $ssl + [
            'verify_peer' => false,
            'verify_peer_name' => false,
            'capture_peer_cert' => true,
            'SNI_enabled' => $serverName !== null,
            'peer_name' => $serverName ?? '',
        ]]);
        $s = @stream_socket_client("ssl://127.0.0.1:{$port}", $errno, $error, 5.0, STREAM_CLIENT_CONNECT, $context);
        if ($s === false) {
            throw new \RuntimeException("TLS connection to {$port} failed: {$errno} {$error}");
        }
        stream_set_timeout($s, 5);
        return $s;
    }

    /** @param resource $s The subject CN of the certificate the server showed on $s. */
    private static function subject($s): string
    {
        $cert = stream_context_get_params($s)['options']['ssl']['peer_certificate'] ?? null;
        return $cert === null ? '' : (string) (openssl_x509_parse($cert)['subject']['CN'] ?? '');
    }

    /** @param resource $s One keep-alive request on an open connection. */
    private static function request($s, string $path = '/info'): HttpResponse
    {
        fwrite($s, "GET {$path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        return HttpResponse::parse(Http::readResponse($s, 5.0));
    }

    /** The subject CN a new handshake sees (a new connection, closed again). */
    private static function subjectOfNewHandshake(int $port, ?string $serverName = null): string
    {
        $s = self::connect($port, $serverName);
        $cn = self::subject($s);
        fclose($s);
        return $cn;
    }

    public function testHttpsWithCurlOverHttp11AndHttp2(): void
    {
        $s = $this->tls();
        $this->assertStringStartsWith('https://', $s->url());
        $info = $this->info($s, ['--http1.1']);
        $this->assertTrue($info['secure']);
        $this->assertSame('https', $info['scheme']);
        $this->assertSame('HTTP/1.1', $info['protocol']);
        $this->assertStringStartsWith('https://127.0.0.1:', $info['url']);

        $info = $this->info($s, ['--http2']);
        $this->assertSame('HTTP/2.0', $info['protocol'], 'h2 by ALPN');
        $this->assertTrue($info['secure']);

        // plain HTTP to the TLS port gets a plain 400 saying so (as nginx does), and the server
        // goes on
        [$code, $r, $err] = $this->curl('http://127.0.0.1:' . $s->port() . '/info', ['--http1.1']);
        $this->assertSame(0, $code, "plain HTTP on the TLS port: curl: $err");
        $this->assertSame(400, $r->status, (string) $r);
        $this->assertStringContainsString('https://', $r->body);
        $this->assertTrue($this->info($s)['secure']);
    }

    public function testAddressForms(): void
    {
        foreach ([['addr=tls'], ['addr=tcp'], ['addr=ip'], ['addr=ssl', 'context']] as $args) {
            $s = $this->tls($args);
            $this->assertStringStartsWith('https://', $s->url(), implode(' ', $args) . ': TLS from the certificate');
            $this->assertTrue($this->info($s)['secure'], implode(' ', $args));
            $s->stop();
        }
        $s = $this->tls(['cert=' . self::c('first-combined.pem'), 'key=']);
        $this->assertSame('first', self::subjectOfNewHandshake($s->port()), 'the key in the certificate file');
    }

    public function testPlainServerAndH2c(): void
    {
        $s = $this->server('tls', ['addr=ip']); // no certificate: plain
        $this->assertStringStartsWith('http://', $s->url());
        $info = $this->info($s, ['--http1.1']);
        $this->assertFalse($info['secure']);
        $this->assertSame('http', $info['scheme']);
        $info = $this->info($s, ['--http1.1', '-H', 'X-Forwarded-Proto: https']);
        $this->assertTrue($info['secure'], 'a reverse proxy on this machine (loopback) is believed');
        $info = $this->info($s, ['--http2-prior-knowledge']);
        $this->assertSame('HTTP/2.0', $info['protocol'], 'h2c by prior knowledge');
        $this->assertFalse($info['secure']);
        $s->stop();

        $s = $this->server('tls', ['addr=ip', 'h2c=0']);
        [$code] = $this->curl($s->url('/info'), ['--http2-prior-knowledge']);
        $this->assertNotSame(0, $code, 'h2c off: the preface is not HTTP/1.1');
        $this->assertSame('HTTP/1.1', $this->info($s)['protocol']);
    }

    public function testHttp2OffAndAlpn(): void
    {
        $s = $this->tls(['http2=0']);
        $this->assertSame('HTTP/1.1', $this->info($s, ['--http2'])['protocol'], 'HTTP/2 off: ALPN offers http/1.1 only');
        $s->stop();

        $s = $this->tls(['alpn=http/1.1']);
        [$code, $out, $err] = Http::run(['openssl', 's_client', '-connect', '127.0.0.1:' . $s->port(), '-alpn', 'h2,http/1.1'], '', 15.0);
        $this->assertMatchesRegularExpression('/ALPN protocol: http\/1\.1/', $out, "ssl.alpn_protocols: $out $err");
        $this->assertSame('HTTP/1.1', $this->info($s, ['--http2'])['protocol']);
    }

    public function testSniSelectsTheCertificate(): void
    {
        $s = $this->tls(['sni=other.test:' . self::c('other.pem') . ':' . self::c('other.key')]);
        $this->assertSame('other.test', self::subjectOfNewHandshake($s->port(), 'other.test'));
        $this->assertSame('first', self::subjectOfNewHandshake($s->port(), 'unknown.test'), 'a name not listed: local_cert');
        $this->assertSame('first', self::subjectOfNewHandshake($s->port()), 'no SNI: local_cert');
    }

    public function testEncryptedKeyWithPassphrase(): void
    {
        $s = $this->tls(['key=' . self::c('first-enc.key'), 'pass=' . Certificates::PASSPHRASE]);
        $this->assertTrue($this->info($s)['secure']);
        $this->assertSame('first', self::subjectOfNewHandshake($s->port()));
    }

    public function testWssWithPythonWebsockets(): void
    {
        $s = $this->tls();
        $this->assertStringStartsWith('wss://', $s->wsUrl('/ws'));
        [$code, $out, $err] = Http::run(['python3', __DIR__ . '/Support/wss_client.py', $s->wsUrl('/ws'), 'hello over wss', 'payload'], '', 30.0);
        $this->assertSame(0, $code, "python websockets over wss: $out $err");
        $result = json_decode($out, true, 512, JSON_THROW_ON_ERROR);
        $this->assertSame('hello over wss', $result['answers'][0]);
        $payload = json_decode($result['answers'][1], true, 512, JSON_THROW_ON_ERROR);
        $this->assertTrue($payload['secure'], 'the payload says wss');
        $this->assertSame('/ws', $payload['path']);
    }

    public function testMutualTls(): void
    {
        $s = $this->tls(['ca=' . self::c('ca.pem')]);
        $info = $this->info($s, ['--http1.1', '--cert', self::c('client.pem'), '--key', self::c('client.key')]);
        $this->assertTrue($info['secure'], 'a client certificate signed by the cafile is accepted');
        $info = $this->info($s, ['--http2', '--cert', self::c('client.pem'), '--key', self::c('client.key')]);
        $this->assertSame('HTTP/2.0', $info['protocol']);

        [$code, , $err] = $this->curl($s->url('/info'), ['--http1.1']);
        $this->assertNotSame(0, $code, 'no client certificate: refused');
        [$code, , $err] = $this->curl($s->url('/info'), ['--http1.1', '--cert', self::c('stranger.pem'), '--key', self::c('stranger.key')]);
        $this->assertNotSame(0, $code, 'a certificate from another CA: refused');
        $this->assertTrue($s->isRunning());
    }

    public function testReloadCertificates(): void
    {
        $dir = Certificates::dir();
        $cert = "$dir/reload-" . __FUNCTION__ . '.pem';
        $key = "$dir/reload-" . __FUNCTION__ . '.key';
        copy(self::c('first.pem'), $cert);
        copy(self::c('first.key'), $key);
        $s = $this->tls(["cert=$cert", "key=$key"]);

        $old = self::connect($s->port());
        $this->assertSame('first', self::subject($old));
        $this->assertSame(200, self::request($old)->status);

        copy(self::c('second.pem'), $cert);
        copy(self::c('second.key'), $key);
        $s->signal(SIGHUP);
        $this->nth($s, '/^event reloaded (\d+)$/', 1);
        $this->assertSame('second', self::subjectOfNewHandshake($s->port()), 'a new handshake sees the new certificate');
        $r = self::request($old);
        $this->assertSame(200, $r->status, 'the old keep-alive connection goes on');
        $this->assertSame('first', self::subject($old));
        fclose($old);

        // a failed reload: the key does not match; the certificate in use stays
        copy(self::c('first.key'), $key);
        $s->signal(SIGHUP);
        $failed = json_decode($this->nth($s, '/^event reload-failed (.*)$/', 1), true);
        $this->assertSame('HttpSock\Exceptions\InvalidArgumentException', $failed['class']);
        $this->assertStringContainsString('reload-testReloadCertificates', $failed['message'], 'names the file');
        $this->assertSame('second', self::subjectOfNewHandshake($s->port()));

        // a missing file: IoException, still the certificate in use
        unlink($key);
        $s->signal(SIGHUP);
        $failed = json_decode($this->nth($s, '/^event reload-failed (.*)$/', 2), true);
        $this->assertSame('HttpSock\Exceptions\IoException', $failed['class']);
        $this->assertStringContainsString($key, $failed['message']);
        $this->assertSame('second', self::subjectOfNewHandshake($s->port()));

        // from inside a handler
        copy(self::c('first.key'), $key);
        copy(self::c('first.pem'), $cert);
        [$code, $r] = $this->curl($s->url('/reload'), ['--http1.1']);
        $this->assertSame(200, $r->status, (string) $r);
        $this->assertSame('first', self::subjectOfNewHandshake($s->port()));
    }

    public function testReloadOfAnEncryptedKey(): void
    {
        $dir = Certificates::dir();
        $cert = "$dir/reload-enc.pem";
        $key = "$dir/reload-enc.key";
        copy(self::c('first.pem'), $cert);
        copy(self::c('first-enc.key'), $key);
        $s = $this->tls(["cert=$cert", "key=$key", 'pass=' . Certificates::PASSPHRASE]);
        $this->assertSame('first', self::subjectOfNewHandshake($s->port()));
        copy(self::c('second.pem'), $cert);
        Http::run(['openssl', 'pkey', '-in', self::c('second.key'), '-aes256', '-passout', 'pass:' . Certificates::PASSPHRASE, '-out', $key]);
        $s->signal(SIGHUP);
        $s->waitForLine('/^event reloaded \d+$/', 5.0);
        $this->assertSame('second', self::subjectOfNewHandshake($s->port()), 'decrypted again by PHP');
    }

    public function testReloadReachesEveryWorker(): void
    {
        $dir = Certificates::dir();
        $cert = "$dir/reload-workers.pem";
        $key = "$dir/reload-workers.key";
        copy(self::c('first.pem'), $cert);
        copy(self::c('first.key'), $key);
        $s = $this->tls(["cert=$cert", "key=$key", 'workers=2']);
        $parent = (int) $s->waitForLine('/^event parent (\d+)$/', 5.0)[1];
        $deadline = microtime(true) + 10;
        while (count(array_unique(preg_match_all('/^event worker-ready (\d+)$/m', $s->stdout(), $m) ? $m[1] : [])) < 2) {
            $this->assertLessThan($deadline, microtime(true), 'two workers ready: ' . $s->describe());
            $s->drain(0.1);
        }
        $s->recordDescendants();

        copy(self::c('second.pem'), $cert);
        copy(self::c('second.key'), $key);
        posix_kill($parent, SIGHUP);
        $this->assertSame((string) $parent, $s->waitForLine('/^event reloaded (\d+)$/', 10.0)[1], 'the supervisor confirmed');

        $pids = [];
        for ($i = 0; $i < 30 && count($pids) < 2; $i++) {
            $c = self::connect($s->port());
            $this->assertSame('second', self::subject($c), "connection $i");
            $r = self::request($c);
            $pids[json_decode($r->body, true)['pid']] = true;
            fclose($c);
        }
        $this->assertCount(2, $pids, 'both workers served new handshakes with the new certificate');

        // a failed reload is thrown in the supervisor; every worker keeps the certificate in use
        copy(self::c('first.key'), $key);
        posix_kill($parent, SIGHUP);
        $failed = json_decode($s->waitForLine('/^event reload-failed (.*)$/', 10.0)[1], true);
        $this->assertStringContainsString('reload-workers', $failed['message']);
        for ($i = 0; $i < 10; $i++) {
            $this->assertSame('second', self::subjectOfNewHandshake($s->port()));
        }

        // asked from a worker's handler: that worker, then every worker
        copy(self::c('first.pem'), $cert);
        copy(self::c('first.key'), $key);
        [$code, $r] = $this->curl($s->url('/reload'), ['--http1.1']);
        $this->assertSame(200, $r->status, (string) $r);
        $pids = [];
        $this->waitUntil(function () use ($s, &$pids): bool {
            $c = self::connect($s->port());
            $cn = self::subject($c);
            $pids[json_decode(self::request($c)->body, true)['pid']] = $cn;
            fclose($c);
            return count($pids) === 2 && array_unique(array_values($pids)) === ['first'];
        }, 10.0, 'every worker on the first certificate again');
        $stop = $s->stop();
        $this->assertFalse($stop['killed']);
        $this->assertSame([], $s->liveDescendants());
    }
}
