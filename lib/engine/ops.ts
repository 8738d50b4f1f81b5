/**
 * The userfaultfd ioctls on a simulated space, in the kernel's order of checks (spec §2, §3).
 * Each returns `{ ret, field }`: ret 0 / a value >= 0 or -errno, field the result field as the
 * kernel leaves it (NaN = untouched, spec §3.10).
 *
 * `caller` is the process issuing the ioctl (current->mm); `ctx.mm` the one the uffd serves.
 * They differ for a fork child using the parent's fd (C54/C55) or an fd whose creator exited
 * (C56–C59).
 */
import type { Addr } from '../raw';
import type { SimCtx } from './ctx';
import { P_EXCL, P_PINNED, P_SHMEM } from './pages';
import {
  B_SWP_EXCL,
  B_WP,
  PMD_HUGE_ZERO,
  PMD_TABLE,
  PMD_THP,
  PTE_NONE,
  PTE_POISON,
  PTE_WPMARK,
  PTE_ZERO,
  isSwap,
  swapSlot,
} from './page-table';
import { type SimulatedSpace, before617 } from './space';
import * as U from './uapi';
import {
  VM_ACCESS_FLAGS,
  VM_DROPPABLE,
  VM_HUGETLB,
  VM_IO,
  VM_LOCKED,
  VM_MAYWRITE,
  VM_MIXEDMAP,
  VM_PFNMAP,
  VM_SHADOW_STACK,
  VM_SHARED,
  VM_SPECIAL,
  VM_UFFD_FLAGS,
  VM_UFFD_MINOR,
  VM_UFFD_MISSING,
  VM_UFFD_WP,
  VM_WRITE,
  type Vma,
} from './vma';

export interface IoctlResult {
  ret: number;
  field: number;
}

const UNTOUCHED = NaN;

function r(ret: number, field = UNTOUCHED): IoctlResult {
  return { ret, field };
}

const TWO64 = 1n << 64n;

/** validate_range() (spec §2.1): EINVAL or 0. `aligned` false for COPY's src. */
export function validateRange(
  space: SimulatedSpace,
  start: Addr,
  len: Addr,
  aligned = true,
): number {
  const ps = space.pageSize;
  if (typeof start === 'number' && typeof len === 'number' && start < 2 ** 53 && len < 2 ** 53) {
    if (aligned && start % ps !== 0) return -U.EINVAL;
    if (len % ps !== 0) return -U.EINVAL;
    if (len === 0) return -U.EINVAL;
    if (start >= space.taskSize) return -U.EINVAL;
    if (len > space.taskSize - start) return -U.EINVAL;
    return 0;
  }
  const s = BigInt(start) % TWO64;
  const l = BigInt(len) % TWO64;
  const p = BigInt(ps);
  const t = BigInt(space.taskSize);
  if (aligned && s % p !== 0n) return -U.EINVAL;
  if (l % p !== 0n) return -U.EINVAL;
  if (l === 0n) return -U.EINVAL;
  if (s >= t) return -U.EINVAL;
  if (l > t - s) return -U.EINVAL;
  if ((s + l) % TWO64 <= s) return -U.EINVAL;
  return 0;
}

/** `mode & ~allowed` for a u64 mode (Number fast path; BigInt for values past 2^53). */
function badMode(mode: Addr, allowed: number): boolean {
  if (typeof mode === 'number' && mode >= 0 && mode <= 0xffffffff) return (mode & ~allowed) !== 0;
  return (BigInt(mode) & ~BigInt(allowed)) !== 0n;
}

/** vma_move_compatible(): none of PFNMAP, IO, HUGETLB, MIXEDMAP, SHADOW_STACK. */
const MOVE_INCOMPATIBLE = VM_PFNMAP | VM_IO | VM_HUGETLB | VM_MIXEDMAP | VM_SHADOW_STACK;

// ---------------------------------------------------------------------------------------------
// MOVE (6.18): userfaultfd_move() → move_pages() (spec §2.1–§2.7)

