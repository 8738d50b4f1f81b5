/**
 * `Mapping`: memory the user can register. Anonymous private or shared mappings, memfd-backed
 * shared mappings (for minor faults + CONTINUE), optional transparent-hugepage advice and 2 MiB
 * alignment. `mapping.buffer` views the memory.
 *
 * The threading rule: the JS thread must never touch a missing page of a registered range. It
 * would sleep in the kernel until someone resolves the fault, and that someone is the JS thread
 * itself. Touch registered memory from a Worker (`Mapping.attach`), a native thread (`touch`) or
 * another process. Views never outlive the memory: `unmap()` while views exist (here or in a
 * Worker) replaces the range with fresh zero pages and frees it when the last view is collected,
 * so a stale view reads zeros instead of crashing.
 */
import { native } from './binding';
import { k } from './constants';
import { closedError } from './errors';
import {
  type Advice,
  ADVICES,
  type Prot,
  PROTS,
  adviceValue,
  check,
  hugePageSize,
  protBits,
} from './mm';
import { checkOptions, describe, rangeError, toBool, toChoice, toU53, typeError } from './validate';

export interface AnonymousOptions {
  prot?: Prot;
  shared?: boolean;
  /** true: MADV_HUGEPAGE and align to the THP size; false: MADV_NOHUGEPAGE. */
  hugepage?: boolean;
  /** MADV_DONTFORK: a fork child gets no copy, so pages stay PageAnonExclusive (MOVE-able). */
  dontFork?: boolean;
  /** Align the start to this many bytes (a power of two, at least the page size). */
  align?: number;
  populate?: boolean;
}

export interface MemfdOptions {
  prot?: Prot;
  hugepage?: boolean;
  name?: string;
}

export class Mapping {
  readonly address: number;
  readonly length: number;
  readonly shared: boolean;
  /** The memfd behind a `Mapping.memfd` mapping, else -1. */
  readonly fd: number;
  /** False for `Mapping.attach` views of memory owned elsewhere. */
  readonly owner: boolean;
  private buf: ArrayBuffer | undefined;
  private unmapped = false;
  private readonly aliases: Mapping[] = [];

  private constructor(
    address: number,
    length: number,
    shared: boolean,
    fd: number,
    owner: boolean,
  ) {
    this.address = address;
    this.length = length;
    this.shared = shared;
    this.fd = fd;
    this.owner = owner;
  }

  /**
   * An anonymous mapping (private by default; `shared` gives shmem). A private mapping gets a
   * PROT_NONE guard page on each side, unmapped with it, so it never shares a VMA with a
   * neighbour (whose huge pages could otherwise fill it before it is registered: mapAligned).
   */
  static anonymous(length: number, options?: AnonymousOptions): Mapping {
    const o = checkOptions<AnonymousOptions>(options, 'options', [
      'prot',
      'shared',
      'hugepage',
      'dontFork',
      'align',
      'populate',
    ]);
    const len = toU53(length, 'length');
    const prot = protBits(toChoice(o.prot ?? 'rw', 'prot', PROTS));
    const shared = toBool(o.shared, 'shared');
    let flags = (shared ? k('MAP_SHARED') : k('MAP_PRIVATE')) | k('MAP_ANONYMOUS');
    if (toBool(o.populate, 'populate')) flags |= k('MAP_POPULATE');
    let align = o.align === undefined ? 0 : toU53(o.align, 'align');
    if (o.hugepage === true && align === 0) align = hugePageSize();
    if (align !== 0 && (align & (align - 1)) !== 0)
      throw rangeError('align must be a power of two');
    const address = mapAligned(len, prot, flags, -1, align, !shared);
    const m = new Mapping(address, len, shared, -1, true);
    // the guard pages (private only) are unmapped with the region, whoever unmaps it
    native().regionAdd(address, len, shared ? 0 : native().pageSize());
    try {
      if (o.hugepage !== undefined)
        m.madvise(toBool(o.hugepage, 'hugepage') ? 'hugepage' : 'nohugepage');
      if (toBool(o.dontFork, 'dontFork')) m.madvise('dontfork');
    } catch (e) {
      m.unmap();
      throw e;
    }
    return m;
  }

