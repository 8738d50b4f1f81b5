/**
 * Kernel-side observation helpers for tests that run on the real kernel.
 *
 * - `pagemap(addr, pages)`: what /proc/self/pagemap says about each page (present, swapped,
 *   uffd-wp, PFN). Reading pagemap never faults a page in, so it is safe on missing pages of a
 *   registered range (unlike reading the memory itself from the JS thread).
 * - `kpageflags(pfn)` and `pageKind(addr)`: /proc/kpageflags for the page behind an address (THP,
 *   zero page, KSM). PFNs and kpageflags need root (CAP_SYS_ADMIN); without it the PFN reads 0.
 * - `childRun(script, timeoutMs)`: runs `node -e script` with a hard timeout (SIGKILL), so a
 *   test that could hang is a killed child, not a hung jest worker.
 *
 * Bit numbers: Documentation/admin-guide/mm/pagemap.rst and include/uapi/linux/kernel-page-flags.h.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { pageSize } from '../../lib';
import { native } from '../../lib/binding';
import { scaledMs } from './time';

/** The compiled package, for child processes and worker threads (built by `npm test`). */
export const DIST = join(__dirname, '..', '..', 'dist');

// /proc/self/pagemap, one u64 per virtual page.
const PM_PFN_MASK = (1n << 55n) - 1n; // bits 0-54
const PM_SOFT_DIRTY = 1n << 55n;
const PM_EXCLUSIVE = 1n << 56n; // page exclusively mapped
const PM_UFFD_WP = 1n << 57n; // pte is uffd-wp write-protected (or holds a uffd-wp marker)
const PM_SWAP = 1n << 62n;
const PM_PRESENT = 1n << 63n;

// /proc/kpageflags, one u64 per PFN.
export const KPF_COMPOUND_HEAD = 15;
export const KPF_COMPOUND_TAIL = 16;
export const KPF_KSM = 21;
export const KPF_THP = 22;
export const KPF_ZERO_PAGE = 24;

export interface PageMapEntry {
  /** The raw pagemap word. */
  raw: bigint;
  /** Bit 63: a page is mapped (including the zero page). */
  present: boolean;
  /** Bit 62: the pte holds a swap entry. */
  swapped: boolean;
  /** Bit 57: uffd-wp set on the pte, or a uffd-wp marker on a none pte (WP_UNPOPULATED). */
  uffdWp: boolean;
  /** Bit 56: the page is mapped by this process only. */
  exclusive: boolean;
  softDirty: boolean;
  /** Page frame number (0 unless root, or when not present). */
  pfn: bigint;
}

function readU64s(path: string, index: bigint, count: number): bigint[] {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(8 * count);
    const n = readSync(fd, buf, 0, buf.length, index * 8n);
    if (n !== buf.length) throw new Error(`${path}: short read (${n} of ${buf.length} bytes)`);
    const out: bigint[] = [];
    for (let i = 0; i < count; i++) out.push(buf.readBigUInt64LE(8 * i));
    return out;
  } finally {
    closeSync(fd);
  }
}

/** The pagemap entries of `pages` pages from `addr` (page-aligned) in this process. */
export function pagemap(addr: number, pages = 1): PageMapEntry[] {
  if (addr % pageSize !== 0) throw new RangeError('pagemap: addr must be page-aligned');
  return readU64s('/proc/self/pagemap', BigInt(addr / pageSize), pages).map((raw) => ({
    raw,
    present: (raw & PM_PRESENT) !== 0n,
    swapped: (raw & PM_SWAP) !== 0n,
    uffdWp: (raw & PM_UFFD_WP) !== 0n,
    exclusive: (raw & PM_EXCLUSIVE) !== 0n,
    softDirty: (raw & PM_SOFT_DIRTY) !== 0n,
    pfn: raw & PM_PFN_MASK,
  }));
}

/** The pagemap entry of the page containing `addr`. */
export function pageAt(addr: number): PageMapEntry {
  return pagemap(addr - (addr % pageSize), 1)[0]!;
}

/** Whether the page at addr is present (pagemap bit 63). */
export function isPresent(addr: number): boolean {
  return pageAt(addr).present;
}

/** The /proc/kpageflags word of a PFN (root only). */
export function kpageflags(pfn: bigint): bigint {
  return readU64s('/proc/kpageflags', pfn, 1)[0]!;
}

export interface PageKind {
  present: boolean;
  /** KPF_THP: part of a transparent huge page (also set for the huge zero page). */
  thp: boolean;
  /** KPF_ZERO_PAGE: the zero page or the huge zero page. */
  zero: boolean;
  ksm: boolean;
  pfn: bigint;
  flags: bigint;
}

