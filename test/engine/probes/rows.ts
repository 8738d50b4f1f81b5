/**
 * The 173 probe rows of spec §5.2, each a scenario run on a ProbeEnv (kernel or simulated) that
 * prints what the spec's probe printed. `expect` is the spec's "Observed on 6.18.44" column,
 * written in terms of the page size and PMD size so the simulated 16K and 64K spaces run the
 * same table (4K: the literal spec strings).
 */
import { errnoName } from '../../../lib/errors';
import type { Userfaultfd } from '../../../lib/userfaultfd';
import * as U from '../../../lib/engine/uapi';
import { type ProbeEnv, runAsNobody, ROOT } from './env';

export type Needs = 'ksm' | 'swap' | 'hugetlb' | 'pin' | 'nobody';

/** The kernels the table knows the answers of (lib/engine/space.ts profiles). */
export type TableProfile = '6.18' | '6.12';

export interface Row {
  id: string;
  what: string;
  /** The spec's "Observed on 6.18.44" (and the '6.18' profile's answer). */
  expect: (ps: number, pmd: number) => string;
  /**
   * Where 6.12 answers otherwise (measured in the arm64 6.12 guests, 4K and 16K pages; the
   * '6.12' profile gives the same): kernels from 6.8 (MOVE) to 6.16.
   */
  on612?: (ps: number, pmd: number) => string;
  needs?: Needs;
  /** A longer jest timeout (KSM merging waits for ksmd). */
  timeout?: number;
  run: (e: ProbeEnv) => Promise<string>;
}

/** The row's answer on a kernel of `profile`. */
export function expected(row: Row, profile: TableProfile, ps: number, pmd: number): string {
  return (profile === '6.12' ? row.on612 : undefined)?.(ps, pmd) ?? row.expect(ps, pmd);
}

// ---- formatting, as the spec's probe printed ---------------------------------------------------

function name(errno: number): string {
  return errnoName(errno);
}

/** "ret=0", "ret=-1 EINVAL", plus " field=…" when a field is given. */
export function res(ret: number, field?: number): string {
  const r = ret >= 0 ? 'ret=0' : `ret=-1 ${name(ret)}`;
  if (field === undefined) return r;
  const f = Number.isNaN(field) ? 'untouched' : field < 0 ? `-${name(field)}` : String(field);
  return `${r} field=${f}`;
}

/** Just the errno name, or "0" (REGISTER/UNREGISTER rows). */
function rc(ret: number): string {
  return ret >= 0 ? '0' : name(ret);
}

const hex = (n: number): string => `0x${n.toString(16)}`;
const b01 = (x: boolean): number => (x ? 1 : 0);
const MISSING = U.UFFDIO_REGISTER_MODE_MISSING;
const WP = U.UFFDIO_REGISTER_MODE_WP;
const HOLES = U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES;
const DONTWAKE = U.UFFDIO_MOVE_MODE_DONTWAKE;
const FLAGS = U.O_CLOEXEC | U.O_NONBLOCK;

async function put(e: ProbeEnv, addr: number, byte: number, len = 1): Promise<void> {
  await e.space.write(addr, new Uint8Array(len).fill(byte));
}
async function get(e: ProbeEnv, addr: number): Promise<number> {
  return (await e.space.read(addr, 1))[0]!;
}
function mv(
  u: Userfaultfd,
  d: number | bigint,
  s: number | bigint,
  l: number | bigint,
  m = 0,
): string {
  return res(u.raw.move(d, s, l, m), u.raw.lastField());
}
function cp(u: Userfaultfd, d: number, s: number | Uint8Array, l: number, m = 0): string {
  return res(u.raw.copy(d, s, l, m), u.raw.lastField());
}
function zp(u: Userfaultfd, d: number, l: number, m = 0): string {
  return res(u.raw.zeropage(d, l, m), u.raw.lastField());
}
const present = (e: ProbeEnv, a: number): number => b01(e.page(a).present);

/** src area with `pages` populated pages of `byte`, dst area registered MISSING with u. */
async function pair(
  e: ProbeEnv,
  pages: number,
  byte = 0x11,
  features?: Parameters<ProbeEnv['uffd']>[0],
): Promise<{ u: Userfaultfd; src: number; dst: number }> {
  const u = e.uffd(features);
  const src = e.area(pages);
  const dst = e.area(pages);
  for (let i = 0; i < pages; i++) await put(e, src + i * e.ps, byte);
  u.register(dst, pages * e.ps);
  return { u, src, dst };
}