  /**
   * A shared mapping of a new memfd of `length` bytes: shmem, so it can be registered for minor
   * faults and resolved with CONTINUE after the page cache is filled through `alias()`.
   */
  static memfd(length: number, options?: MemfdOptions): Mapping {
    const o = checkOptions<MemfdOptions>(options, 'options', ['prot', 'hugepage', 'name']);
    const len = toU53(length, 'length');
    const prot = protBits(toChoice(o.prot ?? 'rw', 'prot', PROTS));
    if (o.name !== undefined && typeof o.name !== 'string') {
      throw typeError(`The "name" option must be a string. Received ${describe(o.name)}`);
    }
    const b = native();
    const fd = check(b.memfdCreate(o.name ?? 'userfaultfd', k('MFD_CLOEXEC')), 'memfd_create');
    try {
      check(b.ftruncate(fd, len), 'ftruncate');
      const address = mapAligned(len, prot, k('MAP_SHARED'), fd, 0, false);
      b.regionAdd(address, len);
      const m = new Mapping(address, len, true, fd, true);
      if (o.hugepage !== undefined)
        m.madvise(toBool(o.hugepage, 'hugepage') ? 'hugepage' : 'nohugepage');
      return m;
    } catch (e) {
      b.close(fd);
      throw e;
    }
  }

  /**
   * A view of memory mapped by another `Mapping` in this process (typically from a Worker, given
   * the address and length by postMessage). The memory stays mapped while any view exists.
   * @throws {RangeError} if no Mapping contains the range
   */
  static attach(address: number, length: number): Mapping {
    const a = toU53(address, 'address');
    const l = toU53(length, 'length');
    const b = native();
    const buf = l === 0 ? null : b.regionView(a, l);
    if (buf === null) {
      throw rangeError(`[0x${a.toString(16)}, +${l}) is not inside a live Mapping of this process`);
    }
    const m = new Mapping(a, l, false, -1, false);
    m.buf = buf;
    return m;
  }

  /** Another shared mapping of the same memfd (unregistered: fill the page cache through it). */
  alias(options?: { prot?: Prot }): Mapping {
    const o = checkOptions<{ prot: Prot }>(options, 'options', ['prot']);
    if (this.fd < 0) throw typeError('alias() needs a Mapping.memfd mapping', 'ERR_INVALID_THIS');
    this.live();
    const prot = protBits(toChoice(o.prot ?? 'rw', 'prot', PROTS));
    const address = check(native().mmap(0, this.length, prot, k('MAP_SHARED'), this.fd, 0), 'mmap');
    native().regionAdd(address, this.length);
    const m = new Mapping(address, this.length, true, -1, true);
    this.aliases.push(m);
    return m;
  }

  /** An ArrayBuffer over the whole mapping (never touch missing registered pages from JS). */
  get buffer(): ArrayBuffer {
    this.live();
    if (this.buf === undefined) {
      const v = native().regionView(this.address, this.length);
      if (v === null) throw closedError('mapping');
      this.buf = v;
    }
    return this.buf;
  }

  get closed(): boolean {
    return this.unmapped;
  }

  private live(): void {
    if (this.unmapped) throw closedError('mapping');
  }

  private range(offset: number | undefined, length: number | undefined): [number, number] {
    const off = offset === undefined ? 0 : toU53(offset, 'offset');
    const len = length === undefined ? Math.max(this.length - off, 0) : toU53(length, 'length');
    if (off + len > this.length) {
      throw rangeError(`[offset ${off}, +${len}) is outside the mapping (${this.length} bytes)`);
    }
    return [this.address + off, len];
  }

  /**
   * madvise(2) over the mapping or [offset, offset+length). With UFFD_FEATURE_EVENT_REMOVE
   * enabled, 'dontneed'/'remove' on a registered range block until the REMOVE event is read:
   * never call them on the thread that reads the events.
   */
  madvise(advice: Advice, offset?: number, length?: number): void {
    this.live();
    const [a, l] = this.range(offset, length);
    check(native().madvise(a, l, adviceValue(toChoice(advice, 'advice', ADVICES))), 'madvise', a);
  }

