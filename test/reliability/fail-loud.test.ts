/**
 * Failures (issue 7): the serving side goes away. For each failure, the outcome without a
 * policy (a hang: threads still blocked in handle_userfault; or a silent zero page) and with
 * FailLoud (SIGBUS on the unresolved pages, or an abort), never a hang, never a zero page where
 * fail-loud was asked for. Every scenario runs in a child with a hard timeout.
 *
 * UFFDIO_POISON is Linux 6.6+. Before it (the 6.1 guests) every row that arms the default
 * action asserts instead that arm() refuses 'poison' (ERR_UFFD_UNSUPPORTED) and then runs the
 * same scenario with action 'abort', which must abort the process where 'poison' would poison.
 */
import { pageSize } from '../../lib';
import { hasPoison } from '../helpers/kernel-version';
import { compileC, lastJson, runFixture, testTimeoutFor, type ChildResult } from './helpers';

interface Page {
  page: number;
  served: boolean;
  sum: number;
  signal: string | null;
}

let server: string;
beforeAll(() => {
  server = compileC('uffd-server');
});

function ok(r: ChildResult): void {
  expect({ code: r.code, signal: r.signal, timedOut: r.timedOut, stderr: r.stderr }).toEqual({
    code: 0,
    signal: null,
    timedOut: false,
    stderr: expect.any(String),
  });
}

const count = (pages: Page[], pred: (p: Page) => boolean) => pages.filter(pred).length;

const NO_POISON = "[no UFFDIO_POISON before 6.6: 'poison' refused, 'abort' aborts]";

/**
 * A row whose subject is the default action, 'poison'. Where the kernel lacks UFFDIO_POISON, the
 * row runs `withoutPoison` instead under the same name plus a note: never a skip. `fixtureMs`
 * sums the hard timeouts of the children either body runs (the test's own timeout follows).
 */
function loudTest(
  name: string,
  withPoison: () => Promise<void>,
  withoutPoison: () => Promise<void>,
  note = NO_POISON,
  fixtureMs = 60000,
): void {
  if (hasPoison) test(name, withPoison, testTimeoutFor(fixtureMs));
  else test(`${name} ${note}`, withoutPoison, testTimeoutFor(fixtureMs));
}

/** A fixture run that armed action 'poison' on a kernel without it: refused, exit 0. */
function expectArmRefused(r: ChildResult): void {
  ok(r);
  expect(lastJson(r)).toMatchObject({
    armError: { cls: 'UffdError', code: 'ERR_UFFD_UNSUPPORTED' },
  });
}

/** A fixture run with action 'abort' that the policy aborted, saying why on stderr. */
function expectAborted(r: ChildResult, why: string): void {
  expect({ signal: r.signal, timedOut: r.timedOut }).toEqual({
    signal: 'SIGABRT',
    timedOut: false,
  });
  expect(r.stderr).toContain(`userfaultfd: ${why}`);
  expect(r.stderr).toContain('aborting (fail-loud policy)');
}

