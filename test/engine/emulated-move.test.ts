/**
 * The MOVE emulation (lib/engine/emulated-move.ts) as users see it: selection by option, the
 * same results as the kernel's MOVE on the common paths (the full table runs it too: probe
 * rows, "kernel, MOVE emulated"), batches, and wake-up of faulting threads.
 */
import { Userfaultfd, kernelSpace } from '../../lib';
import { kernelAvailable } from './helpers/backends';

const ci = process.env.CI === 'true';

describe('MOVE emulation', () => {
  beforeAll(() => {
    if (!kernelAvailable() && ci) throw new Error('CI=true but the kernel backend is unavailable');
  });

  test('selection: always / never / auto (6.18 has MOVE: not emulated)', () => {
    if (!kernelAvailable()) return;
    const always = Userfaultfd.open({ moveEmulation: 'always' });
    const never = Userfaultfd.open({ moveEmulation: 'never' });
    const auto = Userfaultfd.open();
    expect([always.moveEmulated, never.moveEmulated, auto.moveEmulated]).toEqual([
      true,
      false,
      auto.availableFeatures.has('move') ? false : true,
    ]);
    for (const u of [always, never, auto]) u.close();
    expect(() => Userfaultfd.open({ moveEmulation: 'sometimes' as never })).toThrow(TypeError);
  });

  test('moves data, empties src, and reports progress like MOVE', async () => {
    if (!kernelAvailable()) return;
    const space = kernelSpace();
    const ps = space.pageSize;
    const uffd = Userfaultfd.open({ moveEmulation: 'always' });
    const src = space.mmap(8 * ps);
    const dst = space.mmap(8 * ps);
    try {
      for (let i = 0; i < 8; i++) await space.write(src + i * ps, new Uint8Array([i + 1, 0xee]));
      uffd.register(dst, 8 * ps);
      uffd.zeropage(dst + 5 * ps, ps);
      expect(() => uffd.move(dst, src, 8 * ps)).toThrow(
        expect.objectContaining({ code: 'EAGAIN', bytesDone: 5 * ps, field: 5 * ps }),
      );
      expect(() => uffd.completeMove(dst + 5 * ps, src + 5 * ps, 3 * ps)).toThrow(
        expect.objectContaining({ code: 'EEXIST', bytesDone: 0 }),
      );
      const got = await space.read(dst, 5 * ps);
      for (let i = 0; i < 5; i++) expect(got[i * ps]).toBe(i + 1);
      expect(space.pageInfo(src, 5 * ps).every((p) => !p.present)).toBe(true);
      expect(space.pageInfo(src + 5 * ps, 3 * ps).every((p) => p.present)).toBe(true);
      // Batches go through the emulation too.
      const entries = new Float64Array([
        dst + 6 * ps,
        src + 6 * ps,
        ps,
        dst + 7 * ps,
        src + 7 * ps,
        ps,
      ]);
      expect(uffd.moveBatch(entries)).toBe(2);
    } finally {
      uffd.close();
      space.munmap(src, 8 * ps);
      space.munmap(dst, 8 * ps);
    }
  });

  test('a thread blocked on a missing page is woken by the emulated MOVE', async () => {
    if (!kernelAvailable()) return;
    const space = kernelSpace();
    const ps = space.pageSize;
    const uffd = Userfaultfd.open({ moveEmulation: 'always' });
    const src = space.mmap(ps);
    const dst = space.mmap(ps);
    try {
      await space.write(src, new Uint8Array([0x42]));
      uffd.register(dst, ps);
      const it = uffd.events();
      const reading = space.read(dst, 1);
      const ev = await it.next();
      expect(ev.value).toMatchObject({ type: 'pagefault', address: dst });
      expect(uffd.move(dst, src, ps)).toBe(ps);
      expect(Array.from(await reading)).toEqual([0x42]);
      await it.return!();
    } finally {
      uffd.close();
      space.munmap(src, ps);
      space.munmap(dst, ps);
    }
  });
});
