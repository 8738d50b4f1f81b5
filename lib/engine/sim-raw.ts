/**
 * `SimRawUffd`: the simulated backend of `RawUffd` (lib/raw.ts). Every method does what the
 * kernel would for one ioctl on a simulated uffd fd: 0 or a value >= 0, or -errno, with the
 * result field in lastField() (NaN = untouched). Userfaultfd (lib/userfaultfd.ts) wraps it
 * unchanged, so errors, bytesDone, complete*() and events() behave the same on both backends.
 */
import type { Addr, RawUffd, Readiness } from '../raw';
import type { Userfaultfd } from '../userfaultfd';
import type { SimKernel } from './sys';
import type { IoctlResult } from './ops';
import * as U from './uapi';

function bytesOf(v: ArrayBufferView, len: number): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, Math.min(len, v.byteLength));
}

export class SimRawUffd implements RawUffd {
  readonly backend = 'simulated' as const;
  /** The simulated backend has no kernel fd. */
  readonly fd = -1;
  private field = NaN;
  private batchErrno = 0;
  private closed = false;

  /**
   * @param sys the fd table of the process issuing the ioctls (current)
   * @param simFd the fd in that table
   */
  constructor(
    readonly sys: SimKernel,
    readonly simFd: number,
  ) {}

  private res(r: IoctlResult): number {
    this.field = r.field;
    return r.ret;
  }

  lastField(): number {
    return this.field;
  }
  lastBatchErrno(): number {
    return this.batchErrno;
  }
  register(start: Addr, len: Addr, mode: Addr): number {
    return this.sys.register(this.simFd, start, len, mode);
  }
  unregister(start: Addr, len: Addr): number {
    return this.sys.unregister(this.simFd, start, len);
  }
  wake(start: Addr, len: Addr): number {
    return this.sys.wake(this.simFd, start, len);
  }
  copy(dst: Addr, src: Addr | ArrayBufferView, len: Addr, mode: Addr): number {
    const s = ArrayBuffer.isView(src) ? bytesOf(src, Number(len)) : src;
    return this.res(this.sys.copy(this.simFd, dst, s, len, mode));
  }
  zeropage(start: Addr, len: Addr, mode: Addr): number {
    return this.res(this.sys.zeropage(this.simFd, start, len, mode));
  }
  move(dst: Addr, src: Addr, len: Addr, mode: Addr): number {
    return this.res(this.sys.move(this.simFd, dst, src, len, mode));
  }
  continue(start: Addr, len: Addr, mode: Addr): number {
    return this.res(this.sys.continue(this.simFd, start, len, mode));
  }
  poison(start: Addr, len: Addr, mode: Addr): number {
    return this.res(this.sys.poison(this.simFd, start, len, mode));
  }
  writeprotect(start: Addr, len: Addr, mode: Addr): number {
    return this.sys.writeprotect(this.simFd, start, len, mode);
  }

  private batch(entries: Float64Array, one: (d: number, s: number, l: number) => number): number {
    const n = entries.length / 3;
    for (let i = 0; i < n; i++) {
      const ret = one(entries[3 * i]!, entries[3 * i + 1]!, entries[3 * i + 2]!);
      if (ret !== 0) {
        this.batchErrno = ret;
        return i;
      }
    }
    this.field = NaN;
    this.batchErrno = 0;
    return n;
  }
  moveBatch(entries: Float64Array, mode: Addr): number {
    return this.batch(entries, (d, s, l) => this.move(d, s, l, mode));
  }
  copyBatch(entries: Float64Array, mode: Addr): number {
    return this.batch(entries, (d, s, l) => this.copy(d, s, l, mode));
  }

  readMsgs(buffer: Uint8Array): number {
    return this.sys.readMsgs(this.simFd, buffer);
  }

  /**
   * Readability the way a uv_poll delivers it: start() reports asynchronously (setImmediate)
   * whenever messages are pending; while started and ref'd it keeps the event loop alive.
   */
  readiness(onReadable: (status: number, events: number) => void): Readiness {
    const ctx = this.sys.ctx(this.simFd);
    let active = false;
    let scheduled = false;
    let refd = true;
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    let unsubscribe: (() => void) | undefined;
    const fire = (): void => {
      if (!active || scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        if (!active) return;
        const revents = this.sys.poll(this.simFd);
        if (revents & U.POLLERR) onReadable(-U.EBADF, 0);
        else if (revents & U.POLLIN) onReadable(0, 1);
      });
    };
    const hold = (): void => {
      if (active && refd && keepAlive === undefined) keepAlive = setInterval(() => {}, 1 << 30);
      if ((!active || !refd) && keepAlive !== undefined) {
        clearInterval(keepAlive);
        keepAlive = undefined;
      }
    };
    return {
      start: (): number => {
        if (ctx === undefined) return -U.EBADF;
        active = true;
        unsubscribe ??= ctx.onMessage(fire);
        hold();
        const revents = this.sys.poll(this.simFd);
        if (revents !== 0) fire();
        return 0;
      },
      stop: (): void => {
        active = false;
        hold();
      },
      close: (): void => {
        active = false;
        hold();
        unsubscribe?.();
        unsubscribe = undefined;
      },
      ref: (): void => {
        refd = true;
        hold();
      },
      unref: (): void => {
        refd = false;
        hold();
      },
    };
  }

  /** A FORK message's fd, wrapped (lib/events.ts calls this for the simulated backend). */
  forkChild(fd: number, features: readonly string[]): Userfaultfd {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { wrapSimFd } = require('./open') as typeof import('./open');
    return wrapSimFd(this.sys, fd, features);
  }

  close(): number {
    if (this.closed) return -U.EBADF;
    this.closed = true;
    return this.sys.close(this.simFd);
  }
}