describe('the serving process is killed mid-run (uffd handed over at spawn)', () => {
  const run = (mode: string, action = 'poison') =>
    runFixture('failure-server.js', { args: [mode, action], env: { UFFD_SERVER: server } });

  test('without a policy, fd still held here: the unserved faulters hang', async () => {
    const r = await run('held');
    ok(r);
    const res = lastJson<{ stillBlockedAfterDeath: number; pages: Page[] }>(r);
    expect(res.stillBlockedAfterDeath).toBe(4);
    expect(count(res.pages, (p) => p.served)).toBe(2);
  });

  test('without a policy, only the server held the fd: the faulters read zero pages', async () => {
    const r = await run('closed');
    ok(r);
    const res = lastJson<{ pages: Page[] }>(r);
    expect(count(res.pages, (p) => p.served)).toBe(2);
    expect(count(res.pages, (p) => !p.served && p.sum === 0 && p.signal === null)).toBe(4);
  });

  loudTest(
    'FailLoud with serverPid: the unserved pages raise SIGBUS, the served keep their data',
    async () => {
      const r = await run('loud');
      ok(r);
      const res = lastJson<{ pages: Page[]; failures: string[]; poisonedBytes: number }>(r);
      expect(count(res.pages, (p) => p.served)).toBe(2);
      expect(count(res.pages, (p) => !p.served && p.signal === 'SIGBUS')).toBe(4);
      expect(count(res.pages, (p) => !p.served && p.signal === null)).toBe(0); // no silent zero
      expect(res.failures).toEqual(['server-exit']);
      expect(res.poisonedBytes).toBeGreaterThan(0);
    },
    async () => {
      expectArmRefused(await run('loud'));
      // 'abort': the 2 served pages came back with their data and 4 threads were blocked when
      // the server was killed; its death aborts the process (the watchdog, a native thread).
      const r = await run('loud', 'abort');
      expectAborted(r, 'the serving process exited with faults unresolved');
      const res = lastJson<{ beforeKill: { settled: Page[]; blocked: number } }>(r);
      expect(res.beforeKill.blocked).toBe(4);
      expect(res.beforeKill.settled).toHaveLength(2);
      expect(count(res.beforeKill.settled, (p) => p.served)).toBe(2);
    },
  );

  const blockedJs = (action: string) =>
    runFixture('failure-server-js.js', { args: [action], env: { UFFD_SERVER: server } });
  const expectDied = (r: ChildResult, signal: string) => {
    expect({ signal: r.signal, timedOut: r.timedOut }).toEqual({ signal, timedOut: false });
    expect(r.stdout).toContain('"servedFirst":true');
    expect(r.stdout).not.toContain('unreachable');
  };

  loudTest(
    'FailLoud while the JS thread itself is blocked in the fault (action poison): the process dies of SIGBUS',
    async () => expectDied(await blockedJs('poison'), 'SIGBUS'),
    async () => {
      // arm() refuses before any fault; the 'abort' row below is the fail-loud outcome here.
      const r = await blockedJs('poison');
      expectArmRefused(r);
      expect(r.stdout).not.toContain('servedFirst');
    },
  );

  test('FailLoud while the JS thread itself is blocked in the fault (action abort): the process dies of SIGABRT', async () => {
    const r = await blockedJs('abort');
    expectDied(r, 'SIGABRT');
    expect(r.stderr).toContain('the serving process exited');
  });
});

describe('a faulter that slipped past the poison', () => {
  // The race behind a hang in the arm64 6.12 guest (native/fail_loud.cc, WakeRange), built on
  // purpose with a DONTWAKE poison: the watchdog's later wakes must free the sleeper.
  loudTest(
    'asleep on a page already poisoned when the server dies: the watchdog wakes it into SIGBUS',
    async () => {
      const r = await runFixture('failure-rewake.js');
      ok(r);
      expect(lastJson(r)).toEqual({
        stuckAfterPoison: 1, // the marker alone wakes nobody
        poisoned: pageSize,
        touch: { signal: 'SIGBUS' },
        failures: ['server-exit'],
      });
    },
    async () => expectArmRefused(await runFixture('failure-rewake.js')),
  );
});

