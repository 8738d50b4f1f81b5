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

class KernelSpace implements AddressSpace {
  readonly kind = 'kernel' as const;
  readonly pageSize: number;

  constructor() {
    this.pageSize = native().pageSize();
  }

  mmap(len: number, options: SpaceMmapOptions = {}): number {
    return mm.mmap(len, {
      prot: options.prot ?? 'rw',
      shared: options.shared,
      populate: options.populate,
      fixed: options.fixed,
    });
  }
  munmap(addr: number, len: number): void {
    mm.munmap(addr, len);
  }
  mprotect(addr: number, len: number, prot: SpaceProt): void {
    mm.mprotect(addr, len, prot);
  }
  mlock(addr: number, len: number, options?: { onFault?: boolean }): void {
    mm.mlock(addr, len, options);
  }
  munlock(addr: number, len: number): void {
    mm.munlock(addr, len);
  }
  madvise(addr: number, len: number, advice: SpaceAdvice): void {
    mm.madvise(addr, len, advice);
  }
  mremap(addr: number, oldLen: number, newLen: number, options: SpaceMremapOptions = {}): number {
    return mm.mremap(addr, oldLen, newLen, {
      mayMove: options.mayMove === true || options.fixed !== undefined,
      fixed: options.fixed,
      dontUnmap: options.dontUnmap,
      relocateAnon: options.relocateAnon,
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
  read(addr: number, len: number): Promise<Uint8Array> {
    return readMemory(addr, len);
  }
  write(addr: number, data: Uint8Array): Promise<void> {
    return writeMemory(addr, data);
  }
  userfaultfd(options?: OpenOptions): Userfaultfd {
    return Userfaultfd.open({ ...options, backend: 'kernel' });
  }
  vmaCount(start?: number, len?: number): number {
    const maps = readMaps();
    if (start === undefined) return maps.length;
    const end = start + (len ?? 0);
    return maps.filter((e) => e.start < end && e.end > start).length;
  }
  vmaInfo(start: number, len: number): VmaInfo[] {
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
