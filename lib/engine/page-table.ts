/**
 * A process's page tables, modelled at the two levels the kernel's checks see (spec §2.3):
 * - the PMD level: per PMD-sized block, nothing (pmd none), a pte table, a THP or the huge zero
 *   page; plus whether a PMD *table* exists at all (the level above: mm_find_pmd() == NULL);
 * - the pte level: one Int32 per page (typed arrays, one per pte table).
 *
 * pte encoding: 0 none; > 0 a page id (PageStore); PTE_ZERO the zero page; PTE_POISON and
 * PTE_WPMARK the pte markers; <= SWAP_BASE a swap entry (slot = SWAP_BASE - v). A parallel
 * Uint8Array carries the uffd-wp bit and pte_swp_exclusive.
 */

export const PTE_NONE = 0;
export const PTE_ZERO = -1;
export const PTE_POISON = -2;
export const PTE_WPMARK = -3;
export const SWAP_BASE = -16;

/** pte bit: uffd-wp (on a present, zero or swap pte). */
export const B_WP = 1;
/** pte bit: pte_swp_exclusive (on a swap pte). */
export const B_SWP_EXCL = 2;

export const PMD_TABLE = 0;
export const PMD_THP = 1;
export const PMD_HUGE_ZERO = 2;

export function isSwap(v: number): boolean {
  return v <= SWAP_BASE;
}
export function swapSlot(v: number): number {
  return SWAP_BASE - v;
}
export function swapPte(slot: number): number {
  return SWAP_BASE - slot;
}

export class Pmd {
  kind = PMD_TABLE;
  ptes: Int32Array;
  bits: Uint8Array;
  /** THP head page id (kind PMD_THP). */
  head = 0;
  /** uffd-wp on a huge pmd. */
  wp = false;

  constructor(n: number) {
    this.ptes = new Int32Array(n);
    this.bits = new Uint8Array(n);
  }

  /** True when every pte is none (PT_RECLAIM may free such a table). */
  empty(): boolean {
    if (this.kind !== PMD_TABLE) return false;
    const p = this.ptes;
    for (let i = 0; i < p.length; i++) if (p[i] !== 0) return false;
    return true;
  }
}

export class PageTables {
  /** pte entries per table (PAGE_SIZE / 8) = pages per PMD block. */
  readonly ptrs: number;
  readonly pmdShift: number;
  readonly pmds = new Map<number, Pmd>();
  /** PMD tables that exist, keyed by pmd index >> pmdShift (the PUD-level index). */
  readonly pmdTables = new Set<number>();

  constructor(pageSize: number) {
    this.ptrs = pageSize / 8;
    this.pmdShift = Math.log2(this.ptrs);
  }

  pmdIndex(vpn: number): number {
    return Math.floor(vpn / this.ptrs);
  }

  /** The PMD entry of block `pi`, or undefined when the pmd is none. */
  pmd(pi: number): Pmd | undefined {
    return this.pmds.get(pi);
  }

  hasPmdTable(pi: number): boolean {
    return this.pmdTables.has(Math.floor(pi / this.ptrs));
  }

  /** mm_alloc_pmd(): make sure the PMD table covering block pi exists. */
  allocPmdTable(pi: number): void {
    this.pmdTables.add(Math.floor(pi / this.ptrs));
  }

  /** pte_alloc(): a pte table for block pi (no-op if a table or huge pmd is there). */
  allocTable(pi: number): Pmd {
    let p = this.pmds.get(pi);
    if (p === undefined) {
      p = new Pmd(this.ptrs);
      this.pmds.set(pi, p);
      this.allocPmdTable(pi);
    }
    return p;
  }

  /** The pte of vpn as stored in a pte table (0 if there is none; callers check huge pmds). */
  pte(vpn: number): number {
    const p = this.pmds.get(Math.floor(vpn / this.ptrs));
    if (p === undefined || p.kind !== PMD_TABLE) return 0;
    return p.ptes[vpn % this.ptrs]!;
  }

  bits(vpn: number): number {
    const p = this.pmds.get(Math.floor(vpn / this.ptrs));
    if (p === undefined || p.kind !== PMD_TABLE) return 0;
    return p.bits[vpn % this.ptrs]!;
  }

  freeTable(pi: number): void {
    this.pmds.delete(pi);
  }
}
