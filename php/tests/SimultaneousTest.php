<?php
declare(strict_types=1);

namespace HttpSock\Tests;

use HttpSock\Tests\Support\Http;
use HttpSock\Tests\Support\ServerProcess;
use HttpSock\Tests\Support\ServerTestCase;
use HttpSock\Tests\Support\WsClient;

/**
 * Simultaneous mode through HttpServer: run(..., true) with setMaxProcesses(N). N workers share
 * the port; a broadcast reaches the clients of every worker; a worker killed with SIGKILL is
 * replaced, and so is one that dies of a PHP fatal error inside a handler or a WebSocket callback
 * while the other keeps serving; SIGTERM to the parent ends everything, no zombie and no orphan.
 * Fixture: fixtures/simultaneous.php.
 */
final class SimultaneousTest extends ServerTestCase
{
    /** @return int[] PIDs of the workers that announced themselves (in order) */
    private function workersReady(ServerProcess $s, int $n, float $timeout = 10.0, array $exclude = []): array
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            preg_match_all('/^event worker-ready (\d+)$/m', $s->stdout(), $m);
            $pids = array_values(array_diff(array_unique(array_map('intval', $m[1])), $exclude));
            if (count($pids) >= $n) {
                return $pids;
            }
            if (microtime(true) > $deadline) {
                $this->fail("only " . count($pids) . " of $n workers ready within {$timeout}s\n" . $s->describe());
            }
            $s->drain(0.1);
        }
    }

    private function parentPid(ServerProcess $s): int
    {
        return (int) $s->waitForLine('/^event parent (\d+)$/', 2.0)[1];
    }

    /** Opens WebSocket clients until two sit on different workers: [[client, pid], [client, pid]]. */
    private function clientsOnTwoWorkers(ServerProcess $s): array
    {
        $byPid = [];
        $keep = [];
        for ($i = 0; $i < 40 && count($byPid) < 2; $i++) {
            $c = WsClient::connect($s->wsUrl('/ws'));
            $c->sendText('pid');
            $pid = (int) $c->receiveText();
            $keep[] = $c;
            $byPid[$pid] ??= $c;
        }
        $this->assertGreaterThanOrEqual(2, count($byPid), 'WebSocket connections spread over at least two workers');
        $pids = array_keys($byPid);
        return [[$byPid[$pids[0]], $pids[0]], [$byPid[$pids[1]], $pids[1]], $keep];
    }

    public function testWorkersShareThePort(): void
    {
        $s = $this->server('simultaneous', ['workers=3']);
        $parent = $this->parentPid($s);
        $workers = $this->workersReady($s, 3);
        $this->assertSame($parent, $s->pid());
        sort($workers);
        $children = $s->children();
        sort($children);
        $this->assertSame($workers, $children, 'the three workers are the children of the parent');
        $seen = [];
        for ($i = 0; $i < 40; $i++) {
            $raw = Http::raw($s->port(), "GET /pid HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            $this->assertMatchesRegularExpression('/^HTTP\/1\.1 200 OK\r\n/', $raw);
            $pid = (int) substr($raw, strpos($raw, "\r\n\r\n") + 4);
            $this->assertContains($pid, $workers, 'answered by a worker');
            $seen[$pid] = true;
        }
        $this->assertGreaterThanOrEqual(2, count($seen), '40 connections reached more than one worker');
    }

    public function testBroadcastCrossesWorkers(): void
    {
        $s = $this->server('simultaneous', ['workers=2']);
        $this->workersReady($s, 2);
        [[$a, $pidA], [$b, $pidB], $all] = $this->clientsOnTwoWorkers($s);
        $this->assertNotSame($pidA, $pidB);
        $a->sendText('broadcast:hello from ' . $pidA);
        $this->assertSame('hello from ' . $pidA, $b->receiveText(), 'a client of another worker receives the broadcast');
        $this->assertSame('hello from ' . $pidA, $a->receiveText(), 'and the sender too');
        foreach ($all as $c) {
            if ($c !== $a && $c !== $b) {
                $this->assertSame('hello from ' . $pidA, $c->receiveText(), 'every client of every worker');
            }
        }
        // getClients() lists the clients of every worker, from either (the world view spreads
        // within the cluster's latency)
        $ask = static function (WsClient $c): array {
            $c->sendText('clients');
            $ids = json_decode($c->receiveText(), true);
            sort($ids);
            return $ids;
        };
        $this->waitUntil(fn () => count($ask($a)) === count($all) && count($ask($b)) === count($all), 5.0,
            'every client listed by both workers');
        $idsA = $ask($a);
        $this->assertSame($idsA, $ask($b), 'the same list from both workers');
        $this->assertCount(count($all), array_unique($idsA), 'client ids are unique across workers');
    }

    public function testKilledWorkerIsReplaced(): void
    {
        $s = $this->server('simultaneous', ['workers=2']);
        $workers = $this->workersReady($s, 2);
        $victim = $workers[0];
        posix_kill($victim, SIGKILL);
        $replacement = $this->workersReady($s, 1, 10.0, $workers);
        $this->assertNotContains($replacement[0], $workers);
        $this->waitUntil(fn () => !ServerProcess::alive($victim), 5.0, 'the killed worker to be gone');
        $children = $s->children();
        sort($children);
        $expected = [$workers[1], $replacement[0]];
        sort($expected);
        $this->assertSame($expected, $children, 'two workers again, the killed one reaped');
        for ($i = 0; $i < 20; $i++) {
            $raw = Http::raw($s->port(), "GET /pid HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            $this->assertStringStartsWith('HTTP/1.1 200 OK', $raw, 'service continues');
            $this->assertContains((int) substr($raw, strpos($raw, "\r\n\r\n") + 4), $expected);
        }
    }

    /** GET /pid on an open keep-alive connection: the PID of the worker that serves it. */
    private static function pidOn($sock): int
    {
        fwrite($sock, "GET /pid HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        $raw = Http::readResponse($sock);
        if (!str_starts_with($raw, 'HTTP/1.1 200 OK')) {
            throw new \RuntimeException('GET /pid: ' . json_encode($raw));
        }
        return (int) substr($raw, strpos($raw, "\r\n\r\n") + 4);
    }

    /** Keep-alive connections until two sit on different workers: [pid => socket, pid => socket]. */
    private function httpOnTwoWorkers(ServerProcess $s): array
    {
        $byPid = [];
        for ($i = 0; $i < 40 && count($byPid) < 2; $i++) {
            $sock = Http::connect($s->port());
            $byPid[self::pidOn($sock)] ??= $sock;
        }
        $this->assertCount(2, $byPid, 'keep-alive connections on two workers');
        return $byPid;
    }

    /** The worker $victim is gone (not even a zombie), a new one took its slot: its PID. */
    private function assertReplaced(ServerProcess $s, int $victim, int $survivor, array $workers): int
    {
        $replacement = $this->workersReady($s, 1, 10.0, $workers)[0];
        $this->waitUntil(fn () => !file_exists("/proc/$victim"), 5.0, "worker $victim to be reaped");
        $children = $s->children();
        sort($children);
        $expected = [$survivor, $replacement];
        sort($expected);
        $this->assertSame($expected, $children, 'two workers again: the survivor and the replacement');
        $this->assertMatchesRegularExpression(
            "/worker slot \\d+ \\(pid $victim\\) exited with code 255/",
            $s->stderr(),
            'the worker ended by itself with PHP\'s fatal-error exit code (not killed)'
        );
        return $replacement;
    }

    public function testFatalErrorInAHandlerReplacesTheWorker(): void
    {
        // A real E_ERROR (memory exhaustion), not a Throwable: the worker process dies inside the
        // engine's callback. The request that hit it gets its connection closed without an
        // answer (there is no process left to write a 500); the other worker serves on, through
        // the gap; the supervisor forks a replacement into the slot.
        $s = $this->server('simultaneous', ['workers=2', 'debug']);
        $workers = $this->workersReady($s, 2);
        $byPid = $this->httpOnTwoWorkers($s);
        [$victim, $survivor] = array_keys($byPid);

        fwrite($byPid[$victim], "GET /fatal HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        $this->assertSame('', Http::readResponse($byPid[$victim], 10.0), 'closed without a response');
        $this->assertStringContainsString('Allowed memory size of 16777216 bytes exhausted', $s->stderr());

        // At once, before the replacement is necessarily up: the survivor's open connection and
        // new connections (the port keeps listeners: the parent's socket, the survivor's).
        $this->assertSame($survivor, self::pidOn($byPid[$survivor]), 'the other worker answers on its connection');
        for ($i = 0; $i < 20; $i++) {
            $raw = Http::raw($s->port(), "GET /pid HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            $this->assertStringStartsWith('HTTP/1.1 200 OK', $raw, "new connection $i after the fatal error");
            $this->assertNotSame($victim, (int) substr($raw, strpos($raw, "\r\n\r\n") + 4));
        }

        $replacement = $this->assertReplaced($s, $victim, $survivor, $workers);
        $seen = [];
        for ($i = 0; $i < 40 && count($seen) < 2; $i++) {
            $raw = Http::raw($s->port(), "GET /pid HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            $this->assertStringStartsWith('HTTP/1.1 200 OK', $raw);
            $seen[(int) substr($raw, strpos($raw, "\r\n\r\n") + 4)] = true;
        }
        $this->assertArrayHasKey($replacement, $seen, 'the replacement serves new connections');
        $this->assertSame($survivor, self::pidOn($byPid[$survivor]), 'the survivor still serves its connection');
        $this->assertTrue($s->isRunning(), 'the parent is untouched');
    }

    public function testFatalErrorInAWebSocketCallbackReplacesTheWorker(): void
    {
        // The same fatal error in accept()'s callback: that worker's clients lose their TCP
        // connection (no close frame can be sent); the other worker's clients stay connected and
        // keep getting broadcasts; the replacement joins the cluster again (broadcasts cross
        // between it and the survivor).
        $s = $this->server('simultaneous', ['workers=2', 'debug']);
        $workers = $this->workersReady($s, 2);
        [[$victimClient, $victim], [$survivorClient, $survivor]] = $this->clientsOnTwoWorkers($s);

        $victimClient->sendText('fatal');
        $this->assertTrue($victimClient->waitEof(10.0), "the victim's client loses its connection");
        $this->assertStringContainsString('Allowed memory size of 16777216 bytes exhausted', $s->stderr());

        $survivorClient->sendText('still there?');
        $this->assertSame('still there?', $survivorClient->receiveText(), 'the survivor keeps its client');

        $replacement = $this->assertReplaced($s, $victim, $survivor, $workers);
        $fresh = null;
        $keep = [];
        for ($i = 0; $i < 40 && $fresh === null; $i++) {
            $c = WsClient::connect($s->wsUrl('/ws'));
            $c->sendText('pid');
            if ((int) $c->receiveText() === $replacement) {
                $fresh = $c;
            } else {
                $keep[] = $c;
            }
        }
        $this->assertNotNull($fresh, 'a WebSocket client reaches the replacement');
        $survivorClient->sendText('broadcast:across after the fatal error');
        $this->assertSame('across after the fatal error', $fresh->receiveText(), 'survivor -> replacement');
        $this->assertSame('across after the fatal error', $survivorClient->receiveText());
        foreach ($keep as $c) {
            $this->assertSame('across after the fatal error', $c->receiveText());
        }
        $fresh->sendText('broadcast:and back');
        $this->assertSame('and back', $survivorClient->receiveText(), 'replacement -> survivor');
    }

    public function testSigtermToTheParentEndsEverything(): void
    {
        $s = $this->server('simultaneous', ['workers=3']);
        $workers = $this->workersReady($s, 3);
        $c = WsClient::connect($s->wsUrl('/ws'));
        $c->sendText('x');
        $this->assertSame('x', $c->receiveText());
        $s->recordDescendants();
        $end = $s->stop(SIGTERM, 12.0);
        $this->assertFalse($end['killed'], 'the parent ended without SIGKILL');
        $this->assertLessThan(5.0, $end['seconds']);
        $this->assertNull($end['signal']);
        $this->assertSame(0, $end['code']);
        foreach ($workers as $pid) {
            $this->assertFalse(file_exists("/proc/$pid"), "worker $pid is gone: neither a zombie nor an orphan");
        }
        $this->assertSame([], $s->liveDescendants());
        [$op] = $c->receive(3.0);
        $this->assertSame(WsClient::CLOSE, $op);
        $this->assertSame(1001, $c->closeCode);
    }

    public function testWorkersDoNotOutliveAKilledParent(): void
    {
        $s = $this->server('simultaneous', ['workers=2']);
        $workers = $this->workersReady($s, 2);
        $s->recordDescendants(); // so that tearDown can end them if they stay
        posix_kill($s->pid(), SIGKILL);
        $this->assertNotNull($s->waitExit(5.0));
        $this->waitUntil(function () use ($workers) {
            foreach ($workers as $pid) {
                if (ServerProcess::alive($pid)) {
                    return false;
                }
            }
            return true;
        }, 5.0, 'the orphaned workers to shut down by themselves');
    }

    public function testConnectionRightAfterTheReadinessLine(): void
    {
        // The fixture prints its line after the constructor bound the port, then calls
        // run(..., true). The parent keeps that socket (SO_REUSEPORT) and every worker serves it
        // beside its own, so a connection made at once is answered, and only by a worker.
        $s = $this->server('simultaneous', ['workers=2']);
        $parent = $s->pid();
        $served = [];
        for ($i = 0; $i < 5; $i++) {
            try {
                $raw = Http::raw($s->port(), "GET /pid HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 5.0);
            } catch (\RuntimeException $e) {
                $raw = 'refused: ' . $e->getMessage();
            }
            $this->assertStringStartsWith('HTTP/1.1 200 OK', $raw, "connection $i right after the readiness line");
            $pid = (int) substr($raw, strpos($raw, "\r\n\r\n") + 4);
            $this->assertNotSame($parent, $pid, 'the parent never serves');
            $status = (string) @file_get_contents("/proc/$pid/status");
            $this->assertMatchesRegularExpression("/^PPid:\\s+$parent$/m", $status, "pid $pid is a worker of $parent");
            $served[] = $pid;
        }
        $this->addToAssertionCount(count($served));
    }
}
