/**
 * `AddressSpace`: one vocabulary for "a process's memory", implemented twice: `kernelSpace()`
 * (this process, through the addon) and `SimulatedSpace` (pure TypeScript). Code written against
 * it (a compactor, a test) runs unchanged on both, which is how the engine is proven against the
 * kernel (test/engine/).
 */
import type { Advice, Prot } from '../mm';
import type { OpenOptions, Userfaultfd } from '../userfaultfd';

/** The protections and advice both backends take: the same vocabulary as `mm` (lib/mm.ts). */
export type SpaceProt = Prot;
export type SpaceAdvice = Advice;

export interface SpaceMmapOptions {
  prot?: SpaceProt;
  /** MAP_SHARED|MAP_ANONYMOUS (shmem) instead of MAP_PRIVATE. */
  shared?: boolean;
  /** MAP_POPULATE: prefault now (write faults for private writable mappings). */
  populate?: boolean;
  /** MAP_FIXED at this address (replaces whatever was there). */
  fixed?: number;
}

export interface SpaceMremapOptions {
  mayMove?: boolean;
  /** MREMAP_FIXED (implies mayMove in this API). */
  fixed?: number;
  dontUnmap?: boolean;
  /**
   * MREMAP_RELOCATE_ANON (the 2025 proposal, seeds/2025-mremap-relocate-anon.txt): not in 6.18,
   * where the kernel answers EINVAL; the simulated space models it.
   */
  relocateAnon?: boolean;
}

/** A fork child that shares every page copy-on-write until it is killed. */
export interface ForkedChild {
  readonly pid: number;
  kill(): Promise<void>;
}

/**
 * What /proc/self/pagemap (and, as root, /proc/kpageflags) says about one page. Both backends
 * report the same fields, so states can be compared.
 */
export interface PageInfo {
  present: boolean;
  swapped: boolean;
  /** pagemap bit 56: mapped exactly once (PM_MMAP_EXCLUSIVE); not PageAnonExclusive. */
  exclusive: boolean;
  /** pagemap bit 57: the pte (or a marker) carries uffd-wp. */
  uffdWp: boolean;
  /** pagemap bit 61: file page or shared anon. */
  file: boolean;
  /** Maps the zero page or the huge zero page (needs root on the kernel side). */
  zero: boolean;
  /** Part of a transparent huge page (kpageflags THP; needs root on the kernel side). */
  thp: boolean;
}

/** One VMA as /proc/self/smaps shows it, reduced to what the engine models. */
export interface VmaInfo {
  start: number;
  end: number;
  /** 'r', 'w', 'x' or '-' each, then 'p' (private) or 's' (shared), as in /proc/self/maps. */
  perms: string;
  /** VmFlags `lo` (mlock, mlock2 MLOCK_ONFAULT too). */
  locked: boolean;
  /** VmFlags `um`, `uw`, `ui`: registered with a userfaultfd in these modes. */
  uffd: { missing: boolean; wp: boolean; minor: boolean };
}

/**
 * Addresses and lengths are safe non-negative integers (Numbers, or BigInts in that range). On
 * both backends a value of the wrong type or an unknown option is a TypeError, a number that is
 * not a safe non-negative integer a RangeError (lib/engine/space-args.ts), before anything is
 * done; what the kernel refuses is a UffdError with its errno.
 */
export interface AddressSpace {
  readonly pageSize: number;
  /** 'kernel' for kernelSpace(), 'simulated' for SimulatedSpace. */
  readonly kind: 'kernel' | 'simulated';
  /** mmap(2), anonymous. Returns the address. Throws UffdError (errno) on failure. */
  mmap(len: number, options?: SpaceMmapOptions): number;
  munmap(addr: number, len: number): void;
  mprotect(addr: number, len: number, prot: SpaceProt): void;
  mlock(addr: number, len: number, options?: { onFault?: boolean }): void;
  munlock(addr: number, len: number): void;
  madvise(addr: number, len: number, advice: SpaceAdvice): void;
  mremap(addr: number, oldLen: number, newLen: number, options?: SpaceMremapOptions): number;
  /** fork(2): the child shares the pages (not MADV_DONTFORK ones) until killed. */
  fork(): Promise<ForkedChild>;
  /**
   * Reads memory the way a thread would (faults included); never on the JS thread. An access to
   * unmapped or poisoned memory rejects with a UffdError 'SIGSEGV' or 'SIGBUS' (its `address`).
   */
  read(addr: number, len: number): Promise<Uint8Array>;
  /** Writes memory the way a thread would (faults included). */
  write(addr: number, data: Uint8Array): Promise<void>;
  /** A userfaultfd on this space: the same `Userfaultfd` class on both backends. */
  userfaultfd(options?: OpenOptions): Userfaultfd;
  /**
   * The number of VMAs (lines of /proc/self/maps on the kernel side). With a range, only the
   * VMAs that intersect [start, start+len): a live process maps and unmaps memory on its own
   * (thread stacks, the JS heap), so comparisons between backends use a range.
   */
  vmaCount(start?: number, len?: number): number;
  /**
   * The VMAs that intersect [start, start+len), with their permissions, mlock and userfaultfd
   * registration (/proc/self/smaps on the kernel side).
   */
  vmaInfo(start: number, len: number): VmaInfo[];
  /** pagemap state of each page of [addr, addr+len) (at most 2^20 pages: RangeError beyond). */
  pageInfo(addr: number, len: number): PageInfo[];
}
