<?php

/**
 * One require gives every class of the httpsock PHP wrapper:
 *
 *     require __DIR__ . '/php/autoload.php';
 *     $server = new HttpSock\HttpServer('127.0.0.1', 8080);
 *
 * HttpSock\ classes load from src/ (PSR-4). Luminova's names (Luminova\Http\HttpServer,
 * Luminova\Http\Message\Response, Luminova\Interface\HttpRequestInterface,
 * Luminova\Exceptions\RuntimeException) are provided by an autoloader appended after any
 * existing one, so a real Luminova installation loaded earlier keeps its own classes.
 *
 * libhttpsock.so is found through HTTPSOCK_LIB, else this repository's target/release/, else the
 * system linker path (loaded on first use).
 */

declare(strict_types=1);

if (!defined('HTTPSOCK_AUTOLOAD')) {
    define('HTTPSOCK_AUTOLOAD', __FILE__);

    spl_autoload_register(static function (string $class): void {
        if (strncmp($class, 'HttpSock\\', 9) !== 0) {
            return;
        }
        $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, 9)) . '.php';
        if (is_file($file)) {
            require $file;
        }
    });

    require __DIR__ . '/compat/register.php';
}
