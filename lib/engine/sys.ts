/**
 * The simulated syscalls of one process: its fd table, userfaultfd(2), /dev/userfaultfd,
 * UFFDIO_API, the ioctl dispatcher (with the "not initialised" check of userfaultfd_ioctl),
 * read(2) and poll(2) (spec §1.1, §1.6, §3.1). The signatures mirror the addon's (lib/binding.ts)
 * so the same probe code can drive either.
 */
import { SimCtx, type FdInstaller } from './ctx';
import {
  type IoctlResult,
  clearUffd,
  ioctlMfill,
  ioctlMove,
  ioctlRegister,
  ioctlUnregister,
  ioctlWake,
  ioctlWriteprotect,
} from './ops';
import type { SimulatedSpace } from './space';
import * as U from './uapi';
import type { Addr } from '../raw';

type SimFile = { kind: 'uffd'; ctx: SimCtx } | { kind: 'dev' };

const INVALID: IoctlResult = { ret: -U.EINVAL, field: NaN };

export class SimKernel implements FdInstaller {
  private readonly fds = new Map<number, SimFile>();
  private nextFd = 3;

  constructor(readonly space: SimulatedSpace) {}

  private allocFd(f: SimFile): number {
    while (this.fds.has(this.nextFd)) this.nextFd++;
    const fd = this.nextFd++;
    this.fds.set(fd, f);
    return fd;
  }

  /** Installs a uffd for ctx in this table (a FORK message's new fd). */
  install(ctx: SimCtx): number {
    ctx.refs++;
    return this.allocFd({ kind: 'uffd', ctx });
  }

  /** fork(): the child's table references the same files. */
  inherit(parent: SimKernel): void {
    for (const [fd, f] of parent.fds) {
      if (f.kind === 'uffd') f.ctx.refs++;
      this.fds.set(fd, f);
    }
    this.nextFd = parent.nextFd;
  }

  ctx(fd: number): SimCtx | undefined {
    const f = this.fds.get(fd);
    return f?.kind === 'uffd' ? f.ctx : undefined;
  }

  /** userfaultfd(2). */
  open(flags: number): number {
    const o = this.space.machine.opts;
    if (!o.userfaultfd) return -U.ENOSYS;
    if ((flags & U.UFFD_USER_MODE_ONLY) === 0 && !o.privileged && o.unprivilegedUserfaultfd === 0) {
      return -U.EPERM;
    }
    if (flags & ~(U.O_CLOEXEC | U.O_NONBLOCK | U.UFFD_USER_MODE_ONLY)) return -U.EINVAL;
    return this.allocFd({ kind: 'uffd', ctx: new SimCtx(this.space, flags) });
  }

  /** open("/dev/userfaultfd") + USERFAULTFD_IOC_NEW(flags): no capability check (§1.1). */
  devOpen(flags: number): [number, 'open' | 'ioctl'] {
    const o = this.space.machine.opts;
    if (!o.userfaultfd) return [-U.ENOENT, 'open'];
    if (!o.devAccess) return [-U.EACCES, 'open'];
    if (flags & ~(U.O_CLOEXEC | U.O_NONBLOCK | U.UFFD_USER_MODE_ONLY)) return [-U.EINVAL, 'ioctl'];
    return [this.allocFd({ kind: 'uffd', ctx: new SimCtx(this.space, flags) }), 'ioctl'];
  }

  /** An fd of /dev/userfaultfd itself (for raw ioctls on the device, A19). */
  openDevice(): number {
    if (!this.space.machine.opts.devAccess) return -U.EACCES;
    return this.allocFd({ kind: 'dev' });
  }

  /** The features this kernel offers (A9). */
  available(): number {
    const { profile, machine } = this.space;
    if (profile === 'rfc-2015') return U.FEATURES_RFC_2015;
    if (profile !== '6.1') return U.FEATURES_6_18;
    const noWp = U.F_PAGEFAULT_FLAG_WP | U.F_WP_HUGETLBFS_SHMEM;
    return machine.opts.uffdWp ? U.FEATURES_6_1 : U.FEATURES_6_1 & ~noWp;
  }

  /**
   * The request exists in this kernel: UFFDIO_MOVE (6.8) and UFFDIO_POISON (6.6) do not in
   * '6.1', where userfaultfd_ioctl()'s switch falls through to its initial -EINVAL.
   */
  private hasIoctl(request: number): boolean {
    if (this.space.profile !== '6.1') return true;
    return request !== U.UFFDIO_MOVE_REQ && request !== U.UFFDIO_POISON_REQ;
  }

