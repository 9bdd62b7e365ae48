<?php

declare(strict_types=1);

namespace HttpSock\Tests;

use PHPUnit\Framework\TestCase;

/**
 * Drives HttpSock\Process\Supervisor through a real process tree: the fixture
 * tests/fixtures/supervisor_workers.php runs a supervisor whose workers report their pid in files.
 * Readiness is always a file appearing (polled for a bounded time); no sleep is used as
 * synchronisation. Only processes started here are signalled, by pid.
 *
 * Run: phpunit php/tests/SupervisorTest.php
 */
final class SupervisorTest extends TestCase
{
    private const FIXTURE = __DIR__ . '/fixtures/supervisor_workers.php';

    private string $dir = '';

    /** @var resource|null */
    private $proc = null;

    private int $master = 0;

    protected function tearDown(): void
    {
        // Whatever a failed test left running: only the pids this test started.
        foreach ($this->knownPids() as $pid) {
            if ($this->alive($pid)) {
                posix_kill($pid, SIGKILL);
            }
        }
        if ($this->master > 0 && $this->alive($this->master)) {
            posix_kill($this->master, SIGKILL);
        }
        if (\is_resource($this->proc)) {
            proc_close($this->proc);
        }
        if ($this->dir !== '' && is_dir($this->dir)) {
            foreach (glob($this->dir . '/*') ?: [] as $file) {
                unlink($file);
            }
            rmdir($this->dir);
        }
    }

    public function testWorkersRunAreReplacedInTheirSlotAndStopOnSigterm(): void
    {
        $this->start('loop', 3);
        $pids = $this->waitForSlots(3);

        foreach ($pids as $slot => $pid) {
            $this->assertTrue($this->alive($pid), "slot {$slot} runs");
            $this->assertSame($this->master, $this->ppid($pid), "slot {$slot} is a child of the supervisor");
        }
        $this->assertCount(3, array_unique($pids));

        // SIGKILL one worker: the same slot gets a new process, the old one is reaped.
        $victim = $pids[1];
        posix_kill($victim, SIGKILL);
        $replacement = $this->waitUntil(
            fn () => ($p = $this->slotPid(1)) !== null && $p !== $victim ? $p : null,
            5.0,
            'slot 1 was not restarted',
        );
        $this->assertSame($this->master, $this->ppid($replacement));
        $this->assertFalse($this->exists($victim), 'the killed worker is reaped (no zombie)');
        $this->assertSame($pids[0], $this->slotPid(0), 'other slots untouched');
        $this->assertSame($pids[2], $this->slotPid(2), 'other slots untouched');
        $this->assertStringContainsString("worker slot 1 (pid {$victim}) killed by signal 9", $this->log());

        // SIGTERM to the supervisor: every worker gets SIGTERM, everything is reaped, exit 0.
        posix_kill($this->master, SIGTERM);
        $this->assertSame(0, $this->waitExit(5.0));
        foreach ([$pids[0], $replacement, $pids[2]] as $pid) {
            $this->assertFileExists("{$this->dir}/term-{$pid}", "worker {$pid} got SIGTERM");
        }
        $this->assertFileExists("{$this->dir}/stopped", 'onStop ran');
        $this->assertNothingLeft();
    }

    public function testSigintStopsLikeSigterm(): void
    {
        $this->start('loop', 2);
        $this->waitForSlots(2);
        posix_kill($this->master, SIGINT);
        $this->assertSame(0, $this->waitExit(5.0));
        $this->assertFileExists("{$this->dir}/stopped");
        $this->assertNothingLeft();
    }

    public function testReturnCodeIsTheExitCodeAndTheSlotIsRestarted(): void
    {
        $this->start('exit-once', 2);
        $this->waitUntil(fn () => \count($this->starts(0)) >= 2 ? true : null, 5.0, 'slot 0 not restarted');
        $first = $this->starts(0)[0];
        $this->assertStringContainsString("worker slot 0 (pid {$first}) exited with code 7", $this->log());
        $this->assertFalse($this->exists($first));

        posix_kill($this->master, SIGTERM);
        $this->assertSame(0, $this->waitExit(5.0));
        $this->assertNothingLeft();
    }

