/**
 * `SimulatedSpace`: a process's memory, modelled in TypeScript to the level the userfaultfd
 * checks depend on (spec §2.7): VMAs with the kernel's split/merge rules, page tables at PMD
 * granularity, per-page state (none, present with PageAnonExclusive/pinned/KSM/THP membership,
 * the zero page, swap entries, poison and uffd-wp markers), faults (including userfaults that
 * queue a message and sleep until woken), fork sharing, mremap and madvise.
 *
 * Where the kernel and the spec disagreed, the kernel won (test/engine/ runs both):
 * - re-REGISTER of a range with a subset of its modes is skipped: WP stays (spec X20 says
 *   "drops WP"; 6.18 keeps it).
 * - pte markers show in pagemap as swap entries (PM_SWAP), the huge zero page as "file".
 */
import { UffdError } from '../errors';
import { toU53 } from '../validate';
import type { OpenOptions, Userfaultfd } from '../userfaultfd';
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
import { SimCtx, eventMsg, type FdInstaller } from './ctx';
import { PageStore, P_EXCL, P_KSM, P_PINNED, P_SHMEM, SwapStore } from './pages';
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
  PageTables,
  type Pmd,
  isSwap,
  swapPte,
  swapSlot,
} from './page-table';
import * as U from './uapi';
import {
  VM_ACCESS_FLAGS,
  VM_ACCOUNT,
  VM_DONTCOPY,
  VM_DONTEXPAND,
  VM_EXEC,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_LOCKED,
  VM_LOCKED_MASK,
  VM_LOCKONFAULT,
  VM_MAYWRITE,
  VM_NOHUGEPAGE,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_SPECIAL,
  VM_UFFD_FLAGS,
  VM_UFFD_MINOR,
  VM_UFFD_MISSING,
  VM_UFFD_WP,
  VM_WRITE,
  Vma,
  VmaList,
} from './vma';
import { SimKernel } from './sys';
import {
  adviceArg,
  mlockArgs,
  mmapArgs,
  mremapArgs,
  pageInfoArgs,
  protArg,
  rangeArgs,
  readArgs,
  spaceOptionsArgs,
  vmaCountArgs,
  writeArgs,
  type MremapArgs,
} from './space-args';

export type Profile = '6.18' | '6.12' | '6.1' | 'rfc-2015';

/**
 * A profile of a kernel before 6.17, whose userfaultfd and mremap rules '6.12' describes ('6.1'
 * shares them; it differs in what the uAPI offers, see SimulatedSpaceOptions.profile).
 */
export function before617(profile: Profile): boolean {
  return profile === '6.12' || profile === '6.1';
}

export interface SimulatedSpaceOptions {
  /** 4096 (default), 16384 or 65536. The PMD (THP) size is pageSize * pageSize / 8. */
  pageSize?: number;
  /**
   * '6.18' (default): this machine's kernel. '6.12': the same except where 6.12 was measured to
   * differ (arm64 guests, test/vm): UNREGISTER through a uffd other than the range's owner
   * unregisters it (B16; EINVAL from 6.17), mremap(FIXED) of a range spanning VMAs is EFAULT
   * after the destination was unmapped (6.17 moves each piece), and a range with an anon_vma
   * does not merge into a neighbour without one. '6.1': 6.12's rules with 6.1's uAPI (the arm64
   * and x86_64 6.1 guests): no UFFDIO_MOVE (6.8) and no UFFDIO_POISON (6.6), whose ioctls are
   * EINVAL like any unknown request and are absent from REGISTER's reply, and no WP_UNPOPULATED
   * (6.4), WP_ASYNC (6.7) or MOVE feature bits. 'rfc-2015': the 2015 RFC remap_pages() (§2.10).
   */
  profile?: Profile;
  /**
   * The architecture has uffd-wp (CONFIG_HAVE_ARCH_USERFAULTFD_WP): x86_64, and arm64 from 6.10.
   * Default true. false (arm64 6.1): no PAGEFAULT_FLAG_WP and WP_HUGETLBFS_SHMEM features, and
   * REGISTER with MODE_WP is EINVAL before the range is looked at.
   */
  uffdWp?: boolean;
  /** TASK_SIZE; default 0x7ffffffff000 for 4K pages (x86-64), 2^48 otherwise (arm64). */
  taskSize?: number;
  /** The THP policy (/sys/kernel/mm/transparent_hugepage/enabled); default 'madvise'. */
  thp?: 'always' | 'madvise' | 'never';
  /** A swap device exists (MADV_PAGEOUT swaps anon pages out). Default true. */
  swap?: boolean;
  /** Accept MREMAP_RELOCATE_ANON (the 2025 proposal). Default false, as in 6.18 (EINVAL). */
  mremapRelocateAnon?: boolean;
  /** CAP_SYS_PTRACE (root): userfaultfd(0) and EVENT_FORK allowed. Default true. */
  privileged?: boolean;
  /** vm.unprivileged_userfaultfd. Default 0. */
  unprivilegedUserfaultfd?: 0 | 1;
  /** Whether /dev/userfaultfd can be opened. Default true. */
  devAccess?: boolean;
  /** false simulates a kernel without userfaultfd(2) (ENOSYS). Default true. */
  userfaultfd?: boolean;
}

/** State shared by a process and its fork children: physical memory, ids, options. */
export class SimMachine {
  readonly pages: PageStore;
  readonly swap = new SwapStore();
  readonly shmem = new Map<number, { pages: Map<number, number> }>();
  /** Live processes (a shmem object lives while any of them maps it). */
  readonly spaces = new Set<SimulatedSpace>();
  nextPid = 1000;
  nextTid = 100000;
  nextAnonVma = 1;
  nextFile = 1;

  constructor(
    readonly pageSize: number,
    readonly opts: Required<Omit<SimulatedSpaceOptions, 'pageSize' | 'taskSize'>> & {
      taskSize: number;
    },
  ) {
    this.pages = new PageStore(pageSize);
  }
}

/** A thread-like access failure: the same UffdError as lib/touch.ts's readMemory() rejects with. */
function signalError(signal: 'SIGSEGV' | 'SIGBUS', address: number): UffdError {
  return new UffdError(signal, `${signal} accessing 0x${address.toString(16)}`, undefined, {
    syscall: 'touch',
    address,
  });
}

function fail(errno: number, syscall: string, address?: number): never {
  throw UffdError.fromErrno(-errno, { syscall, address });
}

/** Indexed only with a prot that protArg() accepted (never with a key of Object.prototype). */
const PROT_BITS: Record<SpaceProt, number> = {
  none: 0,
  r: VM_READ,
  rw: VM_READ | VM_WRITE,
  rwx: VM_READ | VM_WRITE | VM_EXEC,
  rx: VM_READ | VM_EXEC,
};

/** The outcome of one fault on one page. */
type FaultResult =
  | 0 // done
  | 1 // retry (the pte changed; fault again)
  | 'segv'
  | 'bus'
  | { ctx: SimCtx; flags: number };

const DONE = 0;
const RETRY = 1;

/**
 * The keys of `table` in [first, last), ascending (a snapshot: callers free entries). Walks the
 * index range when it is short, else the keys: an munmap of a huge mostly empty range must not
 * visit every PMD block of it (2^25 of them for 64 TiB).
 */
function blocksIn(
  table: ReadonlyMap<number, unknown> | ReadonlySet<number>,
  first: number,
  last: number,
): number[] {
  const out: number[] = [];
  if (last - first <= 4 * table.size + 64) {
    for (let i = first; i < last; i++) if (table.has(i)) out.push(i);
    return out;
  }
  for (const k of table.keys()) if (k >= first && k < last) out.push(k);
  return out.sort((a, b) => a - b);
}

export class SimulatedSpace implements AddressSpace {
  readonly kind = 'simulated' as const;
  readonly pageSize: number;
  readonly pageShift: number;
  /** Bytes mapped by one PMD (THP size): 2 MiB, 32 MiB or 512 MiB. */
  readonly pmdSize: number;
  readonly taskSize: number;
  readonly profile: Profile;
  readonly machine: SimMachine;
  readonly vmas: VmaList;
  readonly pt: PageTables;
  /** The fd table and the simulated syscalls (userfaultfd, ioctl, read, poll). */
  readonly sys: SimKernel;
  readonly pid: number;
  /** mm_users > 0: false once the process exited (COPY gives ESRCH, REGISTER ENOMEM). */
  alive = true;
  private readonly children = new Set<SimulatedSpace>();
  /** Operations blocked until a non-cooperative event is read (see `settled()`). */
  private readonly blockers = new Set<Promise<void>>();
  /**
   * While an mremap runs, its UNMAP events are held here: the kernel completes them after the
   * move (mremap_userfaultfd_complete() first: REMAP, then the UNMAPs; E12b).
   */
  private eventSink: { ctx: SimCtx; msg: Uint8Array }[] | null = null;
  private remapEvent: { ctx: SimCtx; msg: Uint8Array } | null = null;
  private mmapBase: number;

