/**
 * UFFDIO_MOVE emulated on real memory, for kernels without UFFD_FEATURE_MOVE (< 6.8, e.g. 6.1):
 * the kernel's validation first (spec §2.1–§2.4, VMAs from /proc/self/smaps, page state from
 * /proc/self/pagemap and, as root, /proc/kpageflags), then UFFDIO_COPY of the movable prefix and
 * MADV_DONTNEED of its source, with the kernel's errors, result field and partial-progress
 * encoding. Selected by `Userfaultfd.open({ moveEmulation })`.
 *
 * Where it differs from the real MOVE (userspace cannot see everything the kernel checks):
 * - Not atomic: a thread touching src between the COPY and the DONTNEED sees the old data, and
 *   its writes in that window are lost. Serialise access to src yourself.
 * - Exclusivity is read from pagemap bit 56 (mapped once), not PageAnonExclusive: after a fork
 *   child exited, a page the parent never wrote is movable here (the kernel says EBUSY until
 *   the parent writes, C40) — the copy is safe, it is just more permissive. Pinned pages (X3)
 *   cannot be detected and are copied. Swap entries are swapped in by the COPY, not moved.
 * - Whether src's pte table exists (the 2 MiB ENOENT quirk, X21/X25b) is guessed: "no page in
 *   the src PMD block is populated" counts as no table.
 * - The data is copied: dst gets new pages (never a THP; the zero page only as root, where
 *   /proc/kpageflags shows it); src THPs are split by the DONTNEED; MADV_DONTNEED of a whole
 *   PMD block frees its pte table (CONFIG_PT_RECLAIM), which a real MOVE does not.
 * - A src range registered with a uffd that has EVENT_REMOVE would block the DONTNEED until the
 *   event is read; when this uffd has eventRemove and src is registered, the emulation answers
 *   EBUSY instead of deadlocking the thread.
 * - The cross-mm check (C54) and the dead-mm case (C56) are not detectable: the COPY's own
 *   errors (ESRCH) surface instead.
 */
import { native } from '../binding';
import type { Addr, RawUffd, Readiness } from '../raw';
import { type MapsEntry, decodePage, isAnonymous, readPagemap, readSmaps } from './procfs';
import * as U from './uapi';

const MADV_DONTNEED = 4;
const MADV_DONTNEED_LOCKED = 24;

/** x86-64 with 4-level paging: 0x7ffffffff000; arm64 (48-bit VA): 2^48. */
function taskSize(): number {
  return process.arch === 'x64' ? 0x7ffffffff000 : 2 ** 48;
}

function validRange(start: number, len: number, ps: number): boolean {
  const t = taskSize();
  return start % ps === 0 && len % ps === 0 && len !== 0 && start < t && len <= t - start;
}

/** A page's movability as far as userspace can tell. */
const enum Kind {
  None,
  Data,
  Zero,
  Swap,
  Marker,
  Busy,
}

export class EmulatedMoveUffd implements RawUffd {
  readonly backend: 'kernel' | 'simulated';
  readonly fd: number;
  readonly moveEmulated = true;
  private field = NaN;
  private batchErrno = 0;
  private readonly eventRemove: boolean;

  constructor(
    private readonly inner: RawUffd,
    features: bigint,
  ) {
    this.backend = inner.backend;
    this.fd = inner.fd;
    this.eventRemove = (features & BigInt(U.F_EVENT_REMOVE)) !== 0n;
  }

  lastField(): number {
    return this.field;
  }
  lastBatchErrno(): number {
    return this.batchErrno;
  }
  private pass(ret: number): number {
    this.field = this.inner.lastField();
    return ret;
  }
  register(start: Addr, len: Addr, mode: Addr): number {
    return this.inner.register(start, len, mode);
  }
  unregister(start: Addr, len: Addr): number {
    return this.inner.unregister(start, len);
  }
  wake(start: Addr, len: Addr): number {
    return this.inner.wake(start, len);
  }
  copy(dst: Addr, src: Addr | ArrayBufferView, len: Addr, mode: Addr): number {
    return this.pass(this.inner.copy(dst, src, len, mode));
  }
  zeropage(start: Addr, len: Addr, mode: Addr): number {
    return this.pass(this.inner.zeropage(start, len, mode));
  }
  continue(start: Addr, len: Addr, mode: Addr): number {
    return this.pass(this.inner.continue(start, len, mode));
  }
  poison(start: Addr, len: Addr, mode: Addr): number {
    return this.pass(this.inner.poison(start, len, mode));
  }
  writeprotect(start: Addr, len: Addr, mode: Addr): number {
    return this.inner.writeprotect(start, len, mode);
  }
  copyBatch(entries: Float64Array, mode: Addr): number {
    const n = this.inner.copyBatch(entries, mode);
    this.field = this.inner.lastField();
    this.batchErrno = this.inner.lastBatchErrno();
    return n;
  }
  moveBatch(entries: Float64Array, mode: Addr): number {
    const n = entries.length / 3;
    for (let i = 0; i < n; i++) {
      const ret = this.move(entries[3 * i]!, entries[3 * i + 1]!, entries[3 * i + 2]!, mode);
      if (ret !== 0) {
        this.batchErrno = ret;
        return i;
      }
    }
    this.field = NaN;
    this.batchErrno = 0;
    return n;
  }
  readMsgs(buffer: Uint8Array): number {
    return this.inner.readMsgs(buffer);
  }
  readiness(onReadable: (status: number, events: number) => void): Readiness {
    return this.inner.readiness(onReadable);
  }
  forkChild = undefined;
  close(): number {
    return this.inner.close();
  }

