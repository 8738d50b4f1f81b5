/**
 * The event side: `uffd_msg` decoding (pure, spec §1.3/§1.6) and an async iterator over a
 * userfaultfd's messages.
 *
 * - Many messages per read(2), into a reused buffer (`batch`, default 64).
 * - Back-pressure: the fd is polled only while the consumer waits in `next()`.
 * - Single consumer: a second concurrent iterator throws ERR_UFFD_ITERATOR_BUSY.
 * - `close()` of the uffd ends every iterator; an AbortSignal ends its iterator.
 * - Readiness comes from a uv_poll on the env's own loop (works in Workers), delivered with
 *   MakeCallback, so the consumer's continuation runs at once.
 */
import { UffdError } from './errors';
import type { Readiness } from './raw';
import type { Userfaultfd } from './userfaultfd';
import { checkOptions, rangeError, toU53, typeError, describe } from './validate';

export const MSG_SIZE = 32;
const EVENT_PAGEFAULT = 0x12;
const EVENT_FORK = 0x13;
const EVENT_REMAP = 0x14;
const EVENT_REMOVE = 0x15;
const EVENT_UNMAP = 0x16;
const FLAG_WRITE = 1;
const FLAG_WP = 2;
const FLAG_MINOR = 4;

export interface PagefaultEvent {
  type: 'pagefault';
  /** Page-aligned, or exact with the exactAddress feature. */
  address: number;
  kind: 'missing' | 'wp' | 'minor';
  write: boolean;
  /** The faulting thread's kernel tid (threadId feature). */
  threadId?: number;
  /** The raw UFFD_PAGEFAULT_FLAG_* bits (7.x may add more). */
  flags: number;
}
export interface ForkEvent {
  type: 'fork';
  /** The child's userfaultfd, already installed in this process; close it when done. */
  uffd: Userfaultfd;
}
export interface RemapEvent {
  type: 'remap';
  from: number;
  to: number;
  len: number;
}
export interface RemoveEvent {
  type: 'remove';
  start: number;
  end: number;
}
export interface UnmapEvent {
  type: 'unmap';
  start: number;
  end: number;
}
/** A message type this code does not know (a newer kernel): kept, not dropped. */
export interface UnknownEvent {
  type: 'unknown';
  event: number;
  raw: Uint8Array;
}
export type UffdEvent =
  PagefaultEvent | ForkEvent | RemapEvent | RemoveEvent | UnmapEvent | UnknownEvent;

/** A decoded message before the fork fd is wrapped. */
export type DecodedMessage =
  | PagefaultEvent
  | { type: 'fork'; fd: number }
  | RemapEvent
  | RemoveEvent
  | UnmapEvent
  | UnknownEvent;

function u64(view: DataView, off: number): number {
  return Number(view.getBigUint64(off, true));
}

/** Decodes `count` uffd_msg records from `bytes` (little-endian, 32 bytes each). */
export function decodeMessages(
  bytes: Uint8Array,
  count: number,
  threadId: boolean,
): DecodedMessage[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: DecodedMessage[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * MSG_SIZE;
    const event = view.getUint8(o);
    switch (event) {
      case EVENT_PAGEFAULT: {
        const flags = u64(view, o + 8);
        const ev: PagefaultEvent = {
          type: 'pagefault',
          address: u64(view, o + 16),
          kind: flags & FLAG_WP ? 'wp' : flags & FLAG_MINOR ? 'minor' : 'missing',
          write: (flags & FLAG_WRITE) !== 0,
          flags,
        };
        if (threadId) ev.threadId = view.getUint32(o + 24, true);
        out.push(ev);
        break;
      }
      case EVENT_FORK:
        out.push({ type: 'fork', fd: view.getUint32(o + 8, true) });
        break;
      case EVENT_REMAP:
        out.push({
          type: 'remap',
          from: u64(view, o + 8),
          to: u64(view, o + 16),
          len: u64(view, o + 24),
        });
        break;
      case EVENT_REMOVE:
        out.push({ type: 'remove', start: u64(view, o + 8), end: u64(view, o + 16) });
        break;
      case EVENT_UNMAP:
        out.push({ type: 'unmap', start: u64(view, o + 8), end: u64(view, o + 16) });
        break;
      default:
        out.push({ type: 'unknown', event, raw: bytes.slice(o, o + MSG_SIZE) });
    }
  }
  return out;
}

export interface EventsOptions {
  signal?: AbortSignal;
  /** Messages per read(2), 1..1024 (default 64). */
  batch?: number;
}

interface Waiter {
  resolve: (r: IteratorResult<UffdEvent>) => void;
  reject: (e: unknown) => void;
}

/** One per Userfaultfd: owns the poll handle and the read buffer. */
export class EventStream {
  private readonly queue: UffdEvent[] = [];
  private buffer = new Uint8Array(64 * MSG_SIZE);
  private readiness: Readiness | undefined;
  /**
   * The poll handle's callback reaches this stream only through `slot`, set while polling. A
   * native Poller keeps itself (and its callback) alive until it is closed, so a direct
   * reference made every Userfaultfd that ever waited for an event uncollectable: dropped
   * without close(), its fd leaked. While a consumer waits, the slot keeps the stream (and the
   * uffd) alive, as a pending read keeps a socket alive.
   */
  private readonly slot: { stream: EventStream | undefined } = { stream: undefined };
  private polling = false;
  private waiter: Waiter | undefined;
  private active: object | undefined;
  private refd = true;
  private ended = false;

  constructor(private readonly uffd: Userfaultfd) {
    uffd.onClose(() => this.end());
  }

  ref(): void {
    this.refd = true;
    this.readiness?.ref();
  }

