<?php
declare(strict_types=1);

namespace HttpSock\Tests\Support;

use RuntimeException;

/**
 * Certificates for the TLS tests, made once per test process with the openssl command-line tool
 * in a temporary directory (removed at exit). Every server certificate is self-signed, EC P-256,
 * valid for localhost and 127.0.0.1; its subject CN names it:
 *   first.pem + first.key, second.pem + second.key, other.pem + other.key (CN and SAN other.test),
 *   first-combined.pem (certificate and key in one file), first-enc.key (first.key encrypted,
 *   PKCS#8, passphrase "secret"), first-enc-trad.key (the same, the traditional "Proc-Type"
 *   form), ca.pem + ca.key (a client CA), client.pem + client.key (signed by it),
 *   stranger.pem + stranger.key (a client certificate signed by another CA), garbage.pem.
 */
final class Certificates
{
    public const PASSPHRASE = 'secret';

    private static ?string $dir = null;

    public static function available(): bool
    {
        return trim((string) shell_exec('command -v openssl 2>/dev/null')) !== '';
    }

    public static function dir(): string
    {
        if (self::$dir !== null) {
            return self::$dir;
        }
        $dir = sys_get_temp_dir() . '/hs-tls-' . getmypid() . '-' . bin2hex(random_bytes(4));
        if (!mkdir($dir, 0755)) {
            throw new RuntimeException("cannot create $dir");
        }
        chmod($dir, 0755); // another uid may need to look in (the unreadable-key test)
        self::$dir = $dir;
        $pid = getmypid();
        register_shutdown_function(static function () use ($dir, $pid): void {
            if (getmypid() === $pid) {
                foreach (glob("$dir/*") ?: [] as $f) {
                    @unlink($f);
                }
                @rmdir($dir);
            }
        });
        foreach (['first' => 'DNS:localhost,IP:127.0.0.1', 'second' => 'DNS:localhost,IP:127.0.0.1', 'other' => 'DNS:other.test'] as $cn => $san) {
            $name = $cn === 'other' ? 'other.test' : $cn;
            self::openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                '-keyout', "$dir/$cn.key", '-out', "$dir/$cn.pem", '-days', '2', '-subj', "/CN=$name",
                '-addext', "subjectAltName=$san"]);
        }
        file_put_contents("$dir/first-combined.pem", file_get_contents("$dir/first.pem") . file_get_contents("$dir/first.key"));
        self::openssl(['pkey', '-in', "$dir/first.key", '-aes256', '-passout', 'pass:' . self::PASSPHRASE, '-out', "$dir/first-enc.key"]);
        self::openssl(['pkey', '-in', "$dir/first.key", '-traditional', '-aes256', '-passout', 'pass:' . self::PASSPHRASE,
            '-out', "$dir/first-enc-trad.key"]);
        file_put_contents("$dir/client.ext", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
        foreach (['ca' => 'client', 'otherca' => 'stranger'] as $ca => $client) {
            self::openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                '-keyout', "$dir/$ca.key", '-out', "$dir/$ca.pem", '-days', '2', '-subj', "/CN=test-$ca"]);
            self::openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                '-keyout', "$dir/$client.key", '-out', "$dir/$client.csr", '-subj', "/CN=$client"]);
            self::openssl(['x509', '-req', '-in', "$dir/$client.csr", '-CA', "$dir/$ca.pem", '-CAkey', "$dir/$ca.key",
                '-CAcreateserial', '-out', "$dir/$client.pem", '-days', '2', '-extfile', "$dir/client.ext"]);
        }
        file_put_contents("$dir/garbage.pem", "this is not a certificate\n");
        return $dir;
    }

    public static function path(string $name): string
    {
        return self::dir() . '/' . $name;
    }

    /** @param list<string> $args */
    private static function openssl(array $args): void
    {
        [$code, $out, $err] = Http::run(array_merge(['openssl'], $args), '', 30.0);
        if ($code !== 0) {
            throw new RuntimeException('openssl ' . implode(' ', $args) . " failed ($code): $out $err");
        }
    }
}
