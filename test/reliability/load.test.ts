/**
 * Load and leaks (issue 7): the soak in its quick CI mode (1/100th of scripts/soak.js's full
 * scale), and concurrent faulting on overlapping pages served with MOVE.
 */
import { join } from 'node:path';
import { hasMove } from '../helpers/kernel-version';
import {
  jsonLines,
  lastJson,
  root,
  runFixture,
  runNode,
  testTimeoutFor,
  underAsan,
} from './helpers';

interface Phase {
  phase: string;
  n?: number;
  skipped?: string;
  rssGrowthKb?: number;
  fdsDelta?: number;
  threadsDelta?: number;
  wrongPasses?: number;
  ok?: boolean;
}

test(
  'soak, quick mode: faults, open/close and Worker cycles leak no RSS, fd or thread',
  async () => {
    const scale = process.env.SOAK_SCALE ?? '0.01';
    const r = await runNode(join(root, 'scripts', 'soak.js'), {
      args: ['--scale', scale],
      timeoutMs: 10 * 60 * 1000,
    });
    expect({ signal: r.signal, timedOut: r.timedOut }).toEqual({ signal: null, timedOut: false });
    const phases = Object.fromEntries(jsonLines<Phase>(r.stdout).map((p) => [p.phase, p]));
    for (const name of ['js-faults', 'native-faults', 'open-close', 'workers']) {
      const p = phases[name];
      expect(p).toBeDefined();
      if (!underAsan) expect(p!.rssGrowthKb).toBeLessThan(5 * 1024);
      expect(p!.fdsDelta).toBe(0);
      expect(p!.threadsDelta).toBeLessThanOrEqual(0);
      if (!underAsan) expect(p!.ok).toBe(true);
    }
    expect(phases['js-faults']!.n).toBeGreaterThanOrEqual(Number(scale) * 0.9e6);
    expect(phases['js-faults']!.wrongPasses).toBe(0);
    expect(phases['native-faults']!.n).toBeGreaterThanOrEqual(Number(scale) * 0.9e6);
    expect(phases['native-faults']!.wrongPasses).toBe(0);
    expect((phases['native-faults'] as Phase & { resolverErrors?: number }).resolverErrors).toBe(0);
    if (!underAsan) expect(r.code).toBe(0);
  },
  testTimeoutFor(10 * 60 * 1000),
);

// Before 6.8 the resolver's 'move' policy is refused (it needs the kernel's ioctl) and move() is
// the emulation, too slow here under TCG (fixtures/concurrency.js): both sides serve with COPY,
// the same races through another ioctl.
const concurrencyName =
  '15 threads in 3 Workers fault on overlapping pages of two 10k-page ranges, one served with MOVE from JS, one by a native resolver';
const NO_MOVE = '[no UFFDIO_MOVE before 6.8: served with COPY from JS and by the resolver]';
test(
  hasMove ? concurrencyName : `${concurrencyName} ${NO_MOVE}`,
  async () => {
    const r = await runFixture('concurrency.js', { timeoutMs: 5 * 60 * 1000 });
    expect({ code: r.code, signal: r.signal, timedOut: r.timedOut }).toEqual({
      code: 0,
      signal: null,
      timedOut: false,
    });
    const res = lastJson<{
      accesses: number;
      accessesResolver: number;
      nativeResolver: { faults: number; resolved: number; eexist: number; errors: number };
      bad: number;
      moved: number;
      eexist: number;
      wakes: number;
      faults: number;
      moveEmulated: boolean;
      jsIoctl: string;
      resolverPolicy: string;
    }>(r);
    expect({
      moveEmulated: res.moveEmulated,
      jsIoctl: res.jsIoctl,
      resolverPolicy: res.resolverPolicy,
    }).toEqual({
      moveEmulated: !hasMove,
      jsIoctl: hasMove ? 'move' : 'copy',
      resolverPolicy: hasMove ? 'move' : 'copy',
    });
    expect(res.accesses).toBe(3 * 5 * 1500);
    expect(res.bad).toBe(0); // every access saw its page's pattern
    expect(res.moved).toBeGreaterThan(5000);
    // Duplicate faults on one page: MOVE finds it installed (EEXIST) and wakes; none is lost,
    // or an access would never complete.
    expect(res.eexist).toBeGreaterThan(0);
    expect(res.wakes).toBe(res.eexist);
    expect(res.faults).toBe(res.moved + res.eexist);
    // The resolver's range: half of each Worker's native lanes; every fault resolved or woken.
    expect(res.accessesResolver).toBe(3 * 2 * 1500);
    const nr = res.nativeResolver;
    expect(nr.errors).toBe(0);
    expect(nr.resolved).toBeGreaterThan(1000);
    expect(nr.faults).toBe(nr.resolved + nr.eexist);
  },
  testTimeoutFor(5 * 60 * 1000),
);