export function ioctlMove(
  ctx: SimCtx,
  caller: SimulatedSpace,
  dst: Addr,
  src: Addr,
  len: Addr,
  mode: Addr,
): IoctlResult {
  const space = ctx.mm;
  const rfc = space.profile === 'rfc-2015';
  if (!rfc && ctx.mmapChanging > 0) return r(-U.EAGAIN, -U.EAGAIN);
  if (!rfc && space !== caller) return r(-U.EINVAL);
  let e = validateRange(space, dst, len);
  if (e) return r(e);
  e = validateRange(caller, src, len);
  if (e) return r(e);
  if (badMode(mode, U.UFFDIO_MOVE_MODE_DONTWAKE | U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES)) {
    return r(-U.EINVAL);
  }
  const m = Number(mode);
  const d = Number(dst);
  const s = Number(src);
  const l = Number(len);
  const holes = (m & U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES) !== 0;
  const moved = rfc ? remapPages(ctx, caller, d, s, l, holes) : movePages(ctx, d, s, l, holes);
  if (moved < 0) return r(moved, moved);
  if ((m & U.UFFDIO_MOVE_MODE_DONTWAKE) === 0) ctx.wake(d, moved);
  return r(moved === l ? 0 : -U.EAGAIN, moved);
}

function movePages(ctx: SimCtx, dst: number, src: number, len: number, holes: boolean): number {
  const space = ctx.mm;
  const vmas = space.vmas;
  const dv = vmas.find(dst);
  if (dv === undefined) return -U.ENOENT;
  if ((dv.flags & VM_SHARED) === 0) space.anonVmaPrepare(dv);
  let sv: Vma | undefined = src >= dv.start && src < dv.end ? dv : vmas.find(src);
  if (sv === undefined) return -U.ENOENT;
  if (ctx.mmapChanging > 0) return -U.EAGAIN;
  if ((sv.flags & VM_SHARED) !== 0) return -U.EINVAL;
  if (src + len > sv.end) return -U.EINVAL;
  if ((dv.flags & VM_SHARED) !== 0) return -U.EINVAL;
  if (dst + len > dv.end) return -U.EINVAL;
  if ((sv.flags & VM_ACCESS_FLAGS) !== (dv.flags & VM_ACCESS_FLAGS)) return -U.EINVAL;
  if ((sv.flags & VM_LOCKED) !== (dv.flags & VM_LOCKED)) return -U.EINVAL;
  if ((sv.flags & VM_WRITE) === 0) return -U.EINVAL;
  if ((sv.flags & MOVE_INCOMPATIBLE) !== 0 || (dv.flags & MOVE_INCOMPATIBLE) !== 0) {
    return -U.EINVAL;
  }
  if (dv.uffd !== ctx) return -U.EINVAL;
  if (!sv.anonymous || !dv.anonymous) return -U.EINVAL;
  sv = undefined;

  const pt = space.pt;
  const pages = space.pages;
  const ps = space.pageSize;
  const pmdSize = space.pmdSize;
  const ptrs = pt.ptrs;
  const srcEnd = src + len;
  let moved = 0;
  let err = 0;
  let sa = src;
  let da = dst;
  while (sa < srcEnd) {
    const spi = Math.floor(sa / pmdSize);
    const dpi = Math.floor(da / pmdSize);
    if (!pt.hasPmdTable(spi)) {
      if (!holes) {
        err = -U.ENOENT;
        break;
      }
      pt.allocPmdTable(spi);
    }
    pt.allocPmdTable(dpi);
    let dp = pt.pmd(dpi);
    if (dp !== undefined && dp.kind !== PMD_TABLE) {
      err = -U.EEXIST;
      break;
    }
    let sp = pt.pmd(spi);
    if (sp !== undefined && sp.kind !== PMD_TABLE) {
      if (sa % pmdSize !== 0 || da % pmdSize !== 0 || srcEnd - sa < pmdSize || dp !== undefined) {
        if (sp.kind === PMD_THP && (pages.flags[sp.head]! & P_EXCL) === 0) {
          err = -U.EBUSY;
          break;
        }
        space.splitPmd(spi);
        continue;
      }
      // move_pages_huge_pmd() (spec §2.5)
      if (sp.kind === PMD_THP) {
        let pinned = false;
        for (let i = 0; i < ptrs; i++)
          if ((pages.flags[sp.head + i]! & P_PINNED) !== 0) pinned = true;
        if ((pages.flags[sp.head]! & P_EXCL) === 0 || pinned) {
          err = -U.EBUSY;
          break;
        }
      }
      pt.freeTable(spi);
      sp.wp = false;
      pt.pmds.set(dpi, sp);
      sa += pmdSize;
      da += pmdSize;
      moved += pmdSize;
      continue;
    }
    if (sp === undefined) {
      if (!holes) {
        err = -U.ENOENT;
        break;
      }
      sp = pt.allocTable(spi);
    }
    dp ??= pt.allocTable(dpi);
    // move_pages_ptes(): page by page up to the end of the current src and dst PMD blocks.
    const stop = Math.min(srcEnd, (spi + 1) * pmdSize, sa + ((dpi + 1) * pmdSize - da));
    const sptes = sp.ptes;
    const sbits = sp.bits;
    const dptes = dp.ptes;
    const dbits = dp.bits;
    let si = (sa / ps) % ptrs;
    let di = (da / ps) % ptrs;
    while (sa < stop) {
      if (dptes[di] !== PTE_NONE) {
        err = -U.EEXIST;
        break;
      }
      const v = sptes[si]!;
      if (v > 0) {
        const f = pages.flags[v]!;
        if ((f & P_EXCL) === 0) {
          err = -U.EBUSY;
          break;
        }
        if (pages.folio[v] !== 0) {
          if ((f & P_PINNED) !== 0) {
            // split_folio() cannot split a pinned folio (extra references); 7.3 reports
            // EBUSY (6.18 may retry forever here: spec §2.4).
            err = -U.EBUSY;
            break;
          }
          pages.splitFolio(v);
        }
        if ((f & P_PINNED) !== 0) {
          err = -U.EBUSY;
          break;
        }
        dptes[di] = v;
        dbits[di] = 0; // always writable, never uffd-wp (X19)
        sptes[si] = PTE_NONE;
        sbits[si] = 0;
      } else if (v === PTE_NONE) {
        if (!holes) {
          err = -U.ENOENT;
          break;
        }
      } else if (v === PTE_ZERO) {
        dptes[di] = PTE_ZERO;
        dbits[di] = 0;
        sptes[si] = PTE_NONE;
        sbits[si] = 0;
      } else if (isSwap(v)) {
        if ((sbits[si]! & B_SWP_EXCL) === 0) {
          err = -U.EBUSY;
          break;
        }
        dptes[di] = v;
        dbits[di] = sbits[si]!;
        sptes[si] = PTE_NONE;
        sbits[si] = 0;
      } else {
        err = -U.EFAULT; // a poison or uffd-wp marker (X16–X18)
        break;
      }
      sa += ps;
      da += ps;
      moved += ps;
      si++;
      di++;
    }
    if (err) break;
  }
  return moved > 0 ? moved : err;
}

