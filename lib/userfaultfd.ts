/**
 * `Userfaultfd`: the friendly class over one userfaultfd. Every resolution ioctl returns the
 * bytes the kernel reports, or throws a `UffdError` carrying exactly what the kernel said
 * (code, errno, result field, bytesDone). Partial progress follows spec §2.6 / §3.10: the kernel
 * returns -1/EAGAIN with a positive result field, which surfaces as `code: 'EAGAIN'` with
 * `bytesDone > 0`; `complete*()` finishes such an operation or surfaces the real error.
 */
import { native, nativeAvailable } from './binding';
import { k } from './constants';
import { UffdError, closedError } from './errors';
import {
  BEHAVIOUR_FEATURES,
  FEATURE_BITS,
  type FeatureName,
  type IoctlName,
  featureBit,
  featureMask,
  featureNames,
  ioctlNames,
} from './features';
import { KernelUffd, type RawUffd, type Addr } from './raw';
import { checkOptions, describe, rangeError, toBool, toFd, toU53, typeError } from './validate';
import { streamOf, type EventStream, type EventsOptions, type UffdEvent } from './events';
import type { NativeResolver, ResolverOptions } from './resolver';
import type { FaultHandler, FaultServer, ServeOptions } from './serve';
import { unwatchFd, watchFd } from './watchdog';

/** How the fd was obtained (spec §1.1). */
export type OpenVia = 'syscall' | 'user-mode-only' | 'dev' | 'fd' | 'simulated';
export type Backend = 'auto' | 'kernel' | 'simulated';

export interface OpenOptions {
  /** Features to enable with UFFDIO_API. Default: ['threadId'] when the kernel has it. */
  features?: FeatureName[];
  /**
   * UFFD_USER_MODE_ONLY (default true): a kernel-mode access to a missing registered page (a
   * read(2) into it, fs.read into a view, a COPY whose src is in it) fails with EFAULT instead
   * of blocking the thread that made it, and opening needs no privilege. Pass false when the
   * faulting code makes syscalls into registered memory; that needs CAP_SYS_PTRACE,
   * vm.unprivileged_userfaultfd=1, or access to /dev/userfaultfd.
   */
  userModeOnly?: boolean;
  /** 'kernel' (default) throws when the kernel path is unavailable; 'auto' falls back to the
   * simulated engine (and says so in `uffd.backend`); 'simulated' always uses the engine. */
  backend?: Backend;
  /**
   * UFFDIO_MOVE on kernels without it (< 6.8): 'auto' (default) emulates MOVE with the same
   * validation, then COPY + MADV_DONTNEED, when the kernel lacks UFFD_FEATURE_MOVE; 'always'
   * emulates even where the kernel has MOVE (for testing); 'never' issues the ioctl as is.
   * The emulation is not atomic against concurrent faults on src (lib/engine/emulated-move.ts).
   */
  moveEmulation?: 'auto' | 'always' | 'never';
}

export interface RegisterModes {
  missing?: boolean;
  wp?: boolean;
  minor?: boolean;
}

interface OpenedFd {
  fd: number;
  via: OpenVia;
}

const MSG_SIZE = 32;

/** Opens a userfaultfd: the syscall first, /dev/userfaultfd on EPERM (seccomp, no privilege). */
function openFd(userModeOnly: boolean): OpenedFd {
  const b = native();
  const flags = k('O_CLOEXEC') | k('O_NONBLOCK') | (userModeOnly ? k('UFFD_USER_MODE_ONLY') : 0);
  const fd = b.open(flags);
  if (fd >= 0) return { fd, via: userModeOnly ? 'user-mode-only' : 'syscall' };
  if (fd === -1 /* EPERM */) {
    const [devFd, step] = b.devOpen(flags);
    if (devFd >= 0) return { fd: devFd, via: 'dev' };
    // Report the syscall's EPERM (the primary path); the /dev attempt is in the message.
    const err = UffdError.fromErrno(fd, { syscall: 'userfaultfd' });
    const devErr = UffdError.fromErrno(devFd, {
      syscall: step,
      path: step === 'open' ? '/dev/userfaultfd' : 'USERFAULTFD_IOC_NEW',
    });
    throw new UffdError(
      err.code,
      `${err.message} (and /dev/userfaultfd: ${devErr.message}). ` +
        (userModeOnly
          ? 'userfaultfd(2) is blocked (a seccomp filter, e.g. a container default profile).'
          : 'Kernel-mode faults need CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1 or ' +
            'access to /dev/userfaultfd; or open with userModeOnly: true.'),
      err.errno,
      { syscall: 'userfaultfd' },
    );
  }
  throw UffdError.fromErrno(fd, { syscall: 'userfaultfd' });
}

