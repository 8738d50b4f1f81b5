/**
 * The typed loader: the only place that sees the addon untyped. Everything in lib/ goes through
 * `native()`, which loads the addon on first use, so that the pure-TS parts of the package (the
 * simulated engine, the error types) work on systems where the addon cannot load (not Linux,
 * no prebuild and no compiler).
 */
import { join } from 'node:path';

/** The result of a task run on a native thread (see `touch`). */
export interface NativeAccessResult {
  accesses: number;
  sum: number;
  threadId: number;
  signal?: 'SIGBUS' | 'SIGSEGV';
  faultAddress?: number;
  data?: Buffer;
}

export interface NativePoller {
  start(): number;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

type U64 = number | bigint;

/** A native resolver thread (native/resolver.cc). */
export interface NativeResolverHandle {
  readonly notifyFd: number;
  readonly running: boolean;
  /** The -errno that ended the thread on its own, else 0. */
  readonly error: number;
  start(): number;
  stop(): void;
  take(buffer: Uint8Array): number;
  counters(): {
    faults: number;
    resolved: number;
    eexist: number;
    eagain: number;
    errors: number;
    forwarded: number;
  };
}

/** A fail-loud watchdog thread (native/fail_loud.cc). */
export interface NativeWatchdog {
  stop(): void;
  /** 0, or 1 (server exited) / 2 (stall) once it tripped. */
  readonly tripped: number;
}

/** The addon's exports (native/*.cc). Failures are returned as negative errno values. */
export interface NativeBinding {
  readonly result: Float64Array;
  readonly constants: Readonly<Record<string, number>>;
  open(flags: number): number;
  devOpen(flags: number): [number, 'open' | 'ioctl'];
  api(fd: number, api: U64, features: U64): [number, bigint, bigint, bigint];
  register(fd: number, start: U64, len: U64, mode: U64): number;
  unregister(fd: number, start: U64, len: U64): number;
  wake(fd: number, start: U64, len: U64): number;
  copy(fd: number, dst: U64, src: U64 | ArrayBufferView, len: U64, mode: U64): number;
  zeropage(fd: number, start: U64, len: U64, mode: U64): number;
  move(fd: number, dst: U64, src: U64, len: U64, mode: U64): number;
  continue(fd: number, start: U64, len: U64, mode: U64): number;
  poison(fd: number, start: U64, len: U64, mode: U64): number;
  writeprotect(fd: number, start: U64, len: U64, mode: U64): number;
  moveBatch(fd: number, entries: Float64Array, mode: U64): number;
  copyBatch(fd: number, entries: Float64Array, mode: U64): number;
  rawIoctl(fd: number, request: U64, arg: Buffer | null): number;
  readMsgs(fd: number, buffer: Uint8Array): number;
  /** poll(2) once: revents, or -errno (tests: POLLERR before UFFDIO_API / on a blocking fd). */
  poll(fd: number, events: number, timeoutMs: number): number;
  close(fd: number): number;
  dup(fd: number): number;
  setNonBlocking(fd: number): number;
  strerror(errno: number): string;
  mmap(addr: U64, len: U64, prot: number, flags: number, fd: number, offset: U64): number;
  munmap(addr: U64, len: U64): number;
  mprotect(addr: U64, len: U64, prot: number): number;
  madvise(addr: U64, len: U64, advice: number): number;
  mlock(addr: U64, len: U64, flags: number): number;
  munlock(addr: U64, len: U64): number;
  mremap(oldAddr: U64, oldLen: U64, newLen: U64, flags: number, newAddr: U64): number;
  memfdCreate(name: string, flags: number): number;
  ftruncate(fd: number, len: U64): number;
  regionAdd(addr: U64, len: U64, guard?: number): void;
  regionUnmap(addr: U64): number;
  regionContains(addr: U64, len: U64): boolean;
  regionOverlaps(addr: U64, len: U64): boolean;
  regionView(addr: U64, len: U64): ArrayBuffer | null;
  detach(buffer: ArrayBuffer): boolean;
  addressOf(buffer: ArrayBuffer | ArrayBufferView): number;
  pageSize(): number;
  touch(
    addr: U64,
    len: U64,
    kind: number,
    stride: U64,
    value?: number | Uint8Array,
  ): Promise<NativeAccessResult>;
  forkPause(): Promise<number>;
  reap(pid: number): Promise<number>;
  forkIoctl(fd: number, op: number, a: U64, b: U64, len: U64, mode: U64): Promise<[number, number]>;
  orphanUffd(flags: number, features: U64): Promise<number>;
  gettid(): number;
  /** Marks an fd as owned by this environment: closed at its teardown if JS never closes it. */
  ownFd(fd: number): void;
  ownedFdCount(): number;
  /** Poisons every missing page of a range: [poisoned bytes, present bytes skipped, -errno|0]. */
  poisonRange(fd: number, start: U64, len: U64): [number, number, number];
  pidfdOpen(pid: number): number;
  Watchdog: new (
    fd: number,
    pidfd: number,
    stallMs: number,
    ranges: Float64Array,
    action: number,
    onTrip: (reason: 'server-exit' | 'stall', poisoned: number, errno: number) => void,
  ) => NativeWatchdog;
  Poller: new (fd: number, onReadable: (status: number, events: number) => void) => NativePoller;
  // native/scm.cc
  sendFds(socketFd: number, fds: number[], payload: Uint8Array, timeoutMs: number): Promise<number>;
  recvFds(
    socketFd: number,
    maxPayload: number,
    timeoutMs: number,
  ): Promise<[number, number[], Buffer, number]>;
  socketPair(type: number): number[];
  pidfdOpen(pid: number): number;
  pidfdGetfd(pidfd: number, targetFd: number): number;
  // native/watchdog.cc
  watchdogWatch(fd: number): number;
  watchdogUnwatch(fd: number): void;
  watchdogSkip(fd: number, skip: boolean): void;
  watchdogConfigure(policy: number, thresholdMs: number): void;
  watchdogTake(fd: number, buffer: Uint8Array): number;
  watchdogJsTid(): number;
  // native/resolver.cc
  Resolver: new (
    fd: number,
    ranges: Float64Array,
    forward: boolean,
    batch: number,
  ) => NativeResolverHandle;
  // native/pin.cc (tests and diagnostics: spec §5.2 X3/X4)
  /** A long-term pin of [addr, addr+len) as an io_uring fixed buffer: the ring fd, or -errno. */
  ioUringPin(addr: U64, len: U64): number;
  /** IORING_UNREGISTER_BUFFERS: unpins before returning; 0 or -errno (then close the fd). */
  ioUringUnpin(ringFd: number): number;
}

let cached: NativeBinding | undefined;
let loadError: Error | undefined;

/** Loads the addon (prebuild or local build) once; throws the load error on every call after. */
export function native(): NativeBinding {
  if (cached !== undefined) return cached;
  if (loadError !== undefined) throw loadError;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    cached = load(process.env.USERFAULTFD_ADDON_DIR ?? join(__dirname, '..'));
    return cached;
  } catch (e) {
    loadError = e as Error;
    throw loadError;
  }
}

/** Whether the addon loads here, without throwing. */
export function nativeAvailable(): boolean {
  try {
    native();
    return true;
  } catch {
    return false;
  }
}
