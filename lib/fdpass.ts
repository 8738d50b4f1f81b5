/**
 * Handing a userfaultfd to another process, or taking one from it.
 *
 * - `sendFd` / `receiveFd`: SCM_RIGHTS over a Unix socket (unix(7)). The socket is a file
 *   descriptor: one end of `socketPair()`, an fd inherited through `child_process.spawn`'s
 *   `stdio`, or a `net.Socket`'s handle (`socketFd(socket)`; create the server with
 *   `pauseOnConnect: true` or call `socket.pause()` first, so Node does not read the message and
 *   drop its fds). Both wait on a native thread, never on the JS thread.
 * - `pidfdGetfd(pid, fd)`: pidfd_open(2) + pidfd_getfd(2) (Linux 5.6): a copy of another
 *   process's fd, when this process may ptrace it (same user without Yama restrictions, or
 *   CAP_SYS_PTRACE); EPERM otherwise.
 *
 * Wrap a received userfaultfd with `Userfaultfd.fromFd(fd, { features })`: the sender did
 * UFFDIO_API, so tell the wrapper which features were enabled (threadId decides whether events
 * carry the faulting thread's id).
 */
import { native } from './binding';
import { UffdError } from './errors';
import { Userfaultfd } from './userfaultfd';
import { checkOptions, rangeError, toFd, toU53, typeError } from './validate';
import { unwatchFd } from './watchdog';

/** A socket: an fd number, or an object with a libuv handle fd such as a `net.Socket`. */
export type SocketLike = number | { _handle?: { fd?: number } | null };

/** The fd of a socket: the number itself, or `socket._handle.fd` for a connected net.Socket. */
export function socketFd(socket: SocketLike): number {
  if (typeof socket === 'number') return toFd(socket, 'socket');
  const fd = socket?._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw typeError('The "socket" argument must be an fd or a connected net.Socket with an fd');
  }
  return fd;
}

export interface SendFdOptions {
  /** Milliseconds to wait for room in the socket buffer (default: no limit). */
  timeout?: number;
}

/**
 * Sends `fd` (a number or a Userfaultfd) with `payload` in one message. A stream socket needs
 * at least one data byte to carry the fd, so an empty or missing payload sends one zero byte.
 * Sending a Userfaultfd tells the watchdog that another process serves it now.
 * @returns the payload bytes sent
 * @throws {UffdError} with the errno of sendmsg(2) (EPIPE, EBADF, ETIMEDOUT, ...)
 */
export async function sendFd(
  socket: SocketLike,
  fd: number | Userfaultfd,
  payload?: Uint8Array | string,
  options?: SendFdOptions,
): Promise<number> {
  const o = checkOptions<SendFdOptions>(options, 'options', ['timeout']);
  const sock = socketFd(socket);
  const f = fd instanceof Userfaultfd ? fd.fd : toFd(fd);
  let bytes: Uint8Array;
  if (payload === undefined || payload.length === 0) bytes = new Uint8Array(1);
  else if (typeof payload === 'string') bytes = Buffer.from(payload, 'utf8');
  else if (payload instanceof Uint8Array) bytes = payload;
  else throw typeError('The "payload" argument must be a Uint8Array or a string');
  const timeout = o.timeout === undefined ? -1 : Math.min(toU53(o.timeout, 'timeout'), 0x7fffffff);
  const r = await native().sendFds(sock, [f], bytes, timeout);
  if (r < 0) throw UffdError.fromErrno(r, { syscall: 'sendmsg' });
  if (fd instanceof Userfaultfd) unwatchFd(f);
  return r;
}

export interface ReceiveFdOptions {
  /** The largest payload accepted (default 65536); a longer message is truncated. */
  maxPayload?: number;
  /** Milliseconds to wait for a message (default: no limit). */
  timeout?: number;
}

export interface ReceivedMessage {
  /** The first fd of the message, or undefined when the message carried none. */
  fd: number | undefined;
  /** Every fd of the message (close-on-exec, owned by the caller). */
  fds: number[];
  payload: Buffer;
  /** True when the peer closed the connection (no payload, no fds). */
  end: boolean;
}

/**
 * Waits for one message on a Unix socket and returns its payload and fds.
 * @throws {UffdError} ETIMEDOUT, or the errno of recvmsg(2)
 */
export async function receiveFd(
  socket: SocketLike,
  options?: ReceiveFdOptions,
): Promise<ReceivedMessage> {
  const o = checkOptions<ReceiveFdOptions>(options, 'options', ['maxPayload', 'timeout']);
  const sock = socketFd(socket);
  const max = o.maxPayload === undefined ? 65536 : toU53(o.maxPayload, 'maxPayload');
  if (max < 1 || max > 16 * 1024 * 1024) throw rangeError('maxPayload must be 1..16 MiB');
  const timeout = o.timeout === undefined ? -1 : Math.min(toU53(o.timeout, 'timeout'), 0x7fffffff);
  const [r, fds, payload] = await native().recvFds(sock, max, timeout);
  if (r < 0) throw UffdError.fromErrno(r, { syscall: 'recvmsg' });
  return { fd: fds[0], fds, payload, end: r === 0 && fds.length === 0 };
}

/**
 * A connected pair of Unix sockets (SOCK_STREAM, or 'seqpacket' to keep message boundaries),
 * close-on-exec. Give one end to a child with `spawn(..., { stdio: [..., fd] })`.
 */
export function socketPair(type: 'stream' | 'seqpacket' = 'stream'): [number, number] {
  const r = native().socketPair(type === 'seqpacket' ? 1 : 0);
  const [a, b] = r as [number, number | undefined];
  if (a < 0 || b === undefined) throw UffdError.fromErrno(a, { syscall: 'socketpair' });
  return [a, b];
}

/** close(2) of an fd number this package handed out (socketPair, receiveFd, pidfdGetfd). */
export function closeFd(fd: number): void {
  const r = native().close(toFd(fd));
  if (r < 0) throw UffdError.fromErrno(r, { syscall: 'close' });
}

/**
 * A copy of fd `targetFd` of process `pid` (pidfd_open + pidfd_getfd). The new fd is
 * close-on-exec and shares the open file description (for a uffd: the same queue of faults).
 * @throws {UffdError} EPERM (no ptrace access), ESRCH (no such process), EBADF (no such fd),
 *   ENOSYS (Linux < 5.6)
 */
export function pidfdGetfd(pid: number, targetFd: number): number {
  const p = toFd(pid, 'pid');
  const t = toFd(targetFd, 'targetFd');
  const b = native();
  const pidfd = b.pidfdOpen(p);
  if (pidfd < 0) throw UffdError.fromErrno(pidfd, { syscall: 'pidfd_open' });
  try {
    const fd = b.pidfdGetfd(pidfd, t);
    if (fd < 0) throw UffdError.fromErrno(fd, { syscall: 'pidfd_getfd' });
    return fd;
  } finally {
    b.close(pidfd);
  }
}