/** UFFDIO_API on a fresh fd; returns [available features, api ioctls] or throws. */
function handshake(fd: number, features: bigint): [bigint, bigint] {
  const [ret, , avail, ioctls] = native().api(fd, k('UFFD_API'), features);
  if (ret < 0) {
    const err = UffdError.fromErrno(ret, { syscall: 'ioctl', request: 'UFFDIO_API' });
    // The only EPERM of UFFDIO_API (spec §3.1 step 3): say which feature and why.
    if (err.code === 'EPERM' && (features >> BigInt(FEATURE_BITS.eventFork)) & 1n) {
      throw new UffdError(
        err.code,
        `${err.message}: the eventFork feature needs CAP_SYS_PTRACE`,
        err.errno,
        { syscall: 'ioctl', request: 'UFFDIO_API' },
      );
    }
    throw err;
  }
  return [avail, ioctls];
}

/** The kernel's available features, probed on a throwaway fd (the first step of the two-step
 * negotiation). Returns the open path that worked too. */
export function queryFeatures(userModeOnly: boolean): { available: bigint; via: OpenVia } {
  const { fd, via } = openFd(userModeOnly);
  try {
    const [available] = handshake(fd, 0n);
    return { available, via };
  } finally {
    native().close(fd);
  }
}

/** What must be released with the fd (a Userfaultfd's finalizer cannot reach the object). */
interface Resources {
  /** The event stream's poll handles (the fd's, a resolver's): closed before the fd (libuv must
   * stop polling first). */
  readinesses?: Set<{ close(): void }>;
}

// A Userfaultfd dropped without close() still has its fd closed when it is collected.
const finalizer = new FinalizationRegistry<{
  raw: RawUffd;
  resources: Resources;
  ref: WeakRef<Userfaultfd>;
}>((held) => {
  openUffds.delete(held.ref);
  try {
    for (const r of held.resources.readinesses ?? []) r.close();
  } finally {
    held.raw.close();
  }
});

/**
 * The open Userfaultfds of this thread, closed when it exits. process.exit() waits for Workers
 * to stop, and a Worker blocked in a fault of a uffd owned here would wait for its resolver,
 * which is exiting: the process hung forever. Closing wakes the blocked threads first.
 */
const openUffds = new Set<WeakRef<Userfaultfd>>();
let exitHookInstalled = false;

function track(ref: WeakRef<Userfaultfd>): void {
  openUffds.add(ref);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const r of [...openUffds]) r.deref()?.close();
    });
  }
}

const disposeSymbol: symbol =
  (Symbol as unknown as { dispose?: symbol }).dispose ?? Symbol.for('nodejs.dispose');

export class Userfaultfd {
  /** Features enabled on this fd plus the informational capability bits the kernel reported. */
  readonly features: ReadonlySet<FeatureName>;
  /** Every feature the kernel offers (the UFFDIO_API reply). */
  readonly availableFeatures: ReadonlySet<FeatureName>;
  readonly via: OpenVia;
  readonly backend: 'kernel' | 'simulated';
  /** Why `backend: 'auto'` fell back to the simulated engine, if it did. */
  readonly fallbackReason: UffdError | undefined;
  /** @internal */
  readonly raw: RawUffd;
  private closedFlag = false;
  private readonly closeHooks = new Set<() => void>();
  /** @internal released with the fd, also by the finalizer */
  readonly resources: Resources = {};
  private readonly selfRef: WeakRef<Userfaultfd>;
  /** @internal the event stream, created on first use */
  stream: EventStream | undefined;
  /** @internal the running native resolver, if any */
  resolver: NativeResolver | undefined;

  /** @internal use Userfaultfd.open / fromFd */
  constructor(
    raw: RawUffd,
    via: OpenVia,
    enabled: bigint,
    available: bigint,
    fallbackReason?: UffdError,
  ) {
    this.raw = raw;
    this.via = via;
    this.backend = raw.backend;
    this.fallbackReason = fallbackReason;
    // Capability-only bits (not behaviour-changing) are "on" whenever the kernel has them.
    let info = 0n;
    for (const name of featureNames(available)) {
      if (!(BEHAVIOUR_FEATURES as readonly string[]).includes(name)) {
        info |= 1n << BigInt(featureBit(name) ?? 0);
      }
    }
    this.features = new Set(featureNames(enabled | info));
    this.availableFeatures = new Set(featureNames(available));
    this.selfRef = new WeakRef(this);
    finalizer.register(this, { raw, resources: this.resources, ref: this.selfRef }, this);
    track(this.selfRef);
    if (raw.backend === 'kernel') {
      // This environment's JS thread is this uffd's natural reader: have the watchdog report a
      // JS-thread fault on it instead of a silent hang (lib/watchdog.ts).
      watchFd(raw.fd);
      this.closeHooks.add(() => unwatchFd(raw.fd));
    }
  }

