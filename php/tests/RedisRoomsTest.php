<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\ServerProcess;
use HttpSock\Tests\Support\ServerTestCase;
use HttpSock\Tests\Support\WsClient;

/**
 * useRedis() with a real redis-server (started here on a free loopback port, no persistence,
 * stopped by pid): two nodes (two server processes, one with two workers) share channels,
 * presence and the client list. Skipped when redis-server is not installed (Debian:
 * apt-get install redis-server). The multi-node suite proper is tests/rooms.
 * Fixture: fixtures/rooms.php.
 */
final class RedisRoomsTest extends ServerTestCase
{
    /** @var resource|null */
    private $redis = null;
    private int $redisPid = 0;
    private string $redisDir = '';

    protected function tearDown(): void
    {
        parent::tearDown(); // the nodes first: they would log a lost link otherwise
        if ($this->redis !== null) {
            if (ServerProcess::alive($this->redisPid)) {
                posix_kill($this->redisPid, SIGTERM);
            }
            $deadline = microtime(true) + 5.0;
            while (proc_get_status($this->redis)['running'] && microtime(true) < $deadline) {
                usleep(10000);
            }
            if (proc_get_status($this->redis)['running']) {
                posix_kill($this->redisPid, SIGKILL);
            }
            proc_close($this->redis);
            $this->redis = null;
        }
        if ($this->redisDir !== '' && is_dir($this->redisDir)) {
            array_map('unlink', glob($this->redisDir . '/*') ?: []);
            rmdir($this->redisDir);
        }
    }

    /** Starts redis-server on a free loopback port; returns its URL. */
    private function startRedis(): string
    {
        $binary = trim((string) shell_exec('command -v redis-server 2>/dev/null'));
        if ($binary === '') {
            $this->markTestSkipped('redis-server is not installed (apt-get install redis-server): the Redis backplane test needs it.');
        }
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $name = (string) stream_socket_get_name($probe, false);
        fclose($probe);
        $port = (int) substr($name, strrpos($name, ':') + 1);
        $this->redisDir = sys_get_temp_dir() . '/hs-redis-' . getmypid() . '-' . $port;
        mkdir($this->redisDir);
        $cmd = [$binary, '--port', (string) $port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
            '--dir', $this->redisDir, '--loglevel', 'notice', '--daemonize', 'no'];
        $pipes = [];
        $this->redis = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $this->assertIsResource($this->redis, 'redis-server started');
        $this->redisPid = (int) proc_get_status($this->redis)['pid'];
        // readiness: its "Ready to accept connections" line
        stream_set_blocking($pipes[1], false);
        $out = '';
        $deadline = microtime(true) + 10.0;
        while (!str_contains($out, 'Ready to accept connections')) {
            $left = $deadline - microtime(true);
            if ($left <= 0 || !proc_get_status($this->redis)['running']) {
                $this->fail("redis-server on port {$port} not ready: {$out}" . stream_get_contents($pipes[2]));
            }
            $r = [$pipes[1]];
            $w = $e = null;
            if (@stream_select($r, $w, $e, 0, (int) (min($left, 0.2) * 1e6)) > 0) {
                $out .= (string) fread($pipes[1], 65536);
            }
        }
        return "redis://127.0.0.1:{$port}";
    }

    private function ask(WsClient $c, string $command): string
    {
        $c->sendText($command);
        return $c->receiveText();
    }

    private function askJson(WsClient $c, string $command): mixed
    {
        return json_decode($this->ask($c, $command), true, 512, JSON_THROW_ON_ERROR);
    }

    private function presenceEvents(ServerProcess $s, string|int $user, string $event): int
    {
        preg_match_all('/^event presence (.*)$/m', $s->stdout(), $m);
        return count(array_filter(array_map(fn ($j) => json_decode($j, true), $m[1]),
            fn ($e) => $e['user'] === $user && $e['event'] === $event));
    }

    public function testTwoNodesShareChannelsPresenceAndClients(): void
    {
        $url = $this->startRedis();
        $prefix = 'phpunit-' . getmypid() . '-' . mt_rand();
        $a = $this->server('rooms', ["redis={$url}", "prefix={$prefix}", 'node=node-a']);
        $b = $this->server('rooms', ["redis={$url}", "prefix={$prefix}", 'node=node-b', 'workers=2']);
        $ann = WsClient::connect($a->wsUrl('/chat?user=ann&name=Ann&ch=red,presence-room'));
        $bob = WsClient::connect($b->wsUrl('/chat?user=bob&name=Bob&ch=red,presence-room'));
        $this->assertSame('node-a', $this->askJson($ann, 'payload')['node']);
        $this->assertSame('node-b', $this->askJson($bob, 'payload')['node'], 'the workers of a node share its name');
        foreach ([$ann, $bob] as $c) {
            $this->waitUntil(fn () => $this->ask($c, 'count:red') === '2', 10.0, 'both members of red seen from each node');
        }
        $ann->sendText('pub:red:from ann');
        $this->assertSame('from ann', $bob->receiveText(), 'a publish crosses nodes');
        $this->assertSame('from ann', $ann->receiveText());
        $bob->sendText('pubx:red:from bob');
        $this->assertSame('from bob', $ann->receiveText());
        $this->assertTrue($bob->silentFor(0.3), 'except the sender, across nodes too');

        $clients = $this->askJson($ann, 'clients');
        $this->assertEquals($clients, $this->askJson($bob, 'clients'), 'getClients() is the same on both nodes');
        $nodes = array_values($clients);
        sort($nodes);
        $this->assertSame(['node-a', 'node-b'], $nodes);
        $idBob = (int) $this->ask($bob, 'id');
        $this->assertSame('node-b', $clients[$idBob]);
        $this->assertEquals($this->askJson($ann, 'members:red'), $this->askJson($bob, 'members:red'));

        $presence = $this->askJson($ann, 'presence:presence-room');
        usort($presence, fn ($x, $y) => strcmp($x[0], $y[0]));
        $this->assertSame([['ann', ['name' => 'Ann']], ['bob', ['name' => 'Bob']]], $presence);
        $this->waitUntil(fn () => $this->presenceEvents($a, 'bob', 'join') >= 1, 10.0, 'node A told that bob joined');
        $this->waitUntil(fn () => $this->presenceEvents($b, 'ann', 'join') >= 1, 10.0, 'node B told that ann joined');
        // bob is still connected: node A must not have seen him leave (and come back)
        $flapped = $this->presenceEvents($a, 'bob', 'leave') > 0;

        // join() from node B addresses a client of node A
        $idAnn = (int) $this->ask($ann, 'id');
        $this->assertSame('ok', $this->ask($bob, "joinid:{$idAnn}:blue"), 'join() addresses a client of another node');
        $this->waitUntil(fn () => in_array('blue', $this->askJson($ann, 'channels'), true), 5.0, 'ann in blue');

        $bob->close();
        $leaves = $this->presenceEvents($a, 'bob', 'leave');
        $this->waitUntil(fn () => $this->presenceEvents($a, 'bob', 'leave') === $leaves + 1, 10.0, 'node A told that bob left');
        $this->assertSame([['ann', ['name' => 'Ann']]], $this->askJson($ann, 'presence:presence-room'));
        $this->assertSame(1, $this->presenceEvents($b, 'ann', 'join'), 'once per user on each node');
        $this->assertFalse($flapped, 'node A did not see bob (on node B, two workers) leave presence-room and join again while he stayed connected');
        $this->assertSame(1, $this->presenceEvents($a, 'bob', 'join'), 'once per user on each node');
        $this->assertSame(1, $this->presenceEvents($a, 'bob', 'leave'));
    }
}