  /** UFFDIO_API (§3.1): [ret, api, features, ioctls]; the struct is zeroed on every error. */
  api(fd: number, api: Addr, features: Addr): [number, bigint, bigint, bigint] {
    const ctx = this.ctx(fd);
    if (ctx === undefined) return [this.fds.has(fd) ? -U.EINVAL : -U.EBADF, 0n, 0n, 0n];
    const zero = (e: number): [number, bigint, bigint, bigint] => [e, 0n, 0n, 0n];
    if (BigInt(api) !== BigInt(U.UFFD_API)) return zero(-U.EINVAL);
    let want = BigInt(features);
    if (want & BigInt(U.F_EVENT_FORK) && !this.space.machine.opts.privileged) {
      return zero(-U.EPERM);
    }
    if (want & BigInt(U.F_WP_ASYNC)) want |= BigInt(U.F_WP_UNPOPULATED);
    const avail = BigInt(this.available());
    if (want & ~avail) return zero(-U.EINVAL);
    if (ctx.initialized) return zero(-U.EINVAL);
    ctx.initialized = true;
    ctx.features = Number(want);
    return [0, BigInt(U.UFFD_API), avail, U.UFFD_API_IOCTLS];
  }

  private live(fd: number): SimCtx | number {
    const f = this.fds.get(fd);
    if (f === undefined) return -U.EBADF;
    if (f.kind !== 'uffd') return -U.EINVAL;
    if (!f.ctx.initialized) return -U.EINVAL;
    return f.ctx;
  }

  register(fd: number, start: Addr, len: Addr, mode: Addr): number {
    const c = this.live(fd);
    if (typeof c === 'number') return c;
    const r = ioctlRegister(c, start, len, mode);
    return Number(r);
  }

  unregister(fd: number, start: Addr, len: Addr): number {
    const c = this.live(fd);
    return typeof c === 'number' ? c : ioctlUnregister(c, start, len);
  }

  wake(fd: number, start: Addr, len: Addr): number {
    const c = this.live(fd);
    return typeof c === 'number' ? c : ioctlWake(c, start, len);
  }

  writeprotect(fd: number, start: Addr, len: Addr, mode: Addr): number {
    const c = this.live(fd);
    return typeof c === 'number' ? c : ioctlWriteprotect(c, start, len, mode);
  }

  copy(fd: number, dst: Addr, src: Addr | Uint8Array, len: Addr, mode: Addr): IoctlResult {
    const c = this.live(fd);
    if (typeof c === 'number') return { ret: c, field: NaN };
    return ioctlMfill('copy', c, this.space, dst, src, len, mode);
  }

  zeropage(fd: number, start: Addr, len: Addr, mode: Addr): IoctlResult {
    const c = this.live(fd);
    if (typeof c === 'number') return { ret: c, field: NaN };
    return ioctlMfill('zeropage', c, this.space, start, 0, len, mode);
  }

  continue(fd: number, start: Addr, len: Addr, mode: Addr): IoctlResult {
    const c = this.live(fd);
    if (typeof c === 'number') return { ret: c, field: NaN };
    return ioctlMfill('continue', c, this.space, start, 0, len, mode);
  }

  poison(fd: number, start: Addr, len: Addr, mode: Addr): IoctlResult {
    const c = this.live(fd);
    if (typeof c === 'number') return { ret: c, field: NaN };
    if (!this.hasIoctl(U.UFFDIO_POISON_REQ)) return INVALID;
    return ioctlMfill('poison', c, this.space, start, 0, len, mode);
  }

  move(fd: number, dst: Addr, src: Addr, len: Addr, mode: Addr): IoctlResult {
    const c = this.live(fd);
    if (typeof c === 'number') return { ret: c, field: NaN };
    if (!this.hasIoctl(U.UFFDIO_MOVE_REQ)) return INVALID;
    return ioctlMove(c, this.space, dst, src, len, mode);
  }

