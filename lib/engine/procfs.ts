/**
 * What /proc tells about this process's memory: VMAs (/proc/self/maps), their VmFlags
 * (/proc/self/smaps: lo, um/uw/ui, pf, io, ht, ...), page state (/proc/self/pagemap) and,
 * as root, page flags (/proc/kpageflags: THP, KSM, zero page). Used by kernelSpace() and by
 * the MOVE emulation (emulated-move.ts). Linux only; read lazily.
 */
import * as fs from 'node:fs';

export interface MapsEntry {
  start: number;
  end: number;
  read: boolean;
  write: boolean;
  exec: boolean;
  shared: boolean;
  inode: number;
  path: string;
  /** smaps VmFlags (two-letter codes), when read with flags. */
  vmFlags?: Set<string>;
}

function parseLine(line: string): MapsEntry | undefined {
  const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
  if (m === null) return undefined;
  const perms = m[3]!;
  return {
    start: parseInt(m[1]!, 16),
    end: parseInt(m[2]!, 16),
    read: perms[0] === 'r',
    write: perms[1] === 'w',
    exec: perms[2] === 'x',
    shared: perms[3] === 's',
    inode: Number(m[4]),
    path: m[5] ?? '',
  };
}

// The /proc files are read through one reused 64 KiB buffer, never with readFileSync. smaps is
// about 1 KiB per VMA, so a whole-file read is one allocation of hundreds of KiB: above glibc's
// mmap threshold (128 KiB), an mmap(NULL) that the kernel places in the highest free gap, which
// can be a hole the caller has just made in its own reservation (munmap of part of it, mremap
// away). A caller that later unmaps or MAP_FIXEDs its whole reservation then destroys a live
// heap block, and the process dies of SIGSEGV when the block is next used or freed. Measured
// with a 160 KiB maps file: 4 of 80 whole-file reads landed in a fresh 192 KiB hole, 0 of 100
// chunked reads.
const CHUNK = 64 * 1024;
let chunk: Buffer | undefined;

/** Calls fn with each line of a file (no trailing newline). seq_file reads of /proc end on a
 * line boundary, but a regular file's do not: a line cut by a chunk is carried over. Exported
 * for the tests. */
export function forEachLine(path: string, fn: (line: string) => void): void {
  chunk ??= Buffer.allocUnsafeSlow(CHUNK);
  const fd = fs.openSync(path, 'r');
  try {
    let rest = '';
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, CHUNK, null);
      if (n <= 0) break;
      const lines = (rest + chunk.toString('latin1', 0, n)).split('\n');
      rest = lines.pop()!;
      for (const line of lines) fn(line);
    }
    if (rest !== '') fn(rest);
  } finally {
    fs.closeSync(fd);
  }
}

/** /proc/self/maps. */
export function readMaps(): MapsEntry[] {
  const out: MapsEntry[] = [];
  forEachLine('/proc/self/maps', (line) => {
    const e = parseLine(line);
    if (e !== undefined) out.push(e);
  });
  return out;
}

/** /proc/self/smaps: the VMAs with their VmFlags. */
export function readSmaps(): MapsEntry[] {
  const out: MapsEntry[] = [];
  let cur: MapsEntry | undefined;
  forEachLine('/proc/self/smaps', (line) => {
    if (line.startsWith('VmFlags:')) {
      if (cur !== undefined) cur.vmFlags = new Set(line.slice(8).trim().split(/\s+/));
      return;
    }
    const e = /^[0-9a-f]+-[0-9a-f]+ /.test(line) ? parseLine(line) : undefined;
    if (e !== undefined) {
      cur = e;
      out.push(e);
    }
  });
  return out;
}

/** Anonymous in the kernel's sense (vma_is_anonymous: no file, no special mapping). */
export function isAnonymous(e: MapsEntry): boolean {
  if (e.inode !== 0) return false;
  if (e.path === '' || e.path === '[heap]' || e.path === '[stack]') return true;
  return e.path.startsWith('[anon:');
}

let pagemapFd: number | undefined;
let kpfFd: number | null | undefined;

