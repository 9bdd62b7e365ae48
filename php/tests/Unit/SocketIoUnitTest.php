<?php
declare(strict_types=1);

namespace HttpSock\Tests\Unit;

use HttpSock\Exceptions\RuntimeException;
use HttpSock\HttpServer;
use HttpSock\Native\Admission;
use HttpSock\Exceptions\InvalidArgumentException;
use HttpSock\Exceptions\StateException;
use HttpSock\Server\DebugLog;
use HttpSock\Server\SioDispatcher;
use HttpSock\Server\WsDispatcher;
use HttpSock\SocketIo\Args;
use HttpSock\SocketIo\Binary;
use HttpSock\SocketIo\Codec;
use HttpSock\SocketIo\Refusal;
use PHPUnit\Framework\TestCase;

/**
 * The pure-PHP parts of the Socket.IO API, without the engine: arguments decoded with their
 * binary attachments put back (SocketIo\Codec), arguments encoded with Binary values and bytes
 * as attachments, the documented form's `$message`, return values as acknowledgement arguments
 * (Args), onConnect()'s answers as verdicts, and which accept() patterns mean Socket.IO.
 */
final class SocketIoUnitTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once HS_PHP_ROOT . '/autoload.php';
    }

    public function testDecodePlainArguments(): void
    {
        $this->assertSame([], Codec::decode(''));
        $this->assertSame([], Codec::decode('[]'));
        $this->assertSame(['hi', 1, 2.5, true, null, ['a' => 1], [1, 2]], Codec::decode('["hi",1,2.5,true,null,{"a":1},[1,2]]'));
    }

    public function testDecodePutsAttachmentsBackInPlace(): void
    {
        $args = Codec::decode(
            '[{"_placeholder":true,"num":0},"x",{"file":{"_placeholder":true,"num":1},"name":"a.bin"},[{"_placeholder":true,"num":0}]]',
            ["\x00\x01\xff", 'two']
        );
        $this->assertInstanceOf(Binary::class, $args[0]);
        $this->assertSame("\x00\x01\xff", $args[0]->data);
        $this->assertSame('x', $args[1]);
        $this->assertSame('two', (string) $args[2]['file']);
        $this->assertSame('a.bin', $args[2]['name']);
        $this->assertSame("\x00\x01\xff", $args[3][0]->data, 'an attachment may be referenced at any depth');
    }

    public function testDecodeLeavesLookAlikesAlone(): void
    {
        // not a placeholder: an extra key, a num that is a string
        $args = Codec::decode('[{"_placeholder":true,"num":0,"x":1},{"_placeholder":true,"num":"0"}]', ['b']);
        $this->assertSame([['_placeholder' => true, 'num' => 0, 'x' => 1], ['_placeholder' => true, 'num' => '0']], $args);
    }

    public function testDecodeRefusesAMissingAttachment(): void
    {
        $this->expectException(\UnexpectedValueException::class);
        Codec::decode('[{"_placeholder":true,"num":2}]', ['only one']);
    }

    public function testDecodeRefusesWhatIsNotAList(): void
    {
        $this->expectException(\UnexpectedValueException::class);
        Codec::decode('{"a":1}');
    }

    public function testEncodePlain(): void
    {
        $this->assertSame(['[]', []], Codec::encode([]));
        $this->assertSame(['["héllo","a/b",1,1.0,{"k":[true,null]},[]]', []], Codec::encode(['héllo', 'a/b', 1, 1.0, ['k' => [true, null]], []]));
    }

    public function testEncodeBinaryAsAttachments(): void
    {
        [$json, $attachments] = Codec::encode([new Binary("\x00\x01"), 'text', ['nested' => new Binary('bytes')]]);
        $this->assertSame('[{"_placeholder":true,"num":0},"text",{"nested":{"_placeholder":true,"num":1}}]', $json);
        $this->assertSame(["\x00\x01", 'bytes'], $attachments);
        // a second encode starts again at 0
        [$json] = Codec::encode([new Binary('z')]);
        $this->assertSame('[{"_placeholder":true,"num":0}]', $json);
    }

    public function testEncodeBytesThatAreNotUtf8AsBinary(): void
    {
        [$json, $attachments] = Codec::encode(['ok', "\xff\xfe", ['x' => "\xc3"]]);
        $this->assertSame('["ok",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]', $json);
        $this->assertSame(["\xff\xfe", "\xc3"], $attachments);
    }

    public function testRoundTripKeepsBinaryBinary(): void
    {
        $in = Codec::decode('["a",{"_placeholder":true,"num":0}]', ["\x89PNG"]);
        [$json, $attachments] = Codec::encode($in);
        $this->assertSame('["a",{"_placeholder":true,"num":0}]', $json);
        $this->assertSame(["\x89PNG"], $attachments);
    }

    public function testEncodeRefusesAClosure(): void
    {
        $this->expectException(\InvalidArgumentException::class);
        Codec::encode([fn () => 1]);
    }

    public function testBinaryOutsideEncodeIsBase64(): void
    {
        $this->assertSame('["AAE="]', json_encode([new Binary("\x00\x01")]));
    }

    public function testMessageIsTheFirstArgumentAsText(): void
    {
        $this->assertSame('', Codec::message([]));
        $this->assertSame('hello', Codec::message(['hello', 'ignored']));
        $this->assertSame("\x00b", Codec::message([new Binary("\x00b")]));
        $this->assertSame('{"a":"é/1"}', Codec::message([['a' => 'é/1']]));
        $this->assertSame('42', Codec::message([42]));
        $this->assertSame('null', Codec::message([null]));
        $this->assertSame('[1,2]', Codec::message([[1, 2]]));
    }

    public function testReturnValuesAsAcknowledgementArguments(): void
    {
        $this->assertSame([], Args::of(null));
        $this->assertSame([false], Args::of(false));
        $this->assertSame([[1, 2]], Args::of([1, 2]), 'an array is one argument');
        $this->assertSame(['a', 2], Args::of(new Args('a', 2)));
        $this->assertSame([], Args::of(new Args()));
        $this->assertSame([1, 2], Args::of(new Args(...[5 => 1, 9 => 2])));
    }

    public function testConnectVerdicts(): void
    {
        $this->assertTrue(SioDispatcher::verdict(null));
        $this->assertTrue(SioDispatcher::verdict(true));
        $refused = SioDispatcher::verdict(false);
        $this->assertInstanceOf(Refusal::class, $refused);
        $this->assertSame('Not authorized', $refused->message);
        $this->assertSame('bad token', SioDispatcher::verdict('bad token')->message);
        $r = new Refusal('nope', ['code' => 3]);
        $this->assertSame($r, SioDispatcher::verdict($r));

        $a = SioDispatcher::verdict(['user' => 7, 'info' => ['name' => 'X'], 'rooms' => ['red', 'presence-lobby']]);
        $this->assertInstanceOf(Admission::class, $a);
        $this->assertSame('7', $a->user);
        $this->assertSame('{"name":"X"}', $a->info);
        $this->assertSame(['red', 'presence-lobby'], $a->channels);
        $b = SioDispatcher::verdict(['rooms' => ['a'], 'channels' => ['b']]);
        $this->assertNull($b->user);
        $this->assertSame(['a', 'b'], $b->channels, "'channels' (authorize()'s name) is taken too");
    }

    /** @return array<string, array{0: mixed}> */
    public static function badVerdicts(): array
    {
        return [
            'an int' => [42],
            'an unknown key' => [['user' => 'x', 'room' => ['a']]],
            'an empty user' => [['user' => '']],
            'info without user' => [['info' => ['a' => 1]]],
            'rooms not a list' => [['rooms' => ['a' => 'b']]],
            'a room not a string' => [['rooms' => [1]]],
            'presence without user' => [['rooms' => ['presence-x']]],
        ];
    }

    /** @dataProvider badVerdicts */
    public function testBadConnectVerdicts(mixed $value): void
    {
        $this->expectException(\UnexpectedValueException::class);
        SioDispatcher::verdict($value);
    }

    public function testWhichPatternsAreSocketIo(): void
    {
        foreach (['/socket.io(?:/.*)?', '/socket.io', '/socket.io/', '/socket.io/.*', '/socket\.io(?:/.*)?', '^/socket.io/?', '/socket.io.*'] as $p) {
            $this->assertTrue(SioDispatcher::isSocketIoPattern($p), $p);
        }
        foreach (['/ws', '/ws(?:/.*)?', '/socket.iox', '/socket.io-chat', '/socket.io_x', '/sockets', '/socket.io{id}', '/app/socket.io', '/(.*)', '/socketXio'] as $p) {
            $this->assertFalse(SioDispatcher::isSocketIoPattern($p), $p);
        }
    }
    public function testOptionsAreCheckedAndFixedOnceEnabled(): void
    {
        $sio = new SioDispatcher(new DebugLog(), new WsDispatcher(new DebugLog()));
        $sio->setOptions(['pingInterval' => 1000, 'path' => '/io/', 'connectionStateRecovery' => ['maxDisconnectionDuration' => 3000]]);
        $sio->setOptions(['connectionStateRecovery' => 0]);
        foreach ([['nope' => 1], ['pingTimeout' => -1], ['maxHttpBufferSize' => '5'], ['path' => 'io'], ['connectionStateRecovery' => ['x' => 1]]] as $bad) {
            try {
                $sio->setOptions($bad);
                $this->fail('accepted ' . json_encode($bad));
            } catch (InvalidArgumentException $e) {
                $this->addToAssertionCount(1);
            }
        }
        $this->assertTrue($sio->markEnabled());
        $this->assertFalse($sio->markEnabled(), 'once');
        $this->expectException(StateException::class);
        $sio->setOptions(['pingInterval' => 2000]);
    }
    public function testTheFacadeWithoutALoop(): void
    {
        $server = new HttpServer('127.0.0.1', 0, false);
        $server->socketioOptions(['pingInterval' => 5000]);
        $io = $server->socketio();
        $this->assertSame($io, $server->socketio('/'), 'one object per namespace');
        $this->assertSame('/', $io->name);
        $admin = $server->socketio('/admin');
        $this->assertSame('/admin', $admin->name);
        $this->assertNotSame($io, $admin);
        foreach (['admin', '/a b', '/a,b', ''] as $bad) {
            try {
                $server->socketio($bad);
                $this->fail("socketio('{$bad}') accepted");
            } catch (InvalidArgumentException $e) {
                $this->addToAssertionCount(1);
            }
        }
        try {
            $server->socketioOptions(['pingInterval' => 1]);
            $this->fail('socketioOptions() after socketio()');
        } catch (StateException $e) {
            $this->addToAssertionCount(1);
        }
        try {
            $server->accept('/socket.io(?:/.*)?', fn () => null, 10);
            $this->fail('a client limit on the Socket.IO endpoint');
        } catch (InvalidArgumentException $e) {
            $this->addToAssertionCount(1);
        }
        $server->accept('/socket.io(?:/.*)?', fn () => null);   // the documented form: no WebSocket route
        $server->start();
        $this->assertSame(0, $io->emit('nobody'), 'an emit with no socket');
        $this->assertFalse($io->toSocket('AAAAAAAAAAM')->emit('x'), 'toSocket() of a socket that is not there');
        $this->assertNull($io->socket('AAAAAAAAAAM'));
        $this->assertSame([], $io->sockets());
        try {
            $io->emit('x', fn () => 1);
            $this->fail('an ack callback in a broadcast');
        } catch (RuntimeException $e) {
            $this->addToAssertionCount(1);
        }
        $server->shutdown();
        $this->expectException(StateException::class);
        $io->emit('after');
    }
}
