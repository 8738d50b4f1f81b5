/**
 * Native resolvers: faults served on a dedicated native thread by a fixed policy, with no JS
 * on the path (native/resolver.cc). The fast path for zero-fill, lazy restore from local data
 * (`copy`) and compaction (`move`).
 *
 * ```ts
 * const r = uffd.startResolver({ ranges: [{ start: dst, len, policy: 'move', source: src }] });
 * await touch(dst, len);            // faults served natively
 * r.counters();                     // { faults, resolved, eexist, eagain, errors, forwarded }
 * await r.stop();
 * ```
 *
 * While it runs, the resolver owns read(2) of the userfaultfd. Messages it does not handle
 * (faults outside its ranges, wp and minor faults, FORK/REMAP/REMOVE/UNMAP) are forwarded and
 * appear in `uffd.events()` as usual. A racing resolution (EEXIST) is woken; a resolution that
 * meets an unread event (EAGAIN) is retried once the event has been read, without waiting for
 * another message; any other failure is counted in `errors` and the fault is forwarded to JS.
 * It stops on `stop()`, on `uffd.close()` and when the environment (a Worker) goes away.
 * The `move` policy needs the kernel's UFFDIO_MOVE (6.8+): it is refused (ERR_UFFD_UNSUPPORTED)
 * on a userfaultfd whose move() is emulated (`uffd.moveEmulated`).
 */
import { native, type NativeResolverHandle } from './binding';
import { UffdError } from './errors';
import { streamOf, type MessageSource } from './events';
import type { Readiness } from './raw';
import type { Userfaultfd } from './userfaultfd';
import { checkOptions, rangeError, toBool, toChoice, toU53, typeError } from './validate';
import { skipFd } from './watchdog';

export type ResolverPolicy = 'zeropage' | 'copy' | 'move';
const POLICIES: readonly ResolverPolicy[] = ['zeropage', 'copy', 'move'];

export interface ResolverRange {
  /** Page-aligned start of the registered range to serve. */
  start: number;
  /** Length in bytes, a multiple of the page size. */
  len: number;
  policy: ResolverPolicy;
  /** For 'copy' and 'move': the address whose page at (fault page - start) is used. */
  source?: number;
}

export interface ResolverOptions {
  ranges: ResolverRange[];
  /**
   * Hand messages the resolver does not handle to `uffd.events()` (default true). With false
   * they are dropped: FORK fds are closed and a fault outside the ranges is counted in `errors`
   * and left asleep (its thread waits until someone wakes it or the uffd closes).
   */
  forward?: boolean;
  /** Messages per read(2), 1..1024 (default 64). */
  batch?: number;
}

export interface ResolverCounters {
  /** Missing faults in the ranges that the resolver took on. */
  faults: number;
  /** Resolved by the resolver's own ioctl. */
  resolved: number;
  /** Already installed by someone else (EEXIST): woken with UFFDIO_WAKE. */
  eexist: number;
  /** Ioctls refused with EAGAIN (an unread non-cooperative event) and retried. */
  eagain: number;
  /** Other failures (each such fault forwarded to JS), plus faults dropped with forward: false. */
  errors: number;
  /** Messages handed to JS. */
  forwarded: number;
}

/** A running (or stopped) native resolver; see `Userfaultfd.startResolver`. */
export class NativeResolver {
  private readonly handle: NativeResolverHandle;
  private readonly source: MessageSource;
  private stopped = false;
  private readonly unhook: () => void;