  constructor(options?: SimulatedSpaceOptions, machine?: SimMachine) {
    options = spaceOptionsArgs(options);
    const pageSize = options.pageSize ?? machine?.pageSize ?? 4096;
    const profile = options.profile ?? '6.18';
    this.pageSize = pageSize;
    this.pageShift = Math.log2(pageSize);
    this.pmdSize = (pageSize * pageSize) / 8;
    this.profile = profile;
    this.machine =
      machine ??
      new SimMachine(pageSize, {
        profile,
        uffdWp: options.uffdWp ?? true,
        taskSize: options.taskSize ?? (pageSize === 4096 ? 0x7ffffffff000 : 2 ** 48),
        thp: options.thp ?? 'madvise',
        swap: options.swap ?? true,
        mremapRelocateAnon: options.mremapRelocateAnon ?? false,
        privileged: options.privileged ?? true,
        unprivilegedUserfaultfd: options.unprivilegedUserfaultfd ?? 0,
        devAccess: options.devAccess ?? true,
        userfaultfd: options.userfaultfd ?? true,
      });
    this.taskSize = this.machine.opts.taskSize;
    this.vmas = new VmaList(this.pageShift, !before617(profile));
    this.pt = new PageTables(pageSize);
    this.sys = new SimKernel(this);
    this.pid = this.machine.nextPid++;
    this.machine.spaces.add(this);
    // Top-down allocation below a base like the kernel's mmap_base, PMD-aligned.
    this.mmapBase = Math.floor((this.taskSize * 0.98) / this.pmdSize) * this.pmdSize;
  }

  get pages(): PageStore {
    return this.machine.pages;
  }

  // ---------------------------------------------------------------------------------------
  // helpers

  vpn(addr: number): number {
    return Math.floor(addr / this.pageSize);
  }

  private aligned(addr: number): boolean {
    return addr % this.pageSize === 0;
  }

  private pageAlign(len: number): number {
    return Math.ceil(len / this.pageSize) * this.pageSize;
  }

  /** Whether the effective pte of vpn is none (pte none or no table; not a huge pmd). */
  private pmdOf(vpn: number): Pmd | undefined {
    return this.pt.pmd(Math.floor(vpn / this.pt.ptrs));
  }

  /** anon_vma_prepare(): reuses a compatible neighbour's anon_vma (find_mergeable_anon_vma). */
  anonVmaPrepare(v: Vma): void {
    if (v.anonVma !== 0 || (v.flags & VM_SHARED) !== 0) return;
    const compatible = (a: Vma, b: Vma): boolean =>
      a.end === b.start &&
      a.file === b.file &&
      ((a.flags ^ b.flags) & ~VM_ACCESS_FLAGS) === 0 &&
      b.pgoff === a.pgoff + this.vmas.pages(a);
    const next = this.vmas.next(v);
    if (next !== undefined && next.anonVma !== 0 && compatible(v, next)) {
      v.anonVma = next.anonVma;
      return;
    }
    const prev = this.vmas.prev(v);
    if (prev !== undefined && prev.anonVma !== 0 && compatible(prev, v)) {
      v.anonVma = prev.anonVma;
      return;
    }
    v.anonVma = this.machine.nextAnonVma++;
  }

  /** Splits a huge pmd into a pte table (__split_huge_pmd); the folio stays large. */
  splitPmd(pi: number): void {
    const p = this.pt.pmd(pi);
    if (p === undefined || p.kind === PMD_TABLE) return;
    const n = this.pt.ptrs;
    const wp = p.wp ? B_WP : 0;
    if (p.kind === PMD_THP) {
      for (let i = 0; i < n; i++) {
        p.ptes[i] = p.head + i;
        p.bits[i] = wp;
      }
    } else {
      p.ptes.fill(PTE_ZERO);
      p.bits.fill(wp);
    }
    p.kind = PMD_TABLE;
    p.head = 0;
    p.wp = false;
  }

  /** A VMA boundary at addr inside a huge pmd splits it (vma_adjust_trans_huge). */
  private splitHugeAt(addr: number): void {
    if (addr % this.pmdSize === 0) return;
    this.splitPmd(Math.floor(addr / this.pmdSize));
  }

  private thpEligible(v: Vma, pi: number): boolean {
    if (!v.anonymous || (v.flags & (VM_SHARED | VM_NOHUGEPAGE | VM_SPECIAL)) !== 0) return false;
    const policy = this.machine.opts.thp;
    if (policy === 'never' || (policy === 'madvise' && (v.flags & VM_HUGEPAGE) === 0)) {
      return false;
    }
    const bs = pi * this.pmdSize;
    return bs >= v.start && bs + this.pmdSize <= v.end && this.pt.pmd(pi) === undefined;
  }

  /** Maps a fresh zeroed THP at block pi (exclusive). */
  private installThp(pi: number): void {
    const n = this.pt.ptrs;
    const head = this.pages.allocFolio(n);
    for (let i = 0; i < n; i++) this.pages.mapcount[head + i] = 1;
    const p = this.pt.allocTable(pi);
    p.kind = PMD_THP;
    p.head = head;
    p.ptes.fill(0);
    p.bits.fill(0);
  }

  /** Drops whatever the pte at (p, i) maps (zap of one entry). */
  private zapPte(p: Pmd, i: number): void {
    const v = p.ptes[i]!;
    if (v > 0) this.pages.unmapOne(v);
    else if (isSwap(v)) this.machine.swap.unref(swapSlot(v));
    p.ptes[i] = PTE_NONE;
    p.bits[i] = 0;
  }

  /**
   * Zaps [start, end) (page-aligned) of the page tables: anonymous zaps drop everything,
   * markers included. `reclaim` (MADV_DONTNEED under CONFIG_PT_RECLAIM) frees a pte table whose
   * whole PMD block was zapped (X25b).
   */
  zapRange(start: number, end: number, reclaim: boolean): void {
    const ps = this.pageSize;
    const ptrs = this.pt.ptrs;
    const last = Math.ceil(end / this.pmdSize);
    for (const pi of blocksIn(this.pt.pmds, Math.floor(start / this.pmdSize), last)) {
      const p = this.pt.pmd(pi)!;
      const bs = pi * this.pmdSize;
      const zs = Math.max(start, bs);
      const ze = Math.min(end, bs + this.pmdSize);
      const whole = zs === bs && ze === bs + this.pmdSize;
      if (p.kind !== PMD_TABLE) {
        if (whole) {
          if (p.kind === PMD_THP) for (let i = 0; i < ptrs; i++) this.pages.unmapOne(p.head + i);
          this.pt.freeTable(pi);
          continue;
        }
        this.splitPmd(pi);
      }
      for (let a = zs; a < ze; a += ps) this.zapPte(p, (a / ps) % ptrs);
      if (reclaim && whole && p.empty()) this.pt.freeTable(pi);
    }
  }

  /**
   * free_pgtables(): after [start, end) was unmapped, frees the pte tables (and PMD tables) whose
   * whole block no longer intersects any VMA.
   */
  private freePgtables(start: number, end: number): void {
    const prev = this.vmas.list.filter((v) => v.end <= start).pop();
    const next = this.vmas.findFrom(end);
    const floor = prev?.end ?? 0;
    const ceiling = next?.start ?? this.taskSize;
    const last = Math.ceil(end / this.pmdSize);
    for (const pi of blocksIn(this.pt.pmds, Math.floor(start / this.pmdSize), last)) {
      const bs = pi * this.pmdSize;
      if (bs >= floor && bs + this.pmdSize <= ceiling) this.pt.freeTable(pi);
    }
    const pudSize = this.pmdSize * this.pt.ptrs;
    const lastUi = Math.ceil(end / pudSize);
    for (const ui of blocksIn(this.pt.pmdTables, Math.floor(start / pudSize), lastUi)) {
      const bs = ui * pudSize;
      if (bs >= floor && bs + pudSize <= ceiling) this.pt.pmdTables.delete(ui);
    }
  }

  // ---------------------------------------------------------------------------------------
  // faults

