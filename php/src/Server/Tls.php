<?php

declare(strict_types=1);

namespace HttpSock\Server;

use HttpSock\Exceptions\EnvironmentException;
use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Exceptions\IoException;
use HttpSock\Exceptions\RuntimeException;
use HttpSock\Native\NativeServer;

/**
 * The TLS settings of a server, read from the constructor's stream-context options (PHP's own
 * `ssl` option names), and applied to a native server (hs_tls_*).
 *
 * Certificates whose key is unencrypted are handed to the engine as file paths
 * (hs_tls_cert_file), so that hs_tls_reload re-reads them. A key with a passphrase is decrypted
 * here with PHP's openssl extension and handed over as PEM in memory (hs_tls_cert_pem); a reload
 * decrypts it again. Files are read when the settings are applied, never kept: every fresh
 * native server (start() after shutdown(), each worker of simultaneous mode) reads the files as
 * they are then.
 *
 * Option mapping (README "TLS"): local_cert, local_pk, passphrase, SNI_server_certs,
 * alpn_protocols, verify_peer + cafile are implemented; SNI_enabled, verify_peer_name,
 * allow_self_signed, disable_compression and crypto_method are accepted where they ask for
 * nothing we do not do; every other option is an InvalidArgumentException naming it.
 *
 * @internal
 */
final class Tls
{
    /** For messages: how to make a certificate and key for local work. */
    public const SELF_SIGNED = 'openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes '
        . '-keyout key.pem -out cert.pem -days 365 -subj /CN=localhost '
        . '-addext subjectAltName=DNS:localhost,IP:127.0.0.1';

    /** The ssl options read by this class. */
    private const IMPLEMENTED = [
        'local_cert', 'local_pk', 'passphrase', 'SNI_server_certs', 'alpn_protocols', 'verify_peer',
        'cafile', 'SNI_enabled', 'verify_peer_name', 'allow_self_signed', 'disable_compression',
        'crypto_method',
    ];

    /** PHP ssl options we do not implement, and why (the exception says it). */
    private const UNSUPPORTED = [
        'capath' => 'give the CA certificates of your clients as one PEM file in ssl.cafile',
        'verify_depth' => 'client certificate chains are verified to a CA of ssl.cafile without a depth limit',
        'ciphers' => 'rustls chooses its own modern cipher suites (TLS 1.2 and 1.3) and takes no OpenSSL cipher list',
        'honor_cipher_order' => 'rustls chooses its own modern cipher suites (TLS 1.2 and 1.3), in its own order',
        'ecdh_curve' => 'rustls chooses the key exchange groups itself (X25519, P-256, P-384)',
        'dh_param' => 'rustls uses no finite-field Diffie-Hellman',
        'single_dh_use' => 'rustls uses a fresh key share for every handshake anyway',
        'security_level' => 'rustls has no OpenSSL security levels (it offers only modern algorithms)',
        'peer_name' => 'a client-side option (the name the server must have); a server does not check client names',
        'peer_fingerprint' => 'client certificates are verified against ssl.cafile, not pinned by fingerprint',
        'capture_peer_cert' => 'the client certificate is not handed to PHP',
        'capture_peer_cert_chain' => 'the client certificate is not handed to PHP',
        'capture_session_meta' => 'the TLS session is not handed to PHP',
        'session_id_context' => 'TLS session resumption is managed by rustls',
        'no_ticket' => 'TLS session tickets are managed by rustls',
        'local_cert_path' => 'not a PHP ssl option; give the certificate in ssl.local_cert',
        'SNI_server_name' => 'a client-side option; a server selects its certificate from ssl.SNI_server_certs',
    ];

    /** Option names inside one ssl.SNI_server_certs entry given as an array. */
    private const SNI_ENTRY = ['local_cert', 'local_pk', 'passphrase'];

