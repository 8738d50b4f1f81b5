/**
 * Spec §5.2 rows A1-A20: creating a userfaultfd, the UFFDIO_API handshake, read(2)/poll(2) and
 * /dev/userfaultfd, on the real kernel. Most rows need values the public API cannot express (bad
 * flags, a second UFFDIO_API, unknown commands), so they go through native() directly; the
 * public API's behaviour for the same situation is asserted beside them.
 */
import { closeSync, openSync } from 'node:fs';
import { Userfaultfd, UffdError, probe } from '../../lib';
import { native } from '../../lib/binding';
import { childRun, DIST } from '../helpers/kernel';
import { neg } from '../helpers/areas';
import { featureNames } from '../../lib/features';
import {
  expectNoMove,
  expectedFeatureMask,
  hasMove,
  kernelAtLeast,
} from '../helpers/kernel-version';

const b = native();
const c = b.constants;
const O_CLOEXEC = c.O_CLOEXEC!;
const O_NONBLOCK = c.O_NONBLOCK!;
const UMO = c.UFFD_USER_MODE_ONLY!;
const FLAGS = O_CLOEXEC | O_NONBLOCK | UMO;
const POLLIN = 0x1;
const POLLERR = 0x8; // spec A5/A15: revents=0x8

const fds: number[] = [];
function track(fd: number): number {
  if (fd >= 0) fds.push(fd);
  return fd;
}
afterEach(() => {
  for (const fd of fds.splice(0)) b.close(fd);
});

/** A new userfaultfd after UFFDIO_API (features 0). */
function initialised(flags = FLAGS): number {
  const fd = track(b.open(flags));
  expect(fd).toBeGreaterThanOrEqual(0);
  expect(b.api(fd, 0xaa, 0)[0]).toBe(0);
  return fd;
}