  private result(ret: number, field: number): number {
    this.field = field;
    return ret;
  }

  move(dstA: Addr, srcA: Addr, lenA: Addr, modeA: Addr): number {
    const ps = native().pageSize();
    // mmap_changing comes before every argument check (D4): a zero-length COPY asks the
    // kernel (-EAGAIN with field -EAGAIN when an event is unread, else EINVAL untouched).
    if (this.inner.copy(0, 0, 0, 0) === -U.EAGAIN) return this.result(-U.EAGAIN, -U.EAGAIN);
    if (typeof dstA === 'bigint' || typeof srcA === 'bigint' || typeof lenA === 'bigint') {
      const big = [dstA, srcA, lenA].some((x) => BigInt(x) > BigInt(Number.MAX_SAFE_INTEGER));
      if (big) return this.result(-U.EINVAL, NaN);
    }
    const dst = Number(dstA);
    const src = Number(srcA);
    const len = Number(lenA);
    const mode = Number(modeA);
    if (!validRange(dst, len, ps) || !validRange(src, len, ps)) return this.result(-U.EINVAL, NaN);
    if (mode & ~(U.UFFDIO_MOVE_MODE_DONTWAKE | U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES)) {
      return this.result(-U.EINVAL, NaN);
    }
    const holes = (mode & U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES) !== 0;
    const r = this.movePages(dst, src, len, holes, ps);
    if (r < 0) return this.result(r, r);
    if ((mode & U.UFFDIO_MOVE_MODE_DONTWAKE) === 0) this.inner.wake(dst, r);
    return this.result(r === len ? 0 : -U.EAGAIN, r);
  }

