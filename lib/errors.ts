/**
 * Errors shaped like Node's own fs errors: `code` ('EEXIST'), `errno` (negative, -17), `syscall`
 * ('ioctl'), plus what a userfaultfd user needs: the ioctl `request` ('UFFDIO_MOVE') and
 * `bytesDone`, the bytes the kernel reported as done before the failure (spec §2.6, §3.10).
 */
import { getSystemErrorMap } from 'node:util';

const errnoMap = getSystemErrorMap();

/** Package-level error codes (not from the kernel). */
export type PackageErrorCode =
  | 'ERR_UFFD_CLOSED'
  | 'ERR_UFFD_UNSUPPORTED'
  | 'ERR_UFFD_ITERATOR_BUSY'
  | 'ERR_UFFD_JS_THREAD_FAULT'
  | 'ERR_UFFD_SERVER_GONE'
  | 'ERR_UFFD_HANDLER'
  | 'ERR_UFFD_RESOLVER_BUSY'
  | 'ERR_UFFD_HANDSHAKE'
  | 'ERR_UFFD_NOT_A_UFFD';

export interface UffdErrorDetails {
  syscall?: string;
  request?: string;
  bytesDone?: number;
  /** The raw result field as the kernel left it; undefined when it was not written. */
  field?: number;
  address?: number;
  path?: string;
  cause?: unknown;
}

export class UffdError extends Error {
  /** 'EEXIST', 'EAGAIN', ... for kernel errors; 'ERR_UFFD_*' for the package's own. */
  readonly code: string;
  /** Negative errno, as in Node's fs errors; undefined for package errors. */
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  readonly request: string | undefined;
  /** Bytes the kernel completed before the failure (0 when none). */
  bytesDone: number;
  readonly field: number | undefined;
  readonly address: number | undefined;
  readonly path: string | undefined;

  constructor(code: string, message: string, errno?: number, details: UffdErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'UffdError';
    this.code = code;
    this.errno = errno;
    this.syscall = details.syscall;
    this.request = details.request;
    this.bytesDone = details.bytesDone ?? 0;
    this.field = details.field;
    this.address = details.address;
    this.path = details.path;
  }

  /** A kernel error from a negative errno, e.g. fromErrno(-17, { syscall: 'ioctl' }). */
  static fromErrno(negErrno: number, details: UffdErrorDetails = {}): UffdError {
    const errno = negErrno > 0 ? -negErrno : negErrno;
    const [code, text] = errnoMap.get(errno) ?? [`E${-errno}`, `unknown error ${-errno}`];
    const what = [details.syscall, details.request, details.path].filter(Boolean).join(' ');
    return new UffdError(code, `${code}: ${text}${what ? `, ${what}` : ''}`, errno, details);
  }
}

/** The errno name for a positive or negative errno ('EEXIST' for 17 or -17). */
export function errnoName(errno: number): string {
  const e = errno > 0 ? -errno : errno;
  return errnoMap.get(e)?.[0] ?? `E${-e}`;
}

/** The negative errno for a name ('EEXIST' -> -17). */
export function errnoOf(code: string): number {
  for (const [errno, [name]] of errnoMap) if (name === code) return errno;
  const e = new RangeError(`unknown errno name ${typeof code === 'string' ? code : typeof code}`);
  (e as RangeError & { code: string }).code = 'ERR_INVALID_ARG_VALUE';
  throw e;
}

export function closedError(what = 'userfaultfd'): UffdError {
  return new UffdError('ERR_UFFD_CLOSED', `the ${what} is closed`);
}

export function isUffdError(e: unknown): e is UffdError {
  return e instanceof UffdError;
}
