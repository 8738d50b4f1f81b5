/**
 * `uffd.serve(handler, options)`: runs an async handler per page fault, with the kernel's
 * rules applied around it so that no faulting thread is left asleep by accident.
 *
 * - Concurrency: up to `concurrency` handlers run at once (default 1); the next message is read
 *   only when a slot is free (back-pressure down to the kernel queue).
 * - Non-cooperative events first: every read takes all pending messages, and FORK, REMAP,
 *   REMOVE and UNMAP go to `onEvent` before the faults of the same read are dispatched. While such
 *   an event is unread, every resolving ioctl fails with EAGAIN (spec §1.6), so reading them is
 *   what lets the handlers succeed. Without `onEvent`, a FORK event's uffd is closed (the child's
 *   registrations are dropped and its faults see ordinary pages).
 * - EAGAIN from a handler (an event is unread, or the kernel raced): the fault goes to a retry
 *   queue that first drains pending events and then runs the handler again, on the next
 *   turn of the loop, without waiting for a new message.
 * - EEXIST from a handler: someone else installed the page. The kernel does not wake on error,
 *   so the page is woken (UFFDIO_WAKE) and the fault counts as served. Except when the woken
 *   thread faults on that page again and the handler meets EEXIST again: then nothing is there
 *   but a uffd-wp marker (WP_UNPOPULATED), which ZEROPAGE and POISON refuse to replace (spec
 *   §3.5; COPY may), and waking it again would loop forever (as measured: 70k EEXIST wakes in 3 s
 *   on the kernel). That is a handler failure: the marker is dropped and the fault resolved by
 *   `onHandlerError`.
 * - Any other error: the fault is resolved by `onHandlerError` so the faulting thread does not
 *   sleep forever: 'poison' (default) installs a poison marker and the thread takes SIGBUS on its
 *   access (fail-loud: a failed handler never turns into silent zeros); 'zeropage' maps a zero
 *   page instead (CONTINUE for a minor fault). A wp fault has nothing to poison: its write
 *   protection is dropped. The error is then surfaced as a UffdError 'ERR_UFFD_HANDLER' (cause:
 *   the handler's error): passed to `onError` if given (serving continues), else the server stops
 *   and `server.done` rejects with it.
 */
import { UffdError } from './errors';
import {
  streamOf,
  type ForkEvent,
  type PagefaultEvent,
  type RemapEvent,
  type RemoveEvent,
  type UffdEvent,
  type UnknownEvent,
  type UnmapEvent,
} from './events';
import type { Userfaultfd } from './userfaultfd';
import { checkOptions, describe, rangeError, toChoice, typeError } from './validate';

export type NonFaultEvent = ForkEvent | RemapEvent | RemoveEvent | UnmapEvent | UnknownEvent;

export interface ServeContext {
  /** The faulting page (the event's address rounded down to the page size). */
  page: number;
  pageSize: number;
  /** 0 for the first run; n for the n-th retry after EAGAIN. */
  attempt: number;
}

/** Resolves one fault (copy/move/zeropage/continue/writeProtect on the uffd), maybe async. */
export type FaultHandler = (event: PagefaultEvent, context: ServeContext) => void | Promise<void>;

export interface ServeOptions {
  /** Handlers running at once (default 1, at most 1024). */
  concurrency?: number;
  /** How to resolve a fault whose handler failed (default 'poison'). */
  onHandlerError?: 'poison' | 'zeropage';
  /** Called with each handler failure (after the fault was resolved); serving continues. */
  onError?: (error: UffdError, event: PagefaultEvent) => void;
  /** Called with FORK/REMAP/REMOVE/UNMAP events, before the faults read with them. */
  onEvent?: (event: NonFaultEvent) => void | Promise<void>;
  signal?: AbortSignal;
  /** Messages per read(2) (default 64). */
  batch?: number;
}