    /**
     * @param list<array{name: string, option: string, cert: string, key: ?string, passphrase: ?string}> $certificates
     *        `option`: where it was given, for messages ("ssl.local_cert", "ssl.SNI_server_certs[example.com]").
     */
    private function __construct(
        private readonly array $certificates,
        private readonly ?string $clientCa,
        private readonly ?string $alpn
    ) {
    }

    /**
     * The stream-context options the constructor was given: an array, a stream context resource
     * (read with stream_context_get_options) or null.
     *
     * @return array<string, mixed>
     * @throws InvalidArgumentException For anything else.
     */
    public static function contextOptions(mixed $options): array
    {
        if ($options === null) {
            return [];
        }
        if (is_array($options)) {
            return $options;
        }
        if (is_resource($options) && get_resource_type($options) === 'stream-context') {
            return stream_context_get_options($options);
        }
        throw new InvalidArgumentException(
            'HttpServer $options must be an array of stream context options (["ssl" => [...]]), a stream '
            . 'context resource (stream_context_create()) or null; got ' . get_debug_type($options) . '.',
            InvalidArgumentException::STATUS
        );
    }

    /**
     * The TLS settings of the `ssl` options, or null for a plain server.
     *
     * @param array<string, mixed> $options The context options (contextOptions()).
     * @param string|null $tlsAddress The address when it asks for TLS (`ssl://…`, `tls://…`): a
     *        certificate is then required.
     *
     * @throws InvalidArgumentException For an option we do not implement, a value of the wrong
     *         type, settings that contradict each other, a TLS address without a certificate.
     */
    public static function fromOptions(array $options, ?string $tlsAddress): ?self
    {
        $ssl = $options['ssl'] ?? [];
        if (!is_array($ssl)) {
            throw self::invalid('the "ssl" context options must be an array, got ' . get_debug_type($ssl) . '.');
        }
        foreach (array_keys($ssl) as $name) {
            $name = (string) $name;
            if (isset(self::UNSUPPORTED[$name])) {
                throw self::invalid("ssl.{$name} is not supported: " . self::UNSUPPORTED[$name] . '. Remove the option.');
            }
            if (!in_array($name, self::IMPLEMENTED, true)) {
                throw self::invalid("ssl.{$name} is not a TLS option this server knows. The supported ones: "
                    . implode(', ', self::IMPLEMENTED) . ' (README, "TLS").');
            }
        }

        $passphrase = self::stringOption($ssl, 'passphrase', 'ssl.passphrase');
        $certificates = [];
        $localCert = self::stringOption($ssl, 'local_cert', 'ssl.local_cert');
        $localKey = self::stringOption($ssl, 'local_pk', 'ssl.local_pk');
        if ($localKey !== null && $localCert === null) {
            throw self::invalid('ssl.local_pk is given without ssl.local_cert: give the certificate too.');
        }
        if ($localCert !== null) {
            $certificates[] = ['name' => '', 'option' => 'ssl.local_cert', 'cert' => $localCert, 'key' => $localKey, 'passphrase' => $passphrase];
        }

        $sni = $ssl['SNI_server_certs'] ?? null;
        if ($sni !== null) {
            if (!is_array($sni) || $sni === []) {
                throw self::invalid('ssl.SNI_server_certs must be a non-empty array of host name => certificate file '
                    . '(or => ["local_cert" => ..., "local_pk" => ...]).');
            }
            $enabled = self::boolOption($ssl, 'SNI_enabled') ?? true;
            if (!$enabled) {
                throw self::invalid('ssl.SNI_enabled is false but ssl.SNI_server_certs is given: remove one of them.');
            }
            foreach ($sni as $host => $entry) {
                $host = (string) $host;
                $where = "ssl.SNI_server_certs[{$host}]";
                if ($host === '' || preg_match('/^(\*\.)?[A-Za-z0-9._-]+$/', $host) !== 1) {
                    throw self::invalid("{$where}: \"{$host}\" is not a host name (a name such as example.com or *.example.com).");
                }
                if (is_string($entry) && $entry !== '') {
                    $certificates[] = ['name' => $host, 'option' => $where, 'cert' => $entry, 'key' => null, 'passphrase' => $passphrase];
                    continue;
                }
                if (!is_array($entry)) {
                    throw self::invalid("{$where} must be a certificate file or an array with local_cert (and local_pk, passphrase).");
                }
                foreach (array_keys($entry) as $key) {
                    if (!in_array((string) $key, self::SNI_ENTRY, true)) {
                        throw self::invalid("{$where}.{$key} is not supported: an entry takes local_cert, local_pk and passphrase.");
                    }
                }
                $cert = self::stringOption($entry, 'local_cert', "{$where}.local_cert");
                if ($cert === null) {
                    throw self::invalid("{$where} needs local_cert (the certificate file).");
                }
                $certificates[] = [
                    'name' => $host,
                    'option' => $where,
                    'cert' => $cert,
                    'key' => self::stringOption($entry, 'local_pk', "{$where}.local_pk"),
                    'passphrase' => self::stringOption($entry, 'passphrase', "{$where}.passphrase") ?? $passphrase,
                ];
            }
        } elseif (array_key_exists('SNI_enabled', $ssl)) {
            self::boolOption($ssl, 'SNI_enabled'); // true or false: one certificate needs no SNI
        }

        // Client certificates: PHP's verify_peer defaults to true; with a cafile that means
        // verified client certificates are required (mutual TLS).
        $verify = self::boolOption($ssl, 'verify_peer');
        $cafile = self::stringOption($ssl, 'cafile', 'ssl.cafile');
        $clientCa = null;
        if ($cafile !== null) {
            if ($verify === false) {
                throw self::invalid('ssl.cafile is given but ssl.verify_peer is false. To require client certificates '
                    . '(mutual TLS) set verify_peer to true (or leave it out); to not ask clients for one, remove cafile.');
            }
            $clientCa = $cafile;
        } elseif ($verify === true) {
            throw self::invalid('ssl.verify_peer is true, which on a server asks every client for a certificate, and '
                . 'that needs ssl.cafile: the PEM file of the CA certificates your client certificates are signed '
                . 'with (a server has no system store of client CAs). Set verify_peer to false (or leave it out) '
                . 'not to ask clients for certificates.');
        }
        if (self::boolOption($ssl, 'allow_self_signed') === true && $clientCa !== null) {
            throw self::invalid('ssl.allow_self_signed is true with client verification (ssl.cafile): client certificates '
                . 'are verified against ssl.cafile only. Put a self-signed client certificate into the cafile itself, '
                . 'and remove allow_self_signed.');
        }
        self::boolOption($ssl, 'verify_peer_name');    // a client's check of the server's name: nothing to do here
        self::boolOption($ssl, 'disable_compression'); // rustls never compresses at the TLS layer
        if (array_key_exists('crypto_method', $ssl)) {
            self::checkCryptoMethod($ssl['crypto_method']);
        }

        $alpn = null;
        if (array_key_exists('alpn_protocols', $ssl)) {
            $alpn = self::stringOption($ssl, 'alpn_protocols', 'ssl.alpn_protocols');
            $alpn = implode(',', array_filter(array_map('trim', explode(',', (string) $alpn)), 'strlen'));
            if ($alpn === '') {
                throw self::invalid('ssl.alpn_protocols is empty: give protocols such as "h2,http/1.1", or leave it out.');
            }
        }

        if ($certificates === []) {
            if ($tlsAddress !== null) {
                throw self::invalid("{$tlsAddress} asks for TLS, which needs a certificate: pass "
                    . "['ssl' => ['local_cert' => '/path/cert.pem', 'local_pk' => '/path/key.pem']] as \$options. "
                    . 'For local work make a self-signed pair with: ' . self::SELF_SIGNED);
            }
            if ($clientCa !== null || $alpn !== null) {
                throw self::invalid('ssl.' . ($clientCa !== null ? 'cafile' : 'alpn_protocols')
                    . ' only applies to a TLS server, and TLS needs a certificate: give ssl.local_cert (and ssl.local_pk).');
            }
            return null;
        }
        return new self($certificates, $clientCa, $alpn);
    }

