/**
 * VMAs and the kernel's split/merge rules (mm/vma.c, 6.18), precise enough that the simulated
 * `vmaCount()` matches /proc/self/maps after mmap, mprotect, mlock, madvise, userfaultfd
 * (un)registration and mremap. The rules that decide merges:
 * - flags equal (VM_SOFTDIRTY is not modelled), same file, same userfaultfd ctx;
 * - anon_vma compatible: one of them has none, or both the same (is_mergeable_anon_vma);
 * - pgoff contiguous (an anonymous VMA's pgoff is its address >> PAGE_SHIFT at mmap time and
 *   travels with it on mremap once it has an anon_vma);
 * - a modification that leaves the flags unchanged neither splits nor merges (mprotect_fixup,
 *   madvise_update_vma, mlock_fixup and userfaultfd_register_range all skip such VMAs).
 */
import type { SimCtx } from './ctx';

export const VM_READ = 1 << 0;
export const VM_WRITE = 1 << 1;
export const VM_EXEC = 1 << 2;
export const VM_SHARED = 1 << 3;
export const VM_LOCKED = 1 << 4;
export const VM_LOCKONFAULT = 1 << 5;
export const VM_DONTCOPY = 1 << 6;
export const VM_HUGEPAGE = 1 << 7;
export const VM_NOHUGEPAGE = 1 << 8;
export const VM_ACCOUNT = 1 << 9;
export const VM_UFFD_MISSING = 1 << 10;
export const VM_UFFD_WP = 1 << 11;
export const VM_UFFD_MINOR = 1 << 12;
export const VM_PFNMAP = 1 << 13;
export const VM_IO = 1 << 14;
export const VM_HUGETLB = 1 << 15;
export const VM_MIXEDMAP = 1 << 16;
export const VM_SHADOW_STACK = 1 << 17;
export const VM_DROPPABLE = 1 << 18;
export const VM_MAYWRITE = 1 << 19;
export const VM_DONTEXPAND = 1 << 20;

export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;
export const VM_UFFD_FLAGS = VM_UFFD_MISSING | VM_UFFD_WP | VM_UFFD_MINOR;
/** VM_SPECIAL: never merged. */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;
export const VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT;

export class Vma {
  constructor(
    public start: number,
    public end: number,
    public flags: number,
    /** Page offset: for anonymous VMAs, the vpn at creation (moves with mremap). */
    public pgoff: number,
    /** 0 for anonymous memory; a shmem/file object id otherwise. */
    public file: number,
    /** anon_vma id; 0 until anon_vma_prepare(). */
    public anonVma: number,
    public uffd: SimCtx | null,
  ) {}

  get anonymous(): boolean {
    return this.file === 0;
  }

  clone(): Vma {
    return new Vma(
      this.start,
      this.end,
      this.flags,
      this.pgoff,
      this.file,
      this.anonVma,
      this.uffd,
    );
  }
}

/** The attributes a modification sets; undefined fields are kept. */
export interface VmaAttrs {
  flags: number;
  uffd: SimCtx | null;
}

/** A sorted, non-overlapping list of VMAs (a maple tree's observable behaviour). */
export class VmaList {
  readonly list: Vma[] = [];

  /**
   * @param anonIntoEmpty whether a range with an anon_vma may merge into a neighbour that has
   *   none (6.18: yes). 6.12's is_mergeable_anon_vma() only allowed it when the neighbour's
   *   anon_vma_chain is singular, and an empty chain is not: measured in the arm64 6.12 guest,
   *   a VMA that a refused MOVE gave an anon_vma (uffd_lock_vma prepares dst's) stayed apart
   *   from its anon_vma-less neighbour after UNREGISTER.
   */
  constructor(
    readonly pageShift: number,
    readonly anonIntoEmpty = true,
  ) {}

  /** The anon_vma rule of merging a range carrying `src` into `target` (is_mergeable_anon_vma). */
  private anonMergeable(target: number, src: number): boolean {
    if (target === 0 && src !== 0) return this.anonIntoEmpty;
    return VmaList.anonCompatible(target, src);
  }

