/**
 * The fail-loud policy: when the serving side goes away, a thread that faults on a page nobody
 * resolved gets SIGBUS (or the process aborts), never a silent zero page and never a hang.
 *
 * Without it, the two outcomes peers show (peers.md §c7, ejc3/fcvm #739) are:
 * - the fd is still open but nobody serves (the handler threw, the iterator was abandoned, the
 *   serving process died while this process holds the fd): faulting threads sleep forever;
 * - the last fd is closed (close(), the serving process held the only copy and died): the kernel
 *   unregisters the ranges and wakes the waiters, which retry as ordinary faults and read zero
 *   pages. For postcopy migration or a lazily restored snapshot that is silent data corruption.
 *
 * With `FailLoud.arm(uffd, { ranges })`, every page of `ranges` that is still missing when the
 * serving side fails gets a UFFDIO_POISON marker (Linux 6.6+, spec §3.9): the kernel wakes the
 * waiters and any access to such a page raises SIGBUS, then and later (markers outlive the fd).
 * Pages that were resolved keep their data. `action: 'abort'` aborts the process instead.
 *
 * Triggers: close() of the uffd (also the one the package does at thread exit), a handler
 * wrapped with `guard()` that throws, the serving process's exit (`serverPid`, watched by a
 * native thread on its pidfd, so it works while the JS thread itself is blocked in a fault), a
 * thread of this process waiting in one fault for `stallMs`, the teardown of the thread that
 * armed it (a Worker that exits or is terminated), or `trip()`.
 *
 * What SIGBUS means for the faulting thread: touch()/readMemory() report it (signal: 'SIGBUS' /
 * a UffdError with code 'SIGBUS'); a JS thread (main or Worker) that touches the page is killed
 * with the whole process, which is the point: loud.
 */
import { writeSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { native, type NativeWatchdog } from './binding';
import { UffdError } from './errors';
import type { UffdEvent } from './events';
import type { Addr, RawUffd } from './raw';
import { FEATURE_BITS } from './features';
import { queryFeatures, type Userfaultfd } from './userfaultfd';
import { checkOptions, describe, rangeError, toChoice, toU53, typeError } from './validate';

export type FailLoudAction = 'poison' | 'abort';
export type FailReason =
  'closed' | 'server-exit' | 'stall' | 'handler-error' | 'teardown' | 'manual';

export interface FailInfo {
  reason: FailReason;
  /** Bytes that got a poison marker (missing pages); resolved pages are left alone. */
  poisonedBytes: number;
  /** The faulting address, for 'handler-error'. */
  address?: number;
  /** The handler's error, for 'handler-error'. */
  error?: unknown;
  /** For 'closed': the faults that were waiting (0: nobody was blocked, a quiet close). */
  waiting?: number;
}

export interface FailLoudOptions {
  /** The registered ranges whose unresolved pages must never read as zeros. */
  ranges: ReadonlyArray<readonly [Addr, Addr] | { address: number; length: number }>;
  /** 'poison' (default): SIGBUS on access to unresolved pages. 'abort': abort the process. */
  action?: FailLoudAction;
  /** The pid of the process serving this uffd: its exit trips the policy (pidfd watch). */
  serverPid?: number;
  /**
   * Trip when a thread of this process has waited in one fault for this many ms (sampled by a
   * native thread every min(stallMs / 4, 100) ms): a bound on fault latency that catches an
   * abandoned iterator or a handler that never resolves. It sees the threads of this process
   * blocked in any userfaultfd (not only this one) and not those of other processes. Pick it
   * well above the slowest legitimate resolution.
   */
  stallMs?: number;
  /** Called on the JS thread after a trip (when that thread can run). */
  onFail?: (info: FailInfo) => void;
}

/** The result of poisonMissing(). */
export interface PoisonResult {
  /** Bytes that got a poison marker. */
  poisoned: number;
  /** Bytes skipped because a page was present (resolved). */
  present: number;
}

const ACTIONS: readonly FailLoudAction[] = ['poison', 'abort'];
const armed = new Set<FailLoud>(); // an armed policy keeps its uffd alive: a GC close is silent

function pageSize(): number {
  return native().pageSize();
}

/**
 * Poisons every page of [addr, addr+len) that is still missing, skipping pages that are present
 * (EEXIST) and pages outside a registered VMA (ENOENT; a range crossing a VMA end is split).
 * Wakes the threads waiting there: they get SIGBUS. Works on a closed Userfaultfd's raw handle
 * too (the close hook runs before the fd is closed).
 * @throws {UffdError} the first other error (EAGAIN: an unread fork/remap/remove/unmap event
 *   blocks every fill ioctl until it is read, spec §1.6)
 */
export function poisonMissing(uffd: Userfaultfd | RawUffd, addr: Addr, len: Addr): PoisonResult {
  const raw = 'raw' in uffd ? uffd.raw : uffd;
  const start = toU53(addr, 'addr');
  const total = toU53(len, 'len');
  const ps = pageSize();
  const out: PoisonResult = { poisoned: 0, present: 0 };
  let done = 0;
  let chunk = total;
  while (done < total) {
    chunk = Math.min(chunk, total - done);
    const r = raw.poison(start + done, chunk, 0);
    if (r === 0) {
      out.poisoned += chunk;
      done += chunk;
      chunk = total - done;
      continue;
    }
    const field = raw.lastField();
    if (field > 0) {
      out.poisoned += field;
      done += field;
      chunk = total - done;
      continue;
    }
    const code = -r;
    // ESRCH: the process owning the memory has exited (a uffd received from it): no thread is
    // left to read a zero page.
    if (code === 3 /* ESRCH */) return out;
    if (code === 2 /* ENOENT */ && chunk > ps) {
      chunk = Math.ceil(chunk / 2 / ps) * ps;
      continue;
    }
    if (code === 17 /* EEXIST */ || code === 2) {
      if (code === 17) out.present += ps;
      done += ps;
      chunk = total - done;
      continue;
    }
    throw UffdError.fromErrno(r, { syscall: 'ioctl', request: 'UFFDIO_POISON', bytesDone: done });
  }
  return out;
}

function toRanges(ranges: unknown): [number, number][] {
  if (!Array.isArray(ranges) || ranges.length === 0) {
    throw typeError(`The "ranges" option must be a non-empty array. Received ${describe(ranges)}`);
  }
  return ranges.map((r: unknown, i) => {
    if (Array.isArray(r) && r.length === 2) {
      return [toU53(r[0], `ranges[${i}][0]`), toU53(r[1], `ranges[${i}][1]`)];
    }
    if (r !== null && typeof r === 'object' && 'address' in r && 'length' in r) {
      const o = r as { address: unknown; length: unknown };
      return [toU53(o.address, `ranges[${i}].address`), toU53(o.length, `ranges[${i}].length`)];
    }
    throw typeError(`ranges[${i}] must be [address, length] or a Mapping. Received ${describe(r)}`);
  });
}

/**
 * Faults waiting on this uffd (read or not), from /proc/self/fdinfo ("total:"). 0 when unknown
 * (simulated backend, or the fd already gone).
 */
function waitingFaults(uffd: Userfaultfd): number {
  if (uffd.fd < 0) return 0;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs = require('node:fs') as typeof import('node:fs');
    const m = /total:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${uffd.fd}`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** UFFDIO_POISON is there: the uffd says so, or (fromFd() knows no features) the kernel does. */
function kernelHasPoison(uffd: Userfaultfd): boolean {
  if (uffd.features.has('poison')) return true;
  if (uffd.backend !== 'kernel') return false;
  try {
    return ((queryFeatures(true).available >> BigInt(FEATURE_BITS.poison)) & 1n) === 1n;
  } catch {
    return false;
  }
}

function abortLoudly(why: string): never {
  const msg = `userfaultfd: ${why}; aborting (fail-loud policy)\n`;
  if (isMainThread) {
    process.stderr.write(msg);
    process.abort();
  }
  // In a Worker, process.abort() throws ERR_WORKER_UNSUPPORTED_OPERATION: the close that tripped
  // the policy went on and the waiters read zero pages. SIGABRT the process instead; the
  // signal may go to another thread (kill(2) picks the main thread first), so this thread waits
  // for it rather than go on. process.stderr is a stream to the main thread here: write(2).
  writeSync(2, msg);
  process.kill(process.pid, 'SIGABRT');
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

export class FailLoud {
  readonly uffd: Userfaultfd;
  readonly action: FailLoudAction;
  private readonly ranges: [number, number][];
  private readonly onFail: ((info: FailInfo) => void) | undefined;
  /** UFFDIO_POISON exists (Linux 6.6+); without it only action 'abort' can be armed. */
  private readonly canPoison: boolean;
  private readonly unhook: () => void;
  private watchdog: NativeWatchdog | undefined;
  private lastTrip: FailInfo | undefined;
  private active = true;

  private constructor(
    uffd: Userfaultfd,
    action: FailLoudAction,
    ranges: [number, number][],
    onFail: ((info: FailInfo) => void) | undefined,
    canPoison: boolean,
  ) {
    this.uffd = uffd;
    this.action = action;
    this.ranges = ranges;
    this.onFail = onFail;
    this.canPoison = canPoison;
    this.unhook = uffd.onClose(() => {
      if (this.active) this.trip('closed');
      this.stopWatchdog();
      armed.delete(this);
      this.active = false;
    });
  }

  /**
   * Arms the policy on an open kernel-backed Userfaultfd (for the simulated backend, the close
   * and handler triggers work; the native watchdog needs a kernel fd).
   * @throws {UffdError} ERR_UFFD_UNSUPPORTED when action is 'poison' and the kernel has no
   *   UFFDIO_POISON (before 6.6: use action 'abort'); ESRCH when serverPid is not running.
   */
  static arm(uffd: Userfaultfd, options: FailLoudOptions): FailLoud {
    const o = checkOptions<FailLoudOptions>(options, 'options', [
      'ranges',
      'action',
      'serverPid',
      'stallMs',
      'onFail',
    ]);
    const ranges = toRanges(o.ranges);
    const action = toChoice(o.action ?? 'poison', 'action', ACTIONS);
    const stallMs = o.stallMs === undefined ? 0 : toU53(o.stallMs, 'stallMs');
    if (stallMs > 0x7fffffff) throw rangeError('stallMs must be below 2^31');
    const serverPid = o.serverPid === undefined ? undefined : toU53(o.serverPid, 'serverPid');
    if (o.onFail !== undefined && typeof o.onFail !== 'function') {
      throw typeError(`The "onFail" option must be a function. Received ${describe(o.onFail)}`);
    }
    if (uffd.closed) throw new UffdError('ERR_UFFD_CLOSED', 'the userfaultfd is closed');
    const canPoison = kernelHasPoison(uffd);
    if (action === 'poison' && !canPoison) {
      throw new UffdError(
        'ERR_UFFD_UNSUPPORTED',
        "this kernel has no UFFDIO_POISON (Linux 6.6+): use action: 'abort'",
      );
    }
    const b = native();
    let pidfd = -1;
    if (serverPid !== undefined) {
      pidfd = b.pidfdOpen(serverPid);
      if (pidfd < 0) throw UffdError.fromErrno(pidfd, { syscall: 'pidfd_open' });
    }
    const policy = new FailLoud(uffd, action, ranges, o.onFail, canPoison);
    if (uffd.fd >= 0) {
      const flat = new Float64Array(ranges.flat());
      policy.watchdog = new b.Watchdog(
        uffd.fd,
        pidfd,
        stallMs,
        flat,
        action === 'abort' ? 1 : 0,
        (reason, poisoned) => policy.tripped(reason, poisoned),
      );
    } else if (pidfd >= 0 || stallMs > 0) {
      b.close(pidfd);
      policy.unhook();
      throw new UffdError(
        'ERR_UFFD_UNSUPPORTED',
        'serverPid and stallMs need a kernel-backed userfaultfd',
      );
    }
    armed.add(policy);
    return policy;
  }

  /** The last trip, if the policy has tripped. */
  get lastFailure(): FailInfo | undefined {
    return this.lastTrip;
  }

  get armed(): boolean {
    return this.active;
  }

  /**
   * Wraps an event handler: if it throws or rejects on a page fault, the faulting page is
   * poisoned (the faulting thread gets SIGBUS instead of waiting forever) and the failure is
   * reported through onFail (or a process warning); the wrapper then resolves to undefined so a
   * serving loop goes on. Other events' errors propagate.
   */
  guard<E extends UffdEvent, R>(
    handler: (event: E) => R | Promise<R>,
  ): (event: E) => Promise<R | undefined> {
    if (typeof handler !== 'function') {
      throw typeError(`The "handler" argument must be a function. Received ${describe(handler)}`);
    }
    return async (event: E) => {
      try {
        return await handler(event);
      } catch (error) {
        if (event.type !== 'pagefault' || !this.active) throw error;
        if (this.action === 'abort') abortLoudly(`a fault handler threw (${String(error)})`);
        const ps = pageSize();
        const page = Math.floor(event.address / ps) * ps;
        const r = this.poisonOrAbort(page, ps);
        this.report({ reason: 'handler-error', poisonedBytes: r, address: event.address, error });
        return undefined;
      }
    };
  }

  /**
   * Trips now: poisons every page still missing in the ranges (or aborts). Returns what it did.
   * The policy stays armed (a later close still poisons what became missing since).
   */
  trip(reason: FailReason = 'manual'): FailInfo {
    // A close (also the one at thread exit) is deliberate: with nobody waiting it poisons
    // quietly, so later accesses to pages never served raise SIGBUS rather than read zeros,
    // and 'abort' aborts only if a thread is waiting in a fault right now.
    const waiting = reason === 'closed' ? waitingFaults(this.uffd) : 1;
    if (this.action === 'abort' && waiting > 0) abortLoudly(`fail-loud trip (${reason})`);
    let poisoned = 0;
    // Without UFFDIO_POISON (before Linux 6.6, where only 'abort' can be armed) nothing can be
    // marked: poisonOrAbort() would abort every quiet close, so every normal exit too. Pages
    // never served then read as zeros after the close, as without a policy.
    if (this.canPoison) for (const [a, l] of this.ranges) poisoned += this.poisonOrAbort(a, l);
    const info: FailInfo = { reason, poisonedBytes: poisoned, waiting };
    this.report(info);
    return info;
  }

  /** Disarms: stops the watchdog and the close hook. Poison markers already set stay. */
  disarm(): void {
    if (!this.active) return;
    this.active = false;
    this.unhook();
    this.stopWatchdog();
    armed.delete(this);
  }

  private poisonOrAbort(addr: number, len: number): number {
    try {
      return poisonMissing(this.uffd.raw, addr, len).poisoned;
    } catch (e) {
      // Pages that cannot be poisoned could read as zeros: refuse that outcome.
      abortLoudly(`cannot poison the unresolved pages (${(e as Error).message})`);
    }
  }

  private tripped(reason: 'server-exit' | 'stall', poisoned: number): void {
    this.report({ reason, poisonedBytes: poisoned });
  }

  private report(info: FailInfo): void {
    this.lastTrip = info;
    if (this.onFail !== undefined) {
      this.onFail(info);
    } else if ((info.waiting ?? 1) > 0) {
      // (a quiet close, with nobody waiting, is not worth a warning at every exit)
      process.emitWarning(
        `userfaultfd fail-loud: ${info.reason}; ${info.poisonedBytes} bytes poisoned`,
        'UffdFailLoudWarning',
      );
    }
  }

  private stopWatchdog(): void {
    this.watchdog?.stop();
    this.watchdog = undefined;
  }
}
