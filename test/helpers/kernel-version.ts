/**
 * What the running kernel has, for rows whose answer changed across kernel versions (spec §2.9
 * version history). A test asserts what THIS kernel does: the features UFFDIO_API(0) reports
 * (the feature set is the kernel's own statement of what it implements) and, where a behaviour
 * changed without a feature bit, the version from os.release().
 *
 * - UFFDIO_MOVE and UFFD_FEATURE_MOVE: 6.8. Before it, `_UFFDIO_MOVE` is not in the uffd's
 *   ioctl switch, so the ioctl is the unknown-command EINVAL (spec §1.2).
 * - UFFD_FEATURE_POISON / UFFDIO_POISON: 6.6. WP_UNPOPULATED: 6.4. WP_ASYNC: 6.7.
 * - PAGEFAULT_FLAG_WP on arm64: needs CONFIG_HAVE_ARCH_USERFAULTFD_WP, arm64 has it from 6.10.
 * - UNREGISTER through a uffd that does not own the range: EINVAL from 6.17 (spec §2.9), 0 before.
 */
import { release } from 'node:os';
import { Mapping, UffdError, Userfaultfd, pageSize, probe } from '../../lib';

/** [major, minor] of the running kernel ("6.1.0-56-amd64" -> [6, 1]). */
export function kernelVersion(): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release());
  if (m === null) throw new Error(`kernelVersion: cannot parse os.release() ${release()}`);
  return [Number(m[1]), Number(m[2])];
}

/** True when the running kernel is major.minor or newer. */
export function kernelAtLeast(major: number, minor: number): boolean {
  const [a, b] = kernelVersion();
  return a > major || (a === major && b >= minor);
}

/** The features UFFDIO_API(0) reports on this kernel. */
export const kernelFeatures: ReadonlySet<string> = new Set(probe().features);

/** The kernel has UFFDIO_MOVE (6.8+). */
export const hasMove = kernelFeatures.has('move');

/**
 * Asserts that this kernel has no UFFDIO_MOVE, precisely: no 'move' in the features, a version
 * before 6.8, and the ioctl on a registered, otherwise valid range is refused with the
 * unknown-command EINVAL (spec §1.2), untouched dst. The uffd is opened with
 * `moveEmulation: 'never'`: the default ('auto') serves move() with the emulation on such a
 * kernel (lib/engine/emulated-move.ts), and the subject here is the kernel's own answer.
 */
export function expectNoMove(): void {
  expect(kernelFeatures.has('move')).toBe(false);
  expect(kernelAtLeast(6, 8)).toBe(false);
  const u = Userfaultfd.open({ moveEmulation: 'never' });
  const src = Mapping.anonymous(pageSize);
  const dst = Mapping.anonymous(pageSize);
  try {
    expect(u.moveEmulated).toBe(false);
    new Uint8Array(src.buffer)[0] = 0x5a;
    u.register(dst.address, pageSize);
    let err: unknown;
    try {
      u.move(dst.address, src.address, pageSize);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UffdError);
    expect(err).toMatchObject({ code: 'EINVAL', errno: -22, request: 'UFFDIO_MOVE' });
    expect(new Uint8Array(src.buffer)[0]).toBe(0x5a); // src untouched
  } finally {
    u.close();
    dst.unmap();
    src.unmap();
  }
}

/**
 * `test` for a row whose subject is the kernel's UFFDIO_MOVE (probe rows). On a kernel without it
 * (6.1) the row runs and asserts the absence (expectNoMove) under the same name plus a note:
 * never a skip. Rows about the package's move() use moveApiTest.
 */
export function moveTest(name: string, fn: () => unknown, timeout?: number): void {
  if (hasMove) test(name, fn as jest.ProvidesCallback, timeout);
  else test(`${name} [no UFFDIO_MOVE before 6.8: asserts the EINVAL]`, expectNoMove, timeout);
}

/**
 * `test` for a row whose subject is the package's move() (or completeMove(), moveBatch()) as a
 * user calls it: it runs on every kernel. Before 6.8 the default `moveEmulation: 'auto'` serves
 * move() with the emulation (COPY + MADV_DONTNEED, lib/engine/emulated-move.ts), which gives the
 * kernel's results, errors and partial progress on these paths; the name says so, and the row
 * calls `expectMoveEmulated(uffd)` to check which one served it.
 */
export function moveApiTest(name: string, fn: () => unknown, timeout?: number): void {
  const label = hasMove ? name : `${name} [no UFFDIO_MOVE before 6.8: the MOVE emulation]`;
  test(label, fn as jest.ProvidesCallback, timeout);
}

/** move() on `u` is the kernel's UFFDIO_MOVE on 6.8+ and the emulation before (moveEmulation 'auto'). */
export function expectMoveEmulated(u: { readonly moveEmulated: boolean }): void {
  expect({ moveEmulated: u.moveEmulated }).toEqual({ moveEmulated: !hasMove });
}

/**
 * The feature mask UFFDIO_API reports on this kernel, from the version history (spec §2.9), not
 * from the kernel: 6.1 has bits 0-12; arm64 lacks PAGEFAULT_FLAG_WP (0) and WP_HUGETLBFS_SHMEM
 * (12) until HAVE_ARCH_USERFAULTFD_WP (6.10; arm64 6.1 reports 0xffe); WP_UNPOPULATED (13) 6.4;
 * POISON (14) 6.6; WP_ASYNC (15) 6.7; MOVE (16) 6.8.
 */
