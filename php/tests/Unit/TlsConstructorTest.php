<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Exceptions\IoException;
use HttpSock\Exceptions\RuntimeException;
use HttpSock\Exceptions\StateException;
use HttpSock\HttpServer;
use HttpSock\Tests\Support\Certificates;
use HttpSock\Tests\Support\Http;
use PHPUnit\Framework\TestCase;

/**
 * The constructor with TLS options, and its errors: every one is thrown by the constructor
 * (also with autostart false), names the option and the file, and says what to do.
 * libhttpsock is loaded into the test process; servers are built (hs_new, hs_tls_*), some
 * started (bound), none run. Certificates: Support\Certificates (openssl CLI).
 */
final class TlsConstructorTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    protected function setUp(): void
    {
        if (!Certificates::available()) {
            $this->markTestSkipped('the openssl command-line tool is missing (Debian package openssl)');
        }
    }

    private static function c(string $name): string
    {
        return Certificates::path($name);
    }

    /** Constructs (autostart false unless told) and returns the exception thrown. */
    private function thrown(string $address, mixed $options, bool $autostart = false): RuntimeException
    {
        try {
            $server = new HttpServer($address, 0, $autostart, $options);
            $server->shutdown();
        } catch (RuntimeException $e) {
            return $e;
        }
        $this->fail('the constructor accepted ' . json_encode($options));
    }

    public function testGoodConfigurationsConstruct(): void
    {
        $forms = [
            'ssl:// with cert and key' => ['ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first.key')]]],
            'tls:// with the key in the certificate file' => ['tls://127.0.0.1', ['ssl' => ['local_cert' => self::c('first-combined.pem')]]],
            'a context resource' => ['ssl://127.0.0.1', stream_context_create(['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first.key')]])],
            'a plain address with a certificate' => ['127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first.key')]]],
            'tcp:// with a certificate' => ['tcp://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first.key')]]],
            'encrypted PKCS#8 key + passphrase' => ['ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first-enc.key'), 'passphrase' => Certificates::PASSPHRASE]]],
            'encrypted traditional key + passphrase' => ['ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first-enc-trad.key'), 'passphrase' => Certificates::PASSPHRASE]]],
            'a passphrase for an unencrypted key' => ['ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first.key'), 'passphrase' => 'unused']]],
            'SNI + mutual TLS + ALPN' => ['ssl://127.0.0.1', ['ssl' => [
                'local_cert' => self::c('first.pem'), 'local_pk' => self::c('first.key'),
                'SNI_server_certs' => ['other.test' => ['local_cert' => self::c('other.pem'), 'local_pk' => self::c('other.key')]],
                'cafile' => self::c('ca.pem'), 'verify_peer' => true, 'alpn_protocols' => 'http/1.1',
                'verify_peer_name' => false, 'disable_compression' => true,
            ]]],
        ];
        foreach ($forms as $what => [$address, $options]) {
            $server = new HttpServer($address, 0, false, $options);
            $this->assertTrue($server->isSecure(), $what);
            $server->start();
            $this->assertTrue($server->isConnected(), $what);
            $server->shutdown();
        }
        $this->assertFalse((new HttpServer('127.0.0.1', 0, false))->isSecure());
        $this->assertFalse((new HttpServer('127.0.0.1', 0, false, ['ssl' => ['verify_peer' => false]]))->isSecure());
    }

    public function testATlsAddressWithoutCertificate(): void
    {
        foreach (['ssl://127.0.0.1:8443', 'tls://127.0.0.1:8443', 'SSL://127.0.0.1:8443'] as $address) {
            $e = $this->thrown($address, null);
            $this->assertInstanceOf(InvalidArgumentException::class, $e);
            $this->assertStringContainsString("{$address} asks for TLS, which needs a certificate", $e->getMessage());
            $this->assertStringContainsString('openssl req -x509', $e->getMessage(), 'says how to make one');
        }
    }

    public function testMissingFiles(): void
    {
        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => '/nonexistent/cert.pem', 'local_pk' => self::c('first.key')]]);
        $this->assertInstanceOf(IoException::class, $e);
        $this->assertStringContainsString('ssl.local_cert: /nonexistent/cert.pem does not exist', $e->getMessage());

        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => '/nonexistent/key.pem']], true);
        $this->assertInstanceOf(IoException::class, $e, 'autostart too');
        $this->assertStringContainsString('ssl.local_pk: /nonexistent/key.pem does not exist', $e->getMessage());

        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first.key'), 'cafile' => '/nonexistent/ca.pem']]);
        $this->assertInstanceOf(IoException::class, $e);
        $this->assertStringContainsString('ssl.cafile: /nonexistent/ca.pem', $e->getMessage());

        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first.key'),
            'SNI_server_certs' => ['other.test' => '/nonexistent/other.pem']]]);
        $this->assertInstanceOf(IoException::class, $e);
        $this->assertStringContainsString('ssl.SNI_server_certs[other.test]: /nonexistent/other.pem', $e->getMessage());
    }

    public function testAnUnreadableKey(): void
    {
        // As root every file is readable: the check runs as nobody in a child process.
        $key = self::c('first-unreadable.key');
        copy(self::c('first.key'), $key);
        chmod($key, 0600);
        chmod(self::c('first.pem'), 0644);
        $script = 'require ' . var_export(HS_PHP_ROOT . '/autoload.php', true) . ';'
            . 'if (posix_geteuid() === 0 && !posix_setgid(65534) | !posix_setuid(65534)) { echo "nosetuid"; exit; }'
            . 'try { new HttpSock\HttpServer("ssl://127.0.0.1", 0, false, ["ssl" => ["local_cert" => '
            . var_export(self::c('first.pem'), true) . ', "local_pk" => ' . var_export($key, true) . ']]); echo "accepted"; }'
            . 'catch (Throwable $e) { echo get_class($e), "|", $e->getMessage(); }';
        [, $out] = Http::run([PHP_BINARY, '-d', 'ffi.enable=1', '-r', $script], '', 30.0);
        if ($out === 'nosetuid') {
            $this->markTestSkipped('cannot switch to uid 65534 here');
        }
        $this->assertStringStartsWith(IoException::class . '|', $out);
        $this->assertStringContainsString("ssl.local_pk: {$key} is not readable by this process (uid 65534)", $out);
    }

    public function testBadContents(): void
    {
        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('second.key')]]);
        $this->assertInstanceOf(InvalidArgumentException::class, $e, 'a key that does not match');
        $this->assertStringContainsString('ssl.local_cert:', $e->getMessage());
        $this->assertMatchesRegularExpression('~first\.pem|second\.key~', $e->getMessage(), 'the engine names the file');

        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('garbage.pem'), 'local_pk' => self::c('first.key')]]);
        $this->assertInstanceOf(InvalidArgumentException::class, $e, 'no certificate in the file');
        $this->assertStringContainsString('garbage.pem', $e->getMessage());
        $this->assertStringContainsString('openssl req -x509', $e->getMessage(), 'says how to make one');

        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem')]]);
        $this->assertInstanceOf(InvalidArgumentException::class, $e, 'no key in the certificate file');
        $this->assertStringContainsString('first.pem', $e->getMessage());

        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first.key'), 'cafile' => self::c('garbage.pem')]]);
        $this->assertInstanceOf(InvalidArgumentException::class, $e, 'no CA certificate in the cafile');
        $this->assertStringContainsString('ssl.cafile', $e->getMessage());

        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first.key'), 'alpn_protocols' => 'h2,h3']]);
        $this->assertInstanceOf(InvalidArgumentException::class, $e, 'an ALPN name the engine does not know');
        $this->assertStringContainsString('h3', $e->getMessage());
    }

    public function testEncryptedKeys(): void
    {
        foreach (['first-enc.key', 'first-enc-trad.key'] as $name) {
            $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c($name)]]);
            $this->assertInstanceOf(InvalidArgumentException::class, $e);
            $this->assertStringContainsString('ssl.local_pk: the private key in ' . self::c($name) . ' is encrypted', $e->getMessage());
            $this->assertStringContainsString('openssl pkey -in ' . self::c($name) . ' -out key.pem', $e->getMessage());
        }
        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first-enc.key'), 'passphrase' => 'wrong']]);
        $this->assertInstanceOf(InvalidArgumentException::class, $e);
        $this->assertStringContainsString('cannot decrypt the private key in ' . self::c('first-enc.key'), $e->getMessage());

        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('second.pem'), 'local_pk' => self::c('first-enc.key'), 'passphrase' => Certificates::PASSPHRASE]]);
        $this->assertInstanceOf(InvalidArgumentException::class, $e, 'decrypted, but not the key of that certificate');
        $this->assertStringContainsString('does not match the certificate in ' . self::c('second.pem'), $e->getMessage());
    }

    public function testOptionErrorsComeFromTheConstructor(): void
    {
        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'ciphers' => 'HIGH']]);
        $this->assertInstanceOf(InvalidArgumentException::class, $e);
        $this->assertStringContainsString('ssl.ciphers is not supported', $e->getMessage());
        $e = $this->thrown('ssl://127.0.0.1', ['ssl' => ['local_cert' => self::c('first.pem'), 'local_pk' => self::c('first.key'), 'verify_peer' => true]]);
        $this->assertStringContainsString('needs ssl.cafile', $e->getMessage());
        $e = $this->thrown('127.0.0.1', 'not options');
        $this->assertInstanceOf(InvalidArgumentException::class, $e);
    }

    public function testReloadCertificatesOutsideRun(): void
    {
        try {
            (new HttpServer('127.0.0.1', 0, false))->reloadCertificates();
            $this->fail('a plain server reloaded certificates');
        } catch (StateException $e) {
            $this->assertStringContainsString('no TLS certificate', $e->getMessage());
        }
        $dir = Certificates::dir();
        copy("$dir/first.pem", "$dir/live.pem");
        copy("$dir/first.key", "$dir/live.key");
        $server = new HttpServer('ssl://127.0.0.1', 0, true, ['ssl' => ['local_cert' => "$dir/live.pem", 'local_pk' => "$dir/live.key"]]);
        $this->assertSame($server, $server->reloadCertificates(), 'started, not run');
        copy("$dir/second.key", "$dir/live.key");
        try {
            $server->reloadCertificates();
            $this->fail('reloaded a key that does not match');
        } catch (InvalidArgumentException $e) {
            $this->assertStringContainsString('reloadCertificates()', $e->getMessage());
            $this->assertStringContainsString('live', $e->getMessage(), 'names the file');
        }
        $server->shutdown();
        $lazy = new HttpServer('ssl://127.0.0.1', 0, false, ['ssl' => ['local_cert' => "$dir/first.pem", 'local_pk' => "$dir/first.key"]]);
        $this->assertSame($lazy, $lazy->reloadCertificates(), 'not started: the files are checked');
    }

    public function testHttp2AndCompressionSetters(): void
    {
        $server = new HttpServer('127.0.0.1', 0, false);
        $this->assertSame($server, $server->http2(false));
        $this->assertSame($server, $server->http2(true, false));
        $this->assertSame($server, $server->setLimit(\HttpSock\Limit::H2_MAX_STREAMS, 10));
        $this->assertSame($server, $server->setLimit(HttpServer::LIMIT_H2_MAX_STREAMS, 50));
        foreach ([[-1, 15], [256, 7], [256, 16]] as [$min, $bits]) {
            try {
                $server->websocketCompression(true, $min, false, $bits);
                $this->fail("accepted minSize $min, maxWindowBits $bits");
            } catch (InvalidArgumentException $e) {
                $this->assertStringContainsString('websocketCompression()', $e->getMessage());
            }
        }
        $server->start();
        $this->assertTrue($server->isConnected(), 'the recorded settings replay onto the started server');
        $server->shutdown();
    }
}