/** A thread blocked (or not) in an access: its promise and whether it finished. */
function thread(p: Promise<unknown>): {
  done: () => boolean;
  wait: (ms: number) => Promise<boolean>;
} {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  return {
    done: () => done,
    wait: async (ms) => {
      const end = Date.now() + ms;
      while (!done && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      return done;
    },
  };
}

/** Waits until a message is pending and reads it raw (32 bytes). */
async function readMsg(u: Userfaultfd, ms = 5000): Promise<{ ret: number; msg: DataView }> {
  const buf = new Uint8Array(32);
  const end = Date.now() + ms;
  for (;;) {
    const n = u.raw.readMsgs(buf);
    if (n !== -U.EAGAIN || Date.now() > end) {
      return { ret: n < 0 ? n : 0, msg: new DataView(buf.buffer) };
    }
    await new Promise((r) => setTimeout(r, 2));
  }
}
const u64 = (v: DataView, o: number): number => Number(v.getBigUint64(o, true));

// ---- the rows ------------------------------------------------------------------------------

export const ROWS: Row[] = [
  // A: creating, UFFDIO_API, read/poll (§1.1, §1.6, §3.1)
  {
    id: 'A1',
    what: 'userfaultfd(flags=4 [unknown bit])',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => res(e.sys.open(4)),
  },
  {
    id: 'A2',
    what: 'userfaultfd(O_CLOEXEC|O_NONBLOCK|UFFD_USER_MODE_ONLY)',
    expect: () => 'ret=0',
    run: async (e) => {
      const fd = e.sys.open(FLAGS | U.UFFD_USER_MODE_ONLY);
      if (fd >= 0) e.sys.close(fd);
      return res(fd);
    },
  },
  {
    id: 'A3',
    what: 'UFFDIO_MOVE before UFFDIO_API',
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      const a = e.area(1);
      const [r, f] = e.sys.move(fd, a, a, e.ps, 0);
      e.sys.close(fd);
      return res(r, f);
    },
  },
  {
    id: 'A4',
    what: 'read() before UFFDIO_API',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      const r = e.sys.readMsgs(fd, new Uint8Array(32));
      e.sys.close(fd);
      return res(r);
    },
  },
  {
    id: 'A5',
    what: 'poll() before UFFDIO_API',
    expect: () => 'revents=0x8',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      const r = e.sys.poll(fd);
      e.sys.close(fd);
      return `revents=${hex(r)}`;
    },
  },
  {
    id: 'A6',
    what: 'UFFDIO_API api=0xAB',
    expect: () => 'ret=-1 EINVAL api=0 features=0 ioctls=0',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      const [r, api, f, io] = e.sys.api(fd, 0xab, 0);
      e.sys.close(fd);
      return `${res(r)} api=${api} features=${f} ioctls=${io}`;
    },
  },
  {
    id: 'A7',
    what: 'UFFDIO_API features=1<<63',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      const [r] = e.sys.api(fd, U.UFFD_API, 1n << 63n);
      e.sys.close(fd);
      return res(r);
    },
  },
  {
    id: 'A8',
    what: 'UFFDIO_API features=1<<17 (RWP; not in 6.18)',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      const [r] = e.sys.api(fd, U.UFFD_API, 1 << 17);
      e.sys.close(fd);
      return res(r);
    },
  },
  {
    id: 'A9',
    what: 'UFFDIO_API api=0xAA features=0 (report)',
    expect: () => 'ret=0 features=0x1ffff ioctls=0x8000000000000003',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      const [r, , f, io] = e.sys.api(fd, U.UFFD_API, 0);
      e.sys.close(fd);
      return `${res(r)} features=0x${f.toString(16)} ioctls=0x${io.toString(16)}`;
    },
  },
  {
    id: 'A10',
    what: 'second UFFDIO_API on same fd',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      e.sys.api(fd, U.UFFD_API, 0);
      const [r] = e.sys.api(fd, U.UFFD_API, 0);
      e.sys.close(fd);
      return res(r);
    },
  },
  {
    id: 'A11',
    what: 'unknown cmd _IOWR(0xAA,0x20,40)',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      e.sys.api(fd, U.UFFD_API, 0);
      const r = e.sys.rawIoctl(fd, 0xc028aa20, new Uint8Array(40));
      e.sys.close(fd);
      return res(r);
    },
  },
  {
    id: 'A12',
    what: 'read(count=16 < 32)',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      e.sys.api(fd, U.UFFD_API, 0);
      const r = e.sys.readMsgs(fd, new Uint8Array(16));
      e.sys.close(fd);
      return res(r);
    },
  },
  {
    id: 'A13',
    what: 'read() O_NONBLOCK nothing pending',
    expect: () => 'ret=-1 EAGAIN',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      e.sys.api(fd, U.UFFD_API, 0);
      const r = e.sys.readMsgs(fd, new Uint8Array(32));
      e.sys.close(fd);
      return res(r);
    },
  },
  {
    id: 'A14',
    what: 'poll() O_NONBLOCK nothing pending',
    expect: () => 'revents=0x0',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      e.sys.api(fd, U.UFFD_API, 0);
      const r = e.sys.poll(fd);
      e.sys.close(fd);
      return `revents=${hex(r)}`;
    },
  },
  {
    id: 'A15',
    what: 'poll() on initialized fd WITHOUT O_NONBLOCK',
    expect: () => 'revents=0x8',
    run: async (e) => {
      const fd = e.sys.open(U.O_CLOEXEC);
      e.sys.api(fd, U.UFFD_API, 0);
      const r = e.sys.poll(fd);
      e.sys.close(fd);
      return `revents=${hex(r)}`;
    },
  },
  {
    id: 'A16',
    what: 'UFFDIO_API features=EVENT_FORK|MOVE as root',
    expect: () => 'ret=0',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      const [r] = e.sys.api(fd, U.UFFD_API, U.F_EVENT_FORK | U.F_MOVE);
      e.sys.close(fd);
      return res(r);
    },
  },
  {
    id: 'A17',
    what: '/dev/userfaultfd USERFAULTFD_IOC_NEW(O_CLOEXEC|O_NONBLOCK)',
    expect: () => 'ret=0',
    run: async (e) => {
      const [fd] = e.sys.devOpen(FLAGS);
      if (fd >= 0) e.sys.close(fd);
      return res(fd);
    },
  },
  {
    id: 'A18',
    what: 'USERFAULTFD_IOC_NEW flags=4',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => res(e.sys.devOpen(4)[0]),
  },
  {
    id: 'A19',
    what: '/dev/userfaultfd ioctl _IO(0xAA,1)',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => {
      const dev = e.sys.openDevice();
      const r = e.sys.rawIoctl(dev, 0xaa01, null);
      e.sys.close(dev);
      return res(r);
    },
  },
  {
    id: 'A20',
    what: 'uid 65534, unprivileged_userfaultfd=0: userfaultfd(0) / (USER_MODE_ONLY) / API(EVENT_FORK) / open(/dev/userfaultfd)',
    expect: () => 'EPERM / ok / EPERM / EACCES',
    needs: 'nobody',
    run: async (e) => {
      if (e.name === 'kernel') {
        return runAsNobody(`
          const b = require(${JSON.stringify(ROOT)} + '/dist/binding.js').native();
          const fs = require('fs');
          const n = (r) => r >= 0 ? 'ok' : require('os').constants.errno && Object.entries(require('os').constants.errno).find(([, v]) => v === -r)[0];
          const a = b.open(0);
          const c = b.open(1 | 0x800);
          const api = b.api(c, 0xaa, 2)[0];
          let d; try { fs.openSync('/dev/userfaultfd', 'r+'); d = 0; } catch (x) { d = x.errno; }
          console.log([n(a), c >= 0 ? 'ok' : n(c), n(api), n(d)].join(' / '));`);
      }
      const { SimulatedSpace } = await import('../../../lib');
      const sp = new SimulatedSpace({ pageSize: e.ps, privileged: false, devAccess: false });
      const a = sp.sys.open(0);
      const c = sp.sys.open(U.UFFD_USER_MODE_ONLY | U.O_NONBLOCK);
      const [api] = sp.sys.api(c, U.UFFD_API, U.F_EVENT_FORK);
      const [d] = sp.sys.devOpen(0);
      const n = (r: number): string => (r >= 0 ? 'ok' : name(r));
      return [n(a), n(c), n(api), n(d)].join(' / ');
    },
  },

  // B: REGISTER / UNREGISTER (§3.2, §3.3)
  {
    id: 'B1',
    what: 'REGISTER anon MISSING -> ioctls',
    expect: () => 'rc=0 ioctls=0x13c',
    run: async (e) => {
      const u = e.uffd();
      const r = u.raw.register(e.area(1), e.ps, MISSING);
      return `rc=${rc(r)} ioctls=${hex(r)}`;
    },
  },
  {
    id: 'B2',
    what: 're-REGISTER same range MISSING|WP (same ctx)',
    expect: () => 'rc=0 ioctls=0x17c',
    run: async (e) => {
      const u = e.uffd();
      const a = e.area(1);
      u.raw.register(a, e.ps, MISSING);
      const r = u.raw.register(a, e.ps, MISSING | WP);
      return `rc=${rc(r)} ioctls=${hex(r)}`;
    },
  },
  ...(
    [
      ['B3', 'REGISTER mode=0', 0, 0, 1],
      ['B4', 'REGISTER mode=1<<3 (RWP, unknown in 6.18)', 8, 0, 1],
      ['B5', 'REGISTER MINOR on anon', U.UFFDIO_REGISTER_MODE_MINOR, 0, 1],
      ['B6', 'REGISTER unaligned start', MISSING, 1, 1],
      ['B7', 'REGISTER len=0', MISSING, 0, 0],
      ['B8', 'REGISTER len unaligned', MISSING, 0, 0.5],
    ] as const
  ).map(([id, what, mode, startOff, pages]): Row => ({
    id,
    what,
    expect: () => 'EINVAL',
    run: async (e) => {
      const u = e.uffd();
      const a = e.area(1);
      return rc(u.raw.register(a + startOff, pages * e.ps, mode));
    },
  })),
  {
    id: 'B9',
    what: 'REGISTER start >= TASK_SIZE',
    expect: () => 'EINVAL',
    run: async (e) => rc(e.uffd().raw.register(e.taskSize, e.ps, MISSING)),
  },
  {
    id: 'B10b',
    what: 'REGISTER range entirely unmapped',
    expect: () => 'EINVAL',
    run: async (e) => {
      const a = e.area(4);
      e.space.munmap(a, 4 * e.ps);
      return rc(e.uffd().raw.register(a, 4 * e.ps, MISSING));
    },
  },
  {
    id: 'B11',
    what: 'REGISTER range = [4 unmapped pages][4 mapped pages]',
    expect: () => '0',
    run: async (e) => {
      const a = e.area(8);
      e.space.munmap(a, 4 * e.ps);
      return rc(e.uffd().raw.register(a, 8 * e.ps, MISSING));
    },
  },
  {
    id: 'B12',
    what: 'REGISTER range already registered by another uffd',
    expect: () => 'EBUSY',
    run: async (e) => {
      const a = e.area(1);
      e.uffd().register(a, e.ps);
      return rc(e.uffd().raw.register(a, e.ps, MISSING));
    },
  },
  {
    id: 'B13',
    what: 'REGISTER MAP_SHARED of O_RDONLY memfd (no VM_MAYWRITE)',
    expect: () => 'EPERM',
    run: async (e) => rc(e.uffd().raw.register(e.roSharedFile(1), e.ps, MISSING)),
  },
  {
    id: 'B14',
    what: 'REGISTER MAP_PRIVATE of a regular disk file',
    expect: () => 'EINVAL',
    run: async (e) => rc(e.uffd().raw.register(e.filePrivate(1), e.ps, MISSING)),
  },
  {
    id: 'B15',
    what: 'REGISTER MAP_SHARED|MAP_ANONYMOUS (shmem) MISSING',
    expect: () => 'rc=0 ioctls=0x13c',
    run: async (e) => {
      const r = e.uffd().raw.register(e.sharedArea(1), e.ps, MISSING);
      return `rc=${rc(r)} ioctls=${hex(r)}`;
    },
  },
  {
    id: 'B16',
    what: 'UNREGISTER via a different uffd than the owner',
    expect: () => 'EINVAL',
    // "userfaultfd: prevent unregistering VMAs through a different userfaultfd" came in 6.17
    on612: () => '0',
    run: async (e) => {
      const a = e.area(1);
      e.uffd().register(a, e.ps);
      return rc(e.uffd().raw.unregister(a, e.ps));
    },
  },
  {
    id: 'B17',
    what: 'UNREGISTER unmapped range',
    expect: () => 'EINVAL',
    run: async (e) => {
      const a = e.area(1);
      e.space.munmap(a, e.ps);
      return rc(e.uffd().raw.unregister(a, e.ps));
    },
  },
  {
    id: 'B18',
    what: 'UNREGISTER mapped but never-registered range',
    expect: () => '0',
    run: async (e) => rc(e.uffd().raw.unregister(e.area(1), e.ps)),
  },
  {
    id: 'B19',
    what: 'UNREGISTER registered range',
    expect: () => '0',
    run: async (e) => {
      const u = e.uffd();
      const a = e.area(1);
      u.register(a, e.ps);
      return rc(u.raw.unregister(a, e.ps));
    },
  },
  {
    id: 'B20',
    what: 'UNREGISTER unaligned',
    expect: () => 'EINVAL',
    run: async (e) => {
      const u = e.uffd();
      const a = e.area(2);
      u.register(a, 2 * e.ps);
      return rc(u.raw.unregister(a + 1, e.ps));
    },
  },

  // C: MOVE (§2)
  {
    id: 'C1',
    what: 'MOVE 1 page src populated -> dst empty registered',
    expect: (ps) => `ret=0 field=${ps} dst[0]=0x11 src_present=0`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      const r = mv(u, dst, src, e.ps);
      return `${r} dst[0]=${hex(await get(e, dst))} src_present=${present(e, src)}`;
    },
  },
  {
    id: 'C2',
    what: 'MOVE 16 pages',
    expect: (ps) => `ret=0 field=${16 * ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 16);
      return mv(u, dst, src, 16 * e.ps);
    },
  },
  {
    id: 'C3',
    what: 'MOVE into populated dst page',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      u.zeropage(dst, e.ps);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C4',
    what: 'MOVE src hole (pte none)',
    expect: () => 'ret=-1 ENOENT field=-ENOENT',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 2);
      e.space.madvise(src, e.ps, 'dontneed');
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C5',
    what: 'MOVE src hole + ALLOW_SRC_HOLES',
    expect: (ps) => `ret=0 field=${2 * ps} dst_present=0`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 3);
      e.space.madvise(src, 2 * e.ps, 'dontneed');
      return `${mv(u, dst, src, 2 * e.ps, HOLES)} dst_present=${present(e, dst)}`;
    },
  },
  {
    id: 'C6',
    what: 'MOVE 4 pages, src page #2 is a hole',
    expect: (ps) => `ret=-1 EAGAIN field=${2 * ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 4);
      e.space.madvise(src + 2 * e.ps, e.ps, 'dontneed');
      return mv(u, dst, src, 4 * e.ps);
    },
  },
  {
    id: 'C7',
    what: 'retry remainder (starts at the hole)',
    expect: () => 'ret=-1 ENOENT field=-ENOENT',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 4);
      e.space.madvise(src + 2 * e.ps, e.ps, 'dontneed');
      u.raw.move(dst, src, 4 * e.ps, 0);
      return mv(u, dst + 2 * e.ps, src + 2 * e.ps, 2 * e.ps);
    },
  },
  {
    id: 'C8',
    what: 'MOVE 4 pages, dst page #2 already populated',
    expect: (ps) => `ret=-1 EAGAIN field=${2 * ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 4);
      u.zeropage(dst + 2 * e.ps, e.ps);
      return mv(u, dst, src, 4 * e.ps);
    },
  },
  {
    id: 'C9',
    what: 'retry remainder (dst #2 populated)',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 4);
      u.zeropage(dst + 2 * e.ps, e.ps);
      u.raw.move(dst, src, 4 * e.ps, 0);
      return mv(u, dst + 2 * e.ps, src + 2 * e.ps, 2 * e.ps);
    },
  },
  {
    id: 'C10',
    what: 'dst populated + src hole + ALLOW_SRC_HOLES (dst checked first)',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 2);
      e.space.madvise(src, e.ps, 'dontneed');
      u.zeropage(dst, e.ps);
      return mv(u, dst, src, e.ps, HOLES);
    },
  },
  ...(
    [
      ['C11', 'MOVE dst unaligned (+1)', 1, 0, 1, 0],
      ['C12', 'MOVE src unaligned (+1)', 0, 1, 1, 0],
      ['C13', 'MOVE len unaligned (100)', 0, 0, -100, 0],
      ['C14', 'MOVE len=0', 0, 0, 0, 0],
      ['C15', 'MOVE mode=1<<2', 0, 0, 1, 4],
    ] as const
  ).map(([id, what, dOff, sOff, pages, mode]): Row => ({
    id,
    what,
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      const len = pages < 0 ? -pages : pages * e.ps;
      return mv(u, dst + dOff, src + sOff, len, mode);
    },
  })),
  {
    id: 'C16',
    what: 'MOVE src=0xfffffffffffff000 (>= TASK_SIZE)',
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const { u, dst } = await pair(e, 1);
      return mv(u, dst, 2n ** 64n - BigInt(e.ps), e.ps);
    },
  },
  {
    id: 'C17',
    what: 'MOVE src+len > TASK_SIZE (src=TASK_SIZE-1 page, len=2 pages)',
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const { u, dst } = await pair(e, 2);
      return mv(u, dst, e.taskSize - e.ps, 2 * e.ps);
    },
  },
  {
    id: 'C18',
    what: 'MOVE len=2^63 (wrap)',
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      return mv(u, dst, src, 2n ** 63n);
    },
  },
  {
    id: 'C19',
    what: 'MOVE neither src nor dst registered',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const u = e.uffd();
      const src = e.area(1);
      const dst = e.area(1);
      await put(e, src, 1);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C20',
    what: 'MOVE only src registered (dst not)',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const u = e.uffd();
      const src = e.area(1);
      const dst = e.area(1);
      await put(e, src, 1);
      u.register(src, e.ps);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C21',
    what: 'MOVE dst registered to a DIFFERENT uffd (same mm)',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const { src, dst } = await pair(e, 1);
      return mv(e.uffd(), dst, src, e.ps);
    },
  },
  {
    id: 'C22',
    what: 'same MOVE issued on the owning uffd',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C23',
    what: 'MOVE src range crosses end of src VMA',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 2);
      return mv(u, dst, src + e.ps, 2 * e.ps);
    },
  },
  {
    id: 'C24',
    what: 'MOVE dst range crosses end of dst VMA',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 2);
      return mv(u, dst + e.ps, src, 2 * e.ps);
    },
  },
  {
    id: 'C25',
    what: 'MOVE src start unmapped',
    expect: () => 'ret=-1 ENOENT field=-ENOENT',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      e.space.munmap(src, e.ps);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C26',
    what: 'MOVE dst start unmapped',
    expect: () => 'ret=-1 ENOENT field=-ENOENT',
    run: async (e) => {
      const { u, src } = await pair(e, 1);
      const d = e.area(1);
      e.space.munmap(d, e.ps);
      return mv(u, d, src, e.ps);
    },
  },
  {
    id: 'C27',
    what: 'MOVE dst unmapped AND src bad VMA (dst looked up first)',
    expect: () => 'ret=-1 ENOENT field=-ENOENT',
    run: async (e) => {
      const u = e.uffd();
      const d = e.area(1);
      e.space.munmap(d, e.ps);
      const s = e.sharedArea(1);
      return mv(u, d, s, e.ps);
    },
  },
  {
    id: 'C28',
    what: 'MOVE src RW -> dst PROT_READ (registered)',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      e.space.mprotect(dst, e.ps, 'r');
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C29',
    what: 'MOVE both PROT_READ (no VM_WRITE)',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      e.space.mprotect(dst, e.ps, 'r');
      e.space.mprotect(src, e.ps, 'r');
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C30',
    what: 'MOVE src RWX -> dst RW',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      e.space.mprotect(src, e.ps, 'rwx');
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C31',
    what: 'MOVE src mlocked, dst not',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      e.space.mlock(src, e.ps);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C32',
    what: 'MOVE src mlocked -> dst mlock2(ONFAULT)',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      e.space.mlock(src, e.ps);
      e.space.mlock(dst, e.ps, { onFault: true });
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C33',
    what: 'MOVE into MAP_SHARED|MAP_ANONYMOUS dst (registered)',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const u = e.uffd();
      const src = e.area(1);
      await put(e, src, 1);
      const dst = e.sharedArea(1);
      u.register(dst, e.ps);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C34',
    what: 'MOVE from MAP_SHARED src',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const u = e.uffd();
      const src = e.sharedArea(1);
      await put(e, src, 1);
      const dst = e.area(1);
      u.register(dst, e.ps);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C35',
    what: "MOVE from MAP_PRIVATE file VMA (CoW'd anon pages)",
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const u = e.uffd();
      const src = e.filePrivate(1);
      await put(e, src, 1);
      const dst = e.area(1);
      u.register(dst, e.ps);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C36',
    what: 'MOVE within one registered VMA (src and dst both in it)',
    expect: (ps) => `ret=0 field=${4 * ps} same[0]=0x99`,
    run: async (e) => {
      const u = e.uffd();
      const a = e.area(8);
      u.register(a, 8 * e.ps);
      u.copy(a + 4 * e.ps, new Uint8Array(4 * e.ps).fill(0x99), 4 * e.ps);
      const r = mv(u, a, a + 4 * e.ps, 4 * e.ps);
      return `${r} same[0]=${hex(await get(e, a))}`;
    },
  },
  {
    id: 'C37',
    what: 'MOVE overlapping (dst=A,src=A+1pg,len=2pg; A empty)',
    expect: (ps) => `ret=0 field=${2 * ps}`,
    run: async (e) => {
      const u = e.uffd();
      const a = e.area(4);
      u.register(a, 4 * e.ps);
      u.copy(a + e.ps, new Uint8Array(2 * e.ps).fill(5), 2 * e.ps);
      return mv(u, a, a + e.ps, 2 * e.ps);
    },
  },
  {
    id: 'C38',
    what: 'MOVE src page shared with live fork() child',
    expect: () => 'ret=-1 EBUSY field=-EBUSY',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      const child = await e.space.fork();
      const r = mv(u, dst, src, e.ps);
      await child.kill();
      return r;
    },
  },
  {
    id: 'C39',
    what: 'same, with ALLOW_SRC_HOLES',
    expect: () => 'ret=-1 EBUSY field=-EBUSY',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      const child = await e.space.fork();
      const r = mv(u, dst, src, e.ps, HOLES);
      await child.kill();
      return r;
    },
  },
  {
    id: 'C40',
    what: 'after child exited (parent only read)',
    expect: () => 'ret=-1 EBUSY field=-EBUSY',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      await (await e.space.fork()).kill();
      await get(e, src);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C41',
    what: 'after parent wrote to the page',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      await (await e.space.fork()).kill();
      await put(e, src, 0x12);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C42',
    what: 'MOVE 3 pages: #0,#1 exclusive, #2 still non-exclusive',
    expect: (ps) => `ret=-1 EAGAIN field=${2 * ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 3);
      await (await e.space.fork()).kill();
      await put(e, src, 1);
      await put(e, src + e.ps, 1);
      return mv(u, dst, src, 3 * e.ps);
    },
  },
  {
    id: 'C43',
    what: 'MOVE src with MADV_DONTFORK while fork child alive',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      e.space.madvise(src, e.ps, 'dontfork');
      const child = await e.space.fork();
      const r = mv(u, dst, src, e.ps);
      await child.kill();
      return r;
    },
  },
  {
    id: 'C44',
    what: 'MOVE a zero-page-mapped src pte',
    expect: (ps) => `src_was_zero=1 ret=0 field=${ps} dst_is_zero=1 src_present=0`,
    run: async (e) => {
      const u = e.uffd();
      const src = e.area(1);
      const dst = e.area(1);
      await get(e, src);
      u.register(dst, e.ps);
      const wasZero = b01(e.page(src).zero);
      const r = mv(u, dst, src, e.ps);
      return `src_was_zero=${wasZero} ${r} dst_is_zero=${b01(e.page(dst).zero)} src_present=${present(e, src)}`;
    },
  },
  {
    id: 'C45',
    what: 'MOVE 1 PMD, both PMD-aligned, src is a THP',
    expect: (ps, pmd) => `src_thp=1 ret=0 field=${pmd} dst_thp=1 dst[2M-1]=0x5c src_present=0`,
    run: async (e) => {
      const u = e.uffd();
      const n = e.pmd / e.ps;
      const src = e.area(n, { hugepage: true });
      const dst = e.area(n);
      await put(e, src + e.pmd - 1, 0x5c);
      u.register(dst, e.pmd);
      const thp = b01(e.page(src).thp);
      const r = mv(u, dst, src, e.pmd);
      const last = await get(e, dst + e.pmd - 1);
      return `src_thp=${thp} ${r} dst_thp=${b01(e.page(dst).thp)} dst[2M-1]=${hex(last)} src_present=${present(e, src)}`;
    },
  },
  {
    id: 'C46',
    what: 'MOVE first half PMD of a THP (forces split)',
    expect: (ps, pmd) =>
      `src_thp=1 ret=0 field=${pmd / 2} dst_thp=0 src_tail_present=1 src_tail_thp=0`,
    run: async (e) => {
      const u = e.uffd();
      const n = e.pmd / e.ps;
      const src = e.area(n, { hugepage: true });
      const dst = e.area(n);
      await put(e, src, 0x5c);
      u.register(dst, e.pmd);
      const thp = b01(e.page(src).thp);
      const r = mv(u, dst, src, e.pmd / 2);
      const tail = src + e.pmd / 2;
      return `src_thp=${thp} ${r} dst_thp=${b01(e.page(dst).thp)} src_tail_present=${present(e, tail)} src_tail_thp=${b01(e.page(tail).thp)}`;
    },
  },
  {
    id: 'C47',
    what: 'MOVE 1 PMD THP src -> dst at +1 page (misaligned)',
    expect: (ps, pmd) => `src_thp=1 ret=0 field=${pmd}`,
    run: async (e) => {
      const u = e.uffd();
      const n = e.pmd / e.ps;
      const src = e.area(n, { hugepage: true });
      const dst = e.area(n + 1);
      await put(e, src, 0x5c);
      u.register(dst, e.pmd + e.ps);
      const thp = b01(e.page(src).thp);
      return `src_thp=${thp} ${mv(u, dst + e.ps, src, e.pmd)}`;
    },
  },
  {
    id: 'C48',
    what: 'MOVE 1 page into a range mapped by a dst THP',
    expect: () => 'dst_thp=1 ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const u = e.uffd();
      const n = e.pmd / e.ps;
      const src = e.area(1);
      await put(e, src, 1);
      const dst = e.area(n, { hugepage: true });
      await put(e, dst + e.ps, 1);
      u.register(dst, e.pmd);
      return `dst_thp=${b01(e.page(dst).thp)} ${mv(u, dst, src, e.ps)}`;
    },
  },
  {
    id: 'C49',
    what: 'MOVE 1 PMD whose src is the huge zero page',
    expect: (ps, pmd) => `src_zero=1 src_thp=1 ret=0 field=${pmd} dst_zero=1`,
    run: async (e) => {
      const u = e.uffd();
      const n = e.pmd / e.ps;
      const src = e.area(n, { hugepage: true });
      const dst = e.area(n);
      await get(e, src);
      u.register(dst, e.pmd);
      const p = e.page(src);
      const r = mv(u, dst, src, e.pmd);
      return `src_zero=${b01(p.zero)} src_thp=${b01(p.thp)} ${r} dst_zero=${b01(e.page(dst).zero)}`;
    },
  },
  {
    id: 'C50',
    what: 'MOVE 1 PMD from never-touched src (no pmd/pte table)',
    expect: () => 'ret=-1 ENOENT field=-ENOENT',
    run: async (e) => {
      const u = e.uffd();
      const n = e.pmd / e.ps;
      const src = e.area(n);
      const dst = e.area(n);
      u.register(dst, e.pmd);
      return mv(u, dst, src, e.pmd);
    },
  },
  {
    id: 'C51',
    what: 'same with ALLOW_SRC_HOLES',
    expect: (ps, pmd) => `ret=0 field=${pmd}`,
    run: async (e) => {
      const u = e.uffd();
      const n = e.pmd / e.ps;
      const src = e.area(n);
      const dst = e.area(n);
      u.register(dst, e.pmd);
      return mv(u, dst, src, e.pmd, HOLES);
    },
  },
  {
    id: 'C52',
    what: 'MOVE on uffd whose UFFDIO_API did not request FEATURE_MOVE',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1, 0x11, []);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C53',
    what: 'MOVE into dst registered WP-only (not MISSING)',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const u = e.uffd();
      const src = e.area(1);
      const dst = e.area(1);
      await put(e, src, 1);
      u.register(dst, e.ps, { wp: true });
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'C54',
    what: "MOVE issued by fork() child on parent's uffd (ctx->mm != current->mm)",
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      const [r, f] = await e.forkIoctl(u, 'move', dst, src, e.ps, 0);
      return res(r, f);
    },
  },
  {
    id: 'C55',
    what: "COPY issued by fork() child on parent's uffd",
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      const [r, f] = await e.forkIoctl(u, 'copy', dst, src, e.ps, 0);
      return res(r, f);
    },
  },
  {
    id: 'C55b',
    what: "parent sees page installed by child's COPY",
    expect: () => 'parent dst[2]=0x1',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1, 0);
      await put(e, src + 2, 1);
      await e.forkIoctl(u, 'copy', dst, src, e.ps, 0);
      return `parent dst[2]=${hex((await e.space.read(dst + 2, 1))[0]!)}`;
    },
  },
  {
    id: 'C56',
    what: 'MOVE on uffd whose mm has exited (fd passed via SCM_RIGHTS)',
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const raw = await e.orphan(0);
      const a = e.area(2);
      return res(raw.move(a, a + e.ps, e.ps, 0), raw.lastField());
    },
  },
  {
    id: 'C57',
    what: 'COPY on uffd whose mm has exited',
    expect: () => 'ret=-1 ESRCH field=untouched',
    run: async (e) => {
      const raw = await e.orphan(0);
      const a = e.area(2);
      return res(raw.copy(a, a + e.ps, e.ps, 0), raw.lastField());
    },
  },
  {
    id: 'C58',
    what: 'ZEROPAGE on uffd whose mm has exited',
    expect: () => 'ret=-1 ESRCH field=untouched',
    run: async (e) => {
      const raw = await e.orphan(0);
      const a = e.area(1);
      return res(raw.zeropage(a, e.ps, 0), raw.lastField());
    },
  },
  {
    id: 'C59',
    what: 'REGISTER on uffd whose mm has exited',
    expect: () => 'ret=-1 ENOMEM',
    run: async (e) => {
      const raw = await e.orphan(0);
      return res(raw.register(e.area(1), e.ps, MISSING));
    },
  },

  // D: mmap_changing while a REMOVE event is unread (§1.6)
  ...(
    [
      ['D1', 'MOVE while a REMOVE event is unread', 'move', false],
      ['D2', 'COPY while a REMOVE event is unread', 'copy', false],
      ['D3', 'ZEROPAGE while a REMOVE event is unread', 'zeropage', false],
      [
        'D4',
        'MOVE with INVALID args while event unread (mmap_changing checked first)',
        'move',
        true,
      ],
    ] as const
  ).map(([id, what, op, invalid]): Row => ({
    id,
    what,
    expect: () => 'ret=-1 EAGAIN field=-EAGAIN',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 2, 0x11, ['eventRemove']);
      const t = e.blocking('madvise', [dst + e.ps, e.ps, 'dontneed']);
      await waitReadable(u);
      let r: string;
      if (op === 'move') r = invalid ? mv(u, 1, 3, 5, 0xff) : mv(u, dst, src, e.ps);
      else if (op === 'copy') r = cp(u, dst, src, e.ps);
      else r = zp(u, dst, e.ps);
      await readMsg(u);
      await t;
      return r;
    },
  })),
  {
    id: 'D5',
    what: 'REMOVE event content (MADV_DONTNEED 1 page)',
    expect: (ps) => `read=0 event=0x15 start_off=0 end_off=${ps} madvise_rc=0`,
    run: async (e) => {
      const { u, dst } = await pair(e, 1, 0x11, ['eventRemove']);
      u.zeropage(dst, e.ps);
      const t = e.blocking('madvise', [dst, e.ps, 'dontneed']);
      const { ret, msg } = await readMsg(u);
      const rcm = await t;
      return `read=${ret} event=${hex(msg.getUint8(0))} start_off=${u64(msg, 8) - dst} end_off=${u64(msg, 16) - dst} madvise_rc=${rcm}`;
    },
  },
  {
    id: 'D6',
    what: 'MOVE after event consumed',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 2, 0x11, ['eventRemove']);
      const t = e.blocking('madvise', [dst + e.ps, e.ps, 'dontneed']);
      await readMsg(u);
      await t;
      return mv(u, dst, src, e.ps);
    },
  },

  // E: faults, wake, events (§1.6, §2.6, §3.6)
  {
    id: 'E1',
    what: 'read fault at dst+123 (THREAD_ID)',
    expect: () => 'read=0 event=0x12 flags=0x0 addr_off=0 ptid_nonzero=1',
    run: async (e) => {
      const { u, dst } = await pair(e, 1, 0x11, ['threadId']);
      const t = thread(e.space.read(dst + 123, 1));
      const { ret, msg } = await readMsg(u);
      const s = `read=${ret} event=${hex(msg.getUint8(0))} flags=${hex(u64(msg, 8))} addr_off=${u64(msg, 16) - dst} ptid_nonzero=${b01(msg.getUint32(24, true) !== 0)}`;
      u.zeropage(dst, e.ps);
      await t.wait(5000);
      return s;
    },
  },
  {
    id: 'E2',
    what: 'MOVE with DONTWAKE resolves page but faulting thread stays asleep',
    expect: (ps) => `ret=0 field=${ps} thread_done=0`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      const t = thread(e.space.read(dst, 1));
      await readMsg(u);
      const r = mv(u, dst, src, e.ps, DONTWAKE);
      const done = await t.wait(200);
      u.wake(dst, e.ps);
      await t.wait(5000);
      return `${r} thread_done=${b01(done)}`;
    },
  },
  {
    id: 'E3',
    what: 'UFFDIO_WAKE then wakes it',
    expect: () => 'ret=0 thread_done=1',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      const t = thread(e.space.read(dst, 1));
      await readMsg(u);
      u.raw.move(dst, src, e.ps, DONTWAKE);
      await t.wait(100);
      const r = u.raw.wake(dst, e.ps);
      return `${res(r)} thread_done=${b01(await t.wait(5000))}`;
    },
  },
  {
    id: 'E4',
    what: 'write fault at dst+1pg+5',
    expect: (ps) => `read=0 event=0x12 flags=0x1 addr_off=${ps}`,
    run: async (e) => {
      const { u, dst } = await pair(e, 2);
      const t = thread(e.space.write(dst + e.ps + 5, new Uint8Array([1])));
      const { ret, msg } = await readMsg(u);
      const s = `read=${ret} event=${hex(msg.getUint8(0))} flags=${hex(u64(msg, 8))} addr_off=${u64(msg, 16) - dst}`;
      u.zeropage(dst + e.ps, e.ps);
      await t.wait(5000);
      return s;
    },
  },
  {
    id: 'E5',
    what: 'MOVE (no DONTWAKE) wakes the faulting thread',
    expect: (ps) => `ret=0 field=${ps} thread_done=1`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      const t = thread(e.space.read(dst, 1));
      await readMsg(u);
      const r = mv(u, dst, src, e.ps);
      return `${r} thread_done=${b01(await t.wait(5000))}`;
    },
  },
  {
    id: 'E6',
    what: 'UFFDIO_WAKE len=0',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => res(e.uffd().raw.wake(e.area(1), 0)),
  },
  {
    id: 'E7',
    what: 'UFFDIO_WAKE unaligned start',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => res(e.uffd().raw.wake(e.area(1) + 1, e.ps)),
  },
  {
    id: 'E8',
    what: 'UFFDIO_WAKE on an unregistered range (no waiters)',
    expect: () => 'ret=0',
    run: async (e) => res(e.uffd().raw.wake(e.area(1), e.ps)),
  },
  {
    id: 'E9',
    what: 'read fault at +77 with EXACT_ADDRESS',
    expect: () => 'read=0 addr_off=77',
    run: async (e) => {
      const { u, dst } = await pair(e, 1, 0x11, ['exactAddress']);
      const t = thread(e.space.read(dst + 77, 1));
      const { ret, msg } = await readMsg(u);
      u.zeropage(dst, e.ps);
      await t.wait(5000);
      return `read=${ret} addr_off=${u64(msg, 16) - dst}`;
    },
  },
  {
    id: 'E10',
    what: 'resolve it with ZEROPAGE',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { u, dst } = await pair(e, 1, 0x11, ['exactAddress']);
      const t = thread(e.space.read(dst + 77, 1));
      await readMsg(u);
      const r = zp(u, dst, e.ps);
      await t.wait(5000);
      return r;
    },
  },
  {
    id: 'E11',
    what: 'fork() with EVENT_FORK',
    expect: () => 'read=0 event=0x13 ufd_valid=1',
    run: async (e) => {
      const { u } = await pair(e, 1, 0x11, ['eventFork']);
      const forked = e.space.fork();
      const { ret, msg } = await readMsg(u);
      const child = await forked;
      await child.kill();
      const ufd = msg.getUint32(8, true);
      const valid = ufd > 2;
      if (e.name === 'kernel') e.sys.close(ufd);
      return `read=${ret} event=${hex(msg.getUint8(0))} ufd_valid=${b01(valid)}`;
    },
  },
  {
    id: 'E12',
    what: 'mremap(MAYMOVE|FIXED) of registered range, EVENT_REMAP|UNMAP: 1st msg',
    expect: (ps) => `read=0 event=0x14 from_ok=1 to_ok=1 len=${8 * ps}`,
    run: async (e) => (await remapEvents(e)).first,
  },
  {
    id: 'E12b',
    what: 'further msgs after REMAP (offsets rel. to old addr)',
    expect: (ps) => `further=0x16[0,${8 * ps})`,
    run: async (e) => (await remapEvents(e)).further,
  },
  {
    id: 'E13',
    what: 'munmap of registered range with EVENT_UNMAP',
    expect: () => 'read=0 event=0x16 start_ok=1 end_ok=1',
    run: async (e) => {
      const { u, dst } = await pair(e, 4, 0x11, ['eventUnmap']);
      const t = e.blocking('munmap', [dst, 4 * e.ps]);
      const { ret, msg } = await readMsg(u);
      await t;
      return `read=${ret} event=${hex(msg.getUint8(0))} start_ok=${b01(u64(msg, 8) === dst)} end_ok=${b01(u64(msg, 16) === dst + 4 * e.ps)}`;
    },
  },

  // F: COPY, ZEROPAGE, CONTINUE, POISON, WRITEPROTECT (§3.4–§3.9)
  {
    id: 'F1',
    what: 'COPY 1 page',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      return cp(u, dst, src, e.ps);
    },
  },
  {
    id: 'F2',
    what: 'COPY with src unaligned (src+1)',
    expect: (ps) => `ret=0 field=${ps} dst[1]=1`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 2, 0);
      await put(e, src + 2, 1);
      const r = cp(u, dst, src + 1, e.ps);
      return `${r} dst[1]=${(await e.space.read(dst + 1, 1))[0]}`;
    },
  },
  {
    id: 'F3',
    what: 'COPY dst unaligned',
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      return cp(u, dst + 1, src, e.ps);
    },
  },
  {
    id: 'F4',
    what: 'COPY len unaligned',
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      return cp(u, dst, src, 100);
    },
  },
  {
    id: 'F5',
    what: 'COPY into populated page',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      u.copy(dst, src, e.ps);
      return cp(u, dst, src, e.ps);
    },
  },
  {
    id: 'F6',
    what: 'COPY mode=1<<2',
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      return cp(u, dst, src, e.ps, 4);
    },
  },
  {
    id: 'F7',
    what: 'COPY mode=WP on MISSING-only registration',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      return cp(u, dst, src, e.ps, U.UFFDIO_COPY_MODE_WP);
    },
  },
  {
    id: 'F8',
    what: 'COPY into unregistered dst',
    expect: () => 'ret=-1 ENOENT field=-ENOENT',
    run: async (e) => {
      const { u, src } = await pair(e, 1);
      return cp(u, e.area(1), src, e.ps);
    },
  },
  {
    id: 'F9',
    what: 'COPY 4 pages where dst #2 populated',
    expect: (ps) => `ret=-1 EAGAIN field=${2 * ps}`,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 4);
      u.zeropage(dst + 2 * e.ps, e.ps);
      return cp(u, dst, src, 4 * e.ps);
    },
  },
  {
    id: 'F10',
    what: 'COPY from unmapped src',
    expect: () => 'ret=-1 EFAULT field=-EFAULT',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      e.space.munmap(src, e.ps);
      return cp(u, dst, src, e.ps);
    },
  },
  {
    id: 'F11',
    what: 'COPY dst range crosses VMA end',
    expect: () => 'ret=-1 ENOENT field=-ENOENT',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 2);
      return cp(u, dst + e.ps, src, 2 * e.ps);
    },
  },
  {
    id: 'F12',
    what: 'ZEROPAGE 1 page',
    expect: (ps) => `ret=0 field=${ps} zero=1`,
    run: async (e) => {
      const { u, dst } = await pair(e, 1);
      const r = zp(u, dst, e.ps);
      return `${r} zero=${b01(e.page(dst).zero)}`;
    },
  },
  {
    id: 'F13',
    what: 'ZEROPAGE on populated',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, dst } = await pair(e, 1);
      u.zeropage(dst, e.ps);
      return zp(u, dst, e.ps);
    },
  },
  {
    id: 'F14',
    what: 'ZEROPAGE mode=1<<1',
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const { u, dst } = await pair(e, 1);
      return zp(u, dst, e.ps, 2);
    },
  },
  {
    id: 'F15',
    what: 'MOVE onto a zeropage-filled dst',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      u.zeropage(dst, e.ps);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'F16',
    what: 'CONTINUE on anon (MISSING-registered)',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    run: async (e) => {
      const { u, dst } = await pair(e, 1);
      return res(u.raw.continue(dst, e.ps, 0), u.raw.lastField());
    },
  },
  {
    id: 'F17',
    what: 'POISON 1 page',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { u, dst } = await pair(e, 1, 0x11, ['poison']);
      return res(u.raw.poison(dst, e.ps, 0), u.raw.lastField());
    },
  },
  {
    id: 'F18',
    what: 'read of poisoned page',
    expect: () => 'sigbus=1',
    run: async (e) => {
      const { u, dst } = await pair(e, 1, 0x11, ['poison']);
      u.poison(dst, e.ps);
      try {
        await e.space.read(dst, 1);
        return 'sigbus=0';
      } catch (x) {
        return `sigbus=${b01((x as { code?: string }).code === 'SIGBUS')}`;
      }
    },
  },
  {
    id: 'F19',
    what: 'POISON on already-poisoned pte',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, dst } = await pair(e, 1, 0x11, ['poison']);
      u.poison(dst, e.ps);
      return res(u.raw.poison(dst, e.ps, 0), u.raw.lastField());
    },
  },
  {
    id: 'F20',
    what: 'MOVE onto a poisoned dst pte',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1, 0x11, ['poison']);
      u.poison(dst, e.ps);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'F21',
    what: 'POISON mode=1<<1',
    expect: () => 'ret=-1 EINVAL field=untouched',
    run: async (e) => {
      const { u, dst } = await pair(e, 1, 0x11, ['poison']);
      return res(u.raw.poison(dst, e.ps, 2), u.raw.lastField());
    },
  },
  {
    id: 'F22',
    what: 'WRITEPROTECT mode=WP|DONTWAKE',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => {
      const u = e.uffd();
      const a = e.area(1);
      u.register(a, e.ps, { missing: true, wp: true });
      return res(u.raw.writeprotect(a, e.ps, 3));
    },
  },
  {
    id: 'F23',
    what: 'WRITEPROTECT on range registered without WP',
    expect: () => 'ret=-1 ENOENT',
    run: async (e) => {
      const { u, dst } = await pair(e, 1);
      return res(u.raw.writeprotect(dst, e.ps, 1));
    },
  },
  {
    id: 'F24',
    what: 'WRITEPROTECT mode=1<<2',
    expect: () => 'ret=-1 EINVAL',
    run: async (e) => {
      const u = e.uffd();
      const a = e.area(1);
      u.register(a, e.ps, { missing: true, wp: true });
      return res(u.raw.writeprotect(a, e.ps, 4));
    },
  },
  {
    id: 'F25',
    what: 'COPY via uffd A into range registered to uffd B (same mm)',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { src, dst } = await pair(e, 1);
      return cp(e.uffd(), dst, src, e.ps);
    },
  },
  {
    id: 'F26',
    what: 'ZEROPAGE via uffd A into range registered to uffd B',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { dst } = await pair(e, 1);
      return zp(e.uffd(), dst, e.ps);
    },
  },

  // X: extra probes (§5.1)
  {
    id: 'X1',
    what: 'MOVE with arg=NULL',
    expect: () => 'ret=-1 EFAULT',
    run: async (e) => {
      const fd = e.sys.open(FLAGS);
      e.sys.api(fd, U.UFFD_API, 0);
      const r = e.sys.rawIoctl(fd, U.UFFDIO_MOVE_REQ, null);
      e.sys.close(fd);
      return res(r);
    },
  },
  {
    id: 'X2',
    what: 'MOVE with struct in a read-only page (put_user of .move fails)',
    expect: () => 'ret=-1 EFAULT dst_present=1 src_present=0',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      const struct = new DataView(new ArrayBuffer(40));
      struct.setBigUint64(0, BigInt(dst), true);
      struct.setBigUint64(8, BigInt(src), true);
      struct.setBigUint64(16, BigInt(e.ps), true);
      let r: number;
      if (e.name === 'kernel') {
        const { Mapping } = await import('../../../lib');
        const m = Mapping.anonymous(e.ps);
        const view = new Uint8Array(m.buffer, 0, 40);
        view.set(new Uint8Array(struct.buffer));
        m.protect('r');
        const { native } = await import('../../../lib/binding');
        r = native().rawIoctl(u.fd, U.UFFDIO_MOVE_REQ, Buffer.from(m.buffer, 0, 40));
        m.unmap();
      } else {
        const fd = (u.raw as import('../../../lib/engine/sim-raw').SimRawUffd).simFd;
        r = e.sim!.sys.rawIoctl(fd, U.UFFDIO_MOVE_REQ, new Uint8Array(struct.buffer), true);
      }
      return `${res(r)} dst_present=${present(e, dst)} src_present=${present(e, src)}`;
    },
  },
  {
    id: 'X3',
    what: 'MOVE a page pinned by io_uring IORING_REGISTER_BUFFERS',
    expect: () => 'pin=0 ret=-1 EBUSY field=-EBUSY',
    needs: 'pin',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      e.pin(src, e.ps);
      return `pin=0 ${mv(u, dst, src, e.ps)}`;
    },
  },
  {
    id: 'X4',
    what: 'same page after unpin',
    expect: (ps) => `ret=0 field=${ps}`,
    needs: 'pin',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1);
      const unpin = e.pin(src, e.ps);
      u.raw.move(dst, src, e.ps, 0);
      unpin();
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'X14',
    what: 'MOVE onto dst pte holding a uffd-wp marker (WP_UNPOPULATED)',
    expect: () => 'wpbit=1 ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, src, dst } = await wpMarker(e);
      return `wpbit=${b01(e.page(dst).uffdWp)} ${mv(u, dst, src, e.ps)}`;
    },
  },
  {
    id: 'X15',
    what: 'COPY onto the same marker pte',
    expect: (ps) => `ret=0 field=${ps}`,
    run: async (e) => {
      const { u, src, dst } = await wpMarker(e);
      return cp(u, dst, src, e.ps);
    },
  },
  ...(
    [
      ['X16', 'MOVE from a src pte holding a POISON marker', 'poison', 0],
      ['X17', 'same with ALLOW_SRC_HOLES (marker is not a hole)', 'poison', HOLES],
      ['X18', 'MOVE from a src pte holding a uffd-wp marker', 'wp', 0],
    ] as const
  ).map(([id, what, marker, mode]): Row => ({
    id,
    what,
    expect: () => 'ret=-1 EFAULT field=-EFAULT',
    run: async (e) => {
      const u = e.uffd(['poison', 'wpUnpopulated']);
      const src = e.area(1);
      const dst = e.area(1);
      u.register(src, e.ps, { missing: true, wp: true });
      u.register(dst, e.ps);
      if (marker === 'poison') u.poison(src, e.ps);
      else u.writeProtect(src, e.ps, true);
      return mv(u, dst, src, e.ps, mode);
    },
  })),
  {
    id: 'X19',
    what: 'MOVE a uffd-wp-protected present src page',
    expect: (ps) => `src_wp=1 ret=0 field=${ps} dst_wp=0`,
    run: async (e) => {
      const u = e.uffd();
      const src = e.area(1);
      const dst = e.area(1);
      await put(e, src, 1);
      u.register(src, e.ps, { wp: true });
      u.writeProtect(src, e.ps, true);
      u.register(dst, e.ps, { missing: true, wp: true });
      const swp = b01(e.page(src).uffdWp);
      const r = mv(u, dst, src, e.ps);
      return `src_wp=${swp} ${r} dst_wp=${b01(e.page(dst).uffdWp)}`;
    },
  },
  {
    id: 'X20',
    what: 're-REGISTER MISSING|WP range as MISSING only (same ctx)',
    expect: () => '0',
    run: async (e) => {
      const u = e.uffd();
      const a = e.area(1);
      u.register(a, e.ps, { missing: true, wp: true });
      return rc(u.raw.register(a, e.ps, MISSING));
    },
  },
  {
    id: 'X21',
    what: 'dst 1pg populated, src pmd none (no pte table), no flags',
    expect: () => 'ret=-1 ENOENT field=-ENOENT',
    run: async (e) => {
      const { u, src, dst } = await quirk(e);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'X22',
    what: 'same with ALLOW_SRC_HOLES (src pte table allocated, then dst pte checked)',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, src, dst } = await quirk(e);
      return mv(u, dst, src, e.ps, HOLES);
    },
  },
  {
    id: 'X23',
    what: 'dst populated, src pte none inside an existing pte table',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, src, dst } = await quirk(e);
      await put(e, src + e.ps, 1);
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'X24',
    what: 'dst is THP, src pmd none (pud present)',
    expect: () => 'dst_thp=1 ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const u = e.uffd();
      const n = e.pmd / e.ps;
      const src = e.area(2 * n);
      await put(e, src + e.pmd, 1); // the PMD table exists, src's pte table does not
      const dst = e.area(n, { hugepage: true });
      await put(e, dst, 1);
      u.register(dst, e.pmd);
      return `dst_thp=${b01(e.page(dst).thp)} ${mv(u, dst, src, e.ps)}`;
    },
  },
  {
    id: 'X25',
    what: 'src page touched, then MADV_DONTNEED of that page only, dst populated',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, src, dst } = await quirk(e);
      await put(e, src, 1);
      e.space.madvise(src, e.ps, 'dontneed');
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'X25b',
    what: 'src page touched, then MADV_DONTNEED of the whole PMD (PT_RECLAIM frees table), dst populated',
    expect: () => 'ret=-1 ENOENT field=-ENOENT',
    run: async (e) => {
      const { u, src, dst } = await quirk(e);
      await put(e, src, 1);
      e.space.madvise(src, e.pmd, 'dontneed');
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'X26',
    what: 'src page #0 zapped but page #1 still mapped (pte table kept), dst populated',
    expect: () => 'ret=-1 EEXIST field=-EEXIST',
    run: async (e) => {
      const { u, src, dst } = await quirk(e);
      await put(e, src, 1);
      await put(e, src + e.ps, 1);
      e.space.madvise(src, e.ps, 'dontneed');
      return mv(u, dst, src, e.ps);
    },
  },
  {
    id: 'X8',
    what: 'REGISTER MAP_HUGETLB private MISSING -> ioctls (BASIC set)',
    expect: () => 'rc=0 ioctls=0x10c',
    needs: 'hugetlb',
    run: async (e) => {
      const r = e.uffd().raw.register(e.hugetlb(e.pmd), e.pmd, MISSING);
      return `rc=${rc(r)} ioctls=${hex(r)}`;
    },
  },
  {
    id: 'X9',
    what: 'MOVE hugetlb -> hugetlb',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    needs: 'hugetlb',
    run: async (e) => {
      const u = e.uffd();
      const a = e.hugetlb(2 * e.pmd);
      u.register(a, 2 * e.pmd);
      return mv(u, a + e.pmd, a, e.pmd);
    },
  },
  {
    id: 'X10',
    what: 'ZEROPAGE on hugetlb',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    needs: 'hugetlb',
    run: async (e) => {
      const u = e.uffd();
      const a = e.hugetlb(e.pmd);
      u.register(a, e.pmd);
      return zp(u, a, e.pmd);
    },
  },
  {
    id: 'X11',
    what: 'COPY 1pg into hugetlb (len not hugepage aligned)',
    expect: () => 'ret=-1 EINVAL field=-EINVAL',
    needs: 'hugetlb',
    run: async (e) => {
      const u = e.uffd();
      const a = e.hugetlb(e.pmd);
      u.register(a, e.pmd);
      return cp(u, a, new Uint8Array(e.ps), e.ps);
    },
  },
  {
    id: 'X12',
    what: 'COPY 1 huge page into hugetlb',
    expect: (ps, pmd) => `ret=0 field=${pmd}`,
    needs: 'hugetlb',
    run: async (e) => {
      const u = e.uffd();
      const a = e.hugetlb(e.pmd);
      u.register(a, e.pmd);
      return cp(u, a, e.area(e.pmd / e.ps), e.pmd);
    },
  },
  {
    id: 'X13',
    what: 'REGISTER hugetlb with start not hugepage aligned',
    expect: () => 'EINVAL',
    needs: 'hugetlb',
    run: async (e) => {
      const a = e.hugetlb(e.pmd);
      return rc(e.uffd().raw.register(a + e.ps, e.ps, MISSING));
    },
  },
  {
    id: 'X5',
    what: 'MOVE a KSM-merged page',
    expect: () => 'ksm=1 ret=-1 EBUSY field=-EBUSY',
    needs: 'ksm',
    timeout: 60000,
    run: async (e) => {
      const { u, src, dst } = await pair(e, 2, 0x4b);
      await e.ksm(src, 2 * e.ps);
      return `ksm=1 ${mv(u, dst, src, e.ps)}`;
    },
  },
  {
    id: 'X6',
    what: 'MOVE a swapped-out src pte (swap entry moved without swap-in)',
    expect: (ps) => `src_swapped=1 ret=0 field=${ps} dst_swapped=1 src_empty=1 dst[0]=0x4b`,
    needs: 'swap',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1, 0x4b);
      e.swapOut(src, e.ps);
      const sw = b01(e.page(src).swapped);
      const r = mv(u, dst, src, e.ps);
      const dsw = b01(e.page(dst).swapped);
      const empty = b01(!e.page(src).present && !e.page(src).swapped);
      return `src_swapped=${sw} ${r} dst_swapped=${dsw} src_empty=${empty} dst[0]=${hex(await get(e, dst))}`;
    },
  },
  {
    id: 'X7',
    what: 'MOVE a swap pte shared with a fork child',
    expect: () => 'src_swapped=1 ret=-1 EBUSY field=-EBUSY',
    needs: 'swap',
    run: async (e) => {
      const { u, src, dst } = await pair(e, 1, 0x4b);
      e.swapOut(src, e.ps);
      const child = await e.space.fork();
      const sw = b01(e.page(src).swapped);
      const r = mv(u, dst, src, e.ps);
      await child.kill();
      return `src_swapped=${sw} ${r}`;
    },
  },
];