  /**
   * Opens a userfaultfd (O_CLOEXEC|O_NONBLOCK) and negotiates features in two steps: the
   * available set is read on a throwaway fd, then the wanted set is requested on the real one.
   * @throws {UffdError} EPERM (no permission; see README "Permissions"), ENOSYS, EINVAL, or
   *   ERR_UFFD_UNSUPPORTED when a requested feature is not offered by this kernel.
   */
  static open(options?: OpenOptions): Userfaultfd {
    const opts = checkOpenOptions(options);
    const { backend, userModeOnly, moveEmulation } = opts;
    if (backend === 'simulated') return simulatedOpen(opts);
    try {
      return Userfaultfd.openKernel(opts.features, userModeOnly, moveEmulation);
    } catch (e) {
      if (backend === 'auto' && e instanceof UffdError && isUnavailable(e)) {
        return simulatedOpen(opts, e);
      }
      if (backend === 'auto' && !(e instanceof UffdError) && !nativeAvailable()) {
        // No addon here (not Linux, no prebuild): the kernel path does not exist at all.
        const reason = new UffdError(
          'ERR_UFFD_UNSUPPORTED',
          `the native addon cannot load: ${(e as Error).message}`,
          undefined,
          { cause: e },
        );
        return simulatedOpen(opts, reason);
      }
      throw e;
    }
  }

