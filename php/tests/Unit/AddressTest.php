<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Server\Address;
use PHPUnit\Framework\TestCase;

/**
 * The constructor's address forms and the default port: Server\Address, through the engine's
 * parser (hs_parse_address; libhttpsock is loaded into the test process, nothing is run).
 */
final class AddressTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    /** @return array<string, array{0: string, 1: ?int, 2: string, 3: int}> */
    public static function forms(): array
    {
        return [
            'IPv4, default port' => ['127.0.0.1', null, '127.0.0.1', 8080],
            'IPv4 and port' => ['127.0.0.1', 9001, '127.0.0.1', 9001],
            'port 0 (any free port)' => ['0.0.0.0', 0, '0.0.0.0', 0],
            'localhost' => ['localhost', 9002, 'localhost', 9002],
            'IPv6' => ['::1', 9003, '::1', 9003],
            'IPv6 in brackets' => ['[::1]', 9004, '::1', 9004],
            'host name' => ['example.test', null, 'example.test', 8080],
            'tcp:// with port' => ['tcp://127.0.0.1:9005', null, '127.0.0.1', 9005],
            'tcp:// without port' => ['tcp://127.0.0.1', null, '127.0.0.1', 8080],
            'tcp:// IPv6' => ['tcp://[::1]:9006', null, '::1', 9006],
            'an explicit port wins over the URL' => ['tcp://127.0.0.1:9007', 9008, '127.0.0.1', 9008],
            'port 0 takes the URL\'s port' => ['tcp://127.0.0.1:9009', 0, '127.0.0.1', 9009],
        ];
    }

    /** @dataProvider forms */
    public function testForms(string $address, ?int $port, string $host, int $expectedPort): void
    {
        $parsed = Address::parse($address, $port);
        $this->assertSame($host, $parsed->host);
        $this->assertSame($expectedPort, $parsed->port);
    }

    /** @return array<string, array{0: string, 1: ?int}> */
    public static function invalid(): array
    {
        return [
            'empty' => ['', 8080],
            'port above 65535' => ['127.0.0.1', 65536],
            'negative port' => ['127.0.0.1', -2],
            '-1 (the ABI\'s "default") is no port either' => ['127.0.0.1', -1],
            'another scheme' => ['udp://127.0.0.1:9000', null],
        ];
    }

    /** @dataProvider invalid */
    public function testInvalid(string $address, ?int $port): void
    {
        $this->expectException(InvalidArgumentException::class);
        Address::parse($address, $port);
    }

    public function testEndpoint(): void
    {
        $this->assertSame('tcp://127.0.0.1:8080', (new Address('127.0.0.1', 8080))->endpoint());
        $this->assertSame('tcp://[::1]:9000', (new Address('::1', 0))->endpoint(9000));
    }
}
