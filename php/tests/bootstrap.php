<?php
/**
 * Bootstrap of the PHP wrapper tests.
 *
 * The server tests start a server script (php/tests/fixtures/*.php or an example) as a child
 * process and talk to it over 127.0.0.1. The unit tests (php/tests/Unit) load the wrapper, and
 * libhttpsock through FFI, into the PHPUnit process, but never run an event loop there (no
 * thread exists before hs_poll, so the processes the server tests fork are unaffected).
 * Only the test helpers are loaded here.
 */

declare(strict_types=1);

error_reporting(E_ALL);

define('HS_TEST_ROOT', dirname(__DIR__, 2));            // repository root
define('HS_PHP_ROOT', dirname(__DIR__));                 // php/
define('HS_FIXTURES', __DIR__ . '/fixtures');
// The library the fixtures load: HTTPSOCK_LIB when set (as Native\Library reads it), else the
// repository build.
define('HS_LIBRARY', (string) (getenv('HTTPSOCK_LIB') ?: HS_TEST_ROOT . '/target/release/libhttpsock.so'));

spl_autoload_register(static function (string $class): void {
    $prefix = 'HttpSock\\Tests\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $file = __DIR__ . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});

foreach (['pcntl', 'posix', 'FFI'] as $ext) {
    if (!extension_loaded($ext)) {
        fwrite(STDERR, "php/tests: the PHP extension '$ext' is required\n");
        exit(1);
    }
}
