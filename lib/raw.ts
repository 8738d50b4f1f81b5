/**
 * The raw userfaultfd vocabulary shared by the two backends: the kernel (through the addon) and
 * the simulated engine (lib/engine). Each call does one operation and reports exactly what the
 * kernel would: 0 or a value >= 0 on success, a negative errno on failure, and the ioctl's result
 * field in `lastField()` (NaN when untouched, spec §3.10). All policy (errors, partial progress,
 * retries, events) lives above this, in Userfaultfd, and is therefore identical for both.
 */
import { native, type NativeBinding } from './binding';
import { UffdError } from './errors';

export type Addr = number | bigint;

/** Something a consumer can wait on for readability (a uv_poll on the kernel fd). */
export interface Readiness {
  start(): number;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface RawUffd {
  readonly backend: 'kernel' | 'simulated';
  /** The fd for the kernel backend; -1 for the simulated one. */
  readonly fd: number;
  lastField(): number;
  register(start: Addr, len: Addr, mode: Addr): number;
  unregister(start: Addr, len: Addr): number;
  wake(start: Addr, len: Addr): number;
  copy(dst: Addr, src: Addr | ArrayBufferView, len: Addr, mode: Addr): number;
  zeropage(start: Addr, len: Addr, mode: Addr): number;
  move(dst: Addr, src: Addr, len: Addr, mode: Addr): number;
  continue(start: Addr, len: Addr, mode: Addr): number;
  poison(start: Addr, len: Addr, mode: Addr): number;
  writeprotect(start: Addr, len: Addr, mode: Addr): number;
  /** Batched MOVE/COPY of (dst, src, len) triples: entries fully done; errno in lastBatchErrno. */
  moveBatch(entries: Float64Array, mode: Addr): number;
  copyBatch(entries: Float64Array, mode: Addr): number;
  lastBatchErrno(): number;
  /** Reads whole 32-byte uffd_msg records: the count, or -errno (-EAGAIN when none). */
  readMsgs(buffer: Uint8Array): number;
  readiness(onReadable: (status: number, events: number) => void): Readiness;
  close(): number;
  /** Wraps the fd of a FORK message (backends whose fds are not kernel fds). */
  forkChild?(fd: number, features: readonly string[]): import('./userfaultfd').Userfaultfd;
  /** True when move() is emulated with COPY + MADV_DONTNEED (lib/engine/emulated-move.ts). */
  readonly moveEmulated?: boolean;
}

/** The kernel backend: each method is one ioctl through the addon. */
export class KernelUffd implements RawUffd {
  readonly backend = 'kernel' as const;
  private readonly b: NativeBinding;
  private readonly result: Float64Array;
  // The per-fault calls, held as own fields: the addon's exports object is in V8's dictionary
  // mode (too many properties set from C++), so `this.b.move` is a generic lookup on every call
  // while a field of this class is an inline-cached load (bench/ scenario 3 profile).
  private readonly copyFn: NativeBinding['copy'];
  private readonly zeropageFn: NativeBinding['zeropage'];
  private readonly moveFn: NativeBinding['move'];
  private readonly wakeFn: NativeBinding['wake'];
  private readonly readMsgsFn: NativeBinding['readMsgs'];

  constructor(readonly fd: number) {
    this.b = native();
    this.result = this.b.result;
    this.copyFn = this.b.copy;
    this.zeropageFn = this.b.zeropage;
    this.moveFn = this.b.move;
    this.wakeFn = this.b.wake;
    this.readMsgsFn = this.b.readMsgs;
    // fds from fromFd (SCM_RIGHTS, FORK events) too: closed if this environment goes away first.
    this.b.ownFd(fd);
  }

  lastField(): number {
    return this.result[0] as number;
  }
  lastBatchErrno(): number {
    return this.result[1] as number;
  }
  register(start: Addr, len: Addr, mode: Addr): number {
    return this.b.register(this.fd, start, len, mode);
  }
  unregister(start: Addr, len: Addr): number {
    return this.b.unregister(this.fd, start, len);
  }
  wake(start: Addr, len: Addr): number {
    return this.wakeFn(this.fd, start, len);
  }
  copy(dst: Addr, src: Addr | ArrayBufferView, len: Addr, mode: Addr): number {
    return this.copyFn(this.fd, dst, src, len, mode);
  }
  zeropage(start: Addr, len: Addr, mode: Addr): number {
    return this.zeropageFn(this.fd, start, len, mode);
  }
  move(dst: Addr, src: Addr, len: Addr, mode: Addr): number {
    return this.moveFn(this.fd, dst, src, len, mode);
  }
  continue(start: Addr, len: Addr, mode: Addr): number {
    return this.b.continue(this.fd, start, len, mode);
  }
  poison(start: Addr, len: Addr, mode: Addr): number {
    return this.b.poison(this.fd, start, len, mode);
  }
  writeprotect(start: Addr, len: Addr, mode: Addr): number {
    return this.b.writeprotect(this.fd, start, len, mode);
  }
  moveBatch(entries: Float64Array, mode: Addr): number {
    return this.b.moveBatch(this.fd, entries, mode);
  }
  copyBatch(entries: Float64Array, mode: Addr): number {
    return this.b.copyBatch(this.fd, entries, mode);
  }
  readMsgs(buffer: Uint8Array): number {
    return this.readMsgsFn(this.fd, buffer);
  }
  readiness(onReadable: (status: number, events: number) => void): Readiness {
    try {
      return new this.b.Poller(this.fd, onReadable);
    } catch (e) {
      // uv_poll_init's failure (an fd epoll refuses, e.g. fromFd of a regular file): a UffdError
      // with the errno, like every other syscall failure.
      const errno = (e as { errno?: unknown }).errno;
      if (typeof errno === 'number' && errno < 0) {
        throw UffdError.fromErrno(errno, { syscall: 'epoll_ctl' });
      }
      throw e;
    }
  }
  close(): number {
    return this.b.close(this.fd);
  }
}