    /**
     * Configures TLS on a fresh native server: certificates, client verification, ALPN. Reads
     * the files now.
     *
     * @throws RuntimeException Naming the option and the file: IoException for a file that is
     *         missing or unreadable, InvalidArgumentException for one that holds no certificate,
     *         no key, a key that does not match, an encrypted key without its passphrase.
     */
    public function apply(NativeServer $native): void
    {
        $prepared = $this->prepare();
        foreach ($this->certificates as $i => $certificate) {
            $this->install($native, $certificate, $prepared[$i] ?? null);
        }
        if ($this->clientCa !== null) {
            self::checkReadable($this->clientCa, 'ssl.cafile');
            self::engine(fn () => $native->tlsClientCaFile($this->clientCa, true), 'ssl.cafile', $this->clientCa);
        }
        if ($this->alpn !== null) {
            self::engine(fn () => $native->tlsAlpn($this->alpn), 'ssl.alpn_protocols', null);
        }
    }

    /**
     * Re-reads every certificate, key and CA file on a live native server: all or nothing. Keys
     * with a passphrase are decrypted first (a failure changes nothing), then the engine
     * re-reads the other files (hs_tls_reload: all or nothing), then the decrypted ones are
     * installed (already checked to match their certificates).
     *
     * @throws RuntimeException Naming the file; the certificates in use stay.
     */
    public function reload(NativeServer $native): void
    {
        if ($this->clientCa !== null) {
            self::checkReadable($this->clientCa, 'ssl.cafile');
        }
        $prepared = $this->prepare();
        self::engine(static fn () => $native->tlsReload(), 'reloadCertificates()', null);
        foreach ($prepared as $i => $pem) {
            $this->install($native, $this->certificates[$i], $pem);
        }
    }

