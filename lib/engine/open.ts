/**
 * Opening a simulated userfaultfd: the same two-step feature negotiation as the kernel path
 * (lib/userfaultfd.ts openKernel), on a simulated process's syscalls, wrapped in the same
 * `Userfaultfd` class.
 */
import { UffdError } from '../errors';
import { FEATURE_BITS, type FeatureName, featureMask, featureNames } from '../features';
import { Userfaultfd, checkOpenOptions, type OpenOptions } from '../userfaultfd';
import { SimRawUffd } from './sim-raw';
import { SimulatedSpace } from './space';
import type { SimKernel } from './sys';
import * as U from './uapi';

let defaultSpace: SimulatedSpace | undefined;

/**
 * The simulated process that `Userfaultfd.open({ backend: 'simulated' })` (and an 'auto'
 * fallback) opens on. Map memory in it with `spaceOf(uffd)`.
 */
export function simulatedProcess(): SimulatedSpace {
  defaultSpace ??= new SimulatedSpace();
  return defaultSpace;
}

const spaces = new WeakMap<Userfaultfd, SimulatedSpace>();

/**
 * Opens a userfaultfd on a simulated space with the kernel's semantics (errors included). The
 * options are checked as `Userfaultfd.open()` checks them; `backend` and `moveEmulation` are
 * accepted and have no effect (the uffd is on this space, whose MOVE is its profile's).
 */
export function openOnSpace(
  space: SimulatedSpace,
  options: Partial<OpenOptions> | undefined,
  reason?: UffdError,
): Userfaultfd {
  const opts = checkOpenOptions(options);
  const userModeOnly = opts.userModeOnly;
  const sys = space.sys;
  const flags = U.O_CLOEXEC | U.O_NONBLOCK | (userModeOnly ? U.UFFD_USER_MODE_ONLY : 0);
  const openFd = (): { fd: number; via: 'syscall' | 'user-mode-only' | 'dev' } => {
    const fd = sys.open(flags);
    if (fd >= 0) return { fd, via: userModeOnly ? 'user-mode-only' : 'syscall' };
    if (fd === -U.EPERM) {
      const [devFd] = sys.devOpen(flags);
      if (devFd >= 0) return { fd: devFd, via: 'dev' };
    }
    throw UffdError.fromErrno(fd, { syscall: 'userfaultfd' });
  };
  const probe = openFd();
  const [pret, , available] = sys.api(probe.fd, U.UFFD_API, 0);
  sys.close(probe.fd);
  if (pret < 0) throw UffdError.fromErrno(pret, { syscall: 'ioctl', request: 'UFFDIO_API' });
  let want: bigint;
  if (opts.features === undefined) {
    want = available & (1n << BigInt(FEATURE_BITS.threadId));
  } else {
    want = featureMask(opts.features);
    const missing = featureNames(want & ~available);
    if (missing.length > 0) {
      throw new UffdError(
        'ERR_UFFD_UNSUPPORTED',
        `this kernel does not offer the userfaultfd feature(s) ${missing.join(', ')}`,
        undefined,
        { syscall: 'ioctl', request: 'UFFDIO_API' },
      );
    }
  }
  const { fd, via } = openFd();
  const [ret, , avail] = sys.api(fd, U.UFFD_API, want);
  if (ret < 0) {
    sys.close(fd);
    throw UffdError.fromErrno(ret, { syscall: 'ioctl', request: 'UFFDIO_API' });
  }
  void via;
  const uffd = Userfaultfd.fromRaw(new SimRawUffd(sys, fd), 'simulated', want, avail, reason);
  spaces.set(uffd, space);
  return uffd;
}

/** `Userfaultfd.open({ backend: 'simulated' | 'auto' })` lands here (lib/userfaultfd.ts). */
export function openSimulated(options: Partial<OpenOptions>, reason?: UffdError): Userfaultfd {
  return openOnSpace(simulatedProcess(), options, reason);
}

/** Wraps an fd of a simulated fd table (a FORK message's child uffd). */
export function wrapSimFd(sys: SimKernel, fd: number, features: readonly string[]): Userfaultfd {
  const enabled = featureMask(features as FeatureName[]);
  const uffd = Userfaultfd.fromRaw(new SimRawUffd(sys, fd), 'simulated', enabled, enabled);
  const ctx = sys.ctx(fd);
  if (ctx !== undefined) spaces.set(uffd, ctx.mm);
  return uffd;
}

/** The simulated space a simulated Userfaultfd serves (undefined for a kernel one). */
export function simulatedSpaceOf(uffd: Userfaultfd): SimulatedSpace | undefined {
  return spaces.get(uffd);
}
