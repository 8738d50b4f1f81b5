// Native resolvers: policies, exact counters, forwarding to events(), EAGAIN handling, stop and
// close; option checks in-process.
import { Mapping, NativeResolver, Userfaultfd, pageSize } from '../../lib';
import { ok, scenario } from './helpers';
import { hasMove, hasWp } from '../helpers/kernel-version';

const zeroCounters = { faults: 0, resolved: 0, eexist: 0, eagain: 0, errors: 0, forwarded: 0 };

// The move policy needs the kernel's UFFDIO_MOVE (6.8+): before it, move() is emulated in JS,
// which the resolver thread cannot use, so startResolver refuses a 'move' range
// (ERR_UFFD_UNSUPPORTED) and the scenarios serve that range with 'copy' instead.
const noMove = hasMove ? '' : " [no UFFDIO_MOVE before 6.8: 'move' refused, served by 'copy']";
// The forwarded wp fault needs uffd-wp, which arm64 lacks before 6.10: there the scenario asserts
// REGISTER(WP)'s EINVAL and forwards the two missing faults only.
const noWp = hasWp ? '' : ' [no uffd-wp on arm64 before 6.10: REGISTER(WP) EINVAL, no wp fault]';

describe('native resolver on the real kernel', () => {
  test(`zeropage, copy and move; forwarded faults; stop(); forward: false; close()${noMove}${noWp}`, async () => {
    expect(ok(await scenario('resolver'))).toEqual({
      moveRefused: hasMove ? null : 'ERR_UFFD_UNSUPPORTED',
      wpRegister: hasWp ? null : 'EINVAL',
      policies: {
        counters: { ...zeroCounters, faults: 48, resolved: 48 },
        zeroSum: 0,
        copyOk: true,
        moveOk: true,
        copySrcKept: true,
        moveSrcZero: hasMove, // moved out; copied (kept) before 6.8
      },
      forwarded: {
        events: [
          ['pagefault', 'missing', 0],
          ['pagefault', 'missing', 1],
          ...(hasWp ? [['pagefault', 'wp', true]] : []),
        ],
        counters: { ...zeroCounters, faults: 48, resolved: 48, forwarded: hasWp ? 3 : 2 },
        wpByte: hasWp ? 8 : 3,
      },
      afterStop: { running: false, type: 'pagefault', own: true },
      noForward: { counters: { ...zeroCounters, errors: 1 }, running: false, sum: 0 },
    });
  });

  test(`two faults on one page: one resolution, one EEXIST woken (move policy)${noMove}`, async () => {
    expect(ok(await scenario('resolver-eexist'))).toEqual({
      moveRefused: hasMove ? null : 'ERR_UFFD_UNSUPPORTED',
      counters: { ...zeroCounters, faults: 2, resolved: 1, eexist: 1 },
      sums: [4, 4],
    });
  });

  test('EAGAIN from an unread REMOVE: the event goes to JS, the fault is retried', async () => {
    const r = ok<{ counters: Record<string, number> } & Record<string, unknown>>(
      await scenario('resolver-eagain'),
    );
    expect(r.event).toEqual(['remove', true, true]);
    expect(r.sum).toBe(0);
    expect(r.runningAfterClose).toBe(false);
    expect(r.counters).toMatchObject({
      faults: 1,
      resolved: 1,
      eexist: 0,
      errors: 0,
      forwarded: 1,
    });
    expect(r.counters.eagain).toBeGreaterThanOrEqual(1);
  });
});

describe('startResolver() checks', () => {
  let uffd: Userfaultfd;
  let m: Mapping;
  const ps = pageSize;
  beforeEach(() => {
    uffd = Userfaultfd.open();
    m = Mapping.anonymous(4 * ps);
    uffd.register(m.address, m.length);
  });
  afterEach(() => {
    uffd.close();
    m.unmap();
  });

  test('argument errors before any thread starts', () => {
    const start = m.address;
    expect(() => uffd.startResolver({ ranges: 'x' } as never)).toThrow(TypeError);
    expect(() => uffd.startResolver({ ranges: [{ start, len: ps, policy: 'copy' }] })).toThrow(
      /source is required/,
    );
    expect(() =>
      uffd.startResolver({ ranges: [{ start: start + 1, len: ps, policy: 'zeropage' }] }),
    ).toThrow(RangeError);
    expect(() =>
      uffd.startResolver({ ranges: [{ start, len: ps, policy: 'steal' as 'move', source: 0 }] }),
    ).toThrow(TypeError);
    expect(() => uffd.startResolver({ ranges: [], batch: 0 })).toThrow(RangeError);
  });

  test("a 'move' range on a uffd whose move() is emulated: ERR_UFFD_UNSUPPORTED, no thread", async () => {
    const em = Userfaultfd.open({ moveEmulation: 'always' });
    const n = Mapping.anonymous(2 * ps);
    try {
      em.register(n.address + ps, ps);
      const move = { start: n.address + ps, len: ps, policy: 'move' as const, source: n.address };
      expect(() => em.startResolver({ ranges: [move] })).toThrow(
        expect.objectContaining({ code: 'ERR_UFFD_UNSUPPORTED' }),
      );
      // the slot stays free: the other policies still start on it
      const r = em.startResolver({ ranges: [{ ...move, policy: 'copy' }] });
      expect(r.running).toBe(true);
      await r.stop();
    } finally {
      em.close();
      n.unmap();
    }
  });

  test('one resolver per uffd; stop() frees the slot; close() stops it', async () => {
    const r = uffd.startResolver({ ranges: [{ start: m.address, len: ps, policy: 'zeropage' }] });
    expect(r).toBeInstanceOf(NativeResolver);
    expect(r.running).toBe(true);
    expect(r.counters()).toEqual(zeroCounters);
    expect(() => uffd.startResolver({ ranges: [] })).toThrow(
      expect.objectContaining({ code: 'ERR_UFFD_RESOLVER_BUSY' }),
    );
    await r.stop();
    expect(r.running).toBe(false);
    const r2 = uffd.startResolver({ ranges: [] });
    uffd.close();
    expect(r2.running).toBe(false);
    expect(r2.error).toBeUndefined();
  });
});