  /** mprotect(2). */
  protect(prot: Prot, offset?: number, length?: number): void {
    this.live();
    const [a, l] = this.range(offset, length);
    check(native().mprotect(a, l, protBits(toChoice(prot, 'prot', PROTS))), 'mprotect', a);
  }

  /** mlock(2), or mlock2(MLOCK_ONFAULT) with `onFault`. */
  lock(options?: { onFault?: boolean }, offset?: number, length?: number): void {
    const o = checkOptions<{ onFault: boolean }>(options, 'options', ['onFault']);
    this.live();
    const [a, l] = this.range(offset, length);
    const onFault = toBool(o.onFault, 'onFault');
    check(native().mlock(a, l, onFault ? k('MLOCK_ONFAULT') : 0), onFault ? 'mlock2' : 'mlock', a);
  }

  /** munlock(2). */
  unlock(offset?: number, length?: number): void {
    this.live();
    const [a, l] = this.range(offset, length);
    check(native().munlock(a, l), 'munlock', a);
  }

  /**
   * Unmaps the memory. Idempotent. This object's views become zero-length (detached); views in
   * other threads read zeros until they are collected. For an attached view, only drops it.
   */
  unmap(): void {
    if (this.unmapped) return;
    this.unmapped = true;
    const b = native();
    if (this.buf !== undefined) b.detach(this.buf);
    this.buf = undefined;
    if (!this.owner) return;
    for (const a of this.aliases) a.unmap();
    check(b.regionUnmap(this.address), 'munmap', this.address);
    if (this.fd >= 0) b.close(this.fd);
  }

  [Symbol.for('nodejs.dispose')](): void {
    this.unmap();
  }
}

/**
 * mmap with the start aligned to `align` (0: no constraint), and with `guard`, one PROT_NONE
 * page left mapped on each side. The over-allocation is only reserved (PROT_NONE,
 * MAP_NORESERVE): the real mapping is then made with MAP_FIXED over [start, start+len) alone.
 * Mapping len + align with the caller's flags populated (MAP_POPULATE) and accounted the whole
 * over-allocation: `align: 2 ** 40, populate: true` set out to fault in a terabyte and hung the
 * process.
 *
 * Why the guard pages (private anonymous mappings): the kernel merges a new private anonymous
 * mapping with an adjacent one of the same flags into one VMA. With THP 'always', a fault in
 * the neighbour can then be served by a huge page whose 2 MiB block reaches into this mapping:
 * its pages are present (zero) before the user registers them, so their faults never come and
 * the data placed later meets EEXIST. Seen on Debian's 6.1 (THP 'always'), where glibc thread
 * stacks are THP candidates until 6.7 maps MAP_STACK with VM_NOHUGEPAGE: the watchdog thread
 * started by Userfaultfd.open() put zero pages in the first 256 KiB of the mapping made just
 * before it (examples/postcopy-migration.js, firecracker-handler.js). A PROT_NONE neighbour
 * never merges with it.
 */
function mapAligned(
  len: number,
  prot: number,
  flags: number,
  fd: number,
  align: number,
  guard: boolean,
): number {
  const b = native();
  const ps = b.pageSize();
  if (align <= ps && !guard) return check(b.mmap(0, len, prot, flags, fd, 0), 'mmap');
  const a = Math.max(align, ps);
  const g = guard ? ps : 0;
  const span = Math.ceil(len / ps) * ps;
  const total = span + 2 * g + (a > ps ? a : 0);
  const reserve = k('MAP_PRIVATE') | k('MAP_ANONYMOUS') | k('MAP_NORESERVE');
  const raw = check(b.mmap(0, total, k('PROT_NONE'), reserve, -1, 0), 'mmap');
  const start = Math.ceil((raw + g) / a) * a;
  const r = b.mmap(start, len, prot, flags | k('MAP_FIXED'), fd, 0);
  if (r < 0) {
    b.munmap(raw, total);
    check(r, 'mmap');
  }
  if (start - g > raw) b.munmap(raw, start - g - raw);
  const end = start + span + g;
  if (raw + total > end) b.munmap(end, raw + total - end);
  return start;
}