    /** The files this configuration reads, for messages and the README's examples. */
    public function describe(): string
    {
        $parts = [];
        foreach ($this->certificates as $c) {
            $parts[] = ($c['name'] === '' ? 'default' : $c['name']) . ': ' . $c['cert'] . ($c['key'] !== null ? ' + ' . $c['key'] : '');
        }
        return implode('; ', $parts);
    }

    // ---- internals ----------------------------------------------------------------------------

    /**
     * Reads the keys that have a passphrase with PHP's openssl (decrypted, checked against their
     * certificate): index => [certificate PEM, key PEM]; the engine reads the other entries from
     * their files. Which way an entry goes depends only on whether it has a passphrase (and
     * openssl is loaded), so a reload treats every entry as the first apply() did. Keys without
     * a passphrase are checked not to be encrypted (for a message that says what to do).
     *
     * @return array<int, array{0: string, 1: string}>
     */
    private function prepare(): array
    {
        $prepared = [];
        foreach ($this->certificates as $i => $certificate) {
            $keyFile = $certificate['key'] ?? $certificate['cert'];
            $keyOption = self::keyOption($certificate);
            self::checkReadable($certificate['cert'], $certificate['option']);
            if ($certificate['key'] !== null) {
                self::checkReadable($certificate['key'], $keyOption);
            }
            $keyPem = (string) @file_get_contents($keyFile);
            if ($certificate['passphrase'] !== null && function_exists('openssl_pkey_get_private')) {
                $prepared[$i] = self::decrypt($certificate, $keyFile, $keyPem);
                continue;
            }
            $encrypted = str_contains($keyPem, 'ENCRYPTED PRIVATE KEY')
                || preg_match('/^Proc-Type:\s*4,\s*ENCRYPTED/mi', $keyPem) === 1;
            if (!$encrypted) {
                continue; // the engine reads the files itself (and re-reads them on reload)
            }
            if ($certificate['passphrase'] === null) {
                throw self::invalid("{$keyOption}: the private key in {$keyFile} is encrypted. Give its passphrase in "
                    . "ssl.passphrase, or decrypt it once: openssl pkey -in {$keyFile} -out key.pem "
                    . '(and give key.pem as ssl.local_pk).');
            }
            $prepared[$i] = self::decrypt($certificate, $keyFile, $keyPem);
        }
        return $prepared;
    }