  private static openKernel(
    wanted: FeatureName[] | undefined,
    userModeOnly: boolean,
    moveEmulation: 'auto' | 'always' | 'never' = 'auto',
  ): Userfaultfd {
    const { available } = queryFeatures(userModeOnly);
    let want: bigint;
    if (wanted === undefined) {
      want = available & (1n << BigInt(FEATURE_BITS.threadId));
    } else {
      want = featureMask(wanted);
      // UFFD_FEATURE_MOVE is informational (the kernel never checks it, spec C52): where the
      // kernel lacks MOVE and the emulation will provide move(), it is not requested.
      const moveBit = 1n << BigInt(FEATURE_BITS.move);
      if ((available & moveBit) === 0n && moveEmulation !== 'never') want &= ~moveBit;
      const missing = featureNames(want & ~available);
      if (missing.length > 0) {
        throw new UffdError(
          'ERR_UFFD_UNSUPPORTED',
          `this kernel does not offer the userfaultfd feature(s) ${missing.join(', ')}`,
          undefined,
          { syscall: 'ioctl', request: 'UFFDIO_API' },
        );
      }
    }
    const { fd, via } = openFd(userModeOnly);
    try {
      const [avail] = handshake(fd, want);
      const emulate =
        moveEmulation === 'always' ||
        (moveEmulation === 'auto' && (avail & (1n << BigInt(FEATURE_BITS.move))) === 0n);
      let raw: RawUffd = new KernelUffd(fd);
      if (emulate) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const em = require('./engine/emulated-move') as typeof import('./engine/emulated-move');
        raw = new em.EmulatedMoveUffd(raw, want);
      }
      return new Userfaultfd(raw, via, want, avail);
    } catch (e) {
      native().close(fd);
      throw e;
    }
  }

  /**
   * Wraps a userfaultfd received from elsewhere (SCM_RIGHTS, pidfd_getfd, a FORK event). The fd
   * is taken over: closing the wrapper closes it. UFFDIO_API has already been done by whoever
   * created it, so the enabled features cannot be read back: pass them if you know them.
   */
  static fromFd(fd: number, options?: { features?: FeatureName[] }): Userfaultfd {
    const opts = checkOptions<{ features?: FeatureName[] }>(options, 'options', ['features']);
    checkFeatures(opts.features);
    const f = toFd(fd);
    checkIsUffd(f);
    const b = native();
    const r = b.setNonBlocking(f);
    if (r < 0) throw UffdError.fromErrno(r, { syscall: 'fcntl' });
    const enabled = featureMask(opts.features ?? []);
    return new Userfaultfd(new KernelUffd(f), 'fd', enabled, enabled);
  }

  /** @internal wrap a raw backend (the simulated engine uses this). */
  static fromRaw(
    raw: RawUffd,
    via: OpenVia,
    enabled: bigint,
    available: bigint,
    reason?: UffdError,
  ): Userfaultfd {
    return new Userfaultfd(raw, via, enabled, available, reason);
  }

  /** True when move() is emulated (COPY + MADV_DONTNEED; see the moveEmulation option). */
  get moveEmulated(): boolean {
    return this.raw.moveEmulated === true;
  }

  /** The file descriptor (-1 for the simulated backend). */
  get fd(): number {
    return this.raw.fd;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  private live(): RawUffd {
    if (this.closedFlag) throw closedError();
    return this.raw;
  }

  private fail(ret: number, request: string, field = NaN): never {
    const f = Number.isNaN(field) ? undefined : field;
    throw UffdError.fromErrno(ret, {
      syscall: 'ioctl',
      request,
      field: f,
      bytesDone: f !== undefined && f > 0 ? f : 0,
    });
  }

  /**
   * UFFDIO_REGISTER: registers [addr, addr+len) for missing, wp and/or minor faults. Returns
   * the ioctls the kernel allows on the range (e.g. 'copy', 'move', 'wake').
   */
  register(addr: Addr, len: Addr, modes?: RegisterModes): ReadonlySet<IoctlName> {
    const m = checkOptions<RegisterModes>(modes, 'modes', ['missing', 'wp', 'minor']);
    const a = toU53(addr, 'addr');
    const l = toU53(len, 'len');
    let mode = 0;
    if (modes === undefined) mode = k('UFFDIO_REGISTER_MODE_MISSING');
    if (toBool(m.missing, 'missing')) mode |= k('UFFDIO_REGISTER_MODE_MISSING');
    if (toBool(m.wp, 'wp')) mode |= k('UFFDIO_REGISTER_MODE_WP');
    if (toBool(m.minor, 'minor')) mode |= k('UFFDIO_REGISTER_MODE_MINOR');
    const r = this.live().register(a, l, mode);
    if (r < 0) this.fail(r, 'UFFDIO_REGISTER');
    return new Set(ioctlNames(BigInt(r)));
  }

  /** UFFDIO_UNREGISTER. Pending missing faults in the range are woken (spec §3.3). */
  unregister(addr: Addr, len: Addr): void {
    const r = this.live().unregister(toU53(addr, 'addr'), toU53(len, 'len'));
    if (r < 0) this.fail(r, 'UFFDIO_UNREGISTER');
  }

  /**
   * UFFDIO_COPY: copies len bytes from src (an address, or a view whose bytes are read in place)
   * into the missing pages at dst, and wakes the faulting threads unless `dontWake`.
   * @returns bytes copied (len)
   * @throws {UffdError} EEXIST (already populated: wake it yourself), EAGAIN with bytesDone > 0
   *   (partial), EAGAIN with bytesDone 0 (an unread fork/remap/remove/unmap event), ENOENT, ...
   */
  copy(
    dst: Addr,
    src: Addr | ArrayBufferView,
    len: Addr,
    options?: { dontWake?: boolean; wp?: boolean },
  ): number {
    // No options (the per-fault hot path): mode 0, nothing to check or allocate (bench/ s1, s3).
    // Otherwise the checks run in their historical order: the bag's keys, the addresses, then
    // the option values.
    const o =
      options === undefined ? undefined : checkOptions<CopyOptions>(options, 'options', COPY_KEYS);
    const d = toU53(dst, 'dst');
    const l = toU53(len, 'len');
    let s: number | ArrayBufferView;
    if (ArrayBuffer.isView(src)) {
      if (l > src.byteLength) {
        throw rangeError(`len (${l}) is larger than the source view (${src.byteLength} bytes)`);
      }
      s = src;
    } else {
      s = toU53(src, 'src');
    }
    const mode = o === undefined ? 0 : copyBits(o);
    const raw = this.live();
    const r = raw.copy(d, s, l, mode);
    if (r < 0) this.fail(r, 'UFFDIO_COPY', raw.lastField());
    return raw.lastField();
  }

  /** UFFDIO_ZEROPAGE: maps the zero page at the missing pages of [dst, dst+len). */
  zeropage(dst: Addr, len: Addr, options?: { dontWake?: boolean }): number {
    const mode = options === undefined ? 0 : zeropageMode(options);
    const raw = this.live();
    const r = raw.zeropage(toU53(dst, 'dst'), toU53(len, 'len'), mode);
    if (r < 0) this.fail(r, 'UFFDIO_ZEROPAGE', raw.lastField());
    return raw.lastField();
  }

  /**
   * UFFDIO_MOVE (Linux 6.8+): moves the pages of [src, src+len) to [dst, dst+len) without
   * copying. dst must be registered with this uffd; both ranges private anonymous with equal
   * protection and mlock state (spec §2.2). src reads zero (or faults) afterwards.
   * @throws {UffdError} EEXIST, ENOENT (src hole; see allowSrcHoles), EBUSY (page shared with a
   *   fork child, KSM or pinned), EINVAL, EAGAIN (partial: bytesDone > 0; or an unread event).
   */
  move(
    dst: Addr,
    src: Addr,
    len: Addr,
    options?: { dontWake?: boolean; allowSrcHoles?: boolean },
  ): number {
    const mode = options === undefined ? 0 : moveMode(options);
    const raw = this.live();
    const r = raw.move(toU53(dst, 'dst'), toU53(src, 'src'), toU53(len, 'len'), mode);
    if (r < 0) this.fail(r, 'UFFDIO_MOVE', raw.lastField());
    return raw.lastField();
  }

  /** UFFDIO_WAKE: wakes threads faulting in [addr, addr+len); no registration needed. */
  wake(addr: Addr, len: Addr): void {
    const r = this.live().wake(toU53(addr, 'addr'), toU53(len, 'len'));
    if (r < 0) this.fail(r, 'UFFDIO_WAKE');
  }

  /**
   * UFFDIO_WRITEPROTECT: protect (true) or unprotect (false) [addr, addr+len), which must be
   * registered with wp. Unprotecting wakes the range unless `dontWake`.
   */
  writeProtect(addr: Addr, len: Addr, protect: boolean, options?: { dontWake?: boolean }): void {
    const o = checkOptions<{ dontWake: boolean }>(options, 'options', ['dontWake']);
    if (typeof protect !== 'boolean') {
      throw typeError('The "protect" argument must be a boolean');
    }
    const mode =
      (protect ? k('UFFDIO_WRITEPROTECT_MODE_WP') : 0) |
      (toBool(o.dontWake, 'dontWake') ? k('UFFDIO_WRITEPROTECT_MODE_DONTWAKE') : 0);
    const r = this.live().writeprotect(toU53(addr, 'addr'), toU53(len, 'len'), mode);
    if (r < 0) this.fail(r, 'UFFDIO_WRITEPROTECT');
  }

  /** UFFDIO_CONTINUE: maps the existing page-cache pages of a minor-registered shmem range. */
  continue(addr: Addr, len: Addr, options?: { dontWake?: boolean; wp?: boolean }): number {
    const o = checkOptions<{ dontWake: boolean; wp: boolean }>(options, 'options', [
      'dontWake',
      'wp',
    ]);
    const mode =
      (toBool(o.dontWake, 'dontWake') ? k('UFFDIO_CONTINUE_MODE_DONTWAKE') : 0) |
      (toBool(o.wp, 'wp') ? k('UFFDIO_CONTINUE_MODE_WP') : 0);
    const raw = this.live();
    const r = raw.continue(toU53(addr, 'addr'), toU53(len, 'len'), mode);
    if (r < 0) this.fail(r, 'UFFDIO_CONTINUE', raw.lastField());
    return raw.lastField();
  }

  /** UFFDIO_POISON (6.6+): marks the missing pages so any access raises SIGBUS. */
  poison(addr: Addr, len: Addr, options?: { dontWake?: boolean }): number {
    const o = checkOptions<{ dontWake: boolean }>(options, 'options', ['dontWake']);
    const mode = toBool(o.dontWake, 'dontWake') ? k('UFFDIO_POISON_MODE_DONTWAKE') : 0;
    const raw = this.live();
    const r = raw.poison(toU53(addr, 'addr'), toU53(len, 'len'), mode);
    if (r < 0) this.fail(r, 'UFFDIO_POISON', raw.lastField());
    return raw.lastField();
  }

  /**
   * Finishes a MOVE: issues it, and while the kernel reports partial progress (EAGAIN with a
   * positive result field) retries the remainder, as the kernel docs tell userland to do. Returns
   * len, or throws the first real error with `bytesDone` = every byte moved across the retries.
   * An EAGAIN with bytesDone 0 (an unread non-cooperative event) is thrown as is: read the events,
   * then call again.
   */
  completeMove(
    dst: Addr,
    src: Addr,
    len: Addr,
    options?: { dontWake?: boolean; allowSrcHoles?: boolean },
  ): number {
    const d = toU53(dst, 'dst');
    const s = toU53(src, 'src');
    return this.completeLoop(toU53(len, 'len'), (done, rest) =>
      this.move(d + done, s + done, rest, options),
    );
  }

  /** Finishes a COPY across partial progress; see completeMove. */
  completeCopy(
    dst: Addr,
    src: Addr | ArrayBufferView,
    len: Addr,
    options?: { dontWake?: boolean; wp?: boolean },
  ): number {
    const d = toU53(dst, 'dst');
    const l = toU53(len, 'len');
    if (ArrayBuffer.isView(src)) {
      // A view of a detached buffer has byteLength 0, and new Uint8Array() over its buffer throws.
      const bytes =
        src.byteLength === 0
          ? new Uint8Array(0)
          : new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
      if (l > bytes.byteLength) {
        throw rangeError(`len (${l}) is larger than the source view (${bytes.byteLength} bytes)`);
      }
      return this.completeLoop(l, (done, rest) =>
        this.copy(d + done, bytes.subarray(done), rest, options),
      );
    }
    const s = toU53(src, 'src');
    return this.completeLoop(l, (done, rest) => this.copy(d + done, s + done, rest, options));
  }

  /** Finishes a ZEROPAGE across partial progress; see completeMove. */
  completeZeropage(dst: Addr, len: Addr, options?: { dontWake?: boolean }): number {
    const d = toU53(dst, 'dst');
    return this.completeLoop(toU53(len, 'len'), (done, rest) =>
      this.zeropage(d + done, rest, options),
    );
  }

  private completeLoop(len: number, op: (done: number, rest: number) => number): number {
    let done = 0;
    for (;;) {
      try {
        done += op(done, len - done);
        return done;
      } catch (e) {
        if (e instanceof UffdError && e.code === 'EAGAIN' && e.bytesDone > 0) {
          done += e.bytesDone;
          if (done >= len) return done;
          continue;
        }
        if (e instanceof UffdError) e.bytesDone += done;
        throw e;
      }
    }
  }

  /**
   * Batched MOVE: one native call issues UFFDIO_MOVE for each (dst, src, len) triple of
   * `entries` (a Float64Array of 3n numbers), stopping at the first that does not complete.
   * @returns the number of entries fully moved (entries.length / 3 when all were)
   * @throws {UffdError} for the failing entry, with `index` and bytesDone of that entry
   */
  moveBatch(
    entries: Float64Array,
    options?: { dontWake?: boolean; allowSrcHoles?: boolean },
  ): number {
    const mode = options === undefined ? 0 : moveMode(options);
    checkEntries(entries);
    const raw = this.live();
    return this.batchResult(raw, raw.moveBatch(entries, mode), entries, 'UFFDIO_MOVE');
  }

  /** Batched COPY; see moveBatch. */
  copyBatch(entries: Float64Array, options?: { dontWake?: boolean; wp?: boolean }): number {
    const mode = options === undefined ? 0 : copyMode(options);
    checkEntries(entries);
    const raw = this.live();
    return this.batchResult(raw, raw.copyBatch(entries, mode), entries, 'UFFDIO_COPY');
  }

  private batchResult(raw: RawUffd, done: number, entries: Float64Array, request: string): number {
    if (done * 3 >= entries.length) return done;
    const field = raw.lastField();
    const f = Number.isNaN(field) ? undefined : field;
    const err = UffdError.fromErrno(raw.lastBatchErrno(), {
      syscall: 'ioctl',
      request,
      field: f,
      bytesDone: f !== undefined && f > 0 ? f : 0,
    });
    (err as UffdError & { index: number }).index = done;
    throw err;
  }

  /**
   * An async iterator of events (page faults, fork, remap, remove, unmap). Single consumer;
   * polls only while the consumer waits; ends on close() or when `signal` aborts.
   */
  events(options?: EventsOptions): AsyncIterableIterator<UffdEvent> {
    this.live();
    return streamOf(this).iterate(options);
  }

  /** Keeps the process alive while an event iterator waits (the default). */
  ref(): this {
    if (!this.closedFlag) this.streamNow().ref();
    return this;
  }

  /**
   * Lets the process exit while an event iterator waits with nothing pending. Applies to
   * iterators started before or after the call, and to `serve()`. A no-op once closed.
   */
  unref(): this {
    if (!this.closedFlag) this.streamNow().unref();
    return this;
  }

  private streamNow(): EventStream {
    return streamOf(this);
  }

  /**
   * Serves page faults with an async handler, one `events()` consumer that applies the kernel's
   * rules around it (lib/serve.ts): non-cooperative events are read before faults are retried,
   * EAGAIN is retried without waiting for a new message, EEXIST is woken, and a fault whose
   * handler throws is resolved by `onHandlerError` (default: poison, so the faulting thread gets
   * SIGBUS rather than silent zeros) and the error is surfaced (`onError`, else `done` rejects).
   *
   * ```ts
   * const server = uffd.serve((ev, { page }) => { uffd.move(page, src + (page - dst), ps); });
   * await server.stop();
   * ```
   * @throws {UffdError} ERR_UFFD_ITERATOR_BUSY if an events() iterator is already active
   */
  serve(handler: FaultHandler, options?: ServeOptions): FaultServer {
    this.live();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { FaultServer } = require('./serve') as typeof import('./serve');
    return new FaultServer(this, handler, options ?? {}, this.pageSize());
  }

  /**
   * Starts a native resolver thread serving the missing faults of `ranges` by policy
   * ('zeropage', 'copy' from `source`, 'move' from `source`) with no JS on the path
   * (lib/resolver.ts). While it runs it owns read(2) of this fd; other messages are forwarded to
   * `events()`. Stops on `stop()`, `close()` and environment teardown.
   * @throws {UffdError} ERR_UFFD_RESOLVER_BUSY if a resolver already runs on this uffd;
   *   ERR_UFFD_UNSUPPORTED for a 'move' range when move() is emulated (kernels before 6.8)
   */
  startResolver(options: ResolverOptions): NativeResolver {
    this.live();
    if (this.backend !== 'kernel') {
      throw new UffdError('ERR_UFFD_UNSUPPORTED', 'native resolvers need the kernel backend');
    }
    if (this.resolver !== undefined) {
      throw new UffdError(
        'ERR_UFFD_RESOLVER_BUSY',
        'a native resolver already runs on this userfaultfd; stop() it first',
      );
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { NativeResolver } = require('./resolver') as typeof import('./resolver');
    this.resolver = new NativeResolver(this, options);
    return this.resolver;
  }

  /**
   * The page size of the memory this uffd serves: the system's, or its simulated space's (which
   * may be 16K or 64K, and needs no addon).
   */
  private pageSize(): number {
    if (this.backend === 'kernel') return native().pageSize();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { simulatedSpaceOf } = require('./engine/open') as typeof import('./engine/open');
    return simulatedSpaceOf(this)?.pageSize ?? 4096;
  }

  /** @internal run fn when this uffd closes (event streams, resolvers). */
  onClose(fn: () => void): () => void {
    this.closeHooks.add(fn);
    return () => this.closeHooks.delete(fn);
  }

  /**
   * Closes the fd. Idempotent. When this was the last reference to the userfaultfd (no dup, no
   * copy in another process, no native resolver holding it), the kernel unregisters every range
   * and wakes every blocked thread: they retry as ordinary faults and see zero-filled pages.
   * Every event iterator ends.
   */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const fn of [...this.closeHooks]) {
      try {
        fn();
      } catch {
        // a hook must not keep the fd open
      }
    }
    this.closeHooks.clear();
    finalizer.unregister(this);
    openUffds.delete(this.selfRef);
    this.resources.readinesses = undefined;
    this.raw.close();
  }

  [Symbol.for('nodejs.dispose')](): void {
    this.close();
  }
}

