/**
 * The environment a probe row runs in: the same vocabulary on the real kernel and on a
 * SimulatedSpace, so each of the spec's 173 rows (§5.2) is written once and run on both.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { taskSize } from '../../helpers/kernel';
import { pinLongTerm } from '../../helpers/pin';
import { ksmMerge } from '../../helpers/system-state';
import { SimulatedSpace, kernelSpace, type AddressSpace } from '../../../lib';
import { hugePageSize } from '../../../lib/mm';
import { native } from '../../../lib/binding';
import type { SimRawUffd } from '../../../lib/engine/sim-raw';
import type { SimKernel } from '../../../lib/engine/sys';
import type { FeatureName } from '../../../lib/features';
import { KernelUffd, type RawUffd } from '../../../lib/raw';
import type { Userfaultfd } from '../../../lib/userfaultfd';
import * as U from '../../../lib/engine/uapi';
import { SimRawUffd as SimRaw } from '../../../lib/engine/sim-raw';

/** The syscalls the uAPI rows (A*) use, by fd: the addon's or the simulated kernel's. */
export interface LowSys {
  open(flags: number): number;
  devOpen(flags: number): [number, string];
  openDevice(): number;
  api(
    fd: number,
    api: number | bigint,
    features: number | bigint,
  ): [number, bigint, bigint, bigint];
  move(fd: number, d: number, s: number, l: number, m: number): [number, number];
  readMsgs(fd: number, buf: Uint8Array): number;
  poll(fd: number): number;
  rawIoctl(fd: number, request: number, arg: Uint8Array | null): number;
  close(fd: number): number;
}

export interface ProbeEnv {
  readonly name: 'kernel' | 'simulated';
  readonly space: AddressSpace;
  readonly sim: SimulatedSpace | undefined;
  readonly ps: number;
  readonly pmd: number;
  readonly taskSize: number;
  readonly sys: LowSys;
  uffd(features?: FeatureName[], userModeOnly?: boolean): Userfaultfd;
  /** A rw private area of `pages` pages, PMD-aligned, with PROT_NONE guards on both sides. */
  area(pages: number, opts?: { hugepage?: boolean; prot?: 'r' | 'rw' | 'rwx' }): number;
  /** A shared anonymous (shmem) area with guards. */
  sharedArea(pages: number): number;
  /** A COPY/MOVE/ZEROPAGE issued by a fork child on u (no EVENT_FORK): [ret, field]. */
  forkIoctl(
    u: Userfaultfd,
    op: 'copy' | 'move' | 'zeropage',
    a: number,
    b: number,
    len: number,
    mode: number,
  ): Promise<[number, number]>;
  /** A uffd (with API done) whose creating process has exited, passed to this process. */
  orphan(features: number): Promise<RawUffd>;
  /** Runs an mm call the way a thread that may block in a uffd event would. */
  blocking(op: 'madvise' | 'munmap' | 'mremap', args: unknown[]): Promise<unknown>;
  /** pagemap of one page. */
  page(addr: number): ReturnType<AddressSpace['pageInfo']>[number];
  /** A private mapping of a regular file (CoW'd anon pages allowed), written at page 0. */
  filePrivate(pages: number): number;
  /** MAP_SHARED of an O_RDONLY memfd (no VM_MAYWRITE). */
  roSharedFile(pages: number): number;
  /** MAP_HUGETLB private mapping of `len` (a PMD multiple). */
  hugetlb(len: number): number;
  /** KSM-merge the range (its pages must have identical contents). */
  ksm(addr: number, len: number): Promise<void>;
  /** Swap the range out (MADV_PAGEOUT with a swap device). */
  swapOut(addr: number, len: number): void;
  /** Long-term pin (io_uring registered buffer); returns an unpin function. */
  pin(addr: number, len: number): () => void;
  cleanup(): Promise<void>;
}

/**
 * The package root (dist/, and build/ or prebuilds/), as test/events/helpers.ts and
 * test/reliability/helpers.ts find it: the staged guest suite (test/vm/suite.js) mirrors the
 * repository's layout.
 */
const ROOT = path.join(__dirname, '..', '..', '..');

abstract class BaseEnv {
  protected readonly reservations: [number, number][] = [];
  protected readonly uffds: Userfaultfd[] = [];
  protected readonly closers: (() => void | Promise<void>)[] = [];
  abstract readonly space: AddressSpace;
  abstract readonly pmd: number;

