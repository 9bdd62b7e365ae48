<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\ServerProcess;
use HttpSock\Tests\Support\ServerTestCase;
use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\WsClient;
use HttpSock\Tests\Support\WsHandshakeFailed;

/**
 * Issue 11 through HttpServer with real server processes and real clients: the new user's chat
 * with setMaxProcesses(2) (every member of a channel gets each message, no one else does),
 * presence with several tabs per user, authorize() (a Response refusal the client sees, false,
 * a throw, a user with channels), setOrigins(), accept()'s client limit, onJoin/onLeave, the
 * payload's user/channels/node (never stale), and the API's errors.
 * Fixture: fixtures/rooms.php.
 */
final class RoomsTest extends ServerTestCase
{
    /** @return list<array<string, mixed>> every `event NAME` so far whose data matches */
    private function events(ServerProcess $s, string $name, ?callable $match = null): array
    {
        preg_match_all('/^event ' . preg_quote($name, '/') . ' (.*)$/m', $s->stdout(), $m);
        $out = [];
        foreach ($m[1] as $json) {
            $ev = json_decode($json, true);
            if ($match === null || $match($ev)) {
                $out[] = $ev;
            }
        }
        return $out;
    }

    /** Waits (bounded) for an `event NAME` matching; returns it. */
    private function event(ServerProcess $s, string $name, callable $match, float $timeout = 5.0): array
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            $found = $this->events($s, $name, $match);
            if ($found !== []) {
                return $found[0];
            }
            if (microtime(true) > $deadline) {
                $this->fail("no `event {$name}` matching within {$timeout}s; stdout: " . $s->stdout());
            }
            $s->drain(0.05);
        }
    }

    /** @return list<int> the pids of the workers that announced themselves */
    private function workersReady(ServerProcess $s, int $n, float $timeout = 10.0): array
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            preg_match_all('/^event worker-ready (\d+)$/m', $s->stdout(), $m);
            $pids = array_values(array_unique(array_map('intval', $m[1])));
            if (count($pids) >= $n) {
                return $pids;
            }
            if (microtime(true) > $deadline) {
                $this->fail('only ' . count($pids) . " of {$n} workers ready within {$timeout}s\n" . $s->describe());
            }
            $s->drain(0.1);
        }
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

    /** The refusal an upgrade gets (fails when it is accepted). */
    private function refused(string $url, array $headers = []): WsHandshakeFailed
    {
        try {
            $c = WsClient::connect($url, $headers);
            $c->close();
        } catch (WsHandshakeFailed $e) {
            return $e;
        }
        $this->fail("the upgrade to {$url} was accepted");
    }

    /**
     * Opens clients on /chat until both workers hold at least `$perWorker` of them.
     * @return array<int, list<WsClient>> pid => clients
     */
    private function clientsOnBothWorkers(ServerProcess $s, int $perWorker, string $query = ''): array
    {
        $byPid = [];
        for ($i = 0; $i < 80; $i++) {
            $c = WsClient::connect($s->wsUrl('/chat' . $query));
            $byPid[(int) $this->ask($c, 'pid')][] = $c;
            if (count($byPid) === 2 && min(array_map('count', $byPid)) >= $perWorker) {
                return $byPid;
            }
        }
        $this->fail('80 connections did not spread over two workers: ' . json_encode(array_map('count', $byPid)));
    }

    public function testChatRoomsAcrossTwoWorkers(): void
    {
        $s = $this->server('rooms', ['workers=2']);
        $this->workersReady($s, 2);
        $byPid = $this->clientsOnBothWorkers($s, 3);
        [$pidA, $pidB] = array_keys($byPid);
        // six in red, three from each worker; every other client in blue
        $red = array_merge(array_slice($byPid[$pidA], 0, 3), array_slice($byPid[$pidB], 0, 3));
        $blue = array_merge(array_slice($byPid[$pidA], 3), array_slice($byPid[$pidB], 3));
        if ($blue === []) {
            $blue[] = WsClient::connect($s->wsUrl('/chat'));
        }
        foreach ($red as $c) {
            $this->assertSame('joined red', $this->ask($c, 'join:red'));
        }
        foreach ($blue as $c) {
            $this->assertSame('joined blue', $this->ask($c, 'join:blue'));
        }
        // both workers see the whole channel before anyone speaks
        $probes = [$byPid[$pidA][0], $byPid[$pidB][0]];
        foreach ($probes as $probe) {
            $this->waitUntil(fn () => $this->ask($probe, 'count:red') === '6', 5.0, 'six members of red seen from every worker');
        }
        $members = $this->askJson($red[0], 'members:red');
        $ids = array_map(fn (WsClient $c) => (int) $this->ask($c, 'id'), $red);
        sort($ids);
        $keys = array_map('intval', array_keys($members));
        sort($keys);
        $this->assertSame($ids, $keys, 'members() lists the six, of both workers');

        foreach ($red as $i => $c) {
            $c->sendText("pub:red:message {$i}");
        }
        $expected = array_map(fn ($i) => "message {$i}", array_keys($red));
        foreach ($red as $i => $c) {
            $got = [];
            foreach ($expected as $_) {
                $got[] = $c->receiveText();
            }
            sort($got);
            $this->assertSame($expected, $got, "red member {$i} gets each message once");
        }
        $blue[0]->sendText('pub:blue:blue only');
        foreach ($blue as $i => $c) {
            $this->assertSame('blue only', $c->receiveText(), "blue member {$i} gets blue's message and none of red's");
        }
        foreach (array_merge($red, $blue) as $c) {
            $this->assertTrue($c->silentFor(0.3), 'no one gets more');
        }
        // except the sender; an array goes as JSON text
        $red[0]->sendText('pubx:red:not to me');
        foreach (array_slice($red, 1) as $c) {
            $this->assertSame('not to me', $c->receiveText());
        }
        $this->assertTrue($red[0]->silentFor(0.2), 'pubx skipped the sender');
        $from = (int) $this->ask($red[5], 'id');
        $red[5]->sendText('pubjson:red:hi');
        foreach ($red as $c) {
            $this->assertSame(['text' => 'hi', 'from' => $from], $c->receiveJson(), 'an array is published as JSON text');
        }
        // getClients() is world-wide: every client of both workers, from either
        $all = [];
        foreach (array_merge($red, $blue, ...array_values($byPid)) as $c) {
            $all[spl_object_id($c)] = true;
        }
        $clients = $this->askJson($byPid[$pidA][0], 'clients');
        $this->assertCount(count($all), $clients);
        $this->assertEquals($clients, $this->askJson($byPid[$pidB][0], 'clients'), 'the same list from the other worker');
    }

    public function testPresenceWithSeveralTabsPerUser(): void
    {
        $s = $this->server('rooms', ['workers=2']);
        $this->workersReady($s, 2);
        // Ann opens three tabs, Bob one; each joins presence-lobby through authorize()
        $tabs = [];
        for ($i = 0; $i < 3; $i++) {
            $tabs[] = WsClient::connect($s->wsUrl('/chat?user=ann&name=Ann&ch=presence-lobby'));
        }
        $bob = WsClient::connect($s->wsUrl('/chat?user=7&name=Bob&ch=presence-lobby'));
        $this->event($s, 'presence', fn ($e) => $e['user'] === 7 && $e['event'] === 'join');
        $this->event($s, 'presence', fn ($e) => $e['user'] === 'ann' && $e['event'] === 'join');
        $lobby = $this->askJson($bob, 'presence:presence-lobby');
        usort($lobby, fn ($a, $b) => strcmp((string) $a[0], (string) $b[0]));
        $this->assertSame([[7, ['name' => 'Bob']], ['ann', ['name' => 'Ann']]], $lobby, 'each user once, with its info; a numeric id is an int');
        $this->assertSame(['presence-lobby'], $this->askJson($tabs[0], 'payload')['channels']);

        // two of Ann's tabs close: she is still there
        foreach ([0, 1] as $i) {
            $id = (int) $this->ask($tabs[$i], 'id');
            $tabs[$i]->close();
            $this->event($s, 'close', fn ($e) => $e['id'] === $id);
        }
        $users = array_column($this->askJson($bob, 'presence:presence-lobby'), 0);
        sort($users);
        $this->assertSame([7, 'ann'], $users, 'Ann stays while a tab is open');
        $this->assertSame([], $this->events($s, 'presence', fn ($e) => $e['event'] === 'leave'), 'no leave yet');
        // the last one closes: she leaves, once
        $tabs[2]->close();
        $this->event($s, 'presence', fn ($e) => $e['user'] === 'ann' && $e['event'] === 'leave');
        // the event comes from slot 0; Bob's worker sees the close within the cluster's latency
        $this->waitUntil(fn () => $this->askJson($bob, 'presence:presence-lobby') === [[7, ['name' => 'Bob']]], 3.0,
            'Ann gone from the presence list seen by every worker');
        $bob->close();
        $this->event($s, 'presence', fn ($e) => $e['user'] === 7 && $e['event'] === 'leave');
        foreach (['ann', 7] as $user) {
            foreach (['join', 'leave'] as $what) {
                $this->assertCount(1, $this->events($s, 'presence', fn ($e) => $e['user'] === $user && $e['event'] === $what),
                    "one {$what} of {$user} on this node (two workers, several tabs)");
            }
        }
        $this->assertSame(['name' => 'Ann'], $this->events($s, 'presence', fn ($e) => $e['user'] === 'ann')[0]['info']);
        $this->assertSame('presence-lobby', $this->events($s, 'presence')[0]['channel']);
    }

    public function testAuthorizeRefusals(): void
    {
        $s = $this->server('rooms', ['debug']);
        $e = $this->refused($s->wsUrl('/chat?deny=401'));
        $this->assertSame(401, $e->status);
        $this->assertSame('token needed', $e->body, 'the client reads the body of the Response');
        $this->assertSame(['Bearer'], $e->headers['www-authenticate'] ?? null);

        $e = $this->refused($s->wsUrl('/chat?deny=false'));
        $this->assertSame(403, $e->status, 'false refuses with 403');
        $this->assertNotSame([], $e->headers['x-server-response-type'] ?? [], 'the engine\'s answer');

        $e = $this->refused($s->wsUrl('/chat?deny=throw'));
        $this->assertSame(500, $e->status, 'a throw is a 500');
        $this->waitUntil(fn () => str_contains($s->stderr(), 'authorize boom'), 3.0, 'the exception in the debug log');
        $e = $this->refused($s->wsUrl('/chat?deny=teapot'));
        $this->assertSame(500, $e->status, 'an answer that is no verdict is a 500');
        $this->waitUntil(fn () => str_contains($s->stderr(), 'got string'), 3.0, 'why, in the debug log');

        // the server goes on; HTTP routes are not concerned
        $c = WsClient::connect($s->wsUrl('/chat'));
        $this->assertSame(null, $this->askJson($c, 'payload')['user'], 'null accepts, without a user');
        $this->assertResponse(200, 'plain ok', Http::get($s->url('/plain?deny=false')));
        $this->assertTrue($s->isRunning());
    }

    public function testAuthorizeAcceptsWithUserAndChannels(): void
    {
        $s = $this->server('rooms');
        $c = WsClient::connect($s->wsUrl('/chat?user=42&name=Ann&ch=red,blue'));
        $payload = $this->askJson($c, 'payload');
        $this->assertSame(42, $payload['user'], 'an int user id comes back as an int');
        $this->assertSame(['name' => 'Ann'], $payload['info']);
        $channels = $payload['channels'];
        sort($channels);
        $this->assertSame(['blue', 'red'], $channels);
        $this->assertIsString($payload['node']);
        $id = $payload['id'];
        foreach (['red', 'blue'] as $channel) {
            $ev = $this->event($s, 'join', fn ($e) => $e['id'] === $id && $e['channel'] === $channel);
            $this->assertSame(42, $ev['user']);
        }
        $open = $this->event($s, 'open', fn ($e) => $e['id'] === $id);
        $this->assertSame(42, $open['user'], 'onOpen sees the user');

        // a cookie names the user as well (the upgrade request's cookies)
        $d = WsClient::connect($s->wsUrl('/chat?ch=red'), ['Cookie' => 'theme=dark; user=bea%20b']);
        $this->assertSame('bea b', $this->askJson($d, 'payload')['user']);
        // a user-less client is in no presence channel: naming one is the authorizer's error
        // (500, the reason in the debug log), as join() would throw
        $opened = substr_count($s->stdout(), 'event open ');
        $e = $this->refused($s->wsUrl('/chat?ch=red,presence-x'));
        $this->assertSame(500, $e->status);
        $guest = WsClient::connect($s->wsUrl('/chat?ch=red'));
        $this->assertSame(['red'], $this->askJson($guest, 'payload')['channels'], 'channels without a user');
        $this->assertSame($opened + 1, substr_count($s->stdout(), 'event open '), 'the refused one never opened');
    }

    public function testOrigins(): void
    {
        $s = $this->server('rooms', ['origins=http://good.test,https://also.test:8443']);
        $e = $this->refused($s->wsUrl('/chat'), ['Origin' => 'http://evil.test']);
        $this->assertSame(403, $e->status);
        $this->assertSame(403, $this->refused($s->wsUrl('/chat'), ['Origin' => 'http://good.test:8080'])->status, 'another port');
        $this->assertSame(403, $this->refused($s->wsUrl('/chat'), ['Origin' => 'https://good.test'])->status, 'another scheme');
        WsClient::connect($s->wsUrl('/chat'), ['Origin' => 'http://good.test'])->close();
        WsClient::connect($s->wsUrl('/chat'), ['Origin' => 'http://GOOD.test:80'])->close(); // the same origin, written otherwise
        WsClient::connect($s->wsUrl('/chat'), ['Origin' => 'https://also.test:8443'])->close();
        WsClient::connect($s->wsUrl('/chat'))->close(); // no Origin: not a browser, let through
        $this->assertResponse(200, 'plain ok', Http::get($s->url('/plain'), ['Origin' => 'http://evil.test']));

        $any = $this->server('rooms', ['origins=*']);
        WsClient::connect($any->wsUrl('/chat'), ['Origin' => 'http://evil.test'])->close();
        $this->addToAssertionCount(1);
    }

    public function testRouteClientLimit(): void
    {
        $s = $this->server('rooms');
        $a = WsClient::connect($s->wsUrl('/limited'));
        $b = WsClient::connect($s->wsUrl('/limited'));
        $e = $this->refused($s->wsUrl('/limited'));
        $this->assertSame(503, $e->status, 'the third client of a route of two');
        WsClient::connect($s->wsUrl('/chat'))->close(); // other routes are not counted
        $id = (int) $this->ask($a, 'id');
        $a->close();
        $this->event($s, 'close', fn ($ev) => $ev['id'] === $id);
        $c = WsClient::connect($s->wsUrl('/limited'));
        $this->assertMatchesRegularExpression('/^\d+$/', $this->ask($c, 'id'), 'a place freed by a close is taken');
        $this->assertSame(503, $this->refused($s->wsUrl('/limited'))->status);
        $b->close();
    }

    public function testJoinLeaveEventsAndFreshPayloads(): void
    {
        $s = $this->server('rooms');
        $c = WsClient::connect($s->wsUrl('/chat'));
        $other = WsClient::connect($s->wsUrl('/chat'));
        $id = (int) $this->ask($c, 'id');
        $this->assertSame([], $this->askJson($c, 'payload')['channels'], 'the cached payload has no channel yet');
        $this->assertSame('joined red', $this->ask($c, 'join:red'));
        $ev = $this->event($s, 'join', fn ($e) => $e['id'] === $id && $e['channel'] === 'red');
        $this->assertSame(['red'], $ev['channels'], 'onJoin: the payload has the channel');
        $this->assertSame(['red'], $this->askJson($c, 'payload')['channels'], 'the payload is not stale');
        // joined by another client's call: the payload follows too
        $this->assertSame('ok', $this->ask($other, "joinid:{$id}:blue"));
        $this->event($s, 'join', fn ($e) => $e['id'] === $id && $e['channel'] === 'blue');
        $channels = $this->askJson($c, 'payload')['channels'];
        sort($channels);
        $this->assertSame(['blue', 'red'], $channels);
        $this->assertEquals($channels, $this->sorted($this->askJson($other, "channels:{$id}")));
        $this->assertSame('left red', $this->ask($c, 'leave:red'));
        $ev = $this->event($s, 'leave', fn ($e) => $e['id'] === $id && $e['channel'] === 'red');
        $this->assertSame(['blue'], $ev['channels']);
        $this->assertSame(['blue'], $this->askJson($c, 'payload')['channels']);
        $this->assertSame(['blue'], $this->askJson($c, 'channels'));
        // a client leaves every channel when it closes
        $c->close();
        $this->event($s, 'leave', fn ($e) => $e['id'] === $id && $e['channel'] === 'blue');
        $this->assertSame([], $this->askJson($other, 'members:blue'));
        $this->assertCount(1, $this->events($s, 'join', fn ($e) => $e['id'] === $id && $e['channel'] === 'red'), 'one join event per join');
    }

    public function testApiErrors(): void
    {
        $s = $this->server('rooms');
        $c = WsClient::connect($s->wsUrl('/chat'));
        $id = (int) $this->ask($c, 'id');
        $unknown = $id + 1000;
        $cases = [
            "join:{$unknown}:red" => 'NotFoundException',
            "leave:{$unknown}:red" => 'NotFoundException',
            "channels:{$unknown}" => 'NotFoundException',
            "join:{$id}:" => 'InvalidArgumentException',
            "join:{$id}:presence-lobby" => 'StateException', // a client without a user
            'publish::text' => 'InvalidArgumentException',
            "publish:bad\x01name:text" => 'InvalidArgumentException',
            'publish:' . str_repeat('x', 201) . ':text' => 'InvalidArgumentException',
        ];
        foreach ($cases as $call => $class) {
            $r = $this->askJson($c, "try:{$call}");
            $this->assertArrayHasKey('class', $r, "{$call} throws: " . json_encode($r));
            if ($class !== null) {
                $this->assertSame($class, $r['class'], "{$call}: " . $r['message']);
            }
            $this->assertMatchesRegularExpression('/failed: .+: .+/', $r['message'], "{$call}: the engine's message follows the status");
        }
        $this->assertSame(['ok' => null], $this->askJson($c, "try:leave:{$id}:never-joined"), 'leaving a channel one is not in is no error');
        $this->assertSame(['ok' => []], $this->askJson($c, 'try:presence:presence-empty'));
        $this->assertSame(['ok' => []], $this->askJson($c, 'try:members:nobody-here'));
        $this->assertSame(['ok' => []], $this->askJson($c, 'try:members:'), 'a name no channel can have has no members');
        $this->assertSame(['ok' => []], $this->askJson($c, 'try:presence:'));
        $this->assertSame([], $this->askJson($c, 'channels'), 'nothing was joined by the failed calls');
    }

    /** @param list<string> $list */
    private function sorted(array $list): array
    {
        sort($list);
        return $list;
    }

    public function testPayloadFollowsJoinsFromAnotherWorker(): void
    {
        $s = $this->server('rooms', ['workers=2']);
        $this->workersReady($s, 2);
        $byPid = $this->clientsOnBothWorkers($s, 1);
        [$pidA, $pidB] = array_keys($byPid);
        $a = $byPid[$pidA][0];
        $b = $byPid[$pidB][0];
        $idB = (int) $this->ask($b, 'id');
        $this->assertSame([], $this->askJson($b, 'payload')['channels']);
        $this->assertSame('ok', $this->ask($a, "joinid:{$idB}:green"), 'a worker joins another worker\'s client');
        $ev = $this->event($s, 'join', fn ($e) => $e['id'] === $idB && $e['channel'] === 'green');
        $this->assertSame($pidB, $ev['pid'], 'onJoin runs in the worker that holds the client');
        $this->assertSame(['green'], $this->askJson($b, 'payload')['channels'], 'its cached payload was dropped');
        $this->assertSame(['green'], $this->askJson($a, "channels:{$idB}"));
        $a->sendText('pub:green:across');
        $this->assertSame('across', $b->receiveText());
        $this->assertSame('ok', $this->ask($a, "leaveid:{$idB}:green"));
        $this->event($s, 'leave', fn ($e) => $e['id'] === $idB && $e['channel'] === 'green');
        $this->assertSame([], $this->askJson($b, 'payload')['channels']);
        $nodes = array_unique(array_values($this->askJson($a, 'clients')));
        $this->assertCount(1, $nodes, 'the workers of one server are one node');
        // another worker's client as getClients() shows it: its summary, without headers
        $seen = $this->askJson($a, "client:{$idB}");
        $own = $this->askJson($b, "client:{$idB}");
        $this->assertSame([], $seen['headers']);
        $this->assertNotSame([], $own['headers'], 'its own worker has the headers');
        $this->assertEquals(array_diff_key($own, ['headers' => 0]), array_diff_key($seen, ['headers' => 0]),
            'the rest is the same from both workers (address, port, uri, path, query, params, route, user, channels, node)');
    }
}
