<?php

declare(strict_types=1);

namespace Luminova\Http;

/**
 * Luminova's `HttpServer`, served by libhttpsock. See HttpSock\HttpServer.
 */
class HttpServer extends \HttpSock\HttpServer
{
}