/**
 * The 2015 RFC remap_pages() (seeds/2015-uffdio-remap-rfc-remap_pages.txt; spec §2.10):
 * EINVAL for a missing VMA, either side registered with any uffd, no VM_WRITE requirement,
 * mapcount-based exclusivity (pins ignored), the zero page EBUSY, cross-mm allowed (src in the
 * caller's mm), no mmap_changing check.
 */
function remapPages(
  ctx: SimCtx,
  caller: SimulatedSpace,
  dst: number,
  src: number,
  len: number,
  holes: boolean,
): number {
  const dstMm = ctx.mm;
  const srcMm = caller;
  const sv = srcMm.vmas.findFrom(src);
  if (sv === undefined || (sv.flags & VM_SHARED) !== 0) return -U.EINVAL;
  if (src < sv.start || src + len > sv.end) return -U.EINVAL;
  const dv = dstMm.vmas.findFrom(dst);
  if (dv === undefined || (dv.flags & VM_SHARED) !== 0) return -U.EINVAL;
  if (dst < dv.start || dst + len > dv.end) return -U.EINVAL;
  if ((sv.flags & VM_ACCESS_FLAGS) !== (dv.flags & VM_ACCESS_FLAGS)) return -U.EINVAL;
  if ((sv.flags & VM_LOCKED) !== (dv.flags & VM_LOCKED)) return -U.EINVAL;
  if (dv.uffd === null && sv.uffd === null) return -U.EINVAL;
  if (!sv.anonymous || !dv.anonymous || (sv.flags | dv.flags) & VM_SPECIAL) return -U.EINVAL;
  dstMm.anonVmaPrepare(dv);

  const ps = dstMm.pageSize;
  const pmdSize = dstMm.pmdSize;
  const ptrs = dstMm.pt.ptrs;
  const pages = dstMm.pages;
  const srcEnd = src + len;
  let thpAligned: boolean | undefined;
  let moved = 0;
  let err = 0;
  let sa = src;
  let da = dst;
  while (sa < srcEnd) {
    const spi = Math.floor(sa / pmdSize);
    const dpi = Math.floor(da / pmdSize);
    if (!srcMm.pt.hasPmdTable(spi)) {
      if (!holes) {
        err = -U.ENOENT;
        break;
      }
      srcMm.pt.allocPmdTable(spi);
    }
    dstMm.pt.allocPmdTable(dpi);
    const dp0 = dstMm.pt.pmd(dpi);
    if (dp0 !== undefined && dp0.kind !== PMD_TABLE) {
      err = -U.EEXIST;
      break;
    }
    let sp = srcMm.pt.pmd(spi);
    if (sp !== undefined && sp.kind !== PMD_TABLE) {
      thpAligned ??= sa % pmdSize === da % pmdSize;
      if (!thpAligned || sa % pmdSize !== 0 || dp0 !== undefined || srcEnd - sa < pmdSize) {
        srcMm.splitPmd(spi);
      } else {
        // remap_pages_huge_pmd(): page_mapcount(head) != 1 → EBUSY; the huge zero page is not
        // an anon page (EBUSY here, a BUG_ON in the RFC).
        if (sp.kind === PMD_HUGE_ZERO || pages.mapcount[sp.head] !== 1) {
          err = -U.EBUSY;
          break;
        }
        srcMm.pt.freeTable(spi);
        sp.wp = false;
        dstMm.pt.pmds.set(dpi, sp);
        sa += pmdSize;
        da += pmdSize;
        moved += pmdSize;
        continue;
      }
    }
    sp = srcMm.pt.pmd(spi);
    if (sp === undefined) {
      if (!holes) {
        err = -U.ENOENT;
        break;
      }
      sp = srcMm.pt.allocTable(spi);
    }
    const dp = dstMm.pt.allocTable(dpi);
    const si = (sa / ps) % ptrs;
    const di = (da / ps) % ptrs;
    // remap_pages_pte(): one pte per iteration.
    if (dp.ptes[di] !== PTE_NONE) {
      err = -U.EEXIST;
      break;
    }
    const v = sp.ptes[si]!;
    if (v === PTE_NONE) {
      if (!holes) {
        err = -U.ENOENT;
        break;
      }
    } else if (v > 0) {
      if (pages.mapcount[v] !== 1 || (pages.flags[v]! & P_SHMEM) !== 0) {
        err = -U.EBUSY;
        break;
      }
      if (pages.folio[v] !== 0) pages.splitFolio(v);
      pages.flags[v]! |= P_EXCL;
      dp.ptes[di] = v;
      dp.bits[di] = 0;
      sp.ptes[si] = PTE_NONE;
      sp.bits[si] = 0;
    } else if (v === PTE_ZERO) {
      err = -U.EBUSY;
      break;
    } else if (isSwap(v)) {
      if (dstMm.machine.swap.count[swapSlot(v)] !== 1) {
        err = -U.EBUSY;
        break;
      }
      dp.ptes[di] = v;
      dp.bits[di] = sp.bits[si]!;
      sp.ptes[si] = PTE_NONE;
      sp.bits[si] = 0;
    } else {
      err = -U.EFAULT;
      break;
    }
    sa += ps;
    da += ps;
    moved += ps;
  }
  return moved > 0 ? moved : err;
}

