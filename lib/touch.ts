/**
 * Memory accesses on a native thread. The JS thread must never touch a missing registered page
 * (it would sleep until the fault is resolved, and the resolver is the JS thread). `touch` runs
 * the accesses on a dedicated native thread and resolves when every access returned, so the JS
 * thread stays free to serve the faults. Accesses to poisoned pages (SIGBUS) or unmapped memory
 * (SIGSEGV) are caught on that thread and reported, not fatal.
 */
import { constants as bufferConstants } from 'node:buffer';
import { native, type NativeAccessResult } from './binding';
import type { Addr } from './raw';
import { UffdError } from './errors';
import { checkOptions, describe, rangeError, toBool, toU53, typeError } from './validate';

export interface TouchOptions {
  /** Write `value` (default 0) instead of reading. */
  write?: boolean;
  /** Bytes between accesses; default: the page size (one access per page). */
  stride?: number;
  value?: number;
}

export interface TouchResult {
  /** How many accesses completed. */
  accesses: number;
  /** For reads: the sum of the bytes read. */
  sum: number;
  /** The kernel thread id of the native thread (as in a pagefault event's threadId). */
  threadId: number;
  /** Set when an access raised SIGBUS (poison, UFFD_FEATURE_SIGBUS) or SIGSEGV. */
  signal?: 'SIGBUS' | 'SIGSEGV';
  faultAddress?: number;
}

const READ = 0;
const WRITE = 1;
const COPY_OUT = 2;
const COPY_IN = 3;
const MAX_LENGTH = bufferConstants.MAX_LENGTH;

function strip(r: NativeAccessResult): TouchResult {
  const out: TouchResult = { accesses: r.accesses, sum: r.sum, threadId: r.threadId };
  if (r.signal !== undefined) {
    out.signal = r.signal;
    out.faultAddress = r.faultAddress ?? 0;
  }
  return out;
}

/** Reads (or writes) one byte every `stride` bytes of [addr, addr+len) on a native thread. */
export async function touch(addr: Addr, len: Addr, options?: TouchOptions): Promise<TouchResult> {
  const o = checkOptions<TouchOptions>(options, 'options', ['write', 'stride', 'value']);
  const a = toU53(addr, 'addr');
  const l = toU53(len, 'len');
  const b = native();
  const stride = o.stride === undefined ? b.pageSize() : toU53(o.stride, 'stride');
  if (stride === 0) throw rangeError('stride must be at least 1');
  const value = o.value === undefined ? 0 : toU53(o.value, 'value');
  if (value > 255) throw rangeError('value must be a byte (0..255)');
  const write = toBool(o.write, 'write');
  const pin = pinRegion(a, l);
  const r = await b.touch(a, l, write ? WRITE : READ, stride, value);
  keepAlive(pin);
  return strip(r);
}

/** Copies [addr, addr+len) out on a native thread (faults are served meanwhile). */
export async function readMemory(addr: Addr, len: Addr): Promise<Uint8Array> {
  const l = toU53(len, 'len');
  if (l > MAX_LENGTH) throw rangeError(`len must be at most ${MAX_LENGTH} (a Buffer's maximum)`);
  const a = toU53(addr, 'addr');
  const b = native();
  const pin = pinRegion(a, l);
  const r = await b.touch(a, l, COPY_OUT, b.pageSize(), 0);
  keepAlive(pin);
  if (r.signal !== undefined) throw signalError(r);
  return new Uint8Array(r.data ?? []);
}

/** Copies `data` to addr on a native thread (faults are served meanwhile). */
export async function writeMemory(addr: Addr, data: Uint8Array): Promise<void> {
  if (!(data instanceof Uint8Array)) {
    throw typeError(`The "data" argument must be a Uint8Array. Received ${describe(data)}`);
  }
  const a = toU53(addr, 'addr');
  const b = native();
  const pin = pinRegion(a, data.length);
  const r = await b.touch(a, data.length, COPY_IN, b.pageSize(), data);
  keepAlive(pin);
  if (r.signal !== undefined) throw signalError(r);
}

/**
 * While a native thread accesses [addr, addr+len), a view over the Mapping that contains it keeps
 * the memory mapped: `unmap()` during the access then maps zero pages over the range instead of
 * leaving a hole that a later mmap could reuse. Without it, a thread blocked in a fault that was
 * woken after unmap() wrote into whatever had been mapped at that address since.
 */
function pinRegion(addr: number, len: number): ArrayBuffer | null {
  if (len === 0) return null;
  const b = native();
  return b.regionContains(addr, len) ? b.regionView(addr, len) : null;
}

/** Keeps a value reachable until this call (so the pin outlives the await before it). */
function keepAlive(value: unknown): void {
  if (value === keepAlive) throw new Error('unreachable');
}

/** A SIGBUS (poison, UFFD_FEATURE_SIGBUS) or SIGSEGV (unmapped) met by the native thread. */
function signalError(r: NativeAccessResult): UffdError {
  const signal = r.signal ?? 'SIGSEGV';
  const address = r.faultAddress ?? 0;
  return new UffdError(signal, `${signal} accessing 0x${address.toString(16)}`, undefined, {
    syscall: 'touch',
    address,
  });
}
