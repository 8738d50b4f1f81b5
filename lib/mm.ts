/**
 * Raw memory-management syscalls on addresses: mmap, munmap, mprotect, madvise, mlock/mlock2,
 * munlock and mremap (through the raw syscall, so MREMAP_DONTUNMAP works without MREMAP_FIXED).
 * Each throws a UffdError shaped like Node's fs errors on failure. `Mapping` is the friendly
 * layer; these are for code that models address spaces (kernelSpace(), tests, compactors).
 *
 * Safety: a range that overlaps a `Mapping` (which may have live ArrayBuffer views) is refused
 * by munmap, mremap and MAP_FIXED mmap with a RangeError: use the Mapping's own methods, which
 * keep views from pointing at unmapped memory.
 */
import { native } from './binding';
import { k } from './constants';
import { UffdError } from './errors';
import type { Addr } from './raw';
import { checkOptions, rangeError, toBool, toChoice, toFd, toU53 } from './validate';

export type Prot = 'none' | 'r' | 'rw' | 'rwx' | 'rx';
export const PROTS: readonly Prot[] = ['none', 'r', 'rw', 'rwx', 'rx'];

export type Advice =
  | 'normal'
  | 'dontneed'
  | 'dontfork'
  | 'dofork'
  | 'hugepage'
  | 'nohugepage'
  | 'pageout'
  | 'cold'
  | 'remove';
export const ADVICES: readonly Advice[] = [
  'normal',
  'dontneed',
  'dontfork',
  'dofork',
  'hugepage',
  'nohugepage',
  'pageout',
  'cold',
  'remove',
];

export function protBits(prot: Prot): number {
  switch (prot) {
    case 'none':
      return k('PROT_NONE');
    case 'r':
      return k('PROT_READ');
    case 'rw':
      return k('PROT_READ') | k('PROT_WRITE');
    case 'rx':
      return k('PROT_READ') | k('PROT_EXEC');
    case 'rwx':
      return k('PROT_READ') | k('PROT_WRITE') | k('PROT_EXEC');
  }
}

export function adviceValue(advice: Advice): number {
  return k(`MADV_${advice.toUpperCase()}`);
}

/** Throws the UffdError for a negative errno from the addon; returns a success value as is. */
export function check(ret: number, syscall: string, address?: number): number {
  if (ret < 0) throw UffdError.fromErrno(ret, { syscall, address });
  return ret;
}

function refuseRegionOverlap(addr: number, len: number, what: string): void {
  if (native().regionOverlaps(addr, len)) {
    throw rangeError(
      `${what} of [0x${addr.toString(16)}, +${len}) overlaps a Mapping; use the Mapping's methods`,
    );
  }
}

export interface MmapOptions {
  prot?: Prot;
  shared?: boolean;
  fixed?: number;
  populate?: boolean;
  noreserve?: boolean;
  fd?: number;
  offset?: number;
}

/** mmap(2): anonymous unless `fd` is given. Returns the address. */
export function mmap(len: Addr, options?: MmapOptions): number {
  const o = checkOptions<MmapOptions>(options, 'options', [
    'prot',
    'shared',
    'fixed',
    'populate',
    'noreserve',
    'fd',
    'offset',
  ]);
  const l = toU53(len, 'len');
  const prot = protBits(toChoice(o.prot ?? 'rw', 'prot', PROTS));
  let flags = toBool(o.shared, 'shared') ? k('MAP_SHARED') : k('MAP_PRIVATE');
  // toFd, not toU53: the addon reads fd as an int32, so 2 ** 32 + 3 would have mapped fd 3.
  const fd = o.fd === undefined ? -1 : toFd(o.fd, 'fd');
  if (fd < 0) flags |= k('MAP_ANONYMOUS');
  if (toBool(o.populate, 'populate')) flags |= k('MAP_POPULATE');
  if (toBool(o.noreserve, 'noreserve')) flags |= k('MAP_NORESERVE');
  let addr = 0;
  if (o.fixed !== undefined) {
    addr = toU53(o.fixed, 'fixed');
    refuseRegionOverlap(addr, l, 'mmap MAP_FIXED');
    flags |= k('MAP_FIXED');
  }
  return check(native().mmap(addr, l, prot, flags, fd, toU53(o.offset ?? 0, 'offset')), 'mmap');
}

export function munmap(addr: Addr, len: Addr): void {
  const a = toU53(addr, 'addr');
  const l = toU53(len, 'len');
  refuseRegionOverlap(a, l, 'munmap');
  check(native().munmap(a, l), 'munmap', a);
}

export function mprotect(addr: Addr, len: Addr, prot: Prot): void {
  const a = toU53(addr, 'addr');
  check(
    native().mprotect(a, toU53(len, 'len'), protBits(toChoice(prot, 'prot', PROTS))),
    'mprotect',
    a,
  );
}