// ---------------------------------------------------------------------------------------------
// COPY / ZEROPAGE / CONTINUE / POISON: the mfill_atomic() family (spec §3.4, §3.5, §3.8, §3.9)

export type MfillKind = 'copy' | 'zeropage' | 'continue' | 'poison';

const MFILL_MODES: Record<MfillKind, number> = {
  copy: U.UFFDIO_COPY_MODE_DONTWAKE | U.UFFDIO_COPY_MODE_WP,
  zeropage: U.UFFDIO_ZEROPAGE_MODE_DONTWAKE,
  continue: U.UFFDIO_CONTINUE_MODE_DONTWAKE | U.UFFDIO_CONTINUE_MODE_WP,
  poison: U.UFFDIO_POISON_MODE_DONTWAKE,
};

export function ioctlMfill(
  kind: MfillKind,
  ctx: SimCtx,
  caller: SimulatedSpace,
  dst: Addr,
  src: Addr | Uint8Array,
  len: Addr,
  mode: Addr,
): IoctlResult {
  const space = ctx.mm;
  if (ctx.mmapChanging > 0) return r(-U.EAGAIN, -U.EAGAIN);
  if (kind === 'copy' && !(src instanceof Uint8Array)) {
    const e = validateRange(caller, src, len, false);
    if (e) return r(e);
  }
  const e = validateRange(space, dst, len);
  if (e) return r(e);
  if (badMode(mode, MFILL_MODES[kind])) return r(-U.EINVAL);
  if (!space.alive) return r(-U.ESRCH);
  const m = Number(mode);
  const d = Number(dst);
  const l = Number(len);
  const wp = (kind === 'copy' || kind === 'continue') && (m & 2) !== 0;
  const done = mfillAtomic(kind, ctx, caller, d, src, l, wp);
  if (done < 0) return r(done, done);
  if ((m & 1) === 0) ctx.wake(d, done);
  return r(done === l ? 0 : -U.EAGAIN, done);
}