describe('the serving side fails in this process', () => {
  const run = (failure: string, loud: boolean, action = 'poison') =>
    runFixture('failure-inprocess.js', { args: [failure, loud ? 'loud' : 'plain', action] });

  /** Before 6.6: 'poison' is refused; 'abort' aborts once the 4 threads are blocked. */
  const refusedThenAborts = async (failure: string, why: string) => {
    expectArmRefused(await run(failure, true));
    const r = await run(failure, true, 'abort');
    expectAborted(r, why);
    expect(lastJson(r)).toEqual({ failure, action: 'abort', faulting: 4 });
  };

  test('the handler throws: without a policy the loop dies and the rest hang', async () => {
    const r = await run('throw', false);
    ok(r);
    const res = lastJson<{ loopError: string; served: number; blocked: number }>(r);
    expect(res.loopError).toBe('handler bug');
    // Faults arrive in any order: those served before the throw, then the throwing one and
    // every one after it wait forever.
    expect(res.blocked).toBe(4 - res.served);
    expect(res.blocked).toBeGreaterThanOrEqual(1);
  });

  loudTest(
    'the handler throws, guard(): that page raises SIGBUS, the loop serves the rest',
    async () => {
      const r = await run('throw', true);
      ok(r);
      const res = lastJson<{ pages: Page[]; failures: string[]; loopError: unknown }>(r);
      expect(res.loopError).toBeNull();
      expect(res.failures).toEqual(['handler-error']);
      expect(res.pages.find((p) => p.page === 1)).toMatchObject({ signal: 'SIGBUS' });
      expect(count(res.pages, (p) => p.served)).toBe(3);
    },
    () => refusedThenAborts('throw', 'a fault handler threw (Error: handler bug)'),
  );

  test('the iterator is abandoned: without a policy 3 faulters hang', async () => {
    const r = await run('abandon', false);
    ok(r);
    expect(lastJson(r)).toMatchObject({ blocked: 3 });
  });

  loudTest(
    'the iterator is abandoned, stallMs: the waiting faulters raise SIGBUS',
    async () => {
      const r = await run('abandon', true);
      ok(r);
      const res = lastJson<{ pages: Page[]; failures: string[] }>(r);
      expect(res.failures).toEqual(['stall']);
      expect(count(res.pages, (p) => p.served)).toBe(1);
      expect(count(res.pages, (p) => p.signal === 'SIGBUS')).toBe(3);
    },
    () =>
      refusedThenAborts('abandon', 'a fault has waited longer than stallMs with faults unresolved'),
  );

  test('the uffd is closed with faults pending: without a policy they read zero pages', async () => {
    const r = await run('close', false);
    ok(r);
    expect(lastJson(r)).toEqual({ zeroSums: [0, 0, 0, 0], signals: [null, null, null, null] });
  });

  loudTest(
    'the uffd is closed, FailLoud: every pending faulter raises SIGBUS',
    async () => {
      const r = await run('close', true);
      ok(r);
      const res = lastJson<{ pages: Page[]; failures: string[] }>(r);
      expect(res.failures).toEqual(['closed']);
      expect(count(res.pages, (p) => p.signal === 'SIGBUS')).toBe(4);
    },
    () => refusedThenAborts('close', 'fail-loud trip (closed)'),
  );

  const teardown = (mode: string, how: string, action = 'poison') =>
    runFixture('failure-teardown.js', { args: [mode, how, action] });

  test.each([
    ['plain', 'terminate', 0, null],
    ['plain', 'exit', 0, null],
  ])(
    'the serving Worker goes away (%s, %s): the blocked thread reads %d / %s',
    async (mode, how, sum, signal) => {
      const r = await teardown(mode, how);
      ok(r);
      expect(lastJson(r)).toMatchObject({ sum, signal });
    },
  );

  loudTest(
    'the serving Worker goes away (loud, terminate): the blocked thread reads 0 / SIGBUS',
    async () => {
      const r = await teardown('loud', 'terminate');
      ok(r);
      expect(lastJson(r)).toMatchObject({ sum: 0, signal: 'SIGBUS' });
      // 'abort': the native teardown hook aborts (the terminated Worker's JS cannot run)
      expectAborted(
        await teardown('loud', 'terminate', 'abort'),
        'the thread that armed the policy went away',
      );
    },
    async () => {
      expectArmRefused(await teardown('loud', 'terminate'));
      // The terminated Worker's JS cannot run: the native teardown hook (native/fail_loud.cc,
      // Watchdog::OnTeardown) aborts, with the thread still waiting.
      expectAborted(
        await teardown('loud', 'terminate', 'abort'),
        'the thread that armed the policy went away',
      );
    },
    "[no UFFDIO_POISON before 6.6: 'poison' refused; 'abort' aborts]",
  );

  loudTest(
    'the serving Worker goes away (loud, exit): the blocked thread reads 0 / SIGBUS',
    async () => {
      const r = await teardown('loud', 'exit');
      ok(r);
      expect(lastJson(r)).toMatchObject({ sum: 0, signal: 'SIGBUS' });
    },
    async () => {
      expectArmRefused(await teardown('loud', 'exit'));
      // The Worker's exit closes its uffd with the thread waiting: the close aborts (a SIGABRT
      // to the process, as process.abort() is not available in Workers).
      expectAborted(await teardown('loud', 'exit', 'abort'), 'fail-loud trip (closed)');
    },
  );

  loudTest(
    'process.exit() with faulters pending and FailLoud armed dies of SIGBUS, never hangs',
    async () => {
      const r = await runFixture('lifecycle-exit.js', { args: ['loud'], timeoutMs: 30000 });
      expect({ signal: r.signal, timedOut: r.timedOut }).toEqual({
        signal: 'SIGBUS',
        timedOut: false,
      });
    },
    async () => {
      expectArmRefused(await runFixture('lifecycle-exit.js', { args: ['loud'], timeoutMs: 30000 }));
      // 'abort': the exit-time close finds the two threads waiting and aborts.
      const r = await runFixture('lifecycle-exit.js', {
        args: ['loud', 'abort'],
        timeoutMs: 30000,
      });
      expectAborted(r, 'fail-loud trip (closed)');
      expect(lastJson(r)).toEqual({ blocked: 2 });
    },
  );
});

