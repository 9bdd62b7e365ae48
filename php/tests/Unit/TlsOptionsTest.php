<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Server\Tls;
use PHPUnit\Framework\TestCase;

/**
 * The constructor's stream-context options as Server\Tls reads them (PHP's `ssl` names): the
 * forms of $options, every option, every refusal. Pure PHP: no file is read, nothing is run
 * (the files are read when the settings are applied: TlsTest).
 */
final class TlsOptionsTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    private static function tls(array $ssl, ?string $tlsAddress = null): ?Tls
    {
        return Tls::fromOptions(['ssl' => $ssl], $tlsAddress);
    }

    private function refused(array $ssl, string $needle, ?string $tlsAddress = null): void
    {
        try {
            self::tls($ssl, $tlsAddress);
            $this->fail('accepted: ' . json_encode($ssl));
        } catch (InvalidArgumentException $e) {
            $this->assertStringContainsString($needle, $e->getMessage());
            $this->assertSame(InvalidArgumentException::STATUS, $e->getCode());
            $this->assertInstanceOf(\Luminova\Exceptions\RuntimeException::class, $e, 'catchable as Luminova\'s RuntimeException');
        }
    }

    public function testTheFormsOfOptions(): void
    {
        $this->assertSame([], Tls::contextOptions(null));
        $array = ['ssl' => ['local_cert' => 'c.pem'], 'socket' => ['backlog' => 5]];
        $this->assertSame($array, Tls::contextOptions($array));
        $context = stream_context_create(['ssl' => ['local_cert' => 'c.pem', 'local_pk' => 'k.pem']]);
        $this->assertSame(['ssl' => ['local_cert' => 'c.pem', 'local_pk' => 'k.pem']], Tls::contextOptions($context));
        foreach (['a string', 42, new \stdClass()] as $bad) {
            try {
                Tls::contextOptions($bad);
                $this->fail('accepted ' . get_debug_type($bad));
            } catch (InvalidArgumentException $e) {
                $this->assertStringContainsString('stream context', $e->getMessage());
            }
        }
        $file = fopen('php://memory', 'r');
        try {
            $this->expectException(InvalidArgumentException::class);
            Tls::contextOptions($file); // a resource, but not a stream context
        } finally {
            fclose($file);
        }
    }

    public function testPlainServersStayPlain(): void
    {
        $this->assertNull(Tls::fromOptions([], null));
        $this->assertNull(Tls::fromOptions(['socket' => ['backlog' => 64]], null), 'other wrappers\' options do not apply');
        // what clients' settings copied onto a server look like: nothing to do without a certificate
        $this->assertNull(self::tls(['verify_peer' => false, 'verify_peer_name' => false, 'allow_self_signed' => true]));
        $this->assertNull(self::tls(['disable_compression' => true, 'SNI_enabled' => true]));
    }

    public function testATlsAddressNeedsACertificate(): void
    {
        $this->refused([], 'needs a certificate', 'ssl://127.0.0.1:8443');
        $this->refused(['verify_peer' => false], 'openssl req -x509', 'tls://127.0.0.1:8443');
        $this->refused([], "'local_cert' =>", 'ssl://127.0.0.1:8443');
    }

    public function testCertificatesAndSni(): void
    {
        $this->assertSame('default: c.pem + k.pem', self::tls(['local_cert' => 'c.pem', 'local_pk' => 'k.pem'])->describe());
        $this->assertSame('default: both.pem', self::tls(['local_cert' => 'both.pem'], 'ssl://h:1')->describe());
        $tls = self::tls([
            'local_cert' => 'c.pem',
            'SNI_server_certs' => [
                'a.test' => 'a.pem',
                '*.b.test' => ['local_cert' => 'b.pem', 'local_pk' => 'bk.pem', 'passphrase' => 'x'],
            ],
        ]);
        $this->assertSame('default: c.pem; a.test: a.pem; *.b.test: b.pem + bk.pem', $tls->describe());
        $this->assertNotNull(self::tls(['SNI_server_certs' => ['a.test' => 'a.pem']]), 'SNI certificates alone: the first is the default');
        $this->refused(['local_pk' => 'k.pem'], 'without ssl.local_cert');
        $this->refused(['local_cert' => 'c.pem', 'SNI_server_certs' => []], 'SNI_server_certs must be');
        $this->refused(['local_cert' => 'c.pem', 'SNI_server_certs' => ['a b' => 'a.pem']], 'not a host name');
        $this->refused(['local_cert' => 'c.pem', 'SNI_server_certs' => ['a.test' => ['local_pk' => 'k.pem']]], 'needs local_cert');
        $this->refused(['local_cert' => 'c.pem', 'SNI_server_certs' => ['a.test' => ['local_cert' => 'a.pem', 'ciphers' => 'x']]], 'SNI_server_certs[a.test].ciphers');
        $this->refused(['local_cert' => 'c.pem', 'SNI_server_certs' => ['a.test' => 42]], 'SNI_server_certs[a.test]');
        $this->refused(['local_cert' => 'c.pem', 'SNI_enabled' => false, 'SNI_server_certs' => ['a.test' => 'a.pem']], 'SNI_enabled is false');
        $this->assertNotNull(self::tls(['local_cert' => 'c.pem', 'SNI_enabled' => false]), 'one certificate needs no SNI');
    }

    public function testClientCertificates(): void
    {
        $this->assertNotNull(self::tls(['local_cert' => 'c.pem', 'cafile' => 'ca.pem']), 'PHP\'s verify_peer defaults to true');
        $this->assertNotNull(self::tls(['local_cert' => 'c.pem', 'cafile' => 'ca.pem', 'verify_peer' => true]));
        $this->assertNotNull(self::tls(['local_cert' => 'c.pem', 'verify_peer' => false]));
        $this->refused(['local_cert' => 'c.pem', 'verify_peer' => true], 'needs ssl.cafile');
        $this->refused(['local_cert' => 'c.pem', 'verify_peer' => false, 'cafile' => 'ca.pem'], 'verify_peer is false');
        $this->refused(['cafile' => 'ca.pem'], 'needs a certificate');
        $this->refused(['local_cert' => 'c.pem', 'cafile' => 'ca.pem', 'allow_self_signed' => true], 'allow_self_signed');
        $this->assertNotNull(self::tls(['local_cert' => 'c.pem', 'allow_self_signed' => false, 'cafile' => 'ca.pem']));
    }

    public function testAlpnAndProtocolVersions(): void
    {
        $this->assertNotNull(self::tls(['local_cert' => 'c.pem', 'alpn_protocols' => 'h2, http/1.1']));
        $this->refused(['local_cert' => 'c.pem', 'alpn_protocols' => ' , '], 'alpn_protocols is empty');
        $this->refused(['alpn_protocols' => 'h2'], 'needs a certificate');
        $this->assertNotNull(self::tls(['local_cert' => 'c.pem', 'crypto_method' => STREAM_CRYPTO_METHOD_TLS_SERVER]));
        $this->assertNotNull(self::tls(['local_cert' => 'c.pem',
            'crypto_method' => STREAM_CRYPTO_METHOD_TLSv1_2_SERVER | STREAM_CRYPTO_METHOD_TLSv1_3_SERVER]));
        $this->refused(['local_cert' => 'c.pem', 'crypto_method' => STREAM_CRYPTO_METHOD_TLSv1_3_SERVER], 'TLS 1.2 and TLS 1.3');
        $this->refused(['local_cert' => 'c.pem', 'crypto_method' => STREAM_CRYPTO_METHOD_TLSv1_0_SERVER], 'crypto_method');
    }

    /** @return array<string, array{0: string}> */
    public static function unsupported(): array
    {
        $out = [];
        foreach (['capath', 'verify_depth', 'ciphers', 'honor_cipher_order', 'ecdh_curve', 'dh_param', 'single_dh_use',
            'security_level', 'peer_name', 'peer_fingerprint', 'capture_peer_cert', 'capture_peer_cert_chain',
            'capture_session_meta', 'session_id_context', 'no_ticket', 'local_certt', 'SNI_server_name'] as $name) {
            $out[$name] = [$name];
        }
        return $out;
    }

    /** @dataProvider unsupported */
    public function testAnOptionWeDoNotImplementIsNamed(string $name): void
    {
        $this->refused(['local_cert' => 'c.pem', $name => 'x'], "ssl.{$name} ");
    }

    public function testTypes(): void
    {
        $this->refused(['local_cert' => 42], 'ssl.local_cert must be a non-empty string');
        $this->refused(['local_cert' => ''], 'ssl.local_cert must be a non-empty string');
        $this->refused(['local_cert' => 'c.pem', 'verify_peer' => 'yes'], 'ssl.verify_peer must be true or false');
        $this->refused(['local_cert' => 'c.pem', 'passphrase' => 1234], 'ssl.passphrase must be');
        try {
            Tls::fromOptions(['ssl' => 'cert.pem'], null);
            $this->fail('accepted a string for ssl');
        } catch (InvalidArgumentException $e) {
            $this->assertStringContainsString('"ssl" context options must be an array', $e->getMessage());
        }
    }
}