    public function testCrashingWorkerIsReportedAndBackedOff(): void
    {
        $this->start('crash', 2);
        // More than 5 deaths in 10 s: the 6th restart waits 1 s.
        $this->waitUntil(
            fn () => str_contains($this->log(), 'slot 0 died 6 times in 10 s: restarting it in 1 s') ? true : null,
            5.0,
            'no backoff logged',
        );
        $this->waitUntil(fn () => \count($this->starts(0)) >= 7 ? true : null, 5.0, 'slot 0 not restarted after backoff');
        $times = $this->startTimes(0);
        $this->assertLessThan(0.9, $times[5] - $times[0], 'the first restarts are immediate');
        $this->assertGreaterThanOrEqual(0.95, $times[6] - $times[5], 'the restart after the burst waits 1 s');

        $this->assertStringContainsString('exited with code 1', $this->log());
        $this->assertStringContainsString(
            'uncaught RuntimeException: slot 0 crashes on purpose',
            (string) file_get_contents("{$this->dir}/stderr"),
        );
        // The healthy slot was never restarted.
        $this->assertCount(1, $this->starts(1));

        posix_kill($this->master, SIGTERM);
        $this->assertSame(0, $this->waitExit(5.0));
        $this->assertNothingLeft();
    }

    public function testStopCalledInsideAWorkerStopsTheGroup(): void
    {
        $this->start('stop', 3);
        $this->assertSame(0, $this->waitExit(5.0));
        $this->assertFileExists("{$this->dir}/stopped");
        $this->assertNothingLeft();
    }

    public function testStopCalledFromTheCallersSignalHandler(): void
    {
        $this->start('usr1', 2);
        $this->waitForSlots(2);
        posix_kill($this->master, SIGUSR1);
        $this->assertSame(0, $this->waitExit(5.0));
        $this->assertFileExists("{$this->dir}/usr1");
        $this->assertFileExists("{$this->dir}/stopped");
        $this->assertNothingLeft();
    }

    public function testSecondStopSignalKillsStubbornWorkersAtOnce(): void
    {
        $this->start('stubborn', 2);
        $this->waitForSlots(2);
        posix_kill($this->master, SIGTERM);
        $this->waitUntil(fn () => str_contains($this->log(), 'stopping 2 worker(s)') ? true : null, 5.0, 'no stop');
        $t0 = hrtime(true);
        posix_kill($this->master, SIGINT);
        $this->assertSame(0, $this->waitExit(3.0));
        $this->assertLessThan(3.0, (hrtime(true) - $t0) / 1e9);
        $this->assertStringContainsString('second stop signal: SIGKILL', $this->log());
        $this->assertStringContainsString('killed by signal 9', $this->log());
        $this->assertNothingLeft();
    }

    public function testStubbornWorkersAreKilledAfterTheGrace(): void
    {
        $this->start('stubborn', 2);
        $this->waitForSlots(2);
        $t0 = hrtime(true);
        posix_kill($this->master, SIGTERM);
        $this->assertSame(0, $this->waitExit(15.0));
        $took = (hrtime(true) - $t0) / 1e9;
        $this->assertGreaterThanOrEqual(9.5, $took, 'waited the 10 s grace');
        $this->assertLessThan(13.0, $took);
        $this->assertStringContainsString('workers still running after 10 s: SIGKILL', $this->log());
        $this->assertFileExists("{$this->dir}/stopped");
        $this->assertNothingLeft();
    }

    public function testWorkersOfAKilledSupervisorDoNotStayOrphaned(): void
    {
        $this->start('loop', 2);
        $pids = $this->waitForSlots(2);
        posix_kill($this->master, SIGKILL);
        $this->waitExit(5.0);
        foreach ($pids as $pid) {
            $this->waitUntil(
                fn () => file_exists("{$this->dir}/orphan-exit-{$pid}") ? true : null,
                5.0,
                "orphaned worker {$pid} kept running",
            );
        }
        // Re-parented workers are reaped by their new parent (init or a subreaper), not by us:
        // what matters is that none of them keeps running.
        $this->waitUntil(
            fn () => array_filter($pids, fn (int $p) => $this->running($p)) === [] ? true : null,
            5.0,
            'orphaned workers still running',
        );
    }

    // ---- helpers -------------------------------------------------------------------------------

    private function start(string $scenario, int $workers): void
    {
        $this->dir = sys_get_temp_dir() . '/hs-supervisor-' . bin2hex(random_bytes(6));
        mkdir($this->dir);
        $this->proc = proc_open(
            [PHP_BINARY, self::FIXTURE, $this->dir, (string) $workers, $scenario],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', "{$this->dir}/stdout", 'w'], 2 => ['file', "{$this->dir}/stderr", 'w']],
            $pipes,
        );
        $this->assertIsResource($this->proc);
        $this->master = proc_get_status($this->proc)['pid'];
    }