// Symbol.dispose (TC39 explicit resource management) where the runtime has it.
if (disposeSymbol !== Symbol.for('nodejs.dispose')) {
  Object.defineProperty(Userfaultfd.prototype, disposeSymbol, {
    value(this: Userfaultfd) {
      this.close();
    },
    configurable: true,
  });
}

// Mode bits from an options bag (checked: an object with only the listed keys, boolean values).
// Called only when options are given: the resolving calls skip them entirely without options.
const COPY_KEYS = ['dontWake', 'wp'] as const;
const ZEROPAGE_KEYS = ['dontWake'] as const;
const MOVE_KEYS = ['dontWake', 'allowSrcHoles'] as const;

type CopyOptions = { dontWake: boolean; wp: boolean };

function copyMode(options: unknown): number {
  return copyBits(checkOptions<CopyOptions>(options, 'options', COPY_KEYS));
}

function copyBits(o: Partial<CopyOptions>): number {
  return (
    (toBool(o.dontWake, 'dontWake') ? k('UFFDIO_COPY_MODE_DONTWAKE') : 0) |
    (toBool(o.wp, 'wp') ? k('UFFDIO_COPY_MODE_WP') : 0)
  );
}

function zeropageMode(options: unknown): number {
  const o = checkOptions<{ dontWake: boolean }>(options, 'options', ZEROPAGE_KEYS);
  return toBool(o.dontWake, 'dontWake') ? k('UFFDIO_ZEROPAGE_MODE_DONTWAKE') : 0;
}

