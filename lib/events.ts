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
 * - While a native resolver runs (lib/resolver.ts) it owns read(2) of the fd: the stream then
 *   takes the messages the resolver forwards (its queue, announced by an eventfd) instead.
 * - Messages the JS-thread watchdog had to read while the JS thread was stuck (native/
 *   watchdog.cc) are delivered first.
 */
import { native } from './binding';
import { UffdError } from './errors';
import type { Readiness } from './raw';
import type { Userfaultfd } from './userfaultfd';
import { checkOptions, describe, rangeError, toU53, typeError } from './validate';

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

/** A little-endian u64 field as a Number. Two 32-bit reads: no BigInt allocated per field (this
 * runs for every fault). hi * 2^32 is exact and the one addition rounds to nearest, so values
 * above 2^53 round exactly as Number(getBigUint64()) would. */
function u64(view: DataView, off: number): number {
  return view.getUint32(off, true) + view.getUint32(off + 4, true) * 4294967296;
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

/**
 * Where messages come from: the userfaultfd itself, or a native resolver's forward queue.
 * `read` fills whole 32-byte records and returns their count or -errno (-EAGAIN: none).
 */
export interface MessageSource {
  read(buffer: Uint8Array): number;
  readiness(onReadable: (status: number, events: number) => void): Readiness;
}

/** One per Userfaultfd: owns the poll handle and the read buffer. */
export class EventStream {
  private readonly queue: UffdEvent[] = [];
  private buffer = new Uint8Array(64 * MSG_SIZE);
  private readonly rawSource: MessageSource;
  private source: MessageSource;
  private readonly readinessOf = new Map<MessageSource, Readiness>();
  private readiness: Readiness | undefined;
  /**
   * The poll handle's callback reaches this stream only through `slot`, set while polling. A
   * native Poller keeps itself (and its callback) alive until it is closed, so a direct
   * reference made every Userfaultfd that ever waited for an event uncollectable: dropped
   * without close(), its fd leaked. While a consumer waits, the slot keeps the stream (and the
   * uffd) alive, as a pending read keeps a socket alive.
   */
  private readonly slot: { stream: EventStream | undefined } = { stream: undefined };
  /**
   * The callback handed to the poll handles. The native Poller holds it weakly while idle (so
   * it cannot keep the uffd alive), so the stream must hold it: a collected callback would
   * leave a later poll with nobody to call.
   */
  private readonly onReady: (status: number) => void;
  private polling = false;
  private waiter: Waiter | undefined;
  private active: object | undefined;
  private refd = true;
  private ended = false;

  constructor(private readonly uffd: Userfaultfd) {
    const slot = this.slot;
    this.onReady = (status) => slot.stream?.onReadable(status);
    const raw = uffd.raw;
    this.rawSource = {
      read: (buffer) => raw.readMsgs(buffer),
      readiness: (onReadable) => raw.readiness(onReadable),
    };
    this.source = this.rawSource;
    uffd.onClose(() => this.end());
  }

  ref(): void {
    this.refd = true;
    for (const r of this.readinessOf.values()) r.ref();
  }

  unref(): void {
    this.refd = false;
    for (const r of this.readinessOf.values()) r.unref();
  }

  /**
   * @internal A native resolver took over read(2): take messages from `source` from now on.
   * A consumer already waiting keeps waiting, on the new source.
   */
  useSource(source: MessageSource): void {
    const waiting = this.polling;
    this.stopPolling();
    this.source = source;
    if (waiting && !this.ended) this.startPolling();
  }

  /**
   * @internal The resolver stopped: queue what it still holds (in order), then read the fd
   * again. Its readiness handle is closed.
   */
  restoreSource(source: MessageSource): void {
    if (this.source !== source) return;
    const waiting = this.polling;
    this.stopPolling();
    if (!this.ended) {
      for (;;) {
        const n = source.read(this.buffer);
        if (n <= 0) break;
        this.push(n);
      }
    }
    const closing = this.readinessOf.get(source);
    closing?.close();
    if (closing !== undefined) this.uffd.resources.readinesses?.delete(closing);
    this.readinessOf.delete(source);
    this.source = this.rawSource;
    if (this.ended) return;
    if (this.waiter !== undefined && this.queue.length > 0) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ done: false, value: this.queue.shift() as UffdEvent });
    } else if (waiting) {
      this.startPolling();
    }
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

  /** One read(2) of up to `batch` messages (or one take from the resolver) into the queue. */
  private drain(): void {
    if (this.ended) return;
    if (this.uffd.backend === 'kernel') {
      // Events the watchdog read while the JS thread was stuck come before anything newer.
      const stashed = native().watchdogTake(this.uffd.fd, this.buffer);
      if (stashed > 0) this.push(stashed);
    }
    const n = this.source.read(this.buffer);
    if (n === -11 /* EAGAIN */) return;
    if (n < 0) throw UffdError.fromErrno(n, { syscall: 'read' });
    this.push(n);
  }

  /** Decodes `n` messages of the buffer onto the queue, wrapping FORK fds. */
  private push(n: number): void {
    const threadId = this.uffd.features.has('threadId');
    for (const m of decodeMessages(this.buffer, n, threadId)) {
      if (m.type === 'fork') {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { Userfaultfd } = require('./userfaultfd') as typeof import('./userfaultfd');
        const features = [...this.uffd.features];
        const raw = this.uffd.raw;
        this.queue.push({
          type: 'fork',
          uffd:
            raw.forkChild !== undefined
              ? raw.forkChild(m.fd, features)
              : Userfaultfd.fromFd(m.fd, { features }),
        });
      } else {
        this.queue.push(m);
      }
    }
  }

  // The poll stays armed after it delivered an event if the consumer asks for the next one
  // straight away (a `for await` loop whose body does not await: its continuation runs, and calls
  // next(), before the microtask queued below). Stopping and restarting the uv_poll for every
  // event cost two epoll_ctl(2) calls per fault (bench/ scenario 1). Otherwise (a body that
  // awaits, an abandoned iterator) the poll stops as before, so back-pressure holds and an idle
  // stream does not keep the process alive.
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
      w.resolve({ done: false, value: ev });
      queueMicrotask(this.stopIfIdle);
    } catch (e) {
      this.waiter = undefined;
      this.stopPolling();
      w.reject(e);
    }
  };

  private stopIfIdle = (): void => {
    if (this.waiter === undefined) this.stopPolling();
  };

  private startPolling(): void {
    if (this.polling) return;
    let readiness = this.readinessOf.get(this.source);
    if (readiness === undefined) {
      readiness = this.source.readiness(this.onReady);
      if (!this.refd) readiness.unref();
      this.readinessOf.set(this.source, readiness);
      // The finalizer closes these if the uffd is dropped: hold the handles only (a Map keyed by
      // the sources would hold the stream, and the uffd, through their closures).
      (this.uffd.resources.readinesses ??= new Set()).add(readiness);
    }
    this.readiness = readiness;
    const r = readiness.start();
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
    for (const r of this.readinessOf.values()) r.close();
    this.readinessOf.clear();
    this.readiness = undefined;
    this.uffd.resources.readinesses = undefined;
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
