<?php

/**
 * Luminova's class names, for code written against Luminova's HttpServer documentation —
 * defined only when the Luminova framework does not define them itself.
 *
 * The autoloader is appended after every autoloader registered so far (Composer's included), so
 * a real Luminova class wins whenever its autoloader can load it. The interface and the exception
 * are resolved at once (type declarations and catch blocks do not trigger autoloading).
 *
 * - Luminova\Http\HttpServer               extends HttpSock\HttpServer
 * - Luminova\Http\Message\Response         extends HttpSock\Http\Response
 * - Luminova\Interface\HttpRequestInterface  alias of HttpSock\Http\RequestInterface
 * - Luminova\Exceptions\RuntimeException   alias of HttpSock\Exceptions\RuntimeException
 */

declare(strict_types=1);

if (!defined('HTTPSOCK_COMPAT')) {
    define('HTTPSOCK_COMPAT', __FILE__);

    spl_autoload_register(static function (string $class): void {
        static $aliases = [
            'Luminova\\Interface\\HttpRequestInterface' => 'HttpSock\\Http\\RequestInterface',
            'Luminova\\Exceptions\\RuntimeException' => 'HttpSock\\Exceptions\\RuntimeException',
        ];
        static $classes = [
            'Luminova\\Http\\HttpServer' => '/Luminova/Http/HttpServer.php',
            'Luminova\\Http\\Message\\Response' => '/Luminova/Http/Message/Response.php',
        ];
        if (isset($aliases[$class])) {
            class_alias($aliases[$class], $class);
        } elseif (isset($classes[$class])) {
            require __DIR__ . $classes[$class];
        }
    }, true, false);

    // Type declarations and catch blocks never autoload, so the two aliases are settled now
    // (through the whole autoloader chain: a real Luminova loaded by an earlier one wins).
    interface_exists('Luminova\\Interface\\HttpRequestInterface');
    class_exists('Luminova\\Exceptions\\RuntimeException');
}