export interface ServeStats {
  /** Page faults received. */
  faults: number;
  /** Handler runs that returned normally. */
  handled: number;
  /** Handlers that threw EEXIST: the page was there already and was woken. */
  eexist: number;
  /** Handler runs retried after EAGAIN. */
  retries: number;
  /** Faults whose handler failed (resolved by onHandlerError). */
  failed: number;
  /** Non-fault events received. */
  events: number;
}

const EAGAIN_RETRY_LIMIT = 1000;

interface Pending {
  event: PagefaultEvent;
  attempt: number;
  /** Which read(2) delivered the event (see `reads`). */
  read: number;
  /** Set when the handler failed and the fallback resolution itself met EAGAIN. */
  failure?: unknown;
}

/** A running `serve()`; `done` settles when it has stopped. */
export class FaultServer {
  /** Resolves when serving ends (stop(), abort, uffd closed); rejects with the first handler
   * error when no `onError` was given. */
  readonly done: Promise<void>;
  readonly stats: ServeStats = {
    faults: 0,
    handled: 0,
    eexist: 0,
    retries: 0,
    failed: 0,
    events: 0,
  };

  private readonly ac = new AbortController();
  private readonly concurrency: number;
  private readonly policy: 'poison' | 'zeropage';
  private readonly pageSize: number;
  private inFlight = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private retryQueue: Pending[] = [];
  private retryTimer: (() => void) | undefined; // cancels the scheduled retry pass
  private retryPasses = 0;
  /** read(2)s so far: each dispatched batch is one. */
  private reads = 0;
  /**
   * Pages of missing faults woken after an EEXIST, with the read count at that moment. The wake
   * removed every message still queued for the page, so a fault on it read later comes from a
   * thread that faulted again after the wake.
   */
  private readonly eexistWoken = new Map<number, number>();
  private failure: unknown;
  private stopping = false;