  /** @internal use uffd.startResolver() */
  constructor(
    private readonly uffd: Userfaultfd,
    options: ResolverOptions,
  ) {
    const o = checkOptions<ResolverOptions>(options, 'options', ['ranges', 'forward', 'batch']);
    if (!Array.isArray(o.ranges)) throw typeError('The "ranges" option must be an array');
    const ps = native().pageSize();
    const quads = new Float64Array(o.ranges.length * 4);
    o.ranges.forEach((r, i) => {
      const rr = checkOptions<ResolverRange>(r, `ranges[${i}]`, [
        'start',
        'len',
        'policy',
        'source',
      ]);
      const start = toU53(rr.start, `ranges[${i}].start`);
      const len = toU53(rr.len, `ranges[${i}].len`);
      const policy = toChoice(rr.policy, `ranges[${i}].policy`, POLICIES);
      // The resolver thread issues UFFDIO_MOVE itself: where this uffd's move() is the JS
      // emulation (moveEmulation; the default on kernels before 6.8, which lack the ioctl), every
      // fault would fail with EINVAL and be forwarded. Refuse up front instead.
      if (policy === 'move' && uffd.moveEmulated) {
        throw new UffdError(
          'ERR_UFFD_UNSUPPORTED',
          `ranges[${i}]: the 'move' policy needs the kernel's UFFDIO_MOVE (Linux 6.8+), and ` +
            "this userfaultfd's move() is emulated in JS: serve these faults from events() or " +
            "serve(), or use the 'copy' policy",
        );
      }
      // The resolver works in whole pages: a misaligned range would resolve pages outside it.
      if (start % ps !== 0 || len % ps !== 0 || len === 0) {
        throw rangeError(`ranges[${i}]: start and len must be non-zero multiples of ${ps}`);
      }
      let source = 0;
      if (policy !== 'zeropage') {
        if (rr.source === undefined)
          throw typeError(`ranges[${i}].source is required for ${policy}`);
        source = toU53(rr.source, `ranges[${i}].source`);
        if (source % ps !== 0) throw rangeError(`ranges[${i}].source must be page-aligned`);
      }
      quads.set([start, len, POLICIES.indexOf(policy), source], i * 4);
    });
    const forward = o.forward === undefined ? true : toBool(o.forward, 'forward');
    const batch = o.batch ?? 64;
    if (!Number.isInteger(batch) || batch < 1 || batch > 1024) {
      throw rangeError('batch must be an integer from 1 to 1024');
    }
    const b = native();
    this.handle = new b.Resolver(uffd.fd, quads, forward, batch);
    const handle = this.handle;
    this.source = {
      read: (buffer: Uint8Array): number => {
        const n = handle.take(buffer);
        return n === 0 ? -11 /* EAGAIN */ : n;
      },
      readiness: (onReadable): Readiness => new b.Poller(handle.notifyFd, onReadable),
    };
    const r = this.handle.start();
    if (r < 0) throw UffdError.fromErrno(r, { syscall: 'pthread_create' });
    skipFd(uffd.fd, true);
    streamOf(uffd).useSource(this.source);
    this.unhook = uffd.onClose(() => this.halt());
  }

  /** Whether the thread is serving (false after stop(), close(), or a fatal read error). */
  get running(): boolean {
    return this.handle.running;
  }

  /** The errno name that ended the thread on its own (e.g. 'EBADF'), else undefined. */
  get error(): UffdError | undefined {
    const e = this.handle.error;
    return e < 0 ? UffdError.fromErrno(e, { syscall: 'read' }) : undefined;
  }

  /** Exact counts so far (a synchronous read of the thread's atomics). */
  counters(): ResolverCounters {
    return this.handle.counters();
  }

  /**
   * Stops the thread (it finishes the ioctl in hand, wakes the faults it was retrying so they
   * re-fault for the next reader) and gives read(2) back to `uffd.events()`, after queuing the
   * messages it had forwarded. Idempotent.
   */
  stop(): Promise<void> {
    this.halt();
    return Promise.resolve();
  }

  private halt(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.unhook();
    this.handle.stop(); // joins: the thread is at most one ioctl away from its poll
    if (!this.uffd.closed) skipFd(this.uffd.fd, false);
    this.uffd.resolver = undefined;
    this.uffd.stream?.restoreSource(this.source);
  }
}