function mfillAtomic(
  kind: MfillKind,
  ctx: SimCtx,
  caller: SimulatedSpace,
  dst: number,
  src: Addr | Uint8Array,
  len: number,
  wp: boolean,
): number {
  const space = ctx.mm;
  const v = space.vmas.find(dst);
  if (v === undefined) return -U.ENOENT;
  // 6.12 and 6.18 prepare the anon_vma before the VMA is checked (uffd_mfill_lock(), which came
  // with the per-VMA locks), so a refused fill still leaves one, and it decides later merges;
  // 6.1's __mcopy_atomic() prepared it only once every check had passed (arm64 6.1 guest).
  const late = space.profile === '6.1';
  if ((v.flags & VM_SHARED) === 0 && !late) space.anonVmaPrepare(v);
  if (dst + len > v.end) return -U.ENOENT;
  if (v.uffd === null) return -U.ENOENT;
  if (ctx.mmapChanging > 0) return -U.EAGAIN;
  if (wp && (v.flags & VM_UFFD_WP) === 0) return -U.EINVAL;
  if ((v.flags & VM_HUGETLB) !== 0) return mfillHugetlb(kind, space, dst, len);
  if (kind === 'continue' && v.anonymous) return -U.EINVAL;
  if ((v.flags & VM_SHARED) === 0 && late) space.anonVmaPrepare(v);
  const ps = space.pageSize;
  const pt = space.pt;
  const pages = space.pages;
  let done = 0;
  let err = 0;
  for (let a = dst; a < dst + len; a += ps) {
    const pi = Math.floor(a / space.pmdSize);
    pt.allocPmdTable(pi);
    const p0 = pt.pmd(pi);
    if (p0 !== undefined && p0.kind !== PMD_TABLE) {
      err = -U.EEXIST;
      break;
    }
    const p = pt.allocTable(pi);
    const i = (a / ps) % pt.ptrs;
    let data: Uint8Array | undefined;
    if (kind === 'copy') {
      const off = a - dst;
      if (src instanceof Uint8Array) {
        data = src.slice(off, off + ps);
      } else {
        const got = readKernel(caller, Number(src) + off, ps);
        if (got === null) {
          err = -U.EFAULT;
          break;
        }
        data = got;
      }
    }
    // The dst pte is examined after src was read: the kernel copies src first (copy_from_user,
    // retried with faults enabled), and that read can fault a page in, even dst's own page when
    // src == dst (then EEXIST; found by the differential test, seed 1098231135).
    const pte = p.ptes[i]!;
    if (!v.anonymous) {
      // shmem: the page cache is checked first (shmem_mfill_atomic_pte).
      const file = space.machine.shmem.get(v.file)!;
      const pgoff = v.pgoff + (a - v.start) / ps;
      let id = file.pages.get(pgoff);
      if (kind === 'continue') {
        if (id === undefined) {
          err = -U.EFAULT;
          break;
        }
      } else if (kind === 'poison') {
        if (pte !== PTE_NONE) {
          err = -U.EEXIST;
          break;
        }
        p.ptes[i] = PTE_POISON;
        done += ps;
        continue;
      } else {
        if (id !== undefined) {
          err = -U.EEXIST;
          break;
        }
        id = pages.alloc();
        pages.flags[id] = P_SHMEM;
        if (data !== undefined && data.some((b) => b !== 0)) pages.data[id] = data;
        file.pages.set(pgoff, id);
      }
      if (pte !== PTE_NONE && pte !== PTE_WPMARK) {
        err = -U.EEXIST;
        break;
      }
      pages.mapcount[id]!++;
      p.ptes[i] = id;
      p.bits[i] = wp ? B_WP : 0;
      done += ps;
      continue;
    }
    // Anonymous: COPY and CONTINUE accept a uffd-wp marker (pte_none_mostly); ZEROPAGE and
    // POISON want pte_none.
    const strict = kind === 'zeropage' || kind === 'poison';
    if (pte !== PTE_NONE && (strict || pte !== PTE_WPMARK)) {
      err = -U.EEXIST;
      break;
    }
    if (kind === 'zeropage') {
      p.ptes[i] = PTE_ZERO;
      p.bits[i] = 0;
    } else if (kind === 'poison') {
      p.ptes[i] = PTE_POISON;
      p.bits[i] = 0;
    } else {
      const id = pages.alloc();
      if (data !== undefined && data.some((b) => b !== 0)) pages.data[id] = data;
      pages.mapcount[id] = 1;
      p.ptes[i] = id;
      p.bits[i] = wp ? B_WP : 0;
    }
    done += ps;
  }
  return done > 0 ? done : err;
}

