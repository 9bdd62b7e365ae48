<?php

declare(strict_types=1);

namespace Luminova\Http\Message;

/**
 * Luminova's response object: `new Response(200, ['Content-Type' => 'text/html'], '<h1>Hi</h1>')`,
 * with getStatusCode(), getHeaders(), getBody(), getContents(), getInfo() and toString().
 * See HttpSock\Http\Response.
 */
class Response extends \HttpSock\Http\Response
{
}
