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
 * unknown-command EINVAL (spec §1.2), untouched dst.
 */
export function expectNoMove(): void {
  expect(kernelFeatures.has('move')).toBe(false);
  expect(kernelAtLeast(6, 8)).toBe(false);
  const u = Userfaultfd.open();
  const src = Mapping.anonymous(pageSize);
  const dst = Mapping.anonymous(pageSize);
  try {
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
 * `test` for a row whose subject is UFFDIO_MOVE. On a kernel without it (6.1) the row runs and
 * asserts the absence (expectNoMove) under the same name plus a note: never a skip.
 */
export function moveTest(name: string, fn: () => unknown, timeout?: number): void {
  if (hasMove) test(name, fn as jest.ProvidesCallback, timeout);
  else test(`${name} [no UFFDIO_MOVE before 6.8: asserts the EINVAL]`, expectNoMove, timeout);
}