    /** @return array<int, int> slot => pid, once every slot has reported */
    private function waitForSlots(int $n): array
    {
        return $this->waitUntil(function () use ($n) {
            $pids = [];
            for ($slot = 0; $slot < $n; $slot++) {
                $pid = $this->slotPid($slot);
                if ($pid === null) {
                    return null;
                }
                $pids[$slot] = $pid;
            }
            return $pids;
        }, 5.0, "{$n} workers did not start");
    }

    /**
     * Polls `$probe` every 20 ms until it returns non-null, for at most `$seconds`.
     *
     * @template T
     * @param callable(): (T|null) $probe
     * @return T
     */
    private function waitUntil(callable $probe, float $seconds, string $failure): mixed
    {
        $deadline = hrtime(true) + (int) ($seconds * 1e9);
        do {
            $value = $probe();
            if ($value !== null) {
                return $value;
            }
            usleep(20_000);
        } while (hrtime(true) < $deadline);
        $this->fail($failure . "\nsupervisor log:\n" . $this->log());
    }

    /** Waits for the supervisor to exit; returns its exit code (-1 if killed by a signal). */
    private function waitExit(float $seconds): int
    {
        $status = $this->waitUntil(function () {
            $s = proc_get_status($this->proc);
            return $s['running'] ? null : $s;
        }, $seconds, 'the supervisor did not exit');
        return $status['signaled'] ? -1 : $status['exitcode'];
    }

    private function slotPid(int $slot): ?int
    {
        $text = @file_get_contents("{$this->dir}/slot-{$slot}.pid");
        return $text === false || $text === '' ? null : (int) $text;
    }

    /** @return list<int> pids that started in `$slot`, in order */
    private function starts(int $slot): array
    {
        return array_map(static fn (array $f): int => (int) $f[1], $this->startLines($slot));
    }

    /** @return list<float> monotonic start times of `$slot` */
    private function startTimes(int $slot): array
    {
        return array_map(static fn (array $f): float => (float) $f[2], $this->startLines($slot));
    }

    /** @return list<list<string>> */
    private function startLines(int $slot): array
    {
        $lines = @file("{$this->dir}/starts.log", FILE_IGNORE_NEW_LINES) ?: [];
        $fields = array_map(static fn (string $l): array => explode(' ', $l), $lines);
        return array_values(array_filter($fields, static fn (array $f): bool => (int) $f[0] === $slot));
    }

    /** @return list<int> */
    private function knownPids(): array
    {
        if ($this->dir === '') {
            return [];
        }
        $lines = @file("{$this->dir}/starts.log", FILE_IGNORE_NEW_LINES) ?: [];
        return array_map(static fn (string $l): int => (int) explode(' ', $l)[1], $lines);
    }

    private function log(): string
    {
        return (string) @file_get_contents("{$this->dir}/supervisor.log");
    }

    private function exists(int $pid): bool
    {
        return file_exists("/proc/{$pid}");
    }

    private function state(int $pid): ?string
    {
        $status = @file_get_contents("/proc/{$pid}/status");
        if ($status === false || !preg_match('/^State:\s+(\S)/m', $status, $m)) {
            return null;
        }
        return $m[1];
    }

    private function alive(int $pid): bool
    {
        return $this->exists($pid);
    }

    /** Exists and is not a zombie. */
    private function running(int $pid): bool
    {
        $state = $this->state($pid);
        return $state !== null && $state !== 'Z';
    }

    private function ppid(int $pid): ?int
    {
        $status = @file_get_contents("/proc/{$pid}/status");
        return $status !== false && preg_match('/^PPid:\s+(\d+)/m', $status, $m) ? (int) $m[1] : null;
    }

    /**
     * After a clean stop: every worker ever started is gone from /proc (reaped, so no zombie),
     * and no process runs the fixture for this test's directory (nothing orphaned).
     */
    private function assertNothingLeft(): void
    {
        foreach ($this->knownPids() as $pid) {
            $this->assertFalse($this->exists($pid), "worker {$pid} left behind (state {$this->state($pid)})");
        }
        foreach (glob('/proc/[0-9]*/cmdline') ?: [] as $file) {
            $cmd = (string) @file_get_contents($file);
            if (str_contains($cmd, $this->dir)) {
                $pid = (int) basename(\dirname($file));
                $this->fail("process {$pid} still runs the fixture (state {$this->state($pid)})");
            }
        }
    }
}