/** Waits until a message is pending on u (poll semantics, without reading it). */
async function waitReadable(u: Userfaultfd, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  const { native } = await import('../../../lib/binding');
  for (;;) {
    const ready =
      u.backend === 'kernel'
        ? native().poll(u.fd, 1, 0) > 0
        : (u.raw as import('../../../lib/engine/sim-raw').SimRawUffd).sys.poll(
            (u.raw as import('../../../lib/engine/sim-raw').SimRawUffd).simFd,
          ) === U.POLLIN;
    if (ready || Date.now() > end) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** E12/E12b: mremap(FIXED) of a registered 8-page range with EVENT_REMAP|EVENT_UNMAP. */
async function remapEvents(e: ProbeEnv): Promise<{ first: string; further: string }> {
  const u = e.uffd(['eventRemap', 'eventUnmap']);
  const a = e.area(8);
  const to = e.area(8);
  u.register(a, 8 * e.ps);
  const t = e.blocking('mremap', [a, 8 * e.ps, 8 * e.ps, { mayMove: true, fixed: to }]);
  const m1 = await readMsg(u);
  const first = `read=${m1.ret} event=${hex(m1.msg.getUint8(0))} from_ok=${b01(u64(m1.msg, 8) === a)} to_ok=${b01(u64(m1.msg, 16) === to)} len=${u64(m1.msg, 24)}`;
  const m2 = await readMsg(u);
  const further = `further=${hex(m2.msg.getUint8(0))}[${u64(m2.msg, 8) - a},${u64(m2.msg, 16) - a})`;
  await t;
  return { first, further };
}

/** X14/X15: dst registered MISSING|WP with WP_UNPOPULATED, write-protected while none. */
async function wpMarker(e: ProbeEnv): Promise<{ u: Userfaultfd; src: number; dst: number }> {
  const u = e.uffd(['wpUnpopulated']);
  const src = e.area(1);
  const dst = e.area(1);
  await put(e, src, 1);
  u.register(dst, e.ps, { missing: true, wp: true });
  u.writeProtect(dst, e.ps, true);
  return { u, src, dst };
}

/** X21–X26: src is the first page of a fresh PMD block; dst (registered) is populated. */
async function quirk(e: ProbeEnv): Promise<{ u: Userfaultfd; src: number; dst: number }> {
  const u = e.uffd();
  const n = e.pmd / e.ps;
  const src = e.area(n);
  const dst = e.area(1);
  u.register(dst, e.ps);
  u.zeropage(dst, e.ps);
  return { u, src, dst };
}