    /**
     * [certificate chain PEM, unencrypted key PEM] of an entry whose key is encrypted.
     *
     * @param array{name: string, option: string, cert: string, key: ?string, passphrase: ?string} $certificate
     * @return array{0: string, 1: string}
     */
    private static function decrypt(array $certificate, string $keyFile, string $keyPem): array
    {
        $keyOption = self::keyOption($certificate);
        if (!function_exists('openssl_pkey_get_private')) {
            throw new EnvironmentException("{$keyOption}: the private key in {$keyFile} is encrypted, and PHP's openssl "
                . 'extension, which would decrypt it with ssl.passphrase, is not loaded. Load it, or decrypt the key '
                . "once: openssl pkey -in {$keyFile} -out key.pem (and give key.pem as ssl.local_pk).");
        }
        if (!str_contains($keyPem, 'PRIVATE KEY-----')) {
            throw self::invalid("{$keyOption}: {$keyFile} holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)"
                . ($certificate['key'] === null ? '; give the key file in ssl.local_pk' : '') . '.');
        }
        while (openssl_error_string() !== false) {
            // drop errors left by earlier calls
        }
        $key = @openssl_pkey_get_private($keyPem, (string) $certificate['passphrase']);
        if ($key === false) {
            throw self::invalid("{$keyOption}: cannot decrypt the private key in {$keyFile} with ssl.passphrase "
                . '(wrong passphrase?' . self::opensslErrors() . ').');
        }
        $out = '';
        if (!@openssl_pkey_export($key, $out)) {
            throw self::invalid("{$keyOption}: cannot export the decrypted key of {$keyFile}" . self::opensslErrors() . '.');
        }
        $certText = (string) @file_get_contents($certificate['cert']);
        if (preg_match_all('/-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----/s', $certText, $m) < 1) {
            throw self::invalid("{$certificate['option']}: {$certificate['cert']} holds no PEM certificate "
                . '(-----BEGIN CERTIFICATE-----). For local work make one with: ' . self::SELF_SIGNED);
        }
        if (!@openssl_x509_check_private_key($m[0][0], $key)) {
            throw self::invalid("{$keyOption}: the private key in {$keyFile} does not match the certificate in "
                . "{$certificate['cert']}: give the key the certificate was issued for.");
        }
        return [implode("\n", $m[0]) . "\n", $out];
    }

    /**
     * Registers one certificate on the native server: by file, or as decrypted PEM.
     *
     * @param array{name: string, option: string, cert: string, key: ?string, passphrase: ?string} $certificate
     * @param array{0: string, 1: string}|null $pem
     */
    private function install(NativeServer $native, array $certificate, ?array $pem): void
    {
        $name = $certificate['name'] === '' ? null : $certificate['name'];
        if ($pem !== null) {
            self::engine(static fn () => $native->tlsCertPem($name, $pem[0], $pem[1]), $certificate['option'], $certificate['cert']);
            return;
        }
        self::engine(
            static fn () => $native->tlsCertFile($name, $certificate['cert'], $certificate['key']),
            $certificate['option'],
            $certificate['cert']
        );
    }