export function expectedFeatureMask(): bigint {
  let m = 0x1fffn;
  if (process.arch === 'arm64' && !kernelAtLeast(6, 10)) m &= ~0x1001n;
  if (kernelAtLeast(6, 4)) m |= 1n << 13n;
  if (kernelAtLeast(6, 6)) m |= 1n << 14n;
  if (kernelAtLeast(6, 7)) m |= 1n << 15n;
  if (kernelAtLeast(6, 8)) m |= 1n << 16n;
  return m;
}

/** The kernel has UFFDIO_POISON (6.6+). */
export const hasPoison = kernelFeatures.has('poison');
/** The kernel has UFFD_FEATURE_WP_UNPOPULATED (6.4+). */
export const hasWpUnpopulated = kernelFeatures.has('wpUnpopulated');

/**
 * The ioctls REGISTER(MISSING) returns for anonymous or shmem memory: WAKE(2) COPY(3)
 * ZEROPAGE(4), plus MOVE(5) from 6.8 and POISON(8) from 6.6 (0x13c on 6.8+, 0x1c on 6.1).
 */
export const ANON_MISSING_IOCTLS = 0x1c | (hasMove ? 0x20 : 0) | (hasPoison ? 0x100 : 0);
/** The BASIC set REGISTER(MISSING) returns for hugetlb: WAKE COPY, plus POISON from 6.6. */
export const HUGETLB_MISSING_IOCTLS = 0xc | (hasPoison ? 0x100 : 0);

/**
 * Asserts that this kernel has no UFFDIO_POISON (before 6.6): no 'poison' in the features and
 * the ioctl on a registered range is the unknown-command EINVAL (spec §1.2).
 */
export function expectNoPoison(): void {
  expect(kernelFeatures.has('poison')).toBe(false);
  expect(kernelAtLeast(6, 6)).toBe(false);
  const u = Userfaultfd.open();
  const dst = Mapping.anonymous(pageSize);
  try {
    u.register(dst.address, pageSize);
    let err: unknown;
    try {
      u.poison(dst.address, pageSize);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UffdError);
    expect(err).toMatchObject({ code: 'EINVAL', errno: -22, request: 'UFFDIO_POISON' });
  } finally {
    u.close();
    dst.unmap();
  }
}

/** `test` for a row whose subject is UFFDIO_POISON; before 6.6 it asserts the absence. */
export function poisonTest(name: string, fn: () => unknown, timeout?: number): void {
  if (hasPoison) test(name, fn as jest.ProvidesCallback, timeout);
  else test(`${name} [no UFFDIO_POISON before 6.6: asserts the EINVAL]`, expectNoPoison, timeout);
}

/**
 * `test` for a row that needs UFFD_FEATURE_WP_UNPOPULATED (6.4+); before it, the row asserts
 * that the feature is absent and that open() refuses it with ERR_UFFD_UNSUPPORTED.
 */
export function wpUnpopulatedTest(name: string, fn: () => unknown, timeout?: number): void {
  if (hasWpUnpopulated) test(name, fn as jest.ProvidesCallback, timeout);
  else
    test(`${name} [no WP_UNPOPULATED before 6.4: asserts it is refused]`, () => {
      expect(kernelFeatures.has('wpUnpopulated')).toBe(false);
      expect(kernelAtLeast(6, 4)).toBe(false);
      expect(() => Userfaultfd.open({ features: ['wpUnpopulated'] })).toThrow(
        expect.objectContaining({ code: 'ERR_UFFD_UNSUPPORTED' }) as unknown as Error,
      );
    });
}

/** The kernel has userfaultfd write-protect (PAGEFAULT_FLAG_WP; arm64 from 6.10). */
export const hasWp = kernelFeatures.has('pagefaultFlagWp');

/**
 * `test` for a row whose subject is userfaultfd write-protect. Where the kernel lacks it (arm64
 * before 6.10: no HAVE_ARCH_USERFAULTFD_WP, features 0xffe), the row asserts the absence: no
 * pagefaultFlagWp, and REGISTER with MODE_WP is the kernel's EINVAL (vma_can_userfault()).
 */
export function wpTest(name: string, fn: () => unknown, timeout?: number): void {
  if (hasWp) test(name, fn as jest.ProvidesCallback, timeout);
  else
    test(`${name} [no uffd-wp on arm64 before 6.10: asserts REGISTER(WP) EINVAL]`, () => {
      expect(kernelFeatures.has('pagefaultFlagWp')).toBe(false);
      expect(process.arch === 'arm64' && !kernelAtLeast(6, 10)).toBe(true);
      const u = Userfaultfd.open();
      const m = Mapping.anonymous(pageSize);
      try {
        let err: unknown;
        try {
          u.register(m.address, pageSize, { missing: true, wp: true });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(UffdError);
        expect(err).toMatchObject({ code: 'EINVAL', request: 'UFFDIO_REGISTER' });
      } finally {
        u.close();
        m.unmap();
      }
    });
}