/** pagemap entries (64-bit) of n pages starting at vpn. */
export function readPagemap(vpn: number, n: number): BigUint64Array {
  pagemapFd ??= fs.openSync('/proc/self/pagemap', 'r');
  const buf = Buffer.alloc(n * 8);
  let off = 0;
  while (off < buf.length) {
    const got = fs.readSync(pagemapFd, buf, off, buf.length - off, vpn * 8 + off);
    if (got <= 0) break;
    off += got;
  }
  return new BigUint64Array(buf.buffer, buf.byteOffset, n);
}

/** /proc/kpageflags of a pfn, or undefined when it cannot be read (not root). */
export function readKpageflags(pfn: bigint): bigint | undefined {
  if (kpfFd === undefined) {
    try {
      kpfFd = fs.openSync('/proc/kpageflags', 'r');
    } catch {
      kpfFd = null;
    }
  }
  if (kpfFd === null || pfn === 0n) return undefined;
  const b = Buffer.alloc(8);
  try {
    if (fs.readSync(kpfFd, b, 0, 8, Number(pfn) * 8) !== 8) return undefined;
  } catch {
    return undefined;
  }
  return b.readBigUInt64LE(0);
}

export const PM_PRESENT = 1n << 63n;
export const PM_SWAP = 1n << 62n;
export const PM_FILE = 1n << 61n;
export const PM_UFFD_WP = 1n << 57n;
export const PM_MMAP_EXCLUSIVE = 1n << 56n;
export const PM_PFN_MASK = (1n << 55n) - 1n;
export const KPF_ANON = 1n << 12n;
export const KPF_KSM = 1n << 21n;
export const KPF_THP = 1n << 22n;
export const KPF_ZERO_PAGE = 1n << 24n;
/** The swap "type" of pte markers (SWP_PTE_MARKER) as pagemap shows it (root only). */
export const SWP_TYPE_MARKER = 31n;

export interface DecodedPage {
  present: boolean;
  swapped: boolean;
  /** A pte marker (poison, uffd-wp): shown as a swap entry of the marker type (root only). */
  marker: boolean;
  exclusive: boolean;
  uffdWp: boolean;
  file: boolean;
  zero: boolean;
  thp: boolean;
  ksm: boolean;
}

/** /sys/kernel/mm/ksm/pages_shared > 0 (false when KSM is absent or has merged nothing). */
function ksmHasMergedPages(): boolean {
  try {
    return Number(fs.readFileSync('/sys/kernel/mm/ksm/pages_shared', 'utf8')) > 0;
  } catch {
    return false;
  }
}

export function decodePage(e: bigint): DecodedPage {
  const present = (e & PM_PRESENT) !== 0n;
  const swapped = (e & PM_SWAP) !== 0n;
  const frame = e & PM_PFN_MASK;
  let zero = false;
  let thp = false;
  let ksm = false;
  if (present) {
    const kf = readKpageflags(frame);
    if (kf !== undefined) {
      zero = (kf & KPF_ZERO_PAGE) !== 0n;
      thp = (kf & KPF_THP) !== 0n;
      // Only while KSM has merged pages: some kernels (seen on Debian 6.12 arm64) report
      // KPF_KSM for every anonymous page (the flag test is `mapping & PAGE_MAPPING_KSM`, which
      // PAGE_MAPPING_ANON alone satisfies). With no shared KSM pages, no page can be KSM.
      ksm = (kf & KPF_KSM) !== 0n && ksmHasMergedPages();
    }
  }
  return {
    present,
    swapped,
    marker: swapped && frame !== 0n && (frame & 31n) === SWP_TYPE_MARKER,
    exclusive: (e & PM_MMAP_EXCLUSIVE) !== 0n,
    uffdWp: (e & PM_UFFD_WP) !== 0n,
    file: (e & PM_FILE) !== 0n,
    zero,
    thp,
    ksm,
  };
}

/** Whether /proc/kpageflags is readable (root): zero-page and THP detection need it. */
export function canReadPageFlags(): boolean {
  readKpageflags(1n);
  return kpfFd !== null && kpfFd !== undefined;
}