  /** @internal use uffd.serve() */
  constructor(
    private readonly uffd: Userfaultfd,
    private readonly handler: FaultHandler,
    private readonly options: ServeOptions,
    pageSize: number,
  ) {
    const o = checkOptions<ServeOptions>(options, 'options', [
      'concurrency',
      'onHandlerError',
      'onError',
      'onEvent',
      'signal',
      'batch',
    ]);
    if (typeof handler !== 'function') throw typeError('The "handler" argument must be a function');
    const c = o.concurrency ?? 1;
    if (!Number.isInteger(c) || c < 1 || c > 1024) {
      throw rangeError('concurrency must be an integer from 1 to 1024');
    }
    this.concurrency = c;
    this.policy = toChoice(o.onHandlerError ?? 'poison', 'onHandlerError', ['poison', 'zeropage']);
    if (o.onError !== undefined && typeof o.onError !== 'function') {
      throw typeError('The "onError" option must be a function');
    }
    if (o.onEvent !== undefined && typeof o.onEvent !== 'function') {
      throw typeError('The "onEvent" option must be a function');
    }
    this.pageSize = pageSize;
    const signal = o.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw typeError(`The "signal" option must be an AbortSignal. Received ${describe(signal)}`);
    }
    // The iterator is taken now, so a second consumer fails at once (ERR_UFFD_ITERATOR_BUSY),
    // and before the abort listener: a refused serve() must leave nothing subscribed (its
    // listener once crashed the process when the signal aborted later: `done` was unset).
    const it = uffd.events({ signal: this.ac.signal, batch: o.batch });
    if (signal !== undefined) {
      if (signal.aborted) this.stopping = true;
      else signal.addEventListener('abort', () => void this.stop().catch(() => {}), { once: true });
    }
    this.done = this.loop(it);
    this.done.catch(() => {}); // surfaced through `done`; never an unhandled rejection by itself
  }

  /** Stops reading, waits for running handlers; resolves (or rejects) like `done`. */
  stop(): Promise<void> {
    this.stopping = true;
    this.ac.abort();
    return this.done;
  }

  private async loop(it: AsyncIterableIterator<UffdEvent>): Promise<void> {
    try {
      while (!this.stopping) {
        await this.slot();
        if (this.stopping) break;
        const r = await it.next();
        if (r.done === true) break;
        await this.dispatch([r.value, ...this.pending()]);
      }
    } finally {
      await it.return?.();
      await this.idle();
      this.retryTimer?.();
      this.retryTimer = undefined;
      // Faults we read but did not resolve: wake them, they re-fault for the next reader.
      for (const p of this.retryQueue.splice(0)) this.safeWake(this.pageOf(p.event));
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Everything else already readable (the resolver's queue or the fd). */
  private pending(): UffdEvent[] {
    if (this.uffd.closed) return [];
    return streamOf(this.uffd).readPending();
  }

  private async dispatch(events: UffdEvent[]): Promise<void> {
    const read = ++this.reads;
    for (const ev of events) {
      if (ev.type === 'pagefault') continue;
      this.stats.events++;
      if (this.options.onEvent !== undefined) {
        await this.options.onEvent(ev);
      } else if (ev.type === 'fork') {
        ev.uffd.close();
      }
    }
    for (const ev of events) {
      if (ev.type !== 'pagefault') continue;
      this.stats.faults++;
      await this.slot();
      this.start({ event: ev, attempt: 0, read });
    }
  }

  private pageOf(ev: PagefaultEvent): number {
    return ev.address - (ev.address % this.pageSize);
  }

  private start(p: Pending): void {
    this.inFlight++;
    const context: ServeContext = {
      page: this.pageOf(p.event),
      pageSize: this.pageSize,
      attempt: p.attempt,
    };
    const run =
      p.failure !== undefined
        ? Promise.reject(p.failure)
        : new Promise<void>((resolve) => resolve(this.handler(p.event, context)));
    run
      .then(
        () => {
          this.stats.handled++;
          this.eexistWoken.delete(context.page);
        },
        (err: unknown) => this.failed(p, err),
      )
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.inFlight--;
        this.wakeSlots();
      });
  }

  private failed(p: Pending, err: unknown): void {
    const page = this.pageOf(p.event);
    if (this.uffd.closed) return; // closing woke every fault: nothing left to resolve
    let marker = false;
    if (p.failure === undefined && err instanceof UffdError) {
      if (err.code === 'EEXIST') {
        const missing = p.event.kind === 'missing';
        const wokenAt = this.eexistWoken.get(page);
        if (!missing || wokenAt === undefined || p.read <= wokenAt) {
          if (missing) {
            if (this.eexistWoken.size >= 4096) this.eexistWoken.clear();
            this.eexistWoken.set(page, this.reads);
          }
          this.stats.eexist++;
          this.safeWake(page);
          return;
        }
        // Faulted again after the EEXIST wake, EEXIST again: a uffd-wp marker (see above).
        this.eexistWoken.delete(page);
        marker = true;
      }
      if (err.code === 'EAGAIN') {
        this.retry(p, undefined);
        return;
      }
    }
    // The handler failed: resolve the fault by policy so its thread does not sleep forever.
    const cause = p.failure ?? err;
    let how: string;
    try {
      how = this.fallback(p.event, page, marker);
      if (marker) {
        how = `it kept faulting on a uffd-wp marker, which ZEROPAGE and POISON cannot replace (EEXIST): the marker was dropped and ${how}`;
      }
    } catch (e) {
      if (e instanceof UffdError && e.code === 'EAGAIN') {
        this.retry(p, cause);
        return;
      }
      this.safeWake(page);
      how = `resolving it failed too (${(e as Error).message}); the page was woken and will fault again`;
    }
    this.stats.failed++;
    const error = new UffdError(
      'ERR_UFFD_HANDLER',
      `the fault handler failed for 0x${p.event.address.toString(16)} (${
        (cause as Error)?.message ?? String(cause)
      }); ${how}`,
      undefined,
      { address: p.event.address, cause },
    );
    if (this.options.onError !== undefined) {
      this.options.onError(error, p.event);
    } else {
      this.fail(error);
    }
  }

  /**
   * Resolves a fault whose handler failed; returns what was done. `marker`: the page holds a
   * uffd-wp marker that ZEROPAGE and POISON cannot replace: it is dropped first (an unprotect
   * of a marker removes it, spec §3.7), without waking, so the thread wakes to the result.
   */
  private fallback(ev: PagefaultEvent, page: number, marker = false): string {
    const ps = this.pageSize;
    if (marker) {
      try {
        this.uffd.writeProtect(page, ps, false, { dontWake: true });
      } catch {
        // not write-protectable: there was no marker to drop, the policy below says EEXIST
      }
    }
    try {
      if (ev.kind === 'wp') {
        this.uffd.writeProtect(page, ps, false);
        return 'its write protection was dropped (a wp fault cannot be poisoned)';
      }
      if (this.policy === 'poison') {
        this.uffd.poison(page, ps);
        return 'the page was poisoned: the faulting thread gets SIGBUS';
      }
      if (ev.kind === 'minor') {
        this.uffd.continue(page, ps);
        return 'the page-cache page was mapped (CONTINUE)';
      }
      this.uffd.zeropage(page, ps);
      return 'a zero page was mapped';
    } catch (e) {
      if (e instanceof UffdError && e.code === 'EEXIST') {
        this.safeWake(page);
        return 'the page was already installed (EEXIST) and was woken';
      }
      throw e;
    }
  }

  private retry(p: Pending, failure: unknown): void {
    if (p.attempt >= EAGAIN_RETRY_LIMIT) {
      this.failed(
        { ...p, failure: failure ?? new UffdError('EAGAIN', 'EAGAIN retried too often', -11) },
        failure,
      );
      return;
    }
    this.stats.retries++;
    this.retryQueue.push({ event: p.event, attempt: p.attempt + 1, read: p.read, failure });
    if (this.retryTimer !== undefined) return;
    // First pass on the next turn; if passes keep meeting EAGAIN, back off to 1 ms steps (the
    // thread that raised the event decrements mmap_changing only after it wakes).
    const pass = (): void => {
      this.retryTimer = undefined;
      this.retryPasses++;
      const queued = this.retryQueue.splice(0);
      if (queued.length === 0) return;
      void this.dispatchRetries(queued);
    };
    if (this.retryPasses % 8 === 7) {
      const t = setTimeout(pass, 1);
      this.retryTimer = () => clearTimeout(t);
    } else {
      const t = setImmediate(pass);
      this.retryTimer = () => clearImmediate(t);
    }
  }

  private async dispatchRetries(queued: Pending[]): Promise<void> {
    if (this.stopping) {
      for (const p of queued) this.safeWake(this.pageOf(p.event)); // re-fault for the next reader
      return;
    }
    try {
      const events = this.pending(); // read the events that cause the EAGAIN
      if (events.length > 0) await this.dispatch(events);
      for (const p of queued) {
        await this.slot();
        this.start(p);
      }
      if (this.retryQueue.length === 0) this.retryPasses = 0;
    } catch (e) {
      this.fail(e);
    }
  }

  private safeWake(page: number): void {
    try {
      if (!this.uffd.closed) this.uffd.wake(page, this.pageSize);
    } catch {
      // a wake only fails for an invalid range: nothing more to do for this page
    }
  }

  private fail(err: unknown): void {
    if (this.failure === undefined) this.failure = err;
    this.stopping = true;
    this.ac.abort();
  }

  private slot(): Promise<void> {
    if (this.inFlight < this.concurrency || this.stopping) return Promise.resolve();
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private wakeSlots(): void {
    while (this.slotWaiters.length > 0 && (this.inFlight < this.concurrency || this.stopping)) {
      this.slotWaiters.shift()?.();
    }
    if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private idle(): Promise<void> {
    for (const w of this.slotWaiters.splice(0)) w();
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
