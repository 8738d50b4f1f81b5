/**
 * `probe()`: can this process use userfaultfd, and how? Never throws. Tries each open path the
 * way `Userfaultfd.open` would (user-mode-only syscall, full syscall, /dev/userfaultfd) and
 * reports the features of the first that works, or the reason none does, with the fix.
 */
import { release } from 'node:os';
import { native, nativeAvailable } from './binding';
import { k } from './constants';
import { UffdError, errnoName } from './errors';
import { featureNames } from './features';

export interface ProbePath {
  ok: boolean;
  code?: string;
}

export interface ProbeResult {
  available: boolean;
  via?: 'syscall' | 'user-mode-only' | 'dev';
  features: string[];
  kernel: string;
  code?: string;
  reason?: string;
  /** Each open path tried: the full syscall, USER_MODE_ONLY, and /dev/userfaultfd. */
  paths: { syscall: ProbePath; userModeOnly: ProbePath; dev: ProbePath };
}

const FIX: Record<string, string> = {
  EPERM:
    'userfaultfd(2) was refused. A seccomp filter (Docker/podman default profile) returns EPERM ' +
    'for it: run with --security-opt seccomp=<profile allowing userfaultfd> (see README) or ' +
    '--privileged. Without seccomp, UFFD_USER_MODE_ONLY needs no privilege; kernel-mode faults ' +
    'need CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1, or read-write access to /dev/userfaultfd.',
  ENOSYS:
    'the kernel has no userfaultfd(2) (CONFIG_USERFAULTFD=n) or an emulator (qemu-user) does not ' +
    'implement it: use a kernel with CONFIG_USERFAULTFD=y, or the simulated backend.',
  EACCES:
    'no permission to open /dev/userfaultfd (mode 0600 root by default): grant it with an ACL.',
  ENOENT: '/dev/userfaultfd does not exist (Linux < 6.1 or not in this container).',
  EINVAL: 'the kernel rejected the flags: UFFD_USER_MODE_ONLY needs Linux 5.11.',
  ERR_UFFD_UNSUPPORTED:
    'the native addon cannot load here (not Linux, or no build for this platform).',
};

export function fixFor(code: string): string {
  return FIX[code] ?? `userfaultfd is unavailable (${code}).`;
}

export function probe(): ProbeResult {
  const kernel = release();
  const paths = {
    syscall: { ok: false } as ProbePath,
    userModeOnly: { ok: false } as ProbePath,
    dev: { ok: false } as ProbePath,
  };
  if (process.platform !== 'linux' || !nativeAvailable()) {
    return {
      available: false,
      features: [],
      kernel,
      code: 'ERR_UFFD_UNSUPPORTED',
      reason: fixFor('ERR_UFFD_UNSUPPORTED'),
      paths,
    };
  }
  try {
    const b = native();
    const base = k('O_CLOEXEC') | k('O_NONBLOCK');
    const tryFd = (fd: number, path: ProbePath): number | undefined => {
      if (fd >= 0) {
        path.ok = true;
        return fd;
      }
      path.code = errnoName(fd);
      return undefined;
    };
    const fds: [ProbeResult['via'], number | undefined][] = [
      ['user-mode-only', tryFd(b.open(base | k('UFFD_USER_MODE_ONLY')), paths.userModeOnly)],
      ['syscall', tryFd(b.open(base), paths.syscall)],
      ['dev', tryFd(b.devOpen(base | k('UFFD_USER_MODE_ONLY'))[0], paths.dev)],
    ];
    let result: ProbeResult | undefined;
    for (const [via, fd] of fds) {
      if (fd === undefined) continue;
      if (result === undefined) {
        const [ret, , features] = b.api(fd, k('UFFD_API'), 0n);
        if (ret === 0) {
          result = { available: true, via, features: featureNames(features), kernel, paths };
        } else {
          const code = errnoName(ret);
          result = {
            available: false,
            via,
            features: [],
            kernel,
            code,
            reason: `UFFDIO_API failed: ${code}`,
            paths,
          };
        }
      }
      b.close(fd);
    }
    if (result !== undefined) return result;
    const code = paths.userModeOnly.code ?? paths.syscall.code ?? 'EPERM';
    return { available: false, features: [], kernel, code, reason: fixFor(code), paths };
  } catch (e) {
    const code = e instanceof UffdError ? e.code : 'ERR_UFFD_UNSUPPORTED';
    return { available: false, features: [], kernel, code, reason: (e as Error).message, paths };
  }
}