  /**
   * One fault on the page at addr (handle_mm_fault). `user`: a user-mode access (a thread);
   * false for GUP (mlock/MAP_POPULATE), which a USER_MODE_ONLY uffd refuses with SIGBUS.
   */
  fault(addr: number, write: boolean, user: boolean): FaultResult {
    const v = this.vmas.find(addr);
    if (v === undefined) return 'segv';
    if (write ? (v.flags & VM_WRITE) === 0 : (v.flags & VM_READ) === 0) return 'segv';
    const vpn = this.vpn(addr);
    const ptrs = this.pt.ptrs;
    const pi = Math.floor(vpn / ptrs);
    const idx = vpn % ptrs;
    const uf = (reason: number): FaultResult => this.userfault(v, write, user, reason);
    if (!v.anonymous) {
      return (v.flags & VM_SHARED) !== 0
        ? this.shmemFault(v, addr, write, user)
        : this.privateFileFault(v, addr, write);
    }
    let p = this.pt.pmd(pi);
    if (p !== undefined && p.kind === PMD_THP) {
      if (!write) return DONE;
      if (p.wp && (v.flags & VM_UFFD_WP) !== 0) {
        if (v.uffd?.has(U.F_WP_ASYNC)) p.wp = false;
        else return uf(VM_UFFD_WP);
      }
      const head = p.head;
      let allExcl = true;
      let reusable = true;
      for (let i = 0; i < ptrs; i++) {
        const f = this.pages.flags[head + i]!;
        if ((f & P_EXCL) === 0) allExcl = false;
        if (this.pages.mapcount[head + i] !== 1 || (f & P_KSM) !== 0) reusable = false;
      }
      if (allExcl) return DONE;
      if (reusable) {
        for (let i = 0; i < ptrs; i++) this.pages.flags[head + i]! |= P_EXCL;
        return DONE;
      }
      this.splitPmd(pi);
    } else if (p !== undefined && p.kind === PMD_HUGE_ZERO) {
      if (!write) return DONE;
      if (p.wp && (v.flags & VM_UFFD_WP) !== 0 && !v.uffd?.has(U.F_WP_ASYNC)) {
        return uf(VM_UFFD_WP);
      }
      // do_huge_zero_wp_pmd(): a THP replaces the huge zero page.
      this.anonVmaPrepare(v);
      this.pt.freeTable(pi);
      this.installThp(pi);
      return DONE;
    } else if (p === undefined && this.thpEligible(v, pi)) {
      if ((v.flags & VM_UFFD_MISSING) !== 0) return uf(VM_UFFD_MISSING);
      this.anonVmaPrepare(v);
      if (write) {
        this.installThp(pi);
      } else {
        const t = this.pt.allocTable(pi);
        t.kind = PMD_HUGE_ZERO;
      }
      return DONE;
    }
    // do_anonymous_page() and friends: the pte table is allocated before anything else.
    p = this.pt.allocTable(pi);
    const pte = p.ptes[idx]!;
    const bits = p.bits[idx]!;
    if (pte === PTE_NONE || pte === PTE_WPMARK) {
      if ((v.flags & VM_UFFD_MISSING) !== 0) return uf(VM_UFFD_MISSING);
      const wp = pte === PTE_WPMARK ? B_WP : 0;
      if (!write) {
        p.ptes[idx] = PTE_ZERO;
        p.bits[idx] = wp;
        return DONE;
      }
      this.anonVmaPrepare(v);
      const id = this.pages.alloc();
      this.pages.mapcount[id] = 1;
      p.ptes[idx] = id;
      p.bits[idx] = wp;
      return wp ? RETRY : DONE;
    }
    if (pte === PTE_POISON) return 'bus';
    if (isSwap(pte)) {
      // do_swap_page(): a fresh page, exclusive when the entry was or nobody else holds it.
      const slot = swapSlot(pte);
      const sw = this.machine.swap;
      const id = this.pages.alloc();
      const d = sw.data[slot];
      this.pages.data[id] = d === undefined ? undefined : d.slice();
      this.pages.mapcount[id] = 1;
      const excl = (bits & B_SWP_EXCL) !== 0 || sw.count[slot] === 1;
      this.pages.flags[id] = excl ? P_EXCL : 0;
      sw.unref(slot);
      p.ptes[idx] = id;
      p.bits[idx] = bits & B_WP;
      return RETRY;
    }
    if (!write) return DONE;
    if ((bits & B_WP) !== 0 && (v.flags & VM_UFFD_WP) !== 0) {
      if (v.uffd?.has(U.F_WP_ASYNC)) p.bits[idx] = bits & ~B_WP;
      else return uf(VM_UFFD_WP);
    }
    if (pte === PTE_ZERO) {
      this.anonVmaPrepare(v);
      const id = this.pages.alloc();
      this.pages.mapcount[id] = 1;
      p.ptes[idx] = id;
      p.bits[idx] = 0;
      return DONE;
    }
    const f = this.pages.flags[pte]!;
    if ((f & P_EXCL) !== 0) return DONE;
    if ((f & P_KSM) === 0 && this.pages.mapcount[pte] === 1) {
      // wp_can_reuse_anon_folio(): the only mapping: reuse, exclusive again (C41).
      this.pages.flags[pte] = f | P_EXCL;
      return DONE;
    }
    this.anonVmaPrepare(v);
    const id = this.pages.copyOf(pte);
    this.pages.mapcount[id] = 1;
    this.pages.unmapOne(pte);
    p.ptes[idx] = id;
    p.bits[idx] = 0;
    return DONE;
  }

  private userfault(v: Vma, write: boolean, user: boolean, reason: number): FaultResult {
    const ctx = v.uffd!;
    if (ctx.has(U.F_SIGBUS)) return 'bus';
    // A kernel-mode access (GUP) on a USER_MODE_ONLY uffd gets SIGBUS; without it the syscall
    // would sleep in the fault, which a synchronous simulated syscall cannot: SIGBUS too.
    if (!user) return 'bus';
    let flags = write ? U.UFFD_PAGEFAULT_FLAG_WRITE : 0;
    if (reason === VM_UFFD_WP) flags |= U.UFFD_PAGEFAULT_FLAG_WP;
    if (reason === VM_UFFD_MINOR) flags |= U.UFFD_PAGEFAULT_FLAG_MINOR;
    return { ctx, flags };
  }

  /** Shared anonymous memory (shmem): a page cache per mapping; faults map its pages. */
  private shmemFault(v: Vma, addr: number, write: boolean, user: boolean): FaultResult {
    const vpn = this.vpn(addr);
    const p = this.pt.allocTable(Math.floor(vpn / this.pt.ptrs));
    const idx = vpn % this.pt.ptrs;
    const pte = p.ptes[idx]!;
    if (pte > 0) return DONE;
    if (pte === PTE_POISON) return 'bus';
    const file = this.machine.shmem.get(v.file)!;
    const pgoff = v.pgoff + (addr - v.start) / this.pageSize;
    let id = file.pages.get(Math.floor(pgoff));
    if (id === undefined) {
      if ((v.flags & VM_UFFD_MISSING) !== 0) return this.userfault(v, write, user, VM_UFFD_MISSING);
      id = this.pages.alloc();
      this.pages.flags[id] = P_SHMEM;
      file.pages.set(Math.floor(pgoff), id);
    } else if ((v.flags & VM_UFFD_MINOR) !== 0) {
      return this.userfault(v, write, user, VM_UFFD_MINOR);
    }
    this.pages.mapcount[id]!++;
    p.ptes[idx] = id;
    p.bits[idx] = 0;
    return DONE;
  }

  /**
   * A private mapping of a file: reads map the page-cache page, a write copies it into an
   * anonymous page (CoW). Only as much as the probes need (C35, B14: such VMAs are refused).
   */
  private privateFileFault(v: Vma, addr: number, write: boolean): FaultResult {
    const vpn = this.vpn(addr);
    const p = this.pt.allocTable(Math.floor(vpn / this.pt.ptrs));
    const idx = vpn % this.pt.ptrs;
    const pte = p.ptes[idx]!;
    let file = this.machine.shmem.get(v.file);
    if (file === undefined) {
      file = { pages: new Map() };
      this.machine.shmem.set(v.file, file);
    }
    const pgoff = v.pgoff + (addr - v.start) / this.pageSize;
    let fid = file.pages.get(pgoff);
    if (fid === undefined) {
      fid = this.pages.alloc();
      this.pages.flags[fid] = P_SHMEM;
      file.pages.set(pgoff, fid);
    }
    if (pte > 0 && (!write || (this.pages.flags[pte]! & P_SHMEM) === 0)) return DONE;
    if (pte === PTE_POISON) return 'bus';
    if (!write) {
      this.pages.mapcount[fid]!++;
      p.ptes[idx] = fid;
      return DONE;
    }
    this.anonVmaPrepare(v);
    const id = this.pages.copyOf(fid);
    this.pages.mapcount[id] = 1;
    if (pte > 0) this.pages.unmapOne(pte);
    p.ptes[idx] = id;
    p.bits[idx] = 0;
    return DONE;
  }