describe('spec §5.2 A rows: open, UFFDIO_API, read/poll, /dev/userfaultfd', () => {
  test('A1: userfaultfd(flags=4 [unknown bit]) -> EINVAL', () => {
    expect(track(b.open(4))).toBe(neg('EINVAL'));
  });

  test('A2: userfaultfd(O_CLOEXEC|O_NONBLOCK|UFFD_USER_MODE_ONLY) -> fd', () => {
    expect(track(b.open(FLAGS))).toBeGreaterThanOrEqual(0);
    // The public API opens the same way by default and says so.
    const u = Userfaultfd.open();
    try {
      expect(u.via).toBe('user-mode-only');
      expect(u.fd).toBeGreaterThanOrEqual(0);
    } finally {
      u.close();
    }
  });

  test('A3: UFFDIO_MOVE before UFFDIO_API -> EINVAL, field untouched', () => {
    const fd = track(b.open(FLAGS));
    b.result[0] = 12345;
    expect(b.move(fd, 0x100000, 0x200000, 4096, 0)).toBe(neg('EINVAL'));
    expect(b.result[0]).toBeNaN(); // NaN = the sentinel survived: the kernel did not write
  });

  test('A4: read() before UFFDIO_API -> EINVAL', () => {
    const fd = track(b.open(FLAGS));
    expect(b.readMsgs(fd, new Uint8Array(32))).toBe(neg('EINVAL'));
  });

  test('A5: poll() before UFFDIO_API -> revents=0x8 (POLLERR)', () => {
    const fd = track(b.open(FLAGS));
    expect(b.poll(fd, POLLIN, 0)).toBe(POLLERR);
  });

  test('A6: UFFDIO_API api=0xAB -> EINVAL, struct zeroed (api=0 features=0 ioctls=0)', () => {
    const fd = track(b.open(FLAGS));
    expect(b.api(fd, 0xab, 0)).toEqual([neg('EINVAL'), 0n, 0n, 0n]);
  });

  test('A7: UFFDIO_API features=1<<63 -> EINVAL', () => {
    const fd = track(b.open(FLAGS));
    expect(b.api(fd, 0xaa, 1n << 63n)[0]).toBe(neg('EINVAL'));
    // Public API: the bit is not offered, so it is refused before the real handshake.
    try {
      Userfaultfd.open({ features: ['bit63'] });
      throw new Error('opened');
    } catch (e) {
      expect(e).toBeInstanceOf(UffdError);
      expect((e as UffdError).code).toBe('ERR_UFFD_UNSUPPORTED');
    }
  });

  test('A8: UFFDIO_API features=1<<17 (RWP; not in 6.18) -> EINVAL', () => {
    const fd = track(b.open(FLAGS));
    expect(b.api(fd, 0xaa, 1n << 17n)[0]).toBe(neg('EINVAL'));
    expect(() => Userfaultfd.open({ features: ['bit17'] })).toThrow(
      expect.objectContaining({ code: 'ERR_UFFD_UNSUPPORTED' }),
    );
  });

  test('A9: UFFDIO_API api=0xAA features=0 -> features=0x1ffff (6.8+; per version) ioctls=0x8000000000000003', () => {
    // The mask is this kernel version's (expectedFeatureMask, spec §2.9): 0x1ffff on 6.8+, 0x1fff
    // on x86_64 6.1, 0xffe on arm64 6.1 (no HAVE_ARCH_USERFAULTFD_WP before 6.10).
    const want = expectedFeatureMask();
    const fd = track(b.open(FLAGS));
    expect(b.api(fd, 0xaa, 0)).toEqual([0, 0xaan, want, 0x8000000000000003n]);
    const u = Userfaultfd.open();
    try {
      expect(u.availableFeatures.size).toBe(want.toString(2).replace(/0/g, '').length);
      expect(u.availableFeatures.has('move')).toBe(kernelAtLeast(6, 8));
      expect(u.availableFeatures.has('wpAsync')).toBe((want & (1n << 15n)) !== 0n);
    } finally {
      u.close();
    }
  });

  test('A10: second UFFDIO_API on the same fd -> EINVAL', () => {
    const fd = initialised();
    expect(b.api(fd, 0xaa, 0)[0]).toBe(neg('EINVAL'));
  });

  test('A11: unknown cmd _IOWR(0xAA,0x20,40) -> EINVAL', () => {
    // Not expressible through the public API at all (it has no raw ioctl entry point).
    const fd = initialised();
    const IOWR_AA_20_40 = (3 << 30) | (40 << 16) | (0xaa << 8) | 0x20;
    expect(b.rawIoctl(fd, IOWR_AA_20_40 >>> 0, Buffer.alloc(40))).toBe(neg('EINVAL'));
  });

  test('A12: read(count=16 < 32) -> EINVAL', () => {
    const fd = initialised();
    expect(b.readMsgs(fd, new Uint8Array(16))).toBe(neg('EINVAL'));
  });

  test('A13: read() O_NONBLOCK, nothing pending -> EAGAIN', () => {
    const fd = initialised();
    expect(b.readMsgs(fd, new Uint8Array(32))).toBe(neg('EAGAIN'));
  });

  test('A14: poll() O_NONBLOCK, nothing pending -> revents=0x0', () => {
    const fd = initialised();
    expect(b.poll(fd, POLLIN, 0)).toBe(0);
  });

  test('A15: poll() on an initialised fd WITHOUT O_NONBLOCK -> revents=0x8', () => {
    const fd = initialised(O_CLOEXEC | UMO);
    expect(b.poll(fd, POLLIN, 0)).toBe(POLLERR);
    // fromFd() makes a received fd non-blocking for exactly this reason.
    const dup = b.dup(fd);
    expect(dup).toBeGreaterThanOrEqual(0);
    const u = Userfaultfd.fromFd(dup);
    try {
      expect(b.poll(u.fd, POLLIN, 0)).toBe(0);
    } finally {
      u.close();
    }
  });

  test('A16: UFFDIO_API features=EVENT_FORK|MOVE as root -> 0 (EINVAL before 6.8: unknown bit)', () => {
    const fd = track(b.open(FLAGS));
    const want = c.UFFD_FEATURE_EVENT_FORK! | c.UFFD_FEATURE_MOVE!;
    // Before 6.8 MOVE is not in UFFD_API_FEATURES: a request for it is EINVAL (spec §1.2).
    expect(b.api(fd, 0xaa, want)[0]).toBe(hasMove ? 0 : neg('EINVAL'));
    if (!hasMove) {
      // Asking for the kernel's MOVE: refused up front, as the kernel would refuse the bit.
      expect(() =>
        Userfaultfd.open({ features: ['eventFork', 'move'], moveEmulation: 'never' }),
      ).toThrow(expect.objectContaining({ code: 'ERR_UFFD_UNSUPPORTED' }) as unknown as Error);
      expectNoMove();
      // By default ('auto') the emulation provides move(): the MOVE bit is not requested (the
      // kernel never checks it, C52), so the open succeeds with EVENT_FORK alone.
      const e = Userfaultfd.open({ features: ['eventFork', 'move'] });
      try {
        expect(e.moveEmulated).toBe(true);
        expect(e.features.has('eventFork')).toBe(true);
        expect(e.features.has('move')).toBe(false);
      } finally {
        e.close();
      }
      return;
    }
    const u = Userfaultfd.open({ features: ['eventFork', 'move'] });
    try {
      expect(u.features.has('eventFork')).toBe(true);
      expect(u.features.has('move')).toBe(true);
    } finally {
      u.close();
    }
  });

  test('A17: /dev/userfaultfd USERFAULTFD_IOC_NEW(O_CLOEXEC|O_NONBLOCK) -> fd', () => {
    const [fd, step] = b.devOpen(O_CLOEXEC | O_NONBLOCK);
    track(fd);
    expect(step).toBe('ioctl');
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(b.api(fd, 0xaa, 0)[0]).toBe(0);
  });

  test('A18: USERFAULTFD_IOC_NEW flags=4 -> EINVAL', () => {
    const [fd, step] = b.devOpen(4);
    track(fd);
    expect([fd, step]).toEqual([neg('EINVAL'), 'ioctl']);
  });

  test('A19: /dev/userfaultfd ioctl _IO(0xAA,1) -> EINVAL', () => {
    const dev = openSync('/dev/userfaultfd', 'r+');
    try {
      expect(b.rawIoctl(dev, 0xaa01, null)).toBe(neg('EINVAL'));
      // ...while _IO(0xAA,0) on the same device is USERFAULTFD_IOC_NEW and works.
      expect(track(b.rawIoctl(dev, c.USERFAULTFD_IOC_NEW!, null))).toBeGreaterThanOrEqual(0);
    } finally {
      closeSync(dev);
    }
  });

  test(
    'A20: uid 65534: userfaultfd(0) EPERM / USER_MODE_ONLY ok / API(EVENT_FORK) EPERM / ' +
      '/dev/userfaultfd EACCES; probe() and open() report the user-mode-only path',
    async () => {
      expect(process.getuid!()).toBe(0); // CI runs as root; dropping to uid 65534 needs it
      const script = `
        const d = require(${JSON.stringify(DIST)});
        const { native } = require(${JSON.stringify(DIST + '/binding.js')});
        const b = native();
        const c = b.constants;
        const out = { uid: process.getuid(), gid: process.getgid(), groups: process.getgroups() };
        out.syscall0 = b.open(0);
        const umo = b.open(c.O_CLOEXEC | c.O_NONBLOCK | c.UFFD_USER_MODE_ONLY);
        out.umo = umo;
        out.apiFork = umo >= 0 ? b.api(umo, 0xaa, c.UFFD_FEATURE_EVENT_FORK)[0] : null;
        out.dev = b.devOpen(c.O_CLOEXEC | c.O_NONBLOCK);
        out.probe = d.probe();
        const u = d.Userfaultfd.open();
        out.openVia = u.via;
        u.close();
        const err = (f) => { try { f(); return 'no error'; } catch (e) {
          return { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall,
                   request: e.request, message: e.message }; } };
        out.full = err(() => d.Userfaultfd.open({ userModeOnly: false }));
        out.fork = err(() => d.Userfaultfd.open({ features: ['eventFork'] }));
        console.log(JSON.stringify(out));
      `;
      const r = await childRun(script, 15000, { user: { uid: 65534, gid: 65534 } });
      expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({
        code: 0,
        signal: null,
        stderr: '',
      });
      const out = JSON.parse(r.stdout);
      expect(out.uid).toBe(65534);
      expect(out.gid).toBe(65534);
      expect(out.groups).toEqual([65534]); // --clear-groups: only the egid (Node adds it)
      expect(out.syscall0).toBe(neg('EPERM'));
      expect(out.umo).toBeGreaterThanOrEqual(0);
      expect(out.apiFork).toBe(neg('EPERM'));
      expect(out.dev).toEqual([neg('EACCES'), 'open']);
      // probe(): available through the user-mode-only path; each path's errno is reported.
      expect(out.probe).toMatchObject({
        available: true,
        via: 'user-mode-only',
        paths: {
          userModeOnly: { ok: true },
          syscall: { ok: false, code: 'EPERM' },
          dev: { ok: false, code: 'EACCES' },
        },
      });
      expect(out.probe.features).toEqual(featureNames(expectedFeatureMask()));
      expect(out.openVia).toBe('user-mode-only');
      // userModeOnly:false: the syscall's EPERM, with /dev's EACCES and the way out in the text.
      expect(out.full).toMatchObject({ name: 'UffdError', code: 'EPERM', errno: -1 });
      expect(out.full.syscall).toBe('userfaultfd');
      expect(out.full.message).toMatch(/EPERM/);
      expect(out.full.message).toMatch(/CAP_SYS_PTRACE/);
      expect(out.full.message).toMatch(/EACCES/);
      expect(out.full.message).toMatch(/userModeOnly: true/);
      // EVENT_FORK without CAP_SYS_PTRACE: the handshake's EPERM.
      expect(out.fork).toMatchObject({ code: 'EPERM', syscall: 'ioctl', request: 'UFFDIO_API' });
    },
  );

  test("probe() as root on this machine: available, with this kernel version's features", () => {
    const p = probe();
    expect(p.available).toBe(true);
    expect(p.features).toEqual(featureNames(expectedFeatureMask()));
    expect(p.paths.syscall.ok).toBe(true);
    expect(p.paths.userModeOnly.ok).toBe(true);
    expect(p.paths.dev.ok).toBe(true);
  });
});