function moveMode(options: unknown): number {
  const o = checkOptions<{ dontWake: boolean; allowSrcHoles: boolean }>(
    options,
    'options',
    MOVE_KEYS,
  );
  return (
    (toBool(o.dontWake, 'dontWake') ? k('UFFDIO_MOVE_MODE_DONTWAKE') : 0) |
    (toBool(o.allowSrcHoles, 'allowSrcHoles') ? k('UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES') : 0)
  );
}

/**
 * fromFd takes the fd over (close() closes it), so it must be a userfaultfd: a wrong number
 * (found by the fuzzer: a stray small integer) would otherwise be made O_NONBLOCK and later
 * closed under whoever owns it (node's own epoll fd, a socket). /proc/self/fd tells; where /proc
 * is not mounted the check is skipped.
 */
function checkIsUffd(fd: number): void {
  let target: string;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs = require('node:fs') as typeof import('node:fs');
    target = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && hasProcFs()) {
      throw UffdError.fromErrno(-9 /* EBADF */, { syscall: 'fcntl' });
    }
    return;
  }
  if (target !== 'anon_inode:[userfaultfd]') {
    throw new UffdError(
      'ERR_UFFD_NOT_A_UFFD',
      `fd ${fd} is not a userfaultfd (it is ${target}); fromFd() takes the fd over`,
    );
  }
}

