<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Http\Request;
use HttpSock\Http\Wire;
use PHPUnit\Framework\TestCase;

/**
 * The packed head decoder (Http\Wire) and the Request over it: pure PHP, no engine.
 */
final class WireTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    /** A head as the engine packs it: fields separated by NUL, no trailing NUL. */
    private static function head(array $captures = [], array $over = []): string
    {
        $fields = [
            '3', '17', '50123', (string) count($captures), 'GET', '/user/a%20b/x', 'q=1&r=two',
            '/user/a%20b/x?q=1&r=two', 'HTTP/1.1', 'http', '127.0.0.1', "host: example.test:8080\r\nx-req-id: 7\r\nx-req-id: 8\r\n",
        ];
        foreach ($over as $i => $value) {
            $fields[$i] = $value;
        }
        foreach ($captures as [$name, $value]) {
            $fields[] = $name;
            $fields[] = $value;
        }
        return implode("\0", $fields);
    }

    public function testFieldsWithoutCaptures(): void
    {
        $wire = Wire::fields(self::head());
        $this->assertCount(Wire::FIELDS, $wire);
        $this->assertSame('3', $wire[Wire::ROUTE]);
        $this->assertSame('17', $wire[Wire::CONN]);
        $this->assertSame('50123', $wire[Wire::PEER_PORT]);
        $this->assertSame('0', $wire[Wire::CAPTURES]);
        $this->assertSame('GET', $wire[Wire::METHOD]);
        $this->assertSame('/user/a%20b/x', $wire[Wire::PATH]);
        $this->assertSame('q=1&r=two', $wire[Wire::QUERY]);
        $this->assertSame('/user/a%20b/x?q=1&r=two', $wire[Wire::URI]);
        $this->assertSame('HTTP/1.1', $wire[Wire::VERSION]);
        $this->assertSame('http', $wire[Wire::SCHEME]);
        $this->assertSame('127.0.0.1', $wire[Wire::PEER_IP]);
        $this->assertSame([], Wire::args($wire));
        $this->assertSame([], Wire::params($wire));
    }

    public function testNamedAndUnnamedCapturesArePercentDecoded(): void
    {
        $wire = Wire::fields(self::head([['id', 'a%20b'], ['', 'x%2Fy'], ['tail', '']]));
        $this->assertCount(Wire::FIELDS + 6, $wire);
        $this->assertSame(['a b', 'x/y', ''], Wire::args($wire), 'values in order, decoded');
        $this->assertSame(['id' => 'a b', 1 => 'x/y', 'tail' => ''], Wire::params($wire), 'an unnamed capture by its position');
    }

    public function testEmptyFieldsKeepTheirPlaces(): void
    {
        $head = self::head([], [Wire::ROUTE => '-1', Wire::QUERY => '', Wire::HEADERS => '']);
        $wire = Wire::fields($head);
        $this->assertCount(Wire::FIELDS, $wire);
        $this->assertSame('-1', $wire[Wire::ROUTE]);
        $this->assertSame('', $wire[Wire::QUERY]);
        $this->assertSame('', $wire[Wire::HEADERS]);
        $request = Request::fromHead($head);
        $this->assertSame([], $request->getHeaders());
        $this->assertSame('', $request->getQuery());
        $this->assertSame([], $request->getQueries());
    }

    public function testRequestOverTheHead(): void
    {
        $request = Request::fromHead(self::head([['id', 'a%20b'], ['', 'x']]), '', 8080);
        $this->assertSame('get', $request->getMethod());
        $this->assertTrue($request->isGet());
        $this->assertSame('127.0.0.1', $request->getIp());
        $this->assertSame(50123, $request->getClientPort());
        $this->assertSame(17, $request->getConnectionId());
        $this->assertSame('/user/a%20b/x', $request->getPaths());
        $this->assertSame('/user/a%20b/x?q=1&r=two', $request->getUri());
        $this->assertSame(['q' => '1', 'r' => 'two'], $request->getQueries());
        $this->assertSame('HTTP/1.1', $request->getProtocol());
        $this->assertSame('7, 8', $request->getHeader('X-Req-Id'), 'repeated fields joined');
        $this->assertSame(['Host' => 'example.test:8080', 'X-Req-Id' => '7, 8'], $request->getHeaders());
        $this->assertSame(8080, $request->getPort());
        $this->assertSame(['id' => 'a b', 1 => 'x'], $request->getParams());
        $this->assertSame('a b', $request->getParam('id'));
        $this->assertSame('none', $request->getParam('missing', 'none'));
        $this->assertSame('', $request->toString(), 'an empty body');
        $this->assertSame([], $request->getBody());
    }

    public function testTheBodyIsNotPartOfTheHead(): void
    {
        $head = self::head([], [Wire::METHOD => 'POST', Wire::HEADERS => "content-type: application/x-www-form-urlencoded\r\n"]);
        $this->assertSame("\0bin\0", Request::fromHead($head, "\0bin\0")->toString(), 'a body with NUL bytes stays whole');
        $request = Request::fromHead($head, 'a=1&b=two');
        $this->assertSame(['a' => '1', 'b' => 'two'], $request->getPost(null));
        $this->assertCount(Wire::FIELDS, Wire::fields($head));
    }

    public function testSchemeAndProtocolComeFromTheConnection(): void
    {
        $forwarded = [Wire::PEER_IP => '203.0.113.9', Wire::HEADERS => "host: a\r\nx-forwarded-proto: https\r\n"];
        $plain = Request::fromHead(self::head([], $forwarded));
        $this->assertFalse($plain->isSecure(), 'a remote client\'s X-Forwarded-Proto does not make a plain connection secure');
        $this->assertSame('http', $plain->getScheme());
        $this->assertSame('http://a/user/a%20b/x?q=1&r=two', $plain->getUrl());

        foreach (['127.0.0.1', '::1', '::ffff:127.0.0.1'] as $proxy) {
            $viaProxy = Request::fromHead(self::head([], [Wire::PEER_IP => $proxy] + $forwarded));
            $this->assertTrue($viaProxy->isSecure(), "a reverse proxy on this machine ({$proxy}) is believed");
            $this->assertSame('https', $viaProxy->getScheme());
        }
        $httpViaProxy = Request::fromHead(self::head([], [Wire::HEADERS => "host: a\r\nx-forwarded-proto: http\r\n"]));
        $this->assertFalse($httpViaProxy->isSecure());
        $this->assertFalse(Request::fromHead(self::head())->isSecure(), 'loopback without the header');

        $tls = Request::fromHead(self::head([], [Wire::VERSION => 'HTTP/2.0', Wire::SCHEME => 'https', Wire::HEADERS => "host: a\r\n"]));
        $this->assertTrue($tls->isSecure());
        $this->assertSame('https', $tls->getScheme());
        $this->assertSame('HTTP/2.0', $tls->getProtocol());
        $this->assertSame('https://a/user/a%20b/x?q=1&r=two', $tls->getUrl());
    }
}
