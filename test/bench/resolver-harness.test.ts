// Scenarios 2 and 8 of the bench measure `uffd.startResolver()` (events issue), which this
// branch does not have yet. This checks the harness side with a stand-in resolver written on
// the public event stream, so the scenarios are known to work the day the real one lands:
// they detect it, call it with the documented options, time the faults and read counters.
import { join } from 'node:path';
import { type BenchOptions, compileRefs } from '../../bench/lib/harness';
import { hasResolver, pkg } from '../../bench/lib/pkg';
import { resolverFault, scenario2, scenario8 } from '../../bench/scenarios/fault';

interface Range {
  start: number;
  len: number;
  policy: 'zeropage' | 'copy' | 'move';
  source?: number;
}

const ROOT = join(__dirname, '..', '..');
const opts: BenchOptions = {
  quick: true,
  reps: 1,
  only: new Set(),
  refBin: join(ROOT, 'bench', 'ref', 'bin'),
  outDir: '/nonexistent',
  root: ROOT,
};

type Proto = { startResolver?: unknown };

describe('bench native-resolver scenarios (stand-in resolver)', () => {
  const proto = pkg().Userfaultfd.prototype as unknown as Proto;
  const calls: { ranges: Range[] }[] = [];

  beforeAll(() => {
    compileRefs(opts); // the C reference of the fault round trip (bench/ref/fault.c)
    expect(hasResolver()).toBe(false); // the real one is not in this branch
    proto.startResolver = function (
      this: import('../../lib/userfaultfd').Userfaultfd,
      o: { ranges: Range[] },
    ) {
      calls.push(o);
      const ps = pkg().pageSize;
      const ac = new AbortController();
      let faults = 0;
      const done = (async () => {
        for await (const ev of this.events({ signal: ac.signal })) {
          if (ev.type !== 'pagefault') continue;
          const r = o.ranges.find((x) => ev.address >= x.start && ev.address < x.start + x.len)!;
          const src = (r.source ?? 0) + (ev.address - r.start);
          if (r.policy === 'zeropage') this.zeropage(ev.address, ps);
          else if (r.policy === 'copy') this.copy(ev.address, src, ps);
          else this.move(ev.address, src, ps);
          faults++;
        }
      })();
      return {
        counters: () => ({ faults, errors: 0n }),
        stop: async () => {
          ac.abort();
          await done;
        },
      };
    };
  });
  afterAll(() => {
    delete proto.startResolver;
  });

  test.each(['zeropage', 'copy', 'move'] as const)('resolverFault(%s)', async (op) => {
    expect(hasResolver()).toBe(true);
    const counters: Record<string, unknown>[] = [];
    const ns = await resolverFault(op, 40, 2, counters);
    expect(ns).toBeGreaterThan(0);
    expect(counters).toEqual([{ faults: 80, errors: 0 }]);
    const last = calls.at(-1)!;
    expect(last.ranges).toHaveLength(1);
    expect(last.ranges[0]!.policy).toBe(op);
    expect(last.ranges[0]!.len).toBe(80 * pkg().pageSize);
    expect(last.ranges[0]!.source === undefined).toBe(op === 'zeropage');
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
