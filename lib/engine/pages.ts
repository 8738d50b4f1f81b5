/**
 * Physical memory of the simulated machine: anonymous pages ("struct page" / folios) and swap
 * slots. Shared by a process and its fork children. Per-page state lives in typed arrays indexed
 * by page id (1-based; 0 means "no page"), so moving a page is moving an integer.
 *
 * The state is what spec §2.7 lists as the minimum for MOVE: PageAnonExclusive, pinned, KSM,
 * large-folio (THP) membership, and the mapcount (pagemap bit 56 and fork sharing).
 */

/** PageAnonExclusive (spec §2.4; cleared by fork sharing and KSM, set again by a reuse write). */
export const P_EXCL = 1;
/** Long-term pinned (folio_maybe_dma_pinned: io_uring buffers, X3). */
export const P_PINNED = 2;
/** A KSM page (X5). */
export const P_KSM = 4;
/** A shmem page-cache page (file-backed: pagemap bit 61). */
export const P_SHMEM = 8;

export class PageStore {
  private cap = 0;
  private next = 1;
  private readonly freeList: number[] = [];
  /** Contents; undefined = zero-filled (most pages are never written in a test). */
  data: (Uint8Array | undefined)[] = [undefined];
  mapcount = new Int32Array(0);
  flags = new Uint8Array(0);
  /** First page id of the large folio (THP) this page belongs to; 0 for a small page. */
  folio = new Int32Array(0);
  /** Pages in the large folio (on the head page only). */
  folioPages = new Int32Array(0);

  constructor(readonly pageSize: number) {
    this.grow(1024);
  }

  private grow(min: number): void {
    let cap = Math.max(this.cap * 2, 1024);
    while (cap < min) cap *= 2;
    const mc = new Int32Array(cap);
    mc.set(this.mapcount);
    const fl = new Uint8Array(cap);
    fl.set(this.flags);
    const fo = new Int32Array(cap);
    fo.set(this.folio);
    const fp = new Int32Array(cap);
    fp.set(this.folioPages);
    this.mapcount = mc;
    this.flags = fl;
    this.folio = fo;
    this.folioPages = fp;
    this.cap = cap;
  }

  /** A new zero-filled, exclusive, unmapped page. */
  alloc(): number {
    let id = this.freeList.pop();
    if (id === undefined) {
      id = this.next++;
      if (id >= this.cap) this.grow(id + 1);
    }
    this.data[id] = undefined;
    this.mapcount[id] = 0;
    this.flags[id] = P_EXCL;
    this.folio[id] = 0;
    this.folioPages[id] = 0;
    return id;
  }

  /** A large folio of n contiguous page ids (a THP); returns the head id. */
  allocFolio(n: number): number {
    const head = this.next;
    this.next += n;
    if (this.next >= this.cap) this.grow(this.next + 1);
    for (let i = 0; i < n; i++) {
      const id = head + i;
      this.data[id] = undefined;
      this.mapcount[id] = 0;
      this.flags[id] = P_EXCL;
      this.folio[id] = head;
      this.folioPages[id] = 0;
    }
    this.folioPages[head] = n;
    return head;
  }

  /** Drops one mapping of page id; frees it when nothing maps it. */
  unmapOne(id: number): void {
    const c = --this.mapcount[id]!;
    if (c <= 0 && (this.flags[id]! & P_SHMEM) === 0) this.release(id);
  }

  release(id: number): void {
    this.mapcount[id] = 0;
    this.data[id] = undefined;
    if (this.folio[id] === 0) this.freeList.push(id);
    // Pages of a large folio are not recycled one by one (their ids stay contiguous).
  }

  isLarge(id: number): boolean {
    return this.folio[id] !== 0;
  }

  /** split_folio(): every page of the folio becomes a small page (spec §2.4). */
  splitFolio(id: number): void {
    const head = this.folio[id]!;
    if (head === 0) return;
    const n = this.folioPages[head]!;
    for (let i = 0; i < n; i++) this.folio[head + i] = 0;
    this.folioPages[head] = 0;
  }

  /** A private copy of a page's contents (COW). */
  copyOf(id: number): number {
    const n = this.alloc();
    const d = this.data[id];
    this.data[n] = d === undefined ? undefined : d.slice();
    return n;
  }

  bytes(id: number): Uint8Array | undefined {
    return this.data[id];
  }

  /** The page's writable contents, allocated on first write. */
  writable(id: number): Uint8Array {
    let d = this.data[id];
    if (d === undefined) {
      d = new Uint8Array(this.pageSize);
      this.data[id] = d;
    }
    return d;
  }
}

/** Swap slots: contents and swap_map counts (how many ptes reference the slot). */
export class SwapStore {
  private next = 0;
  private readonly freeList: number[] = [];
  data: (Uint8Array | undefined)[] = [];
  count: number[] = [];

  alloc(data: Uint8Array | undefined): number {
    let s = this.freeList.pop();
    if (s === undefined) s = this.next++;
    this.data[s] = data;
    this.count[s] = 0;
    return s;
  }

  ref(slot: number): void {
    this.count[slot] = (this.count[slot] ?? 0) + 1;
  }

  unref(slot: number): void {
    const c = (this.count[slot] ?? 1) - 1;
    this.count[slot] = c;
    if (c <= 0) {
      this.data[slot] = undefined;
      this.freeList.push(slot);
    }
  }
}