    /**
     * Runs one engine call; its failure is rethrown (same exception class and status) with the
     * option it came from and the fix.
     */
    private static function engine(\Closure $call, string $option, ?string $file): void
    {
        try {
            $call();
        } catch (RuntimeException $e) {
            $fix = match (true) {
                $e instanceof IoException => ' Check the path, and that this process can read the file.',
                $option === 'ssl.alpn_protocols' => ' Known protocols: h2, http/1.1 (comma-separated, in order of preference).',
                $option === 'ssl.cafile' => ' ssl.cafile must hold PEM CA certificates (-----BEGIN CERTIFICATE-----).',
                str_contains($e->getMessage(), 'does not match') => ' Give the key the certificate was issued for (the two '
                    . 'must print the same public key: openssl x509 -noout -pubkey -in CERT; openssl pkey -pubout -in KEY).',
                default => ' The certificate file must hold the PEM certificate chain (leaf first) and the key file '
                    . 'the matching unencrypted private key (PKCS#8, PKCS#1 or SEC1), or both may be in the '
                    . 'certificate file. For local work make a pair with: ' . self::SELF_SIGNED,
            };
            throw RuntimeException::fromStatus((int) $e->getCode(), "{$option}: " . $e->getMessage() . '.' . $fix, $e);
        }
    }

    /** An IoException naming the option and the file when it cannot be read. */
    private static function checkReadable(string $file, string $option): void
    {
        clearstatcache(true, $file);
        if (!is_file($file)) {
            throw new IoException("{$option}: {$file} does not exist" . ($file !== '' && $file[0] !== '/' ? ' (relative to '
                . getcwd() . ')' : '') . '. Give the path of a PEM file.', IoException::STATUS);
        }
        if (!is_readable($file)) {
            $user = function_exists('posix_geteuid') ? ' (uid ' . posix_geteuid() . ')' : '';
            throw new IoException("{$option}: {$file} is not readable by this process{$user}. Fix its permissions "
                . '(a private key is usually readable by its owner only: chown it to the server\'s user).', IoException::STATUS);
        }
    }

    /** @param array{option: string, key: ?string} $certificate */
    private static function keyOption(array $certificate): string
    {
        if ($certificate['key'] === null) {
            return $certificate['option'];
        }
        return $certificate['option'] === 'ssl.local_cert' ? 'ssl.local_pk' : "{$certificate['option']}.local_pk";
    }

    private static function checkCryptoMethod(mixed $value): void
    {
        $both = STREAM_CRYPTO_METHOD_TLSv1_2_SERVER | STREAM_CRYPTO_METHOD_TLSv1_3_SERVER;
        if (!is_int($value) || ($value & $both) !== $both) {
            throw self::invalid('ssl.crypto_method: this server speaks TLS 1.2 and TLS 1.3 (rustls), no other version; '
                . 'a crypto_method is accepted only when it allows both (STREAM_CRYPTO_METHOD_TLS_SERVER or '
                . 'STREAM_CRYPTO_METHOD_TLSv1_2_SERVER | STREAM_CRYPTO_METHOD_TLSv1_3_SERVER). Remove the option.');
        }
    }

    /** @param array<string, mixed> $options */
    private static function stringOption(array $options, string $name, string $label): ?string
    {
        if (!array_key_exists($name, $options) || $options[$name] === null) {
            return null;
        }
        $value = $options[$name];
        if (!is_string($value) || $value === '') {
            throw self::invalid("{$label} must be a non-empty string, got " . get_debug_type($value) . '.');
        }
        return $value;
    }

    /** @param array<string, mixed> $options */
    private static function boolOption(array $options, string $name): ?bool
    {
        if (!array_key_exists($name, $options) || $options[$name] === null) {
            return null;
        }
        $value = $options[$name];
        if (!is_bool($value)) {
            throw self::invalid("ssl.{$name} must be true or false, got " . get_debug_type($value) . '.');
        }
        return $value;
    }

    private static function opensslErrors(): string
    {
        $errors = [];
        while (($e = openssl_error_string()) !== false) {
            $errors[] = $e;
        }
        return $errors === [] ? '' : '; openssl: ' . implode('; ', array_slice($errors, 0, 3));
    }

    private static function invalid(string $message): InvalidArgumentException
    {
        return new InvalidArgumentException($message, InvalidArgumentException::STATUS);
    }
}