  get length(): number {
    return this.list.length;
  }

  /** Index of the first VMA with end > addr (or length). */
  private lowerBound(addr: number): number {
    const l = this.list;
    let lo = 0;
    let hi = l.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (l[mid]!.end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The VMA containing addr (vma_lookup), or undefined. */
  find(addr: number): Vma | undefined {
    const i = this.lowerBound(addr);
    const v = this.list[i];
    return v !== undefined && v.start <= addr ? v : undefined;
  }

  /** The first VMA ending after addr (find_vma), or undefined. */
  findFrom(addr: number): Vma | undefined {
    return this.list[this.lowerBound(addr)];
  }

  /** VMAs intersecting [start, end), in order (a snapshot). */
  range(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (let i = this.lowerBound(start); i < this.list.length; i++) {
      const v = this.list[i]!;
      if (v.start >= end) break;
      out.push(v);
    }
    return out;
  }

  indexOf(v: Vma): number {
    const i = this.lowerBound(v.start);
    return this.list[i] === v ? i : -1;
  }

  prev(v: Vma): Vma | undefined {
    const i = this.indexOf(v);
    return i > 0 ? this.list[i - 1] : undefined;
  }

  next(v: Vma): Vma | undefined {
    const i = this.indexOf(v);
    return i >= 0 ? this.list[i + 1] : undefined;
  }

  insert(v: Vma): void {
    this.list.splice(this.lowerBound(v.start), 0, v);
  }

  remove(v: Vma): void {
    const i = this.indexOf(v);
    if (i >= 0) this.list.splice(i, 1);
  }

  /** Splits v at addr; returns the upper part (a new Vma), v keeps [start, addr). */
  split(v: Vma, addr: number): Vma {
    const hi = v.clone();
    hi.start = addr;
    hi.pgoff = v.pgoff + (addr - v.start) / 2 ** this.pageShift;
    v.end = addr;
    this.list.splice(this.indexOf(v) + 1, 0, hi);
    return hi;
  }

  /** Removes [start, end) from every VMA (splitting at the edges); returns the removed parts. */
  carve(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (const v of this.range(start, end)) {
      let mid = v;
      if (mid.start < start) mid = this.split(mid, start);
      if (mid.end > end) this.split(mid, end);
      this.remove(mid);
      out.push(mid);
    }
    return out;
  }

  pages(v: Vma): number {
    return (v.end - v.start) / 2 ** this.pageShift;
  }

  /** Mergeable ignoring anon_vma and pgoff (is_mergeable_vma). */
  static sameKind(a: { flags: number; file: number; uffd: SimCtx | null }, b: Vma): boolean {
    return a.flags === b.flags && a.file === b.file && a.uffd === b.uffd;
  }

  static anonCompatible(a: number, b: number): boolean {
    return a === 0 || b === 0 || a === b;
  }

  /** Can `prev` be extended to cover a range starting at its end with these attributes? */
  canMergeAfter(
    prev: Vma | undefined,
    start: number,
    a: { flags: number; file: number; uffd: SimCtx | null; anonVma: number; pgoff: number },
  ): prev is Vma {
    return (
      prev !== undefined &&
      prev.end === start &&
      (a.flags & VM_SPECIAL) === 0 &&
      VmaList.sameKind(a, prev) &&
      this.anonMergeable(prev.anonVma, a.anonVma) &&
      prev.pgoff + this.pages(prev) === a.pgoff
    );
  }

  canMergeBefore(
    next: Vma | undefined,
    end: number,
    pages: number,
    a: { flags: number; file: number; uffd: SimCtx | null; anonVma: number; pgoff: number },
  ): next is Vma {
    return (
      next !== undefined &&
      next.start === end &&
      (a.flags & VM_SPECIAL) === 0 &&
      VmaList.sameKind(a, next) &&
      this.anonMergeable(next.anonVma, a.anonVma) &&
      next.pgoff === a.pgoff + pages
    );
  }

  /**
   * Applies new attributes to [start, end) ⊆ v (vma_modify): merge with the previous and/or next
   * VMA when the rules allow (vma_merge_existing_range), else split. Returns the VMA that now
   * covers [start, end).
   */
  modify(v: Vma, start: number, end: number, attrs: VmaAttrs, stalePgoff = false): Vma {
    const ps = 2 ** this.pageShift;
    const pgoff = v.pgoff + (start - v.start) / ps;
    const pages = (end - start) / ps;
    const a = { flags: attrs.flags, file: v.file, uffd: attrs.uffd, anonVma: v.anonVma, pgoff };
    const leftSide = start === v.start;
    const rightSide = end === v.end;
    const i = this.indexOf(v);
    const prev = i > 0 ? this.list[i - 1] : undefined;
    const next = this.list[i + 1];
    // `stalePgoff`: the merge is checked with v's own pgoff, not that of `start` (6.1's
    // userfaultfd_register/unregister passed vma->vm_pgoff to vma_merge()), so a range starting
    // inside v never merges with the next VMA (measured in the arm64 6.1 guest).
    const m = stalePgoff ? { ...a, pgoff: v.pgoff } : a;
    const mergeLeft = leftSide && this.canMergeAfter(prev, start, m);
    let mergeRight = rightSide && this.canMergeBefore(next, end, pages, m);
    if (mergeLeft && mergeRight && !VmaList.anonCompatible(prev!.anonVma, next!.anonVma)) {
      mergeRight = false;
    }
    // Removals first: the list is searched by address, so shapes change only afterwards.
    if (mergeLeft && mergeRight) {
      this.remove(v);
      this.remove(next!);
      prev!.end = next!.end;
      prev!.anonVma ||= v.anonVma || next!.anonVma;
      return prev!;
    }
    if (mergeLeft) {
      if (rightSide) this.remove(v);
      else {
        v.pgoff += (end - v.start) / ps;
        v.start = end;
      }
      prev!.end = end;
      prev!.anonVma ||= v.anonVma;
      return prev!;
    }
    if (mergeRight) {
      if (leftSide) this.remove(v);
      else v.end = start;
      next!.start = start;
      next!.pgoff = pgoff;
      next!.anonVma ||= v.anonVma;
      return next!;
    }
    let mid = v;
    if (start > mid.start) mid = this.split(mid, start);
    if (end < mid.end) this.split(mid, end);
    mid.flags = attrs.flags;
    mid.uffd = attrs.uffd;
    return mid;
  }

  /**
   * Inserts a new VMA for [start, end) (nothing may be mapped there), merging with neighbours
   * when the rules allow (vma_merge_new_range). Returns the VMA covering the range.
   */
  insertMerged(nv: Vma): Vma {
    const ps = 2 ** this.pageShift;
    const pages = (nv.end - nv.start) / ps;
    const i = this.lowerBound(nv.start);
    const prev = i > 0 ? this.list[i - 1] : undefined;
    const next = this.list[i];
    const mergeLeft = this.canMergeAfter(prev, nv.start, nv);
    let mergeRight = this.canMergeBefore(next, nv.end, pages, nv);
    if (mergeLeft && mergeRight && !VmaList.anonCompatible(prev!.anonVma, next!.anonVma)) {
      mergeRight = false;
    }
    if (mergeLeft && mergeRight) {
      this.remove(next!);
      prev!.end = next!.end;
      prev!.anonVma ||= nv.anonVma || next!.anonVma;
      return prev!;
    }
    if (mergeLeft) {
      prev!.end = nv.end;
      prev!.anonVma ||= nv.anonVma;
      return prev!;
    }
    if (mergeRight) {
      next!.start = nv.start;
      next!.pgoff = nv.pgoff;
      next!.anonVma ||= nv.anonVma;
      return next!;
    }
    this.list.splice(i, 0, nv);
    return nv;
  }
}