/** copy_from_user() of len bytes from the caller's memory: faults allowed, user mode off. */
function readKernel(caller: SimulatedSpace, addr: number, len: number): Uint8Array | null {
  const out = new Uint8Array(len);
  const ps = caller.pageSize;
  let off = 0;
  while (off < len) {
    const a = addr + off;
    const n = Math.min(len - off, ps - (a % ps));
    for (;;) {
      const f = caller.fault(a, false, false);
      if (f === 0) break;
      if (f === 1) continue;
      return null;
    }
    const bytes = caller.peek(a);
    if (bytes !== undefined) out.set(bytes.subarray(a % ps, (a % ps) + n), off);
    off += n;
  }
  return out;
}

/** mfill_atomic_hugetlb(): huge-page-sized steps; ZEROPAGE is refused (X10–X12). */
function mfillHugetlb(kind: MfillKind, space: SimulatedSpace, dst: number, len: number): number {
  const hps = space.pmdSize;
  if (kind === 'zeropage') return -U.EINVAL;
  if (dst % hps !== 0 || len % hps !== 0) return -U.EINVAL;
  let done = 0;
  for (let a = dst; a < dst + len; a += hps) {
    const pi = a / hps;
    if (space.pt.pmd(pi) !== undefined) return done > 0 ? done : -U.EEXIST;
    if (kind === 'poison') return done > 0 ? done : -U.EINVAL;
    const head = space.pages.allocFolio(space.pt.ptrs);
    for (let i = 0; i < space.pt.ptrs; i++) space.pages.mapcount[head + i] = 1;
    const p = space.pt.allocTable(pi);
    p.kind = PMD_THP;
    p.head = head;
    done += hps;
  }
  return done;
}