  get ps(): number {
    return this.space.pageSize;
  }

  protected reserve(len: number): number {
    const pmd = this.pmd;
    const total = len + 3 * pmd;
    const raw = this.space.mmap(total, { prot: 'none' });
    this.reservations.push([raw, total]);
    return Math.ceil(raw / pmd) * pmd + pmd;
  }

  area(pages: number, opts: { hugepage?: boolean; prot?: 'r' | 'rw' | 'rwx' } = {}): number {
    const len = pages * this.ps;
    const a = this.reserve(len);
    this.space.mmap(len, { fixed: a, prot: opts.prot ?? 'rw' });
    if (opts.hugepage) this.space.madvise(a, len, 'hugepage');
    return a;
  }

  sharedArea(pages: number): number {
    const len = pages * this.ps;
    const a = this.reserve(len);
    this.space.mmap(len, { fixed: a, shared: true });
    return a;
  }

  page(addr: number): ReturnType<AddressSpace['pageInfo']>[number] {
    return this.space.pageInfo(addr, 1)[0]!;
  }

  track(u: Userfaultfd): Userfaultfd {
    this.uffds.push(u);
    return u;
  }

  async cleanup(): Promise<void> {
    for (const c of this.closers.splice(0).reverse()) await c();
    for (const u of this.uffds.splice(0)) u.close();
    for (const [a, l] of this.reservations.splice(0)) {
      try {
        this.space.munmap(a, l);
      } catch {
        // already gone
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

class KernelEnv extends BaseEnv implements ProbeEnv {
  readonly name = 'kernel' as const;
  /** Userfaultfds are opened with this moveEmulation option ('always': the emulated MOVE). */
  moveEmulation: 'auto' | 'always' | 'never' = 'auto';
  readonly space = kernelSpace();
  readonly sim = undefined;
  // Measured, not assumed: the PMD is 32 MiB with 16K pages, and TASK_SIZE is per arch and
  // paging mode (test/helpers/kernel.ts taskSize()).
  readonly pmd = hugePageSize();
  readonly taskSize = Number(taskSize());
  readonly sys: LowSys;

  constructor() {
    super();
    const b = native();
    this.sys = {
      open: (f) => b.open(f),
      devOpen: (f) => b.devOpen(f),
      openDevice: () => {
        try {
          return fs.openSync('/dev/userfaultfd', 'r+');
        } catch (e) {
          return (e as NodeJS.ErrnoException).errno ?? -1;
        }
      },
      api: (fd, api, features) => b.api(fd, api, features),
      move: (fd, d, s, l, m) => {
        const r = b.move(fd, d, s, l, m);
        return [r, b.result[0]!];
      },
      readMsgs: (fd, buf) => b.readMsgs(fd, buf),
      poll: (fd) => b.poll(fd, 1, 0),
      rawIoctl: (fd, req, arg) =>
        b.rawIoctl(
          fd,
          req,
          arg === null ? null : Buffer.from(arg.buffer, arg.byteOffset, arg.length),
        ),
      close: (fd) => b.close(fd),
    };
  }

  uffd(features?: FeatureName[], userModeOnly = true): Userfaultfd {
    return this.track(
      this.space.userfaultfd({ features, userModeOnly, moveEmulation: this.moveEmulation }),
    );
  }

  async forkIoctl(
    u: Userfaultfd,
    op: 'copy' | 'move' | 'zeropage',
    a: number,
    b: number,
    len: number,
    mode: number,
  ): Promise<[number, number]> {
    const code = { copy: 0, move: 1, zeropage: 2 }[op];
    const [r, f] = await native().forkIoctl(u.fd, code, a, b, len, mode);
    return [r, f];
  }

  async orphan(features: number): Promise<RawUffd> {
    const fd = await native().orphanUffd(U.O_CLOEXEC | U.O_NONBLOCK, features);
    if (fd < 0) throw new Error(`orphanUffd: ${fd}`);
    const raw = new KernelUffd(fd);
    this.closers.push(() => void raw.close());
    return raw;
  }

  blocking(op: 'madvise' | 'munmap' | 'mremap', args: unknown[]): Promise<unknown> {
    // A worker thread (it may sleep in the kernel until the event is read on this thread).
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const mm = require(workerData.mm);
      try { parentPort.postMessage({ ok: mm[workerData.op](...workerData.args) ?? true }); }
      catch (e) { parentPort.postMessage({ err: e.code ?? String(e) }); }`;
    return new Promise((resolve, reject) => {
      const w = new Worker(code, {
        eval: true,
        workerData: { mm: path.join(ROOT, 'dist', 'mm.js'), op, args },
        env: { ...process.env, USERFAULTFD_ADDON_DIR: ROOT },
      });
      w.once('message', (m: { ok?: unknown; err?: string }) => {
        void w.terminate();
        resolve(m.err ?? 0);
      });
      w.once('error', reject);
    });
  }

  private tmpFile(pages: number): string {
    const f = path.join(
      os.tmpdir(),
      `uffd-engine-${process.pid}-${Math.random().toString(36).slice(2)}`,
    );
    fs.writeFileSync(f, Buffer.alloc(pages * this.ps, 0x33));
    this.closers.push(() => fs.rmSync(f, { force: true }));
    return f;
  }

  filePrivate(pages: number): number {
    const f = this.tmpFile(pages);
    const fd = fs.openSync(f, 'r+');
    const a = this.reserve(pages * this.ps);
    const { mmap } = require('../../../lib/mm') as typeof import('../../../lib/mm');
    mmap(pages * this.ps, { fixed: a, fd, prot: 'rw' });
    fs.closeSync(fd);
    return a;
  }

  roSharedFile(pages: number): number {
    const b = native();
    const mfd = b.memfdCreate('ro', 0);
    b.ftruncate(mfd, pages * this.ps);
    const ro = fs.openSync(`/proc/self/fd/${mfd}`, 'r');
    b.close(mfd);
    const a = this.reserve(pages * this.ps);
    const { mmap } = require('../../../lib/mm') as typeof import('../../../lib/mm');
    mmap(pages * this.ps, { fixed: a, fd: ro, prot: 'r', shared: true });
    fs.closeSync(ro);
    return a;
  }

  hugetlb(len: number): number {
    const b = native();
    const { k } = require('../../../lib/constants') as typeof import('../../../lib/constants');
    const MAP_HUGETLB = 0x40000;
    const a = b.mmap(
      0,
      len,
      k('PROT_READ') | k('PROT_WRITE'),
      k('MAP_PRIVATE') | k('MAP_ANONYMOUS') | MAP_HUGETLB,
      -1,
      0,
    );
    if (a < 0) throw new Error(`MAP_HUGETLB failed (${a}): is the row in describeSystem?`);
    this.reservations.push([a, len]);
    return a;
  }

  ksm(addr: number, len: number): Promise<void> {
    return ksmMerge(addr, len);
  }

  swapOut(addr: number, len: number): void {
    if (fs.readFileSync('/proc/swaps', 'utf8').trim().split('\n').length < 2) {
      throw new Error('no swap device is active: is the row in describeSystem({ swap })?');
    }
    // Reclaim is best effort (a page still in a per-CPU LRU batch is skipped): retry.
    for (let i = 0; i < 50; i++) {
      this.space.madvise(addr, len, 'pageout');
      if (this.space.pageInfo(addr, len).every((p) => p.swapped)) return;
      const t = Date.now() + 20;
      while (Date.now() < t) {
        // a short pause without yielding (the caller is synchronous)
      }
    }
    throw new Error('MADV_PAGEOUT did not swap the range out');
  }

  /** An io_uring fixed buffer over the range (test/helpers/pin.ts). */
  pin(addr: number, len: number): () => void {
    const p = pinLongTerm(addr, len);
    this.closers.push(() => p.unpin());
    return () => p.unpin();
  }
}

// ---------------------------------------------------------------------------------------------

class SimEnv extends BaseEnv implements ProbeEnv {
  readonly name = 'simulated' as const;
  readonly space: SimulatedSpace;
  readonly sim: SimulatedSpace;
  readonly pmd: number;
  readonly taskSize: number;
  readonly sys: LowSys;

  constructor(pageSize: number, profile: '6.18' | '6.12' | 'rfc-2015') {
    super();
    this.sim = new SimulatedSpace({ pageSize, profile, swap: true });
    this.space = this.sim;
    this.pmd = this.sim.pmdSize;
    this.taskSize = this.sim.taskSize;
    const k: SimKernel = this.sim.sys;
    this.sys = {
      open: (f) => k.open(f),
      devOpen: (f) => k.devOpen(f),
      openDevice: () => k.openDevice(),
      api: (fd, api, features) => k.api(fd, api, features),
      move: (fd, d, s, l, m) => {
        const r = k.move(fd, d, s, l, m);
        return [r.ret, r.field];
      },
      readMsgs: (fd, buf) => k.readMsgs(fd, buf),
      poll: (fd) => k.poll(fd),
      rawIoctl: (fd, req, arg) => k.rawIoctl(fd, req, arg),
      close: (fd) => k.close(fd),
    };
  }

  uffd(features?: FeatureName[], userModeOnly = true): Userfaultfd {
    return this.track(this.space.userfaultfd({ features, userModeOnly }));
  }

  async forkIoctl(
    u: Userfaultfd,
    op: 'copy' | 'move' | 'zeropage',
    a: number,
    b: number,
    len: number,
    mode: number,
  ): Promise<[number, number]> {
    const child = await this.sim.fork();
    const fd = (u.raw as SimRawUffd).simFd;
    const k = child.space.sys;
    const r =
      op === 'copy'
        ? k.copy(fd, a, b, len, mode)
        : op === 'move'
          ? k.move(fd, a, b, len, mode)
          : k.zeropage(fd, a, len, mode);
    await child.kill();
    return [r.ret, r.field];
  }

  async orphan(features: number): Promise<RawUffd> {
    // Another process of the machine opens a uffd, does UFFDIO_API, sends the fd, exits.
    const other = new SimulatedSpace({}, this.sim.machine);
    const fd = other.sys.open(U.O_CLOEXEC | U.O_NONBLOCK);
    other.sys.api(fd, U.UFFD_API, features);
    const mine = this.sim.sys.install(other.sys.ctx(fd)!);
    other.exit();
    const raw = new SimRaw(this.sim.sys, mine);
    this.closers.push(() => void raw.close());
    return raw;
  }

  async blocking(op: 'madvise' | 'munmap' | 'mremap', args: unknown[]): Promise<unknown> {
    try {
      const fn = this.space[op] as (...a: unknown[]) => unknown;
      fn.apply(this.space, args);
    } catch (e) {
      return (e as { code?: string }).code ?? String(e);
    }
    await this.sim.settled();
    return 0;
  }

  filePrivate(pages: number): number {
    const a = this.area(pages);
    // A regular file's private mapping: not anonymous (vma_is_anonymous false).
    const v = this.sim.vmas.find(a)!;
    v.file = this.sim.machine.nextFile++;
    return a;
  }

  roSharedFile(pages: number): number {
    const a = this.sharedArea(pages);
    const v = this.sim.vmas.find(a)!;
    v.flags &= ~((1 << 19) | (1 << 1)); // no VM_MAYWRITE, no VM_WRITE
    return a;
  }

  hugetlb(len: number): number {
    const a = this.sim.mmapHugetlb(len);
    this.reservations.push([a, len]);
    return a;
  }

  async ksm(addr: number, len: number): Promise<void> {
    this.sim.ksmMerge(addr, len);
  }

  swapOut(addr: number, len: number): void {
    this.space.madvise(addr, len, 'pageout');
  }

  pin(addr: number, len: number): () => void {
    this.sim.pin(addr, len);
    return () => this.sim.unpin(addr, len);
  }
}

export function makeEnv(
  name: 'kernel' | 'simulated' | 'emulated',
  pageSize = 4096,
  profile: '6.18' | '6.12' | 'rfc-2015' = '6.18',
): ProbeEnv {
  if (name === 'simulated') return new SimEnv(pageSize, profile);
  const k = new KernelEnv();
  if (name === 'emulated') k.moveEmulation = 'always';
  return k;
}

/** Runs a script as uid/gid 65534 (A20): returns its stdout. */
export function runAsNobody(script: string): string {
  const r = spawnSync(process.execPath, ['-e', script], {
    uid: 65534,
    gid: 65534,
    env: { ...process.env, USERFAULTFD_ADDON_DIR: ROOT },
    encoding: 'utf8',
    timeout: 20000,
  });
  if (r.status !== 0) throw new Error(`nobody script failed: ${r.stderr}`);
  return r.stdout.trim();
}

export { ROOT };