function hasProcFs(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('node:fs') as typeof import('node:fs')).existsSync('/proc/self/fd');
  } catch {
    return false;
  }
}

/** The features option: an array of known feature names ('move', 'bit17'), checked up front. */
/**
 * @internal The checks of `Userfaultfd.open()`'s options, shared with the simulated spaces'
 * `userfaultfd()` (lib/engine/open.ts) so that both refuse the same values the same way.
 */
export function checkOpenOptions(
  options: unknown,
): Partial<OpenOptions> &
  Required<Pick<OpenOptions, 'backend' | 'userModeOnly' | 'moveEmulation'>> {
  const opts = checkOptions<OpenOptions>(options, 'options', [
    'features',
    'userModeOnly',
    'backend',
    'moveEmulation',
  ]);
  const backend = opts.backend ?? 'kernel';
  if (!['auto', 'kernel', 'simulated'].includes(backend)) {
    throw typeError(`The "backend" option must be 'auto', 'kernel' or 'simulated'`);
  }
  const userModeOnly =
    opts.userModeOnly === undefined ? true : toBool(opts.userModeOnly, 'userModeOnly');
  checkFeatures(opts.features);
  const moveEmulation = opts.moveEmulation ?? 'auto';
  if (!['auto', 'always', 'never'].includes(moveEmulation)) {
    throw typeError(`The "moveEmulation" option must be 'auto', 'always' or 'never'`);
  }
  return { features: opts.features, backend, userModeOnly, moveEmulation };
}

