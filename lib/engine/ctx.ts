/**
 * A simulated userfaultfd context (struct userfaultfd_ctx): features, the fault and event
 * queues, the threads sleeping on faults, and mmap_changing (spec §1.6).
 *
 * - A faulting thread queues a PAGEFAULT message and sleeps until a wake covers the message's
 *   address (`start <= address < start+len`, len 0 = all); reading the message does not wake it.
 * - read() returns pending faults before events, each queue FIFO.
 * - A non-cooperative event (FORK, REMAP, REMOVE, UNMAP) raises mmap_changing until the monitor
 *   reads it; reading it completes the operation that caused it (`onRead`).
 */
import * as U from './uapi';
import type { SimulatedSpace } from './space';

/** A thread blocked in handle_userfault(). */
export interface FaultWaiter {
  /** The message's address (page-aligned, or exact with EXACT_ADDRESS): the wake key. */
  address: number;
  wake: () => void;
}

/** Where a FORK message's new fd is installed: the reader's fd table. */
export interface FdInstaller {
  install(ctx: SimCtx): number;
}

interface QueuedEvent {
  /** Built when read: a FORK message carries an fd installed in the reader's table then. */
  msg: (reader: FdInstaller) => Uint8Array;
  onRead: () => void;
}

let nextCtxId = 1;

export class SimCtx {
  readonly id = nextCtxId++;
  /** The mm this context serves (ctx->mm). */
  readonly mm: SimulatedSpace;
  /** Requested features | INITIALIZED once UFFDIO_API succeeded. */
  features = 0;
  initialized = false;
  readonly userModeOnly: boolean;
  nonBlocking: boolean;
  mmapChanging = 0;
  released = false;
  /** File references (fds, dups, a fork child's inherited fd). */
  refs = 1;
  private readonly pending: { msg: Uint8Array; w: FaultWaiter }[] = [];
  private readonly sleeping = new Set<FaultWaiter>();
  private readonly events: QueuedEvent[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(mm: SimulatedSpace, flags: number) {
    this.mm = mm;
    this.userModeOnly = (flags & U.UFFD_USER_MODE_ONLY) !== 0;
    this.nonBlocking = (flags & U.O_NONBLOCK) !== 0;
  }

  has(feature: number): boolean {
    return (this.features & feature) !== 0;
  }

  /** Something is readable (poll EPOLLIN). */
  readable(): boolean {
    return this.pending.length > 0 || this.events.length > 0;
  }

  /** Called whenever a message is queued (readiness callbacks). */
  onMessage(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private notify(): void {
    for (const fn of [...this.listeners]) fn();
  }

  /** handle_userfault(): queue a PAGEFAULT message; resolves when a wake covers it. */
  fault(address: number, flags: number, tid: number): Promise<void> {
    const addr = this.has(U.F_EXACT_ADDRESS) ? address : address - (address % this.mm.pageSize);
    const msg = new Uint8Array(U.MSG_SIZE);
    const v = new DataView(msg.buffer);
    msg[0] = U.UFFD_EVENT_PAGEFAULT;
    v.setBigUint64(8, BigInt(flags), true);
    v.setBigUint64(16, BigInt(addr), true);
    if (this.has(U.F_THREAD_ID)) v.setUint32(24, tid, true);
    return new Promise<void>((resolve) => {
      const w: FaultWaiter = { address: addr, wake: resolve };
      this.sleeping.add(w);
      this.pending.push({ msg, w });
      this.notify();
    });
  }

  /** wake_userfault(): wakes every sleeping faulter whose address is in the range. */
  wake(start: number, len: number): void {
    for (const w of [...this.sleeping]) {
      if (len !== 0 && (w.address < start || w.address >= start + len)) continue;
      this.sleeping.delete(w);
      const i = this.pending.findIndex((p) => p.w === w);
      if (i >= 0) this.pending.splice(i, 1);
      w.wake();
    }
  }

  /** Queues a non-cooperative event; mmap_changing stays raised until it is read. */
  event(
    msg: Uint8Array | ((reader: FdInstaller) => Uint8Array),
    onRead: () => void = () => {},
  ): void {
    this.mmapChanging++;
    this.events.push({ msg: typeof msg === 'function' ? msg : () => msg, onRead });
    this.notify();
  }

  /** read(2): up to `max` messages, faults first. Returns [] when nothing is pending. */
  read(max: number, reader: FdInstaller): Uint8Array[] {
    const out: Uint8Array[] = [];
    const done: (() => void)[] = [];
    while (out.length < max) {
      const f = this.pending.shift();
      if (f !== undefined) {
        out.push(f.msg);
        continue;
      }
      const e = this.events.shift();
      if (e === undefined) break;
      out.push(e.msg(reader));
      done.push(() => {
        this.mmapChanging--;
        e.onRead();
      });
    }
    for (const fn of done) fn();
    return out;
  }

  /** userfaultfd_release(): wake everybody (len 0) and drop pending events. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.wake(0, 0);
    const evs = this.events.splice(0);
    for (const e of evs) {
      this.mmapChanging--;
      e.onRead();
    }
    this.listeners.clear();
  }
}

/** Builds a non-cooperative event message (spec §1.3). */
export function eventMsg(event: number, a: number, b = 0, c = 0): Uint8Array {
  const msg = new Uint8Array(U.MSG_SIZE);
  const v = new DataView(msg.buffer);
  msg[0] = event;
  if (event === U.UFFD_EVENT_FORK) {
    v.setUint32(8, a, true);
  } else {
    v.setBigUint64(8, BigInt(a), true);
    v.setBigUint64(16, BigInt(b), true);
    if (event === U.UFFD_EVENT_REMAP) v.setBigUint64(24, BigInt(c), true);
  }
  return msg;
}