  /**
   * ioctl(fd, request, arg) with a raw argument struct (spec §1.2/§1.3). `arg` null models a
   * NULL pointer (EFAULT); `argReadOnly` a struct in read-only memory (the result field cannot
   * be written back: EFAULT after the work was done, X2). Returns 0 or -errno; writes the
   * struct's out fields into arg.
   */
  rawIoctl(fd: number, request: number, arg: Uint8Array | null, argReadOnly = false): number {
    const f = this.fds.get(fd);
    if (f === undefined) return -U.EBADF;
    if (f.kind === 'dev') {
      if (request !== U.USERFAULTFD_IOC_NEW) return -U.EINVAL;
      return this.devOpen(0)[0];
    }
    const known = [
      U.UFFDIO_API_REQ,
      U.UFFDIO_REGISTER_REQ,
      U.UFFDIO_UNREGISTER_REQ,
      U.UFFDIO_WAKE_REQ,
      U.UFFDIO_COPY_REQ,
      U.UFFDIO_ZEROPAGE_REQ,
      U.UFFDIO_MOVE_REQ,
      U.UFFDIO_WRITEPROTECT_REQ,
      U.UFFDIO_CONTINUE_REQ,
      U.UFFDIO_POISON_REQ,
    ];
    if (request !== U.UFFDIO_API_REQ && !f.ctx.initialized) return -U.EINVAL;
    if (!known.includes(request) || !this.hasIoctl(request)) return -U.EINVAL;
    const ctx = f.ctx;
    const view = arg === null ? null : new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
    const u64 = (o: number): bigint => view!.getBigUint64(o, true);
    const fieldOf: Record<number, number> = {
      [U.UFFDIO_COPY_REQ]: 32,
      [U.UFFDIO_MOVE_REQ]: 32,
      [U.UFFDIO_ZEROPAGE_REQ]: 24,
      [U.UFFDIO_CONTINUE_REQ]: 24,
      [U.UFFDIO_POISON_REQ]: 24,
    };
    const fo = fieldOf[request];
    // MOVE/COPY/... write -EAGAIN into the field before reading the struct (§2.1 #1).
    if (fo !== undefined && ctx.mmapChanging > 0) {
      if (view === null || argReadOnly) return -U.EFAULT;
      view.setBigInt64(fo, BigInt(-U.EAGAIN), true);
      return -U.EAGAIN;
    }
    if (view === null) return -U.EFAULT;
    const put = (res: IoctlResult): number => {
      if (!Number.isNaN(res.field)) {
        if (argReadOnly) return -U.EFAULT;
        view.setBigInt64(fo!, BigInt(res.field), true);
      }
      return res.ret;
    };
    switch (request) {
      case U.UFFDIO_API_REQ: {
        const [ret, api, feat, ioctls] = this.api(fd, u64(0), u64(8));
        view.setBigUint64(0, api, true);
        view.setBigUint64(8, feat, true);
        view.setBigUint64(16, ioctls, true);
        return ret;
      }
      case U.UFFDIO_REGISTER_REQ: {
        const ret = this.register(fd, u64(0), u64(8), u64(16));
        if (ret < 0) return ret;
        if (argReadOnly) return -U.EFAULT;
        view.setBigUint64(24, BigInt(ret), true);
        return 0;
      }
      case U.UFFDIO_UNREGISTER_REQ:
        return this.unregister(fd, u64(0), u64(8));
      case U.UFFDIO_WAKE_REQ:
        return this.wake(fd, u64(0), u64(8));
      case U.UFFDIO_WRITEPROTECT_REQ:
        return this.writeprotect(fd, u64(0), u64(8), u64(16));
      case U.UFFDIO_COPY_REQ:
        return put(ioctlMfill('copy', ctx, this.space, u64(0), u64(8), u64(16), u64(24)));
      case U.UFFDIO_MOVE_REQ:
        return put(ioctlMove(ctx, this.space, u64(0), u64(8), u64(16), u64(24)));
      case U.UFFDIO_ZEROPAGE_REQ:
        return put(ioctlMfill('zeropage', ctx, this.space, u64(0), 0, u64(8), u64(16)));
      case U.UFFDIO_CONTINUE_REQ:
        return put(ioctlMfill('continue', ctx, this.space, u64(0), 0, u64(8), u64(16)));
      case U.UFFDIO_POISON_REQ:
        return put(ioctlMfill('poison', ctx, this.space, u64(0), 0, u64(8), u64(16)));
    }
    return put(INVALID);
  }

  /**
   * read(2) of whole messages (§1.6): EINVAL before UFFDIO_API or for a buffer under 32 bytes;
   * EAGAIN when nothing is pending (a blocking fd would sleep: the simulation cannot, and
   * reports EAGAIN too).
   */
  readMsgs(fd: number, buffer: Uint8Array): number {
    const f = this.fds.get(fd);
    if (f === undefined) return -U.EBADF;
    if (f.kind !== 'uffd' || !f.ctx.initialized) return -U.EINVAL;
    if (buffer.byteLength < U.MSG_SIZE) return -U.EINVAL;
    const msgs = f.ctx.read(Math.floor(buffer.byteLength / U.MSG_SIZE), this);
    if (msgs.length === 0) return -U.EAGAIN;
    msgs.forEach((m, i) => buffer.set(m, i * U.MSG_SIZE));
    return msgs.length;
  }

  /** poll(2) revents: POLLERR before UFFDIO_API or on a blocking fd (A5, A15). */
  poll(fd: number): number {
    const f = this.fds.get(fd);
    if (f === undefined || f.kind !== 'uffd') return U.POLLERR;
    if (!f.ctx.initialized || !f.ctx.nonBlocking) return U.POLLERR;
    return f.ctx.readable() ? U.POLLIN : 0;
  }

  dup(fd: number): number {
    const f = this.fds.get(fd);
    if (f === undefined) return -U.EBADF;
    if (f.kind === 'uffd') f.ctx.refs++;
    return this.allocFd(f);
  }

  close(fd: number): number {
    const f = this.fds.get(fd);
    if (f === undefined) return -U.EBADF;
    this.fds.delete(fd);
    this.nextFd = Math.min(this.nextFd, fd);
    if (f.kind === 'uffd') this.unref(f.ctx);
    return 0;
  }

  closeAll(): void {
    for (const fd of [...this.fds.keys()]) this.close(fd);
  }

  /** The last reference gone: userfaultfd_release() unregisters everything and wakes all. */
  private unref(ctx: SimCtx): void {
    if (--ctx.refs > 0) return;
    const space = ctx.mm;
    for (const v of [...space.vmas.list]) {
      if (v.uffd === ctx && space.vmas.indexOf(v) >= 0) clearUffd(space, v, v.start, v.end);
    }
    ctx.release();
  }
}