// ---------------------------------------------------------------------------------------------
// REGISTER / UNREGISTER / WAKE / WRITEPROTECT (spec §3.2, §3.3, §3.6, §3.7)

function canUserfault(v: Vma, vmFlags: number, wpAsync: boolean): boolean {
  if ((v.flags & (VM_SHADOW_STACK | VM_DROPPABLE)) !== 0) return false;
  const hugetlb = (v.flags & VM_HUGETLB) !== 0;
  if ((v.flags & VM_SPECIAL) !== 0 && !hugetlb) return false;
  const shmem = !v.anonymous && (v.flags & VM_SHARED) !== 0;
  if ((vmFlags & VM_UFFD_MINOR) !== 0 && !(hugetlb || shmem)) return false;
  if (wpAsync && vmFlags === VM_UFFD_WP) return true;
  return (v.anonymous && (v.flags & VM_SHARED) === 0) || hugetlb || shmem;
}

export function ioctlRegister(ctx: SimCtx, start: Addr, len: Addr, mode: Addr): number | bigint {
  const space = ctx.mm;
  const md = BigInt(mode);
  if (md === 0n) return -U.EINVAL;
  if (md & ~7n) return -U.EINVAL;
  // Without CONFIG_HAVE_ARCH_USERFAULTFD_WP (arm64 before 6.10) MODE_WP is refused before
  // validate_range().
  if (md & 2n && !space.machine.opts.uffdWp) return -U.EINVAL;
  const e = validateRange(space, start, len);
  if (e) return e;
  if (!space.alive) return -U.ENOMEM;
  const s = Number(start);
  const end = s + Number(len);
  let vmFlags = 0;
  if (md & 1n) vmFlags |= VM_UFFD_MISSING;
  if (md & 2n) vmFlags |= VM_UFFD_WP;
  if (md & 4n) vmFlags |= VM_UFFD_MINOR;
  const list = space.vmas.range(s, end);
  if (list.length === 0) return -U.EINVAL;
  const first = list[0]!;
  if ((first.flags & VM_HUGETLB) !== 0 && s % space.pmdSize !== 0) return -U.EINVAL;
  const wpAsync = ctx.has(U.F_WP_ASYNC);
  let basic = false;
  for (const v of list) {
    if (!canUserfault(v, vmFlags, wpAsync)) return -U.EINVAL;
    if ((v.flags & VM_MAYWRITE) === 0) return -U.EPERM;
    if ((v.flags & VM_HUGETLB) !== 0) {
      basic = true;
      if (end % space.pmdSize !== 0 && end < v.end) return -U.EINVAL;
    }
    if (v.uffd !== null && v.uffd !== ctx) return -U.EBUSY;
  }
  for (const v of space.vmas.range(s, end)) {
    if (v.uffd === ctx && (v.flags & vmFlags) === vmFlags) continue;
    const a = Math.max(s, v.start);
    const b = Math.min(end, v.end);
    space.modifyVma(v, a, b, (v.flags & ~VM_UFFD_FLAGS) | vmFlags, ctx);
  }
  let ioctls = basic ? U.UFFD_API_RANGE_IOCTLS_BASIC : U.UFFD_API_RANGE_IOCTLS;
  // 6.1 has neither ioctl, so its UFFD_API_RANGE_IOCTLS lacks them (B15: 0x1c for shmem).
  if (space.profile === '6.1') ioctls &= ~(U.IOCTL_BIT_MOVE | U.IOCTL_BIT_POISON);
  if ((md & 4n) === 0n) ioctls &= ~U.IOCTL_BIT_CONTINUE;
  if ((md & 2n) === 0n) ioctls &= ~U.IOCTL_BIT_WRITEPROTECT;
  return ioctls;
}

