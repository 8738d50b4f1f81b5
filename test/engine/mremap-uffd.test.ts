/**
 * mremap(2) of registered memory without UFFD_FEATURE_EVENT_REMAP, on both backends.
 *
 * mremap_userfaultfd_prep() drops the registration of the moved VMA (userfaultfd_reset_ctx), but
 * it runs after copy_vma() merged the moved range into its new neighbours. The reset applies to
 * the whole merged VMA and does not split it, so a registered neighbour that the moved range
 * merged with is unregistered too. Found by the differential test (seed 20261122); measured on
 * 6.18: this file asserts it on the kernel and the engine reproduces it.
 */
import type { AddressSpace } from '../../lib';
import {
  heldParts,
  kernelAvailable,
  makeSpace,
  reserve,
  type BackendName,
} from './helpers/backends';

const ci = process.env.CI === 'true';

/** The VMAs of [base, base + pages), clipped to it (a VMA may extend past the reservation when
 * it merged with a neighbour the process mapped there, e.g. an allocator's block). */
function layout(space: AddressSpace, base: number, pages: number): string[] {
  const ps = space.pageSize;
  const end = base + pages * ps;
  return space.vmaInfo(base, pages * ps).map((v) => {
    const s = (Math.max(v.start, base) - base) / ps;
    const e = (Math.min(v.end, end) - base) / ps;
    return `${s}-${e} ${v.perms}${v.uffd.missing ? ' um' : ''}`;
  });
}

/** Unmaps [base, base + pages) except the page mremap moved away (heldParts). */
function unmapHeld(space: AddressSpace, base: number, pages: number, hole?: number): void {
  const ps = space.pageSize;
  const gone: [number, number] | undefined =
    hole === undefined ? undefined : [base + hole * ps, ps];
  for (const [a, l] of heldParts(base, pages * ps, gone)) space.munmap(a, l);
}

describe.each<BackendName>(['kernel', 'simulated'])('mremap of registered memory (%s)', (name) => {
  beforeAll(() => {
    if (name === 'kernel' && !kernelAvailable() && ci) {
      throw new Error('CI=true but the kernel backend is unavailable');
    }
  });

  test('the moved range merges into a registered neighbour, which loses its registration', () => {
    if (name === 'kernel' && !kernelAvailable()) return;
    const space = makeSpace(name);
    const ps = space.pageSize;
    const base = reserve(space, 48 * ps, ps);
    const uffd = space.userfaultfd();
    let hole: number | undefined;
    try {
      space.mmap(16 * ps, { fixed: base, prot: 'rw' });
      uffd.register(base + 13 * ps, 5 * ps, { missing: true });
      expect(layout(space, base, 48)).toEqual([
        '0-13 rw-p',
        '13-16 rw-p um',
        '16-18 ---p um',
        '18-48 ---p',
      ]);
      // Page 17 (PROT_NONE, registered, never faulted: its pgoff follows it) onto page 15.
      const to = space.mremap(base + 17 * ps, ps, ps, { mayMove: true, fixed: base + 15 * ps });
      hole = 17;
      expect(to).toBe(base + 15 * ps);
      expect(layout(space, base, 48)).toEqual([
        '0-13 rw-p',
        '13-15 rw-p um',
        // [15,16) came from page 17 and merged with [16,17): both unregistered now.
        '15-17 ---p',
        '18-48 ---p',
      ]);
    } finally {
      uffd.close();
      unmapHeld(space, base, 48, hole);
    }
  });

  test('a moved range with no registered neighbour: only itself is unregistered', () => {
    if (name === 'kernel' && !kernelAvailable()) return;
    const space = makeSpace(name);
    const ps = space.pageSize;
    const base = reserve(space, 32 * ps, ps);
    const uffd = space.userfaultfd();
    let hole: number | undefined;
    try {
      space.mmap(8 * ps, { fixed: base, prot: 'rw' });
      uffd.register(base, 4 * ps, { missing: true });
      space.mremap(base + 2 * ps, ps, ps, { mayMove: true, fixed: base + 20 * ps });
      hole = 2;
      expect(layout(space, base, 32)).toEqual([
        '0-2 rw-p um',
        '3-4 rw-p um',
        '4-8 rw-p',
        '8-20 ---p',
        '20-21 rw-p',
        '21-32 ---p',
      ]);
    } finally {
      uffd.close();
      unmapHeld(space, base, 32, hole);
    }
  });
});