/**
 * madvise(2). Beware: with UFFD_FEATURE_EVENT_REMOVE enabled, 'dontneed' and 'remove' on a
 * registered range block the calling thread until the REMOVE event is read (spec §1.6): never
 * call them on the thread that reads the events.
 */
export function madvise(addr: Addr, len: Addr, advice: Advice): void {
  const a = toU53(addr, 'addr');
  check(
    native().madvise(a, toU53(len, 'len'), adviceValue(toChoice(advice, 'advice', ADVICES))),
    'madvise',
    a,
  );
}

/** mlock(2), or mlock2(MLOCK_ONFAULT) with `onFault`. Both set VM_LOCKED on the VMA. */
export function mlock(addr: Addr, len: Addr, options?: { onFault?: boolean }): void {
  const o = checkOptions<{ onFault: boolean }>(options, 'options', ['onFault']);
  const a = toU53(addr, 'addr');
  const flags = toBool(o.onFault, 'onFault') ? k('MLOCK_ONFAULT') : 0;
  check(native().mlock(a, toU53(len, 'len'), flags), flags ? 'mlock2' : 'mlock', a);
}

export function munlock(addr: Addr, len: Addr): void {
  const a = toU53(addr, 'addr');
  check(native().munlock(a, toU53(len, 'len')), 'munlock', a);
}

export interface MremapOptions {
  mayMove?: boolean;
  fixed?: number;
  dontUnmap?: boolean;
  relocateAnon?: boolean;
}

/**
 * mremap(2) through the raw syscall. Returns the new address. `dontUnmap` needs `mayMove`.
 * With EVENT_REMAP/EVENT_UNMAP enabled, a registered source blocks the caller until the events
 * are read. `relocateAnon` (MREMAP_RELOCATE_ANON) is not in 6.18: EINVAL; see
 * `mremapRelocateAnonSupported()`.
 */
export function mremap(oldAddr: Addr, oldLen: Addr, newLen: Addr, options?: MremapOptions): number {
  const o = checkOptions<MremapOptions>(options, 'options', [
    'mayMove',
    'fixed',
    'dontUnmap',
    'relocateAnon',
  ]);
  const a = toU53(oldAddr, 'oldAddr');
  const ol = toU53(oldLen, 'oldLen');
  const nl = toU53(newLen, 'newLen');
  let flags = 0;
  if (toBool(o.mayMove, 'mayMove')) flags |= k('MREMAP_MAYMOVE');
  if (toBool(o.dontUnmap, 'dontUnmap')) flags |= k('MREMAP_DONTUNMAP');
  if (toBool(o.relocateAnon, 'relocateAnon')) flags |= k('MREMAP_RELOCATE_ANON');
  let newAddr = 0;
  if (o.fixed !== undefined) {
    newAddr = toU53(o.fixed, 'fixed');
    flags |= k('MREMAP_FIXED');
    refuseRegionOverlap(newAddr, nl, 'mremap to');
  }
  refuseRegionOverlap(a, Math.max(ol, 1), 'mremap of');
  return check(native().mremap(a, ol, nl, flags, newAddr), 'mremap', a);
}

let relocateAnon: boolean | undefined;

/**
 * Whether mremap(2) accepts MREMAP_RELOCATE_ANON (proposed in 2025, not merged in 6.18): probed
 * once by moving a scratch page; EINVAL means unsupported.
 */
export function mremapRelocateAnonSupported(): boolean {
  if (relocateAnon !== undefined) return relocateAnon;
  const b = native();
  const ps = b.pageSize();
  const src = mmap(ps);
  const dst = mmap(ps);
  const r = b.mremap(
    src,
    ps,
    ps,
    k('MREMAP_MAYMOVE') | k('MREMAP_FIXED') | k('MREMAP_RELOCATE_ANON'),
    dst,
  );
  relocateAnon = r >= 0;
  if (r < 0) b.munmap(src, ps);
  b.munmap(dst, ps);
  return relocateAnon;
}

/** The system page size (sysconf(_SC_PAGESIZE)): 4096, 16384 or 65536 on arm64. */
export function systemPageSize(): number {
  return native().pageSize();
}

/** The PMD (transparent huge page) size, from sysfs; 2 MiB on x86-64 and 4K-page arm64. */
export function hugePageSize(): number {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs = require('node:fs') as typeof import('node:fs');
    const v = Number(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/hpage_pmd_size', 'utf8'));
    if (Number.isSafeInteger(v) && v > 0) return v;
  } catch {
    // no THP support: fall through
  }
  return 2 * 1024 * 1024;
}