/**
 * What backs the page at addr: THP, zero page, KSM (pagemap PFN + kpageflags). A page that is
 * not present has no PFN and reports all false. Throws when present but the PFN is hidden (not
 * root), rather than report a misleading "not THP".
 */
export function pageKind(addr: number): PageKind {
  const e = pageAt(addr);
  if (!e.present || e.swapped) {
    return { present: e.present, thp: false, zero: false, ksm: false, pfn: 0n, flags: 0n };
  }
  if (e.pfn === 0n) throw new Error('pagemap hides PFNs: kpageflags checks need root');
  const flags = kpageflags(e.pfn);
  const bit = (b: number): boolean => ((flags >> BigInt(b)) & 1n) === 1n;
  return {
    present: true,
    thp: bit(KPF_THP),
    zero: bit(KPF_ZERO_PAGE),
    ksm: bit(KPF_KSM),
    pfn: e.pfn,
    flags,
  };
}

export interface ChildResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the hard timeout killed the child. */
  timedOut: boolean;
}

export interface ChildOptions {
  /** Run as this uid/gid with no supplementary groups and no capabilities (dropped in the child). */
  user?: { uid: number; gid: number };
  env?: NodeJS.ProcessEnv;
  /** Extra node flags (e.g. --expose-gc), placed before -e. */
  nodeArgs?: string[];
  cwd?: string;
}

/**
 * Runs `node -e script` and resolves when it exits or after `timeoutMs`, when it is killed with
 * SIGKILL (then `timedOut` is true and `signal` is 'SIGKILL'). Never rejects for the child's own
 * failures: assert on the result. `DIST` is the compiled package for the script to require.
 */
export function childRun(
  script: string,
  timeoutMs: number,
  options: ChildOptions = {},
): Promise<ChildResult> {
  // Privileges are dropped inside the child, before the script runs, with Node's own
  // setgroups/setgid/setuid (setgroups(2), setresgid/setresuid via setgid(2)/setuid(2) as root):
  // no external tool (setpriv is absent from minimal systems such as the test/vm guests). A root
  // process that setuid()s to a non-zero uid loses every capability (capabilities(7),
  // "Effect of user ID changes on capabilities"), which is what setpriv's --reuid gave.
  const drop =
    options.user === undefined
      ? ''
      : `process.setgroups([]); process.setgid(${options.user.gid}); ` +
        `process.setuid(${options.user.uid});\n`;
  const cmd = process.execPath;
  const args = [...(options.nodeArgs ?? []), '-e', drop + script];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd ?? join(__dirname, '..', '..'),
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, scaledMs(timeoutMs));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

let taskSizeCache: bigint | undefined;

/**
 * The running process's TASK_SIZE (one past the highest user address), measured: mmap(2) with
 * MAP_FIXED_NOREPLACE succeeds for a page that ends at or below TASK_SIZE and fails (ENOMEM,
 * from __get_unmapped_area's `addr > TASK_SIZE - len`) for one that ends above. It differs per
 * arch and paging mode: x86_64 has (1 << 47) - 4096 = 0x7ffffffff000 with 4-level paging (the
 * guard page) and (1 << 56) - 4096 with 5-level paging (LA57, e.g. QEMU's -cpu max); arm64 has
 * 1 << vabits_actual, 1 << 48 for Debian's 4K and 16K kernels. uffd's validate_range() (spec
 * §2.9) compares against the same TASK_SIZE. A BigInt: with LA57 it is above 2^53.
 */
export function taskSize(): bigint {
  if (taskSizeCache !== undefined) return taskSizeCache;
  const b = native();
  const c = b.constants as Record<string, number>;
  const flags = c.MAP_PRIVATE! | c.MAP_ANONYMOUS! | c.MAP_FIXED_NOREPLACE!;
  const ps = BigInt(pageSize);
  const fits = (addr: bigint): boolean => {
    const r = b.mmap(addr, ps, 0, flags, -1, 0);
    if (r < 0) return false;
    b.munmap(BigInt(r) === addr ? addr : r, ps);
    return BigInt(r) === addr; // a pre-4.17 kernel ignored NOREPLACE: not expected
  };
  // The candidates are 2^k - PS (x86_64) and 2^k (arm64).
  for (let k = 57n; k >= 36n; k--) {
    const top = 1n << k;
    if (!fits(top - 2n * ps)) continue;
    const t = fits(top - ps) ? top : top - ps;
    if (fits(t)) throw new Error(`taskSize: ${t} is mappable`);
    taskSizeCache = t;
    return t;
  }
  throw new Error('taskSize: no candidate 2^k (36 <= k <= 57) bounds the address space');
}