  /** move_pages() as seen from userspace: validation, then the copy of the movable prefix. */
  private movePages(dst: number, src: number, len: number, holes: boolean, ps: number): number {
    const vmas = readSmaps();
    const find = (a: number): MapsEntry | undefined => vmas.find((v) => v.start <= a && a < v.end);
    const dv = find(dst);
    if (dv === undefined) return -U.ENOENT;
    const sv = find(src);
    if (sv === undefined) return -U.ENOENT;
    const df = dv.vmFlags ?? new Set<string>();
    const sf = sv.vmFlags ?? new Set<string>();
    if (sv.shared || src + len > sv.end || dv.shared || dst + len > dv.end) return -U.EINVAL;
    if (sv.read !== dv.read || sv.write !== dv.write || sv.exec !== dv.exec) return -U.EINVAL;
    if (sf.has('lo') !== df.has('lo')) return -U.EINVAL;
    if (!sv.write) return -U.EINVAL;
    const special = ['pf', 'io', 'ht', 'mm', 'ss'];
    if (special.some((f) => sf.has(f) || df.has(f))) return -U.EINVAL;
    // dst must be registered with this uffd: re-registering with the modes it already has is
    // a no-op for this uffd and EBUSY for another (spec §3.2 step 9).
    let regMode = 0;
    if (df.has('um')) regMode |= U.UFFDIO_REGISTER_MODE_MISSING;
    if (df.has('uw')) regMode |= U.UFFDIO_REGISTER_MODE_WP;
    if (df.has('ui')) regMode |= U.UFFDIO_REGISTER_MODE_MINOR;
    if (regMode === 0 || this.inner.register(dst, len, regMode) < 0) return -U.EINVAL;
    if (!isAnonymous(sv) || !isAnonymous(dv)) return -U.EINVAL;
    const srcRegistered = sf.has('um') || sf.has('uw') || sf.has('ui');
    if (srcRegistered && this.eventRemove) return -U.EBUSY;
    // A KSM page can only be in a VM_MERGEABLE VMA (MADV_MERGEABLE or PR_SET_MEMORY_MERGE: 'mg';
    // MADV_UNMERGEABLE breaks its KSM pages). KPF_KSM alone is not enough: Debian's 6.12 arm64
    // reports it for every anonymous page once KSM has merged anything on the machine, and the
    // arm64 16K guest's emulated MOVE said EBUSY for every page after the KSM probe row (X5).
    const srcMergeable = sf.has('mg');

    // Per page, in the kernel's order (spec §2.3/§2.4), until the first failure.
    const n = len / ps;
    const sPages = readPagemap(src / ps, n);
    const dPages = readPagemap(dst / ps, n);
    const pmdPages = ps / 8;
    const blockHasTable = new Map<number, boolean>();
    const srcTable = (vpn: number): boolean => {
      const b = Math.floor(vpn / pmdPages);
      let has = blockHasTable.get(b);
      if (has === undefined) {
        has = readPagemap(b * pmdPages, pmdPages).some((e) => e !== 0n);
        blockHasTable.set(b, has);
      }
      return has;
    };
    // The kernel moves page by page: with overlapping ranges, a dst page may be a src page
    // that has already moved away (C37). Track what the earlier pages changed.
    const after = new Map<number, boolean>(); // vpn -> populated now
    const overlap = src < dst + len && dst < src + len;
    const kinds: Kind[] = [];
    let err = 0;
    for (let i = 0; i < n; i++) {
      const svpn = src / ps + i;
      const dvpn = dst / ps + i;
      const d = decodePage(dPages[i]!);
      if (after.has(dvpn)) {
        d.present = after.get(dvpn)!;
        d.swapped = false;
        d.thp = false;
      }
      if (d.thp && d.present) {
        err = -U.EEXIST; // a dst THP is checked before src's pte table (X24)
        break;
      }
      if (!holes && (i === 0 || svpn % pmdPages === 0) && !srcTable(svpn)) {
        err = -U.ENOENT; // no src pte table: ENOENT before dst is examined (X21)
        break;
      }
      if (d.present || d.swapped) {
        err = -U.EEXIST;
        break;
      }
      const s = decodePage(sPages[i]!);
      if (after.has(svpn)) {
        s.present = after.get(svpn)!;
        s.swapped = s.marker = false;
        s.exclusive = true;
      }
      let k: Kind;
      if (s.present) {
        if (s.zero) k = Kind.Zero;
        else if ((s.ksm && srcMergeable) || !s.exclusive) k = Kind.Busy;
        else k = Kind.Data;
      } else if (s.marker) {
        k = Kind.Marker;
      } else if (s.swapped) {
        k = Kind.Swap;
      } else {
        k = Kind.None;
      }
      if (k === Kind.None && !holes) {
        err = -U.ENOENT;
        break;
      }
      if (k === Kind.Marker) {
        err = -U.EFAULT;
        break;
      }
      if (k === Kind.Busy) {
        err = -U.EBUSY;
        break;
      }
      kinds.push(k);
      if (overlap) {
        after.set(svpn, false);
        after.set(dvpn, k !== Kind.None);
      }
    }
    // Do the prefix in runs: COPY (or ZEROPAGE) into dst, then drop src.
    const b = native();
    const dontneed = sf.has('lo') ? MADV_DONTNEED_LOCKED : MADV_DONTNEED;
    let moved = 0;
    let i = 0;
    while (i < kinds.length) {
      const k = kinds[i]!;
      let j = i + 1;
      // Overlapping ranges go page by page (each COPY sees the previous DONTNEED).
      while (!overlap && j < kinds.length && kinds[j] === k) j++;
      const off = i * ps;
      const runLen = (j - i) * ps;
      if (k !== Kind.None) {
        const ret =
          k === Kind.Zero
            ? this.inner.zeropage(dst + off, runLen, U.UFFDIO_ZEROPAGE_MODE_DONTWAKE)
            : this.inner.copy(dst + off, src + off, runLen, U.UFFDIO_COPY_MODE_DONTWAKE);
        const f = this.inner.lastField();
        const done = ret === 0 ? runLen : f > 0 ? f : 0;
        if (done > 0) b.madvise(src + off, done, dontneed);
        moved += done;
        if (ret !== 0) return moved > 0 ? moved : ret;
      } else {
        moved += runLen;
      }
      i = j;
    }
    return moved > 0 ? moved : err;
  }
}
