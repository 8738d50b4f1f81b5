/**
 * Failures (issue 7): the serving side goes away. For each failure, the outcome without a
 * policy (a hang: threads still blocked in handle_userfault; or a silent zero page) and with
 * FailLoud (SIGBUS on the unresolved pages, or an abort), never a hang, never a zero page where
 * fail-loud was asked for. Every scenario runs in a child with a hard timeout.
 */
import { pageSize } from '../../lib';
import { compileC, lastJson, runFixture, type ChildResult } from './helpers';

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

describe('the serving process is killed mid-run (uffd handed over at spawn)', () => {
  const run = (mode: string) =>
    runFixture('failure-server.js', { args: [mode], env: { UFFD_SERVER: server } });

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

  test('FailLoud with serverPid: the unserved pages raise SIGBUS, the served keep their data', async () => {
    const r = await run('loud');
    ok(r);
    const res = lastJson<{ pages: Page[]; failures: string[]; poisonedBytes: number }>(r);
    expect(count(res.pages, (p) => p.served)).toBe(2);
    expect(count(res.pages, (p) => !p.served && p.signal === 'SIGBUS')).toBe(4);
    expect(count(res.pages, (p) => !p.served && p.signal === null)).toBe(0); // no silent zero
    expect(res.failures).toEqual(['server-exit']);
    expect(res.poisonedBytes).toBeGreaterThan(0);
  });

  test.each([
    ['poison', 'SIGBUS'],
    ['abort', 'SIGABRT'],
  ])(
    'FailLoud while the JS thread itself is blocked in the fault (action %s): the process dies of %s',
    async (action, signal) => {
      const r = await runFixture('failure-server-js.js', {
        args: [action],
        env: { UFFD_SERVER: server },
      });
      expect({ signal: r.signal, timedOut: r.timedOut }).toEqual({ signal, timedOut: false });
      expect(r.stdout).toContain('"servedFirst":true');
      expect(r.stdout).not.toContain('unreachable');
      if (action === 'abort') expect(r.stderr).toContain('the serving process exited');
    },
  );
});

describe('the serving side fails in this process', () => {
  const run = (failure: string, loud: boolean) =>
    runFixture('failure-inprocess.js', { args: [failure, loud ? 'loud' : 'plain'] });

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

  test('the handler throws, guard(): that page raises SIGBUS, the loop serves the rest', async () => {
    const r = await run('throw', true);
    ok(r);
    const res = lastJson<{ pages: Page[]; failures: string[]; loopError: unknown }>(r);
    expect(res.loopError).toBeNull();
    expect(res.failures).toEqual(['handler-error']);
    expect(res.pages.find((p) => p.page === 1)).toMatchObject({ signal: 'SIGBUS' });
    expect(count(res.pages, (p) => p.served)).toBe(3);
  });

  test('the iterator is abandoned: without a policy 3 faulters hang', async () => {
    const r = await run('abandon', false);
    ok(r);
    expect(lastJson(r)).toMatchObject({ blocked: 3 });
  });

  test('the iterator is abandoned, stallMs: the waiting faulters raise SIGBUS', async () => {
    const r = await run('abandon', true);
    ok(r);
    const res = lastJson<{ pages: Page[]; failures: string[] }>(r);
    expect(res.failures).toEqual(['stall']);
    expect(count(res.pages, (p) => p.served)).toBe(1);
    expect(count(res.pages, (p) => p.signal === 'SIGBUS')).toBe(3);
  });

  test('the uffd is closed with faults pending: without a policy they read zero pages', async () => {
    const r = await run('close', false);
    ok(r);
    expect(lastJson(r)).toEqual({ zeroSums: [0, 0, 0, 0], signals: [null, null, null, null] });
  });

  test('the uffd is closed, FailLoud: every pending faulter raises SIGBUS', async () => {
    const r = await run('close', true);
    ok(r);
    const res = lastJson<{ pages: Page[]; failures: string[] }>(r);
    expect(res.failures).toEqual(['closed']);
    expect(count(res.pages, (p) => p.signal === 'SIGBUS')).toBe(4);
  });

  test.each([
    ['plain', 'terminate', 0, null],
    ['plain', 'exit', 0, null],
    ['loud', 'terminate', 0, 'SIGBUS'],
    ['loud', 'exit', 0, 'SIGBUS'],
  ])(
    'the serving Worker goes away (%s, %s): the blocked thread reads %d / %s',
    async (mode, how, sum, signal) => {
      const r = await runFixture('failure-teardown.js', { args: [mode, how] });
      ok(r);
      expect(lastJson(r)).toMatchObject({ sum, signal });
    },
  );

  test('process.exit() with faulters pending and FailLoud armed dies of SIGBUS, never hangs', async () => {
    const r = await runFixture('lifecycle-exit.js', { args: ['loud'], timeoutMs: 30000 });
    expect({ signal: r.signal, timedOut: r.timedOut }).toEqual({
      signal: 'SIGBUS',
      timedOut: false,
    });
  });
});

test('poisonMissing() and the FailLoud API', async () => {
  const r = await runFixture('fail-loud-api.js');
  ok(r);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { name: string });
  const by = Object.fromEntries(lines.map((l) => [l.name, l]));
  const ps = pageSize;
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
  expect(by.disarm).toEqual({ name: 'disarm', armed: false, sum: 0, signal: null });
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
  expect(by.simulated).toMatchObject({ ok: true, value: { backend: 'simulated', fd: -1 } });
});