function checkFeatures(features: unknown): void {
  if (features === undefined) return;
  if (!Array.isArray(features)) {
    throw typeError('The "features" option must be an array of feature names');
  }
  for (const f of features as unknown[]) {
    if (typeof f !== 'string' || featureBit(f) === undefined) {
      throw typeError(`Unknown feature name: ${describe(f)}`, 'ERR_INVALID_ARG_VALUE');
    }
  }
}

function checkEntries(entries: Float64Array): void {
  if (!(entries instanceof Float64Array)) {
    throw typeError('The "entries" argument must be a Float64Array of (dst, src, len) triples');
  }
  if (entries.length % 3 !== 0) {
    throw rangeError('entries.length must be a multiple of 3');
  }
  for (let i = 0; i < entries.length; i++) {
    const v = entries[i] as number;
    if (!Number.isSafeInteger(v) || v < 0) {
      throw rangeError(`entries[${i}] is not a safe non-negative integer: ${v}`);
    }
  }
}

/** Errors for which `backend: 'auto'` falls back: the kernel path is not there at all. */
function isUnavailable(e: UffdError): boolean {
  return ['EPERM', 'ENOSYS', 'EACCES', 'ERR_UFFD_UNSUPPORTED', 'ENOTSUP'].includes(e.code);
}

function simulatedOpen(opts: Partial<OpenOptions>, reason?: UffdError): Userfaultfd {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const engine = require('./engine') as {
    openSimulated?: (o: Partial<OpenOptions>, r?: UffdError) => Userfaultfd;
  };
  if (engine.openSimulated === undefined) {
    throw new UffdError(
      'ERR_UFFD_UNSUPPORTED',
      'the simulated backend is not available',
      undefined,
      {
        cause: reason,
      },
    );
  }
  return engine.openSimulated(opts, reason);
}

export { MSG_SIZE };