export function ioctlUnregister(ctx: SimCtx, start: Addr, len: Addr): number {
  const space = ctx.mm;
  const e = validateRange(space, start, len);
  if (e) return e;
  if (!space.alive) return -U.ENOMEM;
  const s = Number(start);
  const end = s + Number(len);
  const list = space.vmas.range(s, end);
  if (list.length === 0) return -U.EINVAL;
  if ((list[0]!.flags & VM_HUGETLB) !== 0 && s % space.pmdSize !== 0) return -U.EINVAL;
  // A range registered with another uffd: EINVAL from 6.17 (B16); 6.12 unregistered it.
  const foreignOk = before617(space.profile);
  for (const v of list) {
    if (v.uffd !== null && v.uffd !== ctx && !foreignOk) return -U.EINVAL;
    if (!canUserfault(v, v.flags, false)) return -U.EINVAL;
  }
  for (const v of space.vmas.range(s, end)) {
    if (v.uffd === null) continue;
    const a = Math.max(s, v.start);
    const b = Math.min(end, v.end);
    // wake_userfault(vma->vm_userfaultfd_ctx.ctx): the owner's waiters, whoever unregisters.
    if ((v.flags & VM_UFFD_MISSING) !== 0) v.uffd.wake(a, b - a);
    clearUffd(space, v, a, b);
  }
  return 0;
}

/** userfaultfd_clear_vma(): drop WP state, then the registration (merging). */
export function clearUffd(space: SimulatedSpace, v: Vma, a: number, b: number): void {
  if ((v.flags & VM_UFFD_WP) !== 0) space.uffdWpRange(a, b, false, false);
  space.modifyVma(v, a, b, v.flags & ~VM_UFFD_FLAGS, null);
}

export function ioctlWake(ctx: SimCtx, start: Addr, len: Addr): number {
  const e = validateRange(ctx.mm, start, len);
  if (e) return e;
  ctx.wake(Number(start), Number(len));
  return 0;
}

export function ioctlWriteprotect(ctx: SimCtx, start: Addr, len: Addr, mode: Addr): number {
  const space = ctx.mm;
  if (ctx.mmapChanging > 0) return -U.EAGAIN;
  const e = validateRange(space, start, len);
  if (e) return e;
  const md = BigInt(mode);
  const WP = BigInt(U.UFFDIO_WRITEPROTECT_MODE_WP);
  const DW = BigInt(U.UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
  if (md & ~(WP | DW)) return -U.EINVAL;
  const enable = (md & WP) !== 0n;
  const dontWake = (md & DW) !== 0n;
  if (enable && dontWake) return -U.EINVAL;
  if (!space.alive) return -U.ESRCH;
  const s = Number(start);
  const end = s + Number(len);
  let err = -U.ENOENT;
  for (const v of space.vmas.range(s, end)) {
    if ((v.flags & VM_UFFD_WP) === 0) {
      err = -U.ENOENT;
      break;
    }
    if ((v.flags & VM_HUGETLB) !== 0 && (s % space.pmdSize !== 0 || (end - s) % space.pmdSize)) {
      err = -U.EINVAL;
      break;
    }
    // The VMA's uffd decides (userfaultfd_wp_use_markers), not the one issuing the ioctl: any
    // uffd of the mm may write-protect a range (no ctx check in mwriteprotect_range).
    const owner = v.uffd!;
    const markers = !v.anonymous || owner.has(U.F_WP_UNPOPULATED) || owner.has(U.F_WP_ASYNC);
    space.uffdWpRange(Math.max(s, v.start), Math.min(end, v.end), enable, markers);
    err = 0;
  }
  if (err < 0) return err;
  if (!enable && !dontWake) ctx.wake(s, end - s);
  return 0;
}