  /**
   * A thread's access to one page: faults (and waits on userfaults) until it can proceed. A
   * monitor that wakes the thread without resolving its fault makes it fault again, forever, as
   * on the kernel; the simulated thread then yields to the event loop every 64 faults, as a
   * real thread would be preempted (it used to spin in microtasks, starving the JS thread, and
   * gave up after 10^6 faults with an untyped Error).
   */
  private async access(addr: number, write: boolean, tid: number): Promise<void> {
    for (let n = 1; ; n++) {
      const r = this.fault(addr, write, true);
      if (r === DONE) return;
      if (r === RETRY) continue;
      if (r === 'segv') throw signalError('SIGSEGV', addr);
      if (r === 'bus') throw signalError('SIGBUS', addr);
      await r.ctx.fault(addr, r.flags, tid);
      if (n % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** The bytes the pte at addr maps right now (after a successful fault). */
  private pageBytes(addr: number): Uint8Array | undefined {
    const vpn = this.vpn(addr);
    const p = this.pmdOf(vpn);
    if (p === undefined) return undefined;
    if (p.kind === PMD_THP) return this.pages.data[p.head + (vpn % this.pt.ptrs)];
    if (p.kind === PMD_HUGE_ZERO) return undefined;
    const pte = p.ptes[vpn % this.pt.ptrs]!;
    return pte > 0 ? this.pages.data[pte] : undefined;
  }

  private pageId(addr: number): number {
    const vpn = this.vpn(addr);
    const p = this.pmdOf(vpn);
    if (p === undefined) return 0;
    if (p.kind === PMD_THP) return p.head + (vpn % this.pt.ptrs);
    if (p.kind === PMD_HUGE_ZERO) return 0;
    const pte = p.ptes[vpn % this.pt.ptrs]!;
    return pte > 0 ? pte : 0;
  }

  // ---------------------------------------------------------------------------------------
  // AddressSpace: memory access

  async read(addr: number, len: number): Promise<Uint8Array> {
    [addr, len] = readArgs(addr, len);
    const out = new Uint8Array(len);
    const tid = this.machine.nextTid++;
    let off = 0;
    while (off < len) {
      const a = addr + off;
      const n = Math.min(len - off, this.pageSize - (a % this.pageSize));
      await this.access(a, false, tid);
      const d = this.pageBytes(a);
      if (d !== undefined) {
        const s = a % this.pageSize;
        out.set(d.subarray(s, s + n), off);
      }
      off += n;
    }
    return out;
  }

  async write(addr: number, data: Uint8Array): Promise<void> {
    [addr, data] = writeArgs(addr, data);
    const tid = this.machine.nextTid++;
    let off = 0;
    while (off < data.length) {
      const a = addr + off;
      const n = Math.min(data.length - off, this.pageSize - (a % this.pageSize));
      await this.access(a, true, tid);
      const id = this.pageId(a);
      const s = a % this.pageSize;
      this.pages.writable(id).set(data.subarray(off, off + n), s);
      off += n;
    }
  }

  /**
   * GUP over [start, end) the way __mm_populate()/populate_vma_page_range() do: write faults on
   * private writable VMAs (breaking COW), read faults otherwise; PROT_NONE → EFAULT;
   * VM_LOCKONFAULT VMAs are skipped. Returns 0 or -errno (the first failure).
   */
  populate(start: number, end: number, ignoreErrors: boolean): number {
    let err = 0;
    for (const v of this.vmas.range(start, end)) {
      if ((v.flags & (VM_PFNMAP | VM_SPECIAL)) !== 0) continue;
      if ((v.flags & VM_LOCKONFAULT) !== 0) continue;
      let r = 0;
      if ((v.flags & (VM_READ | VM_WRITE | VM_EXEC)) === 0) {
        r = -U.EFAULT;
      } else {
        const write = (v.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
        const a0 = Math.max(start, v.start);
        const a1 = Math.min(end, v.end);
        for (let a = a0; a < a1 && r === 0; a += this.pageSize) {
          for (;;) {
            const f = this.faultForce(a, write);
            if (f === DONE) break;
            if (f === RETRY) continue;
            r = -U.EFAULT;
            break;
          }
        }
      }
      if (r < 0) {
        if (ignoreErrors) continue;
        err = r;
        break;
      }
    }
    return err;
  }

  /** GUP's fault (FOLL_FORCE: a read fault on a VMA without VM_READ is allowed). */
  private faultForce(addr: number, write: boolean): FaultResult {
    const v = this.vmas.find(addr);
    if (v !== undefined && !write && (v.flags & VM_READ) === 0) {
      const saved = v.flags;
      v.flags |= VM_READ;
      try {
        return this.fault(addr, false, false);
      } finally {
        v.flags = saved;
      }
    }
    return this.fault(addr, write, false);
  }

  // ---------------------------------------------------------------------------------------
  // AddressSpace: mm syscalls

  private findGap(len: number, alignTo: number): number {
    let top = this.mmapBase;
    const list = this.vmas.list;
    for (let i = list.length - 1; i >= -1; i--) {
      const v = list[i];
      const lo = v === undefined ? this.pageSize * 16 : v.end;
      if (v !== undefined && v.start >= top) continue;
      let cand = Math.floor((top - len) / alignTo) * alignTo;
      if (cand >= lo && cand + len <= top) return cand;
      if (v !== undefined) top = Math.min(top, v.start);
      cand = Math.floor((top - len) / alignTo) * alignTo;
      if (v === undefined && cand >= lo) return cand;
    }
    fail(U.ENOMEM, 'mmap');
  }

  mmap(len: number, options?: SpaceMmapOptions): number {
    const o = mmapArgs(len, options);
    const prot = o.prot;
    if (o.len === 0) fail(U.EINVAL, 'mmap');
    const l = this.pageAlign(o.len);
    let addr: number;
    if (o.fixed !== undefined) {
      addr = o.fixed;
      if (!this.aligned(addr)) fail(U.EINVAL, 'mmap');
      if (addr + l > this.taskSize) fail(U.ENOMEM, 'mmap');
      this.unmapRange(addr, addr + l);
    } else {
      // Anonymous mappings of a PMD multiple are PMD-aligned (thp_get_unmapped_area, 6.7+).
      addr = this.findGap(l, l % this.pmdSize === 0 ? this.pmdSize : this.pageSize);
    }
    const shared = o.shared;
    let flags = PROT_BITS[prot] | VM_MAYWRITE;
    let file = 0;
    let pgoff = addr / this.pageSize;
    if (shared) {
      flags |= VM_SHARED;
      file = this.machine.nextFile++;
      this.machine.shmem.set(file, { pages: new Map() });
      pgoff = 0;
    } else if ((flags & VM_WRITE) !== 0) {
      flags |= VM_ACCOUNT;
    }
    const v = new Vma(addr, addr + l, flags, pgoff, file, 0, null);
    if (shared) {
      this.vmas.insert(v);
    } else {
      this.vmas.insertMerged(v);
    }
    if (o.populate) this.populate(addr, addr + l, true);
    return addr;
  }

  /** do_vmi_munmap() of [start, end): UNMAP events, zap, free page tables. */
  private unmapRange(start: number, end: number): void {
    this.splitHugeAt(start);
    this.splitHugeAt(end);
    const ctxs = new Set<SimCtx>();
    for (const v of this.vmas.range(start, end)) {
      if (v.uffd !== null && v.uffd.has(U.F_EVENT_UNMAP)) ctxs.add(v.uffd);
    }
    const removed = this.vmas.carve(start, end);
    for (const v of removed) {
      this.zapRange(v.start, v.end, false);
      if (v.file !== 0) this.dropFileRef(v.file);
    }
    if (removed.length > 0) this.freePgtables(start, end);
    for (const ctx of ctxs) {
      const msg = eventMsg(U.UFFD_EVENT_UNMAP, start, end);
      if (this.eventSink !== null) this.eventSink.push({ ctx, msg });
      else void this.block(ctx, msg);
    }
  }

  /** Frees a shmem object once no VMA of any process maps it any more. */
  private dropFileRef(file: number): void {
    const f = this.machine.shmem.get(file);
    if (f === undefined) return;
    for (const sp of this.machine.spaces) {
      if (sp.vmas.list.some((v) => v.file === file)) return;
    }
    for (const id of f.pages.values()) this.pages.release(id);
    this.machine.shmem.delete(file);
  }

  /** The caller sleeps until the monitor reads the event (userfaultfd_event_wait_completion). */
  private block(
    ctx: SimCtx,
    msg: Uint8Array | ((reader: FdInstaller) => Uint8Array),
    after: () => void = () => {},
  ): Promise<void> {
    const p = new Promise<void>((resolve) => {
      ctx.event(msg, () => {
        after();
        resolve();
      });
    });
    this.blockers.add(p);
    void p.then(() => this.blockers.delete(p));
    return p;
  }

  /**
   * Resolves once every operation that is waiting for a non-cooperative event to be read has
   * finished (the simulated calls return at once; a kernel caller would sleep until then).
   */
  async settled(): Promise<void> {
    while (this.blockers.size > 0) await Promise.all([...this.blockers]);
  }

  munmap(addr: number, len: number): void {
    [addr, len] = rangeArgs(addr, len);
    if (!this.aligned(addr) || len === 0) fail(U.EINVAL, 'munmap', addr);
    const l = this.pageAlign(len);
    if (addr + l > this.taskSize) fail(U.EINVAL, 'munmap', addr);
    this.unmapRange(addr, addr + l);
  }

  /**
   * Applies a flag change to every VMA of [start, end) (mprotect/mlock/madvise style): a VMA
   * whose flags do not change is left alone; a hole gives ENOMEM after the VMAs before it were
   * changed, as the kernel does. `change` returns the new flags.
   */
  private modifyFlags(
    start: number,
    end: number,
    syscall: string,
    change: (v: Vma) => number,
    after?: (v: Vma, s: number, e: number, oldFlags: number) => void,
  ): void {
    const first = this.vmas.find(start);
    if (first === undefined) fail(U.ENOMEM, syscall, start);
    let pos = start;
    for (const v0 of this.vmas.range(start, end)) {
      if (v0.start > pos) fail(U.ENOMEM, syscall, start);
      const s = Math.max(start, v0.start);
      const e = Math.min(end, v0.end);
      const old = v0.flags;
      const nf = change(v0);
      if (nf !== old) {
        if (s !== v0.start) this.splitHugeAt(s);
        if (e !== v0.end) this.splitHugeAt(e);
        const nv = this.vmas.modify(v0, s, e, { flags: nf, uffd: v0.uffd });
        after?.(nv, s, e, old);
      }
      pos = e;
    }
    if (pos < end) fail(U.ENOMEM, syscall, start);
  }

  mprotect(addr: number, len: number, prot: SpaceProt): void {
    [addr, len] = rangeArgs(addr, len);
    prot = protArg(prot);
    if (!this.aligned(addr)) fail(U.EINVAL, 'mprotect', addr);
    if (len === 0) return;
    const end = addr + this.pageAlign(len);
    const bits = PROT_BITS[prot];
    const toPopulate: [number, number][] = [];
    this.modifyFlags(
      addr,
      end,
      'mprotect',
      (v) => {
        let nf = (v.flags & ~VM_ACCESS_FLAGS) | bits;
        if ((nf & VM_WRITE) !== 0) {
          if ((v.flags & (VM_ACCOUNT | VM_WRITE | VM_SHARED)) === 0) nf |= VM_ACCOUNT;
        } else if (
          (v.flags & VM_ACCOUNT) !== 0 &&
          v.anonymous &&
          v.anonVma === 0 &&
          this.profile !== '6.1'
        ) {
          // Unaccounted when made read-only before it was ever written (no anon_vma), so it can
          // merge with a never-writable neighbour; 6.1's mprotect_fixup() kept VM_ACCOUNT
          // (arm64 6.1 guest: [11,16) r-- stayed apart from the PROT_NONE reservation's [16,17)).
          nf &= ~VM_ACCOUNT;
        }
        return nf;
      },
      (v, s, e, old) => {
        if (
          (old & (VM_WRITE | VM_SHARED | VM_LOCKED)) === VM_LOCKED &&
          (v.flags & VM_WRITE) !== 0
        ) {
          toPopulate.push([s, e]);
        }
      },
    );
    for (const [s, e] of toPopulate) this.populate(s, e, true);
  }

  mlock(addr: number, len: number, options?: { onFault?: boolean }): void {
    [addr, len] = rangeArgs(addr, len);
    const { onFault } = mlockArgs(options);
    const start = Math.floor(addr / this.pageSize) * this.pageSize;
    const l = this.pageAlign(len + (addr - start));
    if (l === 0) return;
    const lockBits = VM_LOCKED | (onFault ? VM_LOCKONFAULT : 0);
    const syscall = onFault ? 'mlock2' : 'mlock';
    this.modifyFlags(start, start + l, syscall, (v) =>
      (v.flags & (VM_SPECIAL | VM_HUGETLB)) !== 0
        ? v.flags
        : (v.flags & ~VM_LOCKED_MASK) | lockBits,
    );
    const r = this.populate(start, start + l, false);
    // __mlock_posix_error_return(): EFAULT → ENOMEM, ENOMEM → EAGAIN.
    if (r === -U.EFAULT) fail(U.ENOMEM, syscall, addr);
    if (r === -U.ENOMEM) fail(U.EAGAIN, syscall, addr);
  }

  munlock(addr: number, len: number): void {
    [addr, len] = rangeArgs(addr, len);
    const start = Math.floor(addr / this.pageSize) * this.pageSize;
    const l = this.pageAlign(len + (addr - start));
    if (l === 0) return;
    this.modifyFlags(start, start + l, 'munlock', (v) => v.flags & ~VM_LOCKED_MASK);
  }

  madvise(addr: number, len: number, advice: SpaceAdvice): void {
    [addr, len] = rangeArgs(addr, len);
    advice = adviceArg(advice);
    if (!this.aligned(addr)) fail(U.EINVAL, 'madvise', addr);
    const l = this.pageAlign(len);
    if (len !== 0 && l === 0) fail(U.EINVAL, 'madvise', addr);
    if (l === 0) return;
    const end = addr + l;
    const flagAdvice: Partial<Record<SpaceAdvice, (f: number) => number>> = {
      dontfork: (f) => f | VM_DONTCOPY,
      dofork: (f) => f & ~VM_DONTCOPY,
      hugepage: (f) => (f & ~VM_NOHUGEPAGE) | VM_HUGEPAGE,
      nohugepage: (f) => (f & ~VM_HUGEPAGE) | VM_NOHUGEPAGE,
    };
    const change = flagAdvice[advice];
    let unmapped = false;
    let pos = addr;
    const vmas = this.vmas.range(addr, end);
    if (vmas.length === 0) fail(U.ENOMEM, 'madvise', addr);
    for (const v0 of vmas) {
      if (v0.start > pos) unmapped = true;
      const s = Math.max(addr, v0.start);
      const e = Math.min(end, v0.end);
      pos = e;
      if (change !== undefined) {
        const nf = change(v0.flags);
        if (nf !== v0.flags) {
          if (s !== v0.start) this.splitHugeAt(s);
          if (e !== v0.end) this.splitHugeAt(e);
          this.vmas.modify(v0, s, e, { flags: nf, uffd: v0.uffd });
        }
        continue;
      }
      if (advice === 'dontneed') {
        if ((v0.flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)) !== 0) {
          fail(U.EINVAL, 'madvise', addr);
        }
        this.removeEventThen(v0, s, e, () => this.zapRange(s, e, true));
      } else if (advice === 'pageout') {
        if ((v0.flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)) !== 0) {
          fail(U.EINVAL, 'madvise', addr);
        }
        this.pageout(v0, s, e);
      } else if (advice === 'remove') {
        if ((v0.flags & VM_LOCKED) !== 0 || v0.anonymous) fail(U.EINVAL, 'madvise', addr);
        this.removeEventThen(v0, s, e, () => this.punchHole(v0, s, e));
      } else if (advice === 'cold') {
        // can_madv_lru_vma(); deactivating pages changes nothing this model keeps.
        if ((v0.flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)) !== 0) {
          fail(U.EINVAL, 'madvise', addr);
        }
      }
      // 'normal' clears the read-ahead hints (VM_RAND_READ, VM_SEQ_READ), not modelled.
    }
    if (unmapped || pos < end) fail(U.ENOMEM, 'madvise', addr);
  }

  /** userfaultfd_remove(): with EVENT_REMOVE the zap waits until the monitor read the event. */
  private removeEventThen(v: Vma, s: number, e: number, zap: () => void): void {
    const ctx = v.uffd;
    if (ctx !== null && ctx.has(U.F_EVENT_REMOVE)) {
      void this.block(ctx, eventMsg(U.UFFD_EVENT_REMOVE, s, e), zap);
    } else {
      zap();
    }
  }

  private punchHole(v: Vma, s: number, e: number): void {
    this.zapRange(s, e, false);
    const f = this.machine.shmem.get(v.file);
    if (f === undefined) return;
    for (let a = s; a < e; a += this.pageSize) {
      const pg = v.pgoff + (a - v.start) / this.pageSize;
      const id = f.pages.get(pg);
      if (id !== undefined) {
        f.pages.delete(pg);
        if (this.pages.mapcount[id]! <= 0) this.pages.release(id);
        else this.pages.flags[id]! &= ~P_SHMEM;
      }
    }
  }

  /** MADV_PAGEOUT: exclusive, unpinned, unshared anon pages become swap entries (if swap). */
  private pageout(v: Vma, s: number, e: number): void {
    if (!v.anonymous) {
      // shmem: reclaim unmaps the page; it stays in the page cache (written to swap if any).
      for (let a = s; a < e; a += this.pageSize) {
        const vpn = a / this.pageSize;
        const p = this.pt.pmd(Math.floor(vpn / this.pt.ptrs));
        const i = vpn % this.pt.ptrs;
        const id = p?.ptes[i] ?? 0;
        if (p === undefined || id <= 0 || this.pages.mapcount[id] !== 1) continue;
        this.pages.mapcount[id] = 0;
        p.ptes[i] = PTE_NONE;
        p.bits[i] = 0;
      }
      return;
    }
    if (!this.machine.opts.swap) return;
    const ps = this.pageSize;
    for (let a = s; a < e; a += ps) {
      const vpn = a / ps;
      const pi = Math.floor(vpn / this.pt.ptrs);
      let p = this.pt.pmd(pi);
      if (p === undefined) continue;
      if (p.kind === PMD_HUGE_ZERO) continue;
      if (p.kind === PMD_THP) {
        this.splitPmd(pi);
        p = this.pt.pmd(pi)!;
      }
      const i = vpn % this.pt.ptrs;
      const id = p.ptes[i]!;
      if (id <= 0) continue;
      const f = this.pages.flags[id]!;
      if ((f & (P_PINNED | P_KSM)) !== 0 || this.pages.mapcount[id] !== 1) continue;
      if (this.pages.isLarge(id)) this.pages.splitFolio(id);
      const slot = this.machine.swap.alloc(this.pages.data[id]);
      this.machine.swap.ref(slot);
      p.ptes[i] = swapPte(slot);
      p.bits[i] = (p.bits[i]! & B_WP) | ((f & P_EXCL) !== 0 ? B_SWP_EXCL : 0);
      this.pages.unmapOne(id);
    }
  }

  /**
   * mremap(2) as 6.18 does it: flag and alignment checks (EINVAL); a shrink unmaps the tail; a
   * grow extends in place when the old range ends its VMA and the space after is free, else
   * moves (MAYMOVE) or fails (ENOMEM); MREMAP_FIXED/DONTUNMAP validate the source before the
   * destination is unmapped. Since 6.17 a FIXED move with old_len == new_len may span several
   * VMAs and gaps: each VMA piece moves on its own, a uffd-armed one stops it with EFAULT
   * (pieces before it stay moved), and a range starting in a gap is EFAULT. The '6.12' profile
   * checks in 6.12's order instead (mremapTo).
   */
  mremap(addr: number, oldLen: number, newLen: number, options?: SpaceMremapOptions): number {
    const o = mremapArgs(addr, oldLen, newLen, options);
    const sink: { ctx: SimCtx; msg: Uint8Array }[] = [];
    this.eventSink = sink;
    this.remapEvent = null;
    try {
      return this.doMremap(o.addr, o.oldLen, o.newLen, o);
    } finally {
      this.eventSink = null;
      const remap = this.remapEvent as { ctx: SimCtx; msg: Uint8Array } | null;
      this.remapEvent = null;
      if (remap !== null) void this.block(remap.ctx, remap.msg);
      for (const e of sink) void this.block(e.ctx, e.msg);
    }
  }

  private doMremap(addr: number, oldLen: number, newLen: number, o: MremapArgs): number {
    const relocate = o.relocateAnon;
    const fixed = o.fixed;
    const mayMove = o.mayMove;
    const dontUnmap = o.dontUnmap;
    if (relocate && !this.machine.opts.mremapRelocateAnon) fail(U.EINVAL, 'mremap', addr);
    if (dontUnmap && (!mayMove || oldLen !== newLen)) fail(U.EINVAL, 'mremap', addr);
    if (!this.aligned(addr)) fail(U.EINVAL, 'mremap', addr);
    const ol = this.pageAlign(oldLen);
    const nl = this.pageAlign(newLen);
    if (nl === 0) fail(U.EINVAL, 'mremap', addr);
    if (fixed !== undefined) {
      if (!this.aligned(fixed)) fail(U.EINVAL, 'mremap', addr);
      if (nl > this.taskSize || fixed > this.taskSize - nl) fail(U.EINVAL, 'mremap', addr);
      if (addr + ol > fixed && fixed + nl > addr) fail(U.EINVAL, 'mremap', addr);
      const v = this.vmas.find(addr);
      const multi = ol === nl && (v === undefined || addr + ol > v.end);
      if (multi && !before617(this.profile)) {
        return this.mremapMulti(addr, ol, fixed, dontUnmap, relocate);
      }
    }
    if (fixed !== undefined || dontUnmap) {
      return this.mremapTo(addr, ol, nl, fixed, dontUnmap, relocate);
    }
    // 6.18 looks the VMA up first, even for a shrink or an unchanged length (EFAULT).
    if (this.vmas.find(addr) === undefined) fail(U.EFAULT, 'mremap', addr);
    if (ol >= nl) {
      if (ol > nl) this.unmapRange(addr + nl, addr + ol);
      return addr;
    }
    const v = this.vmaToResize(addr, ol, nl);
    // Grow in place when the old range ends the VMA and the space after it is free.
    if (addr + ol === v.end) {
      const after = this.vmas.findFrom(v.end);
      const room = after === undefined || after.start >= addr + nl;
      if (room && addr + nl <= this.taskSize) {
        const delta = nl - ol;
        const oldEnd = v.end;
        const next = this.vmas.next(v);
        v.end += delta;
        if (
          next !== undefined &&
          this.vmas.canMergeBefore(next, v.end, this.vmas.pages(v), v) &&
          VmaList.anonCompatible(v.anonVma, next.anonVma)
        ) {
          this.vmas.remove(next);
          v.end = next.end;
          v.anonVma ||= next.anonVma;
        }
        if ((v.flags & VM_LOCKED) !== 0) this.populate(oldEnd, oldEnd + delta, true);
        return addr;
      }
    }
    if (!mayMove) fail(U.ENOMEM, 'mremap', addr);
    const to = this.findGap(nl, this.pageSize);
    return this.moveVma(v, addr, ol, nl, to, false, relocate);
  }

  /** A FIXED move of [addr, addr+len) spanning several VMAs (6.17+). */
  private mremapMulti(
    addr: number,
    len: number,
    to: number,
    dontUnmap: boolean,
    relocate: boolean,
  ): number {
    if (this.vmas.find(addr) === undefined) fail(U.EFAULT, 'mremap', addr);
    const pieces = this.vmas
      .range(addr, addr + len)
      .map((v) => [Math.max(addr, v.start), Math.min(addr + len, v.end)] as const);
    for (const [s, e] of pieces) {
      const v = this.vmas.find(s)!;
      if ((v.flags & VM_UFFD_FLAGS) !== 0) fail(U.EFAULT, 'mremap', addr);
      const t = to + (s - addr);
      this.unmapRange(t, t + (e - s));
      this.moveVma(this.vmas.find(s)!, s, e - s, e - s, t, dontUnmap, relocate);
    }
    return to;
  }

  /** vma_to_resize(): the old range must lie in one VMA. */
  private vmaToResize(addr: number, ol: number, nl: number): Vma {
    const v = this.vmas.find(addr);
    if (v === undefined) fail(U.EFAULT, 'mremap', addr);
    if (ol === 0 && (v.flags & VM_SHARED) === 0) fail(U.EINVAL, 'mremap', addr);
    if (ol > v.end - addr) fail(U.EFAULT, 'mremap', addr);
    if (nl > ol && (v.flags & (VM_SPECIAL | VM_PFNMAP)) !== 0) fail(U.EFAULT, 'mremap', addr);
    return v;
  }

  private mremapTo(
    addr: number,
    ol: number,
    nl: number,
    fixed: number | undefined,
    dontUnmap: boolean,
    relocate: boolean,
  ): number {
    // 6.18 validates the source (for the length that will move) before anything is unmapped.
    // 6.12's do_mremap() only looks the source VMA up (EFAULT), then mremap_to() unmaps the
    // destination (FIXED) and the source's excess and checks the source range after that
    // (vma_to_resize): a range spanning VMAs is refused with them unmapped anyway.
    const checkFirst = !before617(this.profile);
    if (checkFirst) {
      this.vmaToResize(addr, Math.min(ol, nl), nl);
    } else {
      if (this.vmas.find(addr) === undefined) fail(U.EFAULT, 'mremap', addr);
      if (fixed !== undefined) this.unmapRange(fixed, fixed + nl);
    }
    if (ol > nl) {
      this.unmapRange(addr + nl, addr + ol);
      ol = nl;
    }
    if (!checkFirst) this.vmaToResize(addr, ol, nl);
    if (dontUnmap && (this.vmas.find(addr)!.flags & VM_SPECIAL) !== 0) {
      fail(U.EINVAL, 'mremap', addr);
    }
    let to: number;
    if (fixed !== undefined) {
      to = fixed;
      if (checkFirst) this.unmapRange(fixed, fixed + nl); // 6.12 did it above
    } else {
      to = this.findGap(nl, this.pageSize);
    }
    return this.moveVma(this.vmas.find(addr)!, addr, ol, nl, to, dontUnmap, relocate);
  }

  /** move_vma(): copy_vma at the destination (merging), move the page tables, unmap the old. */
  private moveVma(
    v: Vma,
    from: number,
    ol: number,
    nl: number,
    to: number,
    dontUnmap: boolean,
    relocate: boolean,
  ): number {
    const ps = this.pageSize;
    const ctx = v.uffd;
    const keepUffd = ctx !== null && ctx.has(U.F_EVENT_REMAP);
    let pgoff = v.pgoff + (from - v.start) / ps;
    let anonVma = v.anonVma;
    let relocated = false;
    // copy_vma() gives a never-faulted anon VMA the pgoff of its new address, so it merges
    // there as if mapped there. Not on 6.1 with DONTUNMAP: measured in the arm64 6.1 guest, the
    // new VMA then merges with neither neighbour (a page of a PROT_NONE reservation moved
    // within it, an rw page next to its own mapping); 6.12 merges both.
    const sixOneDontUnmap = dontUnmap && this.profile === '6.1';
    if (v.anonymous && v.anonVma === 0 && !sixOneDontUnmap) pgoff = to / ps;
    else if (relocate && v.anonymous && this.canRelocate(from, from + ol)) {
      // MREMAP_RELOCATE_ANON: folios get the new index and anon_vma, so the moved VMA merges
      // as if it had been mapped there (seeds/2025-mremap-relocate-anon.txt).
      pgoff = to / ps;
      anonVma = 0;
      relocated = true;
    }
    const nv = new Vma(to, to + nl, v.flags, pgoff, v.file, anonVma, v.uffd);
    this.splitHugeAt(from);
    this.splitHugeAt(from + ol);
    const merged = v.file === 0 ? this.vmas.insertMerged(nv) : (this.vmas.insert(nv), nv);
    if (relocated && merged.anonVma === 0) merged.anonVma = this.machine.nextAnonVma++;
    this.movePageTables(from, to, ol, ctx !== null && !keepUffd);
    if (!keepUffd && ctx !== null) {
      // mremap_userfaultfd_prep() without EVENT_REMAP resets the ctx of the VMA copy_vma()
      // returned, in place and whole (userfaultfd_reset_ctx: no split). copy_vma() merged with
      // the same-ctx neighbours first, so a registered neighbour the moved range merged into is
      // unregistered along with it. Measured on 6.18: [16,18) registered, page 17 moved to 15
      // next to it: the result is one VMA [15,17) with no registration.
      merged.flags &= ~VM_UFFD_FLAGS;
      merged.uffd = null;
    }
    if (dontUnmap) {
      // The old VMA stays (empty); VM_LOCKED is always cleared on it; its anon_vma is dropped
      // when the whole VMA moved.
      const old = this.vmas.find(from);
      if (old !== undefined) {
        old.flags &= ~VM_LOCKED_MASK;
        if (old.start === from && old.end === from + ol) old.anonVma = 0;
      }
    } else {
      this.unmapRange(from, from + ol);
    }
    if (keepUffd) this.remapEvent = { ctx, msg: eventMsg(U.UFFD_EVENT_REMAP, from, to, ol) };
    if ((merged.flags & VM_LOCKED) !== 0 && nl > ol) this.populate(to + ol, to + nl, true);
    return to;
  }

  private canRelocate(s: number, e: number): boolean {
    for (let a = s; a < e; a += this.pageSize) {
      const vpn = this.vpn(a);
      const p = this.pmdOf(vpn);
      if (p === undefined) continue;
      if (p.kind !== PMD_TABLE) return false;
      const id = p.ptes[vpn % this.pt.ptrs]!;
      if (id <= 0) continue;
      const f = this.pages.flags[id]!;
      if (this.pages.isLarge(id) || (f & (P_PINNED | P_KSM)) !== 0 || (f & P_EXCL) === 0) {
        return false;
      }
    }
    return true;
  }

  /** move_page_tables(): whole aligned tables move; otherwise ptes move one by one. */
  private movePageTables(from: number, to: number, len: number, clearWp: boolean): void {
    const ps = this.pageSize;
    const ptrs = this.pt.ptrs;
    let off = 0;
    while (off < len) {
      const s = from + off;
      const d = to + off;
      const spi = Math.floor(s / this.pmdSize);
      const dpi = Math.floor(d / this.pmdSize);
      const sp = this.pt.pmd(spi);
      const wholeBlock =
        s % this.pmdSize === 0 && d % this.pmdSize === 0 && len - off >= this.pmdSize;
      if (wholeBlock && sp !== undefined && this.pt.pmd(dpi) === undefined) {
        if (sp.kind !== PMD_TABLE || !clearWp) {
          this.pt.freeTable(spi);
          this.pt.pmds.set(dpi, sp);
          this.pt.allocPmdTable(dpi);
          off += this.pmdSize;
          continue;
        }
      }
      if (sp === undefined) {
        const next = (spi + 1) * this.pmdSize;
        off += Math.min(next - s, len - off);
        continue;
      }
      if (sp.kind !== PMD_TABLE) this.splitPmd(spi);
      const si = (s / ps) % ptrs;
      const v = sp.ptes[si]!;
      if (v !== PTE_NONE) {
        const dp = this.pt.allocTable(dpi);
        const di = (d / ps) % ptrs;
        let b = sp.bits[si]!;
        if (clearWp && v === PTE_WPMARK) {
          sp.ptes[si] = PTE_NONE;
        } else {
          if (clearWp) b &= ~B_WP;
          dp.ptes[di] = v;
          dp.bits[di] = b;
          sp.ptes[si] = PTE_NONE;
          sp.bits[si] = 0;
        }
      }
      off += ps;
    }
  }

  async fork(): Promise<ForkedChild & { space: SimulatedSpace }> {
    const child = new SimulatedSpace({}, this.machine);
    const waits: Promise<void>[] = [];
    const childCtxs = new Map<SimCtx, SimCtx>();
    for (const v of this.vmas.list) {
      if ((v.flags & VM_DONTCOPY) !== 0) continue;
      const cv = v.clone();
      if (v.anonVma !== 0) cv.anonVma = this.machine.nextAnonVma++;
      if (v.uffd !== null) {
        if (v.uffd.has(U.F_EVENT_FORK)) {
          let c = childCtxs.get(v.uffd);
          if (c === undefined) {
            c = new SimCtx(child, U.O_NONBLOCK | (v.uffd.userModeOnly ? U.UFFD_USER_MODE_ONLY : 0));
            c.features = v.uffd.features;
            c.initialized = true;
            c.refs = 0;
            childCtxs.set(v.uffd, c);
          }
          cv.uffd = c;
        } else {
          cv.uffd = null;
          cv.flags &= ~VM_UFFD_FLAGS;
        }
      }
      child.vmas.list.push(cv);
      if (v.anonVma !== 0 || v.uffd?.has(U.F_EVENT_FORK)) this.copyPageRange(child, v, cv);
    }
    child.sys.inherit(this.sys);
    this.children.add(child);
    for (const [octx, cctx] of childCtxs) {
      waits.push(this.block(octx, (reader) => eventMsg(U.UFFD_EVENT_FORK, reader.install(cctx))));
    }
    await Promise.all(waits);
    const kill = async (): Promise<void> => {
      child.exit();
      this.children.delete(child);
    };
    return { pid: child.pid, kill, space: child };
  }

  /** copy_page_range() of one VMA into the child. */
  private copyPageRange(child: SimulatedSpace, v: Vma, cv: Vma): void {
    const ptrs = this.pt.ptrs;
    const pg = this.pages;
    const childWp = (cv.flags & VM_UFFD_WP) !== 0;
    for (let pi = Math.floor(v.start / this.pmdSize); pi * this.pmdSize < v.end; pi++) {
      let p = this.pt.pmd(pi);
      if (p === undefined) continue;
      if (p.kind === PMD_THP) {
        let pinned = false;
        for (let i = 0; i < ptrs; i++) if ((pg.flags[p.head + i]! & P_PINNED) !== 0) pinned = true;
        if (pinned) {
          this.splitPmd(pi);
          p = this.pt.pmd(pi)!;
        } else {
          for (let i = 0; i < ptrs; i++) {
            pg.flags[p.head + i]! &= ~P_EXCL;
            pg.mapcount[p.head + i]!++;
          }
          const cp = child.pt.allocTable(pi);
          cp.kind = PMD_THP;
          cp.head = p.head;
          continue;
        }
      }
      if (p.kind === PMD_HUGE_ZERO) {
        child.pt.allocTable(pi).kind = PMD_HUGE_ZERO;
        continue;
      }
      const s = Math.max(v.start, pi * this.pmdSize);
      const e = Math.min(v.end, (pi + 1) * this.pmdSize);
      let cp: Pmd | undefined;
      for (let a = s; a < e; a += this.pageSize) {
        const i = (a / this.pageSize) % ptrs;
        const pte = p.ptes[i]!;
        if (pte === PTE_NONE) continue;
        cp ??= child.pt.allocTable(pi);
        let cpte = pte;
        let cbits = 0;
        if (pte > 0) {
          const f = pg.flags[pte]!;
          if ((f & P_SHMEM) !== 0) {
            pg.mapcount[pte]!++;
          } else if ((f & P_EXCL) !== 0 && (f & P_PINNED) !== 0) {
            // A maybe-pinned exclusive page is copied for the child, the parent keeps it.
            cpte = pg.copyOf(pte);
            pg.mapcount[cpte] = 1;
          } else {
            pg.flags[pte] = f & ~P_EXCL;
            pg.mapcount[pte]!++;
          }
        } else if (isSwap(pte)) {
          this.machine.swap.ref(swapSlot(pte));
          p.bits[i]! &= ~B_SWP_EXCL;
        } else if (pte === PTE_WPMARK) {
          if (!childWp) continue;
          cbits = B_WP;
        }
        cp.ptes[i] = cpte;
        cp.bits[i] = cbits | (childWp ? p.bits[i]! & B_WP : 0);
      }
    }
  }

  /** The process exits: every mapping goes away, its fds are closed (mm_users drops to 0). */
  exit(): void {
    if (!this.alive) return;
    for (const c of [...this.children]) c.exit();
    this.sys.closeAll();
    const files = new Set<number>();
    for (const v of [...this.vmas.list]) {
      this.zapRange(v.start, v.end, false);
      if (v.file !== 0) files.add(v.file);
    }
    this.vmas.list.length = 0;
    for (const f of files) this.dropFileRef(f);
    this.pt.pmds.clear();
    this.pt.pmdTables.clear();
    this.alive = false;
    this.machine.spaces.delete(this);
  }

  userfaultfd(options?: OpenOptions): Userfaultfd {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { openOnSpace } = require('./open') as typeof import('./open');
    return openOnSpace(this, options);
  }

  vmaCount(start?: number, len?: number): number {
    const r = vmaCountArgs(start, len);
    if (r === undefined) return this.vmas.length;
    return this.vmas.range(r[0], r[0] + r[1]).length;
  }

  vmaInfo(start: number, len: number): VmaInfo[] {
    [start, len] = rangeArgs(start, len, 'start');
    return this.vmas.range(start, start + len).map((v) => ({
      start: v.start,
      end: v.end,
      perms:
        ((v.flags & VM_READ) !== 0 ? 'r' : '-') +
        ((v.flags & VM_WRITE) !== 0 ? 'w' : '-') +
        ((v.flags & VM_EXEC) !== 0 ? 'x' : '-') +
        ((v.flags & VM_SHARED) !== 0 ? 's' : 'p'),
      locked: (v.flags & VM_LOCKED) !== 0,
      uffd: {
        missing: (v.flags & VM_UFFD_MISSING) !== 0,
        wp: (v.flags & VM_UFFD_WP) !== 0,
        minor: (v.flags & VM_UFFD_MINOR) !== 0,
      },
    }));
  }

  pageInfo(addr: number, len: number): PageInfo[] {
    [addr, len] = pageInfoArgs(addr, len, this.pageSize);
    const out: PageInfo[] = [];
    const ps = this.pageSize;
    for (let a = Math.floor(addr / ps) * ps; a < addr + len; a += ps) {
      const info: PageInfo = {
        present: false,
        swapped: false,
        exclusive: false,
        uffdWp: false,
        file: false,
        zero: false,
        thp: false,
      };
      out.push(info);
      const v = this.vmas.find(a);
      if (v === undefined) continue;
      const vpn = a / ps;
      const p = this.pmdOf(vpn);
      if (p === undefined) continue;
      if (p.kind === PMD_HUGE_ZERO) {
        Object.assign(info, { present: true, zero: true, thp: true, file: true, uffdWp: p.wp });
        continue;
      }
      let pte: number;
      let bits = 0;
      if (p.kind === PMD_THP) {
        pte = p.head + (vpn % this.pt.ptrs);
        info.uffdWp = p.wp;
      } else {
        pte = p.ptes[vpn % this.pt.ptrs]!;
        bits = p.bits[vpn % this.pt.ptrs]!;
      }
      if (pte === PTE_NONE) continue;
      if (pte === PTE_ZERO) {
        Object.assign(info, { present: true, zero: true, uffdWp: (bits & B_WP) !== 0 });
      } else if (pte === PTE_POISON || pte === PTE_WPMARK || isSwap(pte)) {
        info.swapped = true;
        info.uffdWp = pte === PTE_WPMARK || (bits & B_WP) !== 0;
      } else {
        info.present = true;
        info.uffdWp ||= (bits & B_WP) !== 0;
        info.exclusive = this.pages.mapcount[pte] === 1;
        info.file = (this.pages.flags[pte]! & P_SHMEM) !== 0;
        info.thp = this.pages.isLarge(pte);
      }
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // used by the ioctls (ops.ts)

  /** The bytes of the page at addr as mapped now (undefined: zeros or not mapped). */
  peek(addr: number): Uint8Array | undefined {
    return this.pageBytes(addr);
  }

  /**
   * vma_modify_flags_uffd(): new flags and ctx on [a, b) of v, merging or splitting. 6.1's
   * userfaultfd_register/unregister passed vma->vm_pgoff to vma_merge() (VmaList.modify's
   * stalePgoff).
   */
  modifyVma(v: Vma, a: number, b: number, flags: number, uffd: SimCtx | null): Vma {
    if (flags === v.flags && uffd === v.uffd) return v;
    if (a !== v.start) this.splitHugeAt(a);
    if (b !== v.end) this.splitHugeAt(b);
    return this.vmas.modify(v, a, b, { flags, uffd }, this.profile === '6.1');
  }

  /**
   * uffd_wp_range(): sets or clears uffd-wp on [a, b): present, zero and swap ptes get the bit;
   * none ptes get a marker when `markers` (WP_UNPOPULATED, shmem); unprotecting drops markers.
   */
  uffdWpRange(a: number, b: number, enable: boolean, markers: boolean): void {
    const ps = this.pageSize;
    const ptrs = this.pt.ptrs;
    for (let pi = Math.floor(a / this.pmdSize); pi * this.pmdSize < b; pi++) {
      const bs = pi * this.pmdSize;
      const s = Math.max(a, bs);
      const e = Math.min(b, bs + this.pmdSize);
      let p = this.pt.pmd(pi);
      if (p === undefined) {
        if (!enable || !markers) continue;
        p = this.pt.allocTable(pi);
      }
      if (p.kind !== PMD_TABLE) {
        if (s === bs && e === bs + this.pmdSize) {
          p.wp = enable;
          continue;
        }
        this.splitPmd(pi);
      }
      for (let x = s; x < e; x += ps) {
        const i = (x / ps) % ptrs;
        const v = p.ptes[i]!;
        if (v === PTE_NONE) {
          if (enable && markers) p.ptes[i] = PTE_WPMARK;
        } else if (v === PTE_WPMARK) {
          if (!enable) p.ptes[i] = PTE_NONE;
        } else if (v !== PTE_POISON) {
          p.bits[i] = enable ? p.bits[i]! | B_WP : p.bits[i]! & ~B_WP;
        }
      }
    }
  }

  /** A MAP_HUGETLB mapping (huge page = PMD size): for the hugetlb rows (X8–X13). */
  mmapHugetlb(len: number): number {
    len = toU53(len, 'len');
    if (len === 0 || len % this.pmdSize !== 0) fail(U.EINVAL, 'mmap');
    const addr = this.findGap(len, this.pmdSize);
    const flags = VM_READ | VM_WRITE | VM_MAYWRITE | VM_HUGETLB | VM_DONTEXPAND;
    this.vmas.insert(new Vma(addr, addr + len, flags, addr / this.pageSize, 0, 0, null));
    return addr;
  }

  // ---------------------------------------------------------------------------------------
  // simulation-only controls (what the kernel side needs root, a VM or io_uring for)

  /** Pins the pages (a long-term GUP pin, like io_uring registered buffers; X3). */
  pin(addr: number, len: number): void {
    this.forEachPage(addr, len, (id) => {
      this.pages.flags[id]! |= P_PINNED;
    });
  }

  unpin(addr: number, len: number): void {
    this.forEachPage(addr, len, (id) => {
      this.pages.flags[id]! &= ~P_PINNED;
    });
  }

  /** KSM merges the pages of the range that have identical contents (X5). */
  ksmMerge(addr: number, len: number): void {
    const byContent = new Map<string, number>();
    for (const a of this.mappedPages(addr, len)) {
      const vpn = this.vpn(a);
      const pi = Math.floor(vpn / this.pt.ptrs);
      const p0 = this.pt.pmd(pi);
      if (p0 === undefined) continue;
      if (p0.kind === PMD_THP) this.splitPmd(pi);
      const p = this.pt.pmd(pi)!;
      const i = vpn % this.pt.ptrs;
      const id = p.ptes[i]!;
      if (id <= 0 || (this.pages.flags[id]! & P_PINNED) !== 0) continue;
      if (this.pages.isLarge(id)) this.pages.splitFolio(id);
      const d = this.pages.data[id];
      const key = d === undefined ? '' : Buffer.from(d).toString('base64');
      const k = byContent.get(key);
      if (k === undefined) {
        byContent.set(key, id);
        this.pages.flags[id] = P_KSM;
      } else if (k !== id) {
        this.pages.unmapOne(id);
        this.pages.mapcount[k]!++;
        p.ptes[i] = k;
      }
    }
  }

  private forEachPage(addr: number, len: number, fn: (id: number) => void): void {
    for (const a of this.mappedPages(addr, len)) {
      const id = this.pageId(a);
      if (id > 0) fn(id);
    }
  }

  /**
   * The page addresses of [addr, addr+len) that lie in a VMA (only those can map a page). The
   * arguments are checked: pin('x', 5) used to loop forever on string concatenation, and a
   * huge length visited every page of the range.
   */
  private *mappedPages(addr: number, len: number): Generator<number> {
    [addr, len] = rangeArgs(addr, len);
    const ps = this.pageSize;
    for (const v of this.vmas.range(addr, addr + len)) {
      const end = Math.min(v.end, addr + len);
      for (let a = Math.max(v.start, Math.floor(addr / ps) * ps); a < end; a += ps) yield a;
    }
  }

  /** The page tables of the PMD block containing addr exist (not pmd none). */
  hasPteTable(addr: number): boolean {
    return this.pt.pmd(Math.floor(addr / this.pmdSize)) !== undefined;
  }
}