  unref(): void {
    this.refd = false;
    this.readiness?.unref();
  }

  /** Reads what is pending without waiting: the decoded events (maybe none). */
  readPending(): UffdEvent[] {
    this.drain();
    return this.queue.splice(0);
  }

  iterate(options?: EventsOptions): AsyncIterableIterator<UffdEvent> {
    if (this.active !== undefined) {
      throw new UffdError(
        'ERR_UFFD_ITERATOR_BUSY',
        'this userfaultfd already has an active event iterator (single consumer)',
      );
    }
    // Every check before any state changes: a refused call must leave no active iterator.
    const opts = checkOptions<EventsOptions>(options, 'options', ['signal', 'batch']);
    const batch = opts.batch === undefined ? 64 : toU53(opts.batch, 'batch');
    if (batch < 1 || batch > 1024) throw rangeError('batch must be an integer from 1 to 1024');
    const signal = opts.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw typeError(`The "signal" option must be an AbortSignal. Received ${describe(signal)}`);
    }
    if (this.buffer.length !== batch * MSG_SIZE) this.buffer = new Uint8Array(batch * MSG_SIZE);
    const token = {};
    this.active = token;
    let done = false;
    const finish = (): IteratorResult<UffdEvent> => {
      if (!done) {
        done = true;
        if (this.active === token) this.active = undefined;
        signal?.removeEventListener('abort', onAbort);
        this.stopPolling();
      }
      return { done: true, value: undefined };
    };
    const onAbort = (): void => {
      const w = this.waiter;
      this.waiter = undefined;
      finish();
      w?.resolve({ done: true, value: undefined });
    };
    if (signal?.aborted) finish();
    else signal?.addEventListener('abort', onAbort, { once: true });

    const it: AsyncIterableIterator<UffdEvent> = {
      next: (): Promise<IteratorResult<UffdEvent>> => {
        if (done || this.ended) return Promise.resolve(finish());
        if (this.waiter !== undefined) {
          return Promise.reject(
            new UffdError(
              'ERR_UFFD_ITERATOR_BUSY',
              'next() called while a previous next() is pending',
            ),
          );
        }
        try {
          const ev = this.take();
          if (ev !== undefined) return Promise.resolve({ done: false, value: ev });
        } catch (e) {
          return Promise.reject(e);
        }
        return new Promise((resolve, reject) => {
          // Poll first: if that fails, no waiter is left behind to make every later next()
          // fail with ERR_UFFD_ITERATOR_BUSY.
          this.startPolling();
          this.waiter = { resolve, reject };
        });
      },
      return: (): Promise<IteratorResult<UffdEvent>> => {
        const w = this.waiter;
        this.waiter = undefined;
        const r = finish();
        w?.resolve(r);
        return Promise.resolve(r);
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  /** The next queued or immediately readable event. */
  private take(): UffdEvent | undefined {
    if (this.queue.length === 0) this.drain();
    return this.queue.shift();
  }

  /** One read(2) of up to `batch` messages into the queue. */
  private drain(): void {
    if (this.ended) return;
    const raw = this.uffd.raw;
    const n = raw.readMsgs(this.buffer);
    if (n === -11 /* EAGAIN */) return;
    if (n < 0) throw UffdError.fromErrno(n, { syscall: 'read' });
    const threadId = this.uffd.features.has('threadId');
    for (const m of decodeMessages(this.buffer, n, threadId)) {
      if (m.type === 'fork') {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { Userfaultfd } = require('./userfaultfd') as typeof import('./userfaultfd');
        this.queue.push({
          type: 'fork',
          uffd: Userfaultfd.fromFd(m.fd, { features: [...this.uffd.features] }),
        });
      } else {
        this.queue.push(m);
      }
    }
  }

  private onReadable = (status: number): void => {
    const w = this.waiter;
    if (w === undefined) {
      this.stopPolling();
      return;
    }
    try {
      if (status < 0) throw UffdError.fromErrno(status, { syscall: 'poll' });
      const ev = this.take();
      if (ev === undefined) return; // spurious wake-up: keep polling
      this.waiter = undefined;
      this.stopPolling();
      w.resolve({ done: false, value: ev });
    } catch (e) {
      this.waiter = undefined;
      this.stopPolling();
      w.reject(e);
    }
  };

  private startPolling(): void {
    if (this.polling) return;
    if (this.readiness === undefined) {
      const slot = this.slot;
      this.readiness = this.uffd.raw.readiness((status) => slot.stream?.onReadable(status));
      this.uffd.resources.readiness = this.readiness;
      if (!this.refd) this.readiness.unref();
    }
    const r = this.readiness.start();
    if (r < 0) throw UffdError.fromErrno(r, { syscall: 'epoll_ctl' });
    this.slot.stream = this;
    this.polling = true;
  }

  private stopPolling(): void {
    if (!this.polling) return;
    this.polling = false;
    this.slot.stream = undefined;
    this.readiness?.stop();
  }

  /** The uffd closed: end the iterator, release the poll handle. */
  private end(): void {
    this.ended = true;
    const w = this.waiter;
    this.waiter = undefined;
    this.polling = false;
    this.slot.stream = undefined;
    this.readiness?.close();
    this.readiness = undefined;
    this.uffd.resources.readiness = undefined;
    this.active = undefined;
    for (const ev of this.queue.splice(0)) if (ev.type === 'fork') ev.uffd.close();
    w?.resolve({ done: true, value: undefined });
  }
}

/** The stream of a uffd, created on first use. */
export function streamOf(uffd: Userfaultfd): EventStream {
  uffd.stream ??= new EventStream(uffd);
  return uffd.stream;
}
