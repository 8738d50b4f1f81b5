// Scenarios 2 and 8 of the bench measure the native resolver (`uffd.startResolver()`). This
// checks that the harness finds the real resolver, drives it with the documented options, times
// the faults and reads exact counters, and that the scenarios run instead of being skipped.
import { join } from 'node:path';
import { type BenchOptions, compileRefs } from '../../bench/lib/harness';
import { hasResolver } from '../../bench/lib/pkg';
import { resolverFault, scenario2, scenario8 } from '../../bench/scenarios/fault';

const ROOT = join(__dirname, '..', '..');
const opts: BenchOptions = {
  quick: true,
  reps: 1,
  only: new Set(),
  refBin: join(ROOT, 'bench', 'ref', 'bin'),
  outDir: '/nonexistent',
  root: ROOT,
};

describe('bench native-resolver scenarios', () => {
  beforeAll(() => {
    compileRefs(opts); // the C reference of the fault round trip (bench/ref/fault.c)
  });

  test.each(['zeropage', 'copy', 'move'] as const)('resolverFault(%s)', async (op) => {
    expect(hasResolver()).toBe(true);
    const counters: Record<string, unknown>[] = [];
    const ns = await resolverFault(op, 40, 2, counters);
    expect(ns).toBeGreaterThan(0);
    expect(counters).toHaveLength(1);
    expect(counters[0]).toMatchObject({ faults: 80, errors: 0 });
  });

  test('scenario 2 and the resolver rows of scenario 8 run instead of being skipped', async () => {
    const s2 = await scenario2(opts);
    expect(s2.map((r) => r.id)).toEqual(['s2.copy', 's2.zeropage', 's2.move']);
    for (const r of s2) {
      expect(r.skipped).toBeUndefined();
      expect(Number.isFinite(r.ratio)).toBe(true);
      expect(typeof r.met).toBe('boolean');
    }
    const s8 = await scenario8(opts);
    const res = s8.find((r) => r.id === 's8.resolver')!;
    expect(res.skipped).toBeUndefined();
    expect(Number.isFinite(res.value)).toBe(true);
  }, 60_000);
});
