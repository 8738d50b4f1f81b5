/**
 * `kernelSpace()`: this process's real memory as an `AddressSpace` (the addon's mm syscalls,
 * native-thread memory access, fork helpers, /proc/self/maps and pagemap).
 */
import { native } from '../binding';
import * as mm from '../mm';
import { readMemory, writeMemory } from '../touch';
import { Userfaultfd, type OpenOptions } from '../userfaultfd';
import type {
  AddressSpace,
  ForkedChild,
  PageInfo,
  SpaceAdvice,
  SpaceMmapOptions,
  SpaceMremapOptions,
  SpaceProt,
  VmaInfo,
} from './address-space';
import { decodePage, readMaps, readPagemap, readSmaps } from './procfs';
import { UffdError } from '../errors';
import {
  adviceArg,
  mlockArgs,
  mmapArgs,
  mremapArgs,
  pageInfoArgs,
  protArg,
  rangeArgs,
  readArgs,
  vmaCountArgs,
  writeArgs,
} from './space-args';

class KernelSpace implements AddressSpace {
  readonly kind = 'kernel' as const;
  readonly pageSize: number;

  constructor() {
    this.pageSize = native().pageSize();
  }

  // The arguments are checked by lib/engine/space-args.ts, as SimulatedSpace checks them.
  mmap(len: number, options?: SpaceMmapOptions): number {
    const o = mmapArgs(len, options);
    return mm.mmap(o.len, { prot: o.prot, shared: o.shared, populate: o.populate, fixed: o.fixed });
  }
  munmap(addr: number, len: number): void {
    mm.munmap(...rangeArgs(addr, len));
  }
  mprotect(addr: number, len: number, prot: SpaceProt): void {
    mm.mprotect(...rangeArgs(addr, len), protArg(prot));
  }
  mlock(addr: number, len: number, options?: { onFault?: boolean }): void {
    mm.mlock(...rangeArgs(addr, len), mlockArgs(options));
  }
  munlock(addr: number, len: number): void {
    mm.munlock(...rangeArgs(addr, len));
  }
  madvise(addr: number, len: number, advice: SpaceAdvice): void {
    mm.madvise(...rangeArgs(addr, len), adviceArg(advice));
  }
  mremap(addr: number, oldLen: number, newLen: number, options?: SpaceMremapOptions): number {
    const o = mremapArgs(addr, oldLen, newLen, options);
    return mm.mremap(o.addr, o.oldLen, o.newLen, {
      mayMove: o.mayMove,
      fixed: o.fixed,
      dontUnmap: o.dontUnmap,
      relocateAnon: o.relocateAnon,
    });
  }
  async fork(): Promise<ForkedChild> {
    const b = native();
    const pid = await b.forkPause();
    if (pid < 0) throw UffdError.fromErrno(pid, { syscall: 'fork' });
    let dead = false;
    return {
      pid,
      kill: async (): Promise<void> => {
        if (dead) return;
        dead = true;
        process.kill(pid, 'SIGKILL');
        await b.reap(pid);
      },
    };
  }
  async read(addr: number, len: number): Promise<Uint8Array> {
    return readMemory(...readArgs(addr, len));
  }
  async write(addr: number, data: Uint8Array): Promise<void> {
    return writeMemory(...writeArgs(addr, data));
  }
  userfaultfd(options?: OpenOptions): Userfaultfd {
    return Userfaultfd.open({ ...options, backend: 'kernel' });
  }
  vmaCount(start?: number, len?: number): number {
    const r = vmaCountArgs(start, len);
    const maps = readMaps();
    if (r === undefined) return maps.length;
    const [s, end] = [r[0], r[0] + r[1]];
    return maps.filter((e) => e.start < end && e.end > s).length;
  }
  vmaInfo(start: number, len: number): VmaInfo[] {
    [start, len] = rangeArgs(start, len, 'start');
    const end = start + len;
    return readSmaps()
      .filter((e) => e.start < end && e.end > start)
      .map((e) => {
        const f = e.vmFlags ?? new Set<string>();
        return {
          start: e.start,
          end: e.end,
          perms: `${e.read ? 'r' : '-'}${e.write ? 'w' : '-'}${e.exec ? 'x' : '-'}${e.shared ? 's' : 'p'}`,
          locked: f.has('lo'),
          uffd: { missing: f.has('um'), wp: f.has('uw'), minor: f.has('ui') },
        };
      });
  }
  pageInfo(addr: number, len: number): PageInfo[] {
    const ps = this.pageSize;
    [addr, len] = pageInfoArgs(addr, len, ps);
    const first = Math.floor(addr / ps);
    const n = Math.ceil((addr + len) / ps) - first;
    const entries = readPagemap(first, n);
    const out: PageInfo[] = [];
    for (const e of entries) {
      const d = decodePage(e);
      out.push({
        present: d.present,
        swapped: d.swapped,
        exclusive: d.exclusive,
        uffdWp: d.uffdWp,
        file: d.file,
        zero: d.zero,
        thp: d.thp,
      });
    }
    return out;
  }
}

let instance: KernelSpace | undefined;

/** This process's memory as an AddressSpace (needs the addon: Linux). */
export function kernelSpace(): AddressSpace {
  instance ??= new KernelSpace();
  return instance;
}