const apiName = 'poisonMissing() and the FailLoud API';
test(hasPoison ? apiName : `${apiName} ${NO_POISON}`, async () => {
  const r = await runFixture('fail-loud-api.js');
  ok(r);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { name: string });
  const by = Object.fromEntries(lines.map((l) => [l.name, l]));
  const ps = pageSize;
  const refused = (cls: string, code: string) => ({ ok: false, cls, code });
  // The checks after the action's, with 'abort' (armable on every kernel).
  expect(by['arm-options-abort']).toEqual({
    name: 'arm-options-abort',
    noServer: refused('UffdError', 'ESRCH'),
    badHandler: refused('TypeError', 'ERR_INVALID_ARG_TYPE'),
  });
  expect(by.simulated).toMatchObject({ ok: true, value: { backend: 'simulated', fd: -1 } });
  if (!hasPoison) {
    // Before 6.6: UFFDIO_POISON is the unknown-command EINVAL; page 0 is left missing (not
    // touched), the present pages keep their data.
    expect(by.poisonMissing).toEqual({
      name: 'poisonMissing',
      error: { cls: 'UffdError', code: 'EINVAL', request: 'UFFDIO_POISON' },
      kept: true,
      p9: null,
    });
    // Every option check comes before the action's; then 'poison' is refused (before the pid
    // lookup, and before guard() could be called).
    expect(by['arm-options']).toEqual({
      name: 'arm-options',
      noRanges: refused('TypeError', 'ERR_INVALID_ARG_TYPE'),
      emptyRanges: refused('TypeError', 'ERR_INVALID_ARG_TYPE'),
      badRange: refused('RangeError', 'ERR_OUT_OF_RANGE'),
      badAction: refused('TypeError', 'ERR_INVALID_ARG_VALUE'),
      unknown: refused('TypeError', 'ERR_INVALID_ARG_VALUE'),
      noServer: refused('UffdError', 'ERR_UFFD_UNSUPPORTED'),
      badHandler: refused('UffdError', 'ERR_UFFD_UNSUPPORTED'),
    });
    expect(by.disarm).toEqual({
      name: 'disarm',
      action: 'abort',
      armed: false,
      sum: 0,
      signal: null,
    });
    // A quiet close with 'abort' neither aborts nor (nothing to mark it with) poisons: the page
    // never served reads as an ordinary zero page afterwards.
    expect(by['quiet-close']).toEqual({
      name: 'quiet-close',
      info: { reason: 'closed', poisonedBytes: 0, waiting: 0 },
      served: 4,
      never: null,
    });
    expect(by.orphan).toEqual({
      name: 'orphan',
      armedOrphan: refused('UffdError', 'ERR_UFFD_UNSUPPORTED'),
      orphanPoison: refused('UffdError', 'EINVAL'),
    });
    return;
  }
  expect(by.poisonMissing).toEqual({
    name: 'poisonMissing',
    poisoned: 6 * ps, // 8 registered pages minus 2 present; page 5 in its own VMA; 8-15 not registered
    present: 2 * ps,
    kept: true,
    p0: 'SIGBUS',
    p9: null,
  });
  expect(by['arm-options']).toEqual({
    name: 'arm-options',
    noRanges: { ok: false, cls: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' },
    emptyRanges: { ok: false, cls: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' },
    badRange: { ok: false, cls: 'RangeError', code: 'ERR_OUT_OF_RANGE' },
    badAction: { ok: false, cls: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' },
    unknown: { ok: false, cls: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' },
    noServer: { ok: false, cls: 'UffdError', code: 'ESRCH' },
    badHandler: { ok: false, cls: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' },
  });
  expect(by.disarm).toEqual({
    name: 'disarm',
    action: 'poison',
    armed: false,
    sum: 0,
    signal: null,
  });
  expect(by['quiet-close']).toEqual({
    name: 'quiet-close',
    info: { reason: 'closed', poisonedBytes: ps, waiting: 0 },
    served: 4,
    never: 'SIGBUS',
  });
  expect(by.orphan).toEqual({
    name: 'orphan',
    armedOrphan: { ok: true, value: true },
    orphanPoison: { ok: true, value: { poisoned: 0, present: 0 } },
  });
});
