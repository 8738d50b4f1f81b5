/**
 * Memory set-ups for the probe-row tests (spec §5): areas that are their own VMA, unmapped holes,
 * a 2 MiB-aligned layout for THP rows, and assertions on UffdError.
 *
 * Each area is a Mapping with PROT_NONE guards on both sides, as the spec's probe used: the guard
 * VMAs keep neighbouring areas from merging into one VMA, so "range crosses the end of its VMA"
 * (C23, C24, F11) means exactly the area's end. Everything made here is tracked and released by
 * `releaseAll()` (call it in afterEach).
 */
import { Worker } from 'node:worker_threads';
import { Mapping, UffdError, errnoOf, pageSize } from '../../lib';
import { native } from '../../lib/binding';
import { hugePageSize } from '../../lib/mm';
import { DIST } from './kernel';

export const PS = pageSize;
export const HP = hugePageSize();

export interface Area {
  /** First byte of the usable range (after the leading guard). */
  addr: number;
  len: number;
  /** The whole reservation, guards included (never touch the guards). */
  mapping: Mapping;
  /** A view of [addr, addr+len). Only for pages that are present or not registered. */
  bytes: Uint8Array;
}

export interface AreaOptions {
  prot?: 'r' | 'rw' | 'rwx';
  shared?: boolean;
  /** MADV_HUGEPAGE and 2 MiB alignment (guards are then 2 MiB each). */
  hugepage?: boolean;
  /** Align addr to this (a power of two); guards get this size too. */
  align?: number;
  dontFork?: boolean;
}

const live: Mapping[] = [];
const holes: [number, number][] = [];

/** A private (or shared) anonymous area of `len` bytes that is a VMA of its own. */
export function area(len: number, options: AreaOptions = {}): Area {
  const guard = options.align ?? (options.hugepage === true ? HP : PS);
  const mapping = Mapping.anonymous(len + 2 * guard, {
    shared: options.shared ?? false,
    dontFork: options.dontFork ?? false,
    ...(guard > PS ? { align: guard } : {}),
    ...(options.hugepage === true ? { hugepage: true } : {}),
  });
  live.push(mapping);
  mapping.protect('none', 0, guard);
  mapping.protect('none', guard + len, guard);
  if (options.prot !== undefined && options.prot !== 'rw')
    mapping.protect(options.prot, guard, len);
  return {
    addr: mapping.address + guard,
    len,
    mapping,
    bytes: new Uint8Array(mapping.buffer, guard, len),
  };
}

/** An area of `pages` pages. */
export function pages(n: number, options: AreaOptions = {}): Area {
  return area(n * PS, options);
}

/**
 * An unmapped range of `len` bytes: reserved, then munmap'ed, so nothing of ours is there.
 * (Another mmap could in principle land in it; the holes are a few pages and used at once.)
 */
export function hole(len = PS): number {
  const b = native();
  const reserve = b.mmap(0, len + 2 * PS, 0 /* PROT_NONE */, 0x22 /* PRIVATE|ANON */, -1, 0);
  if (reserve < 0) throw new Error(`mmap: ${reserve}`);
  const addr = reserve + PS;
  if (b.munmap(addr, len) !== 0) throw new Error('munmap');
  holes.push([reserve, len + 2 * PS]);
  return addr;
}

/** Unmaps every area and hole reservation made since the last call. */
export function releaseAll(): void {
  for (const m of live.splice(0)) m.unmap();
  for (const [a, l] of holes.splice(0)) native().munmap(a, l);
}

/** Fills each page of a (present or unregistered) area with a byte: page i gets base + i. */
export function fillPages(a: Area, base: number, from = 0, count = a.len / PS - from): void {
  for (let i = from; i < from + count; i++) a.bytes.fill((base + i) & 0xff, i * PS, (i + 1) * PS);
}

export interface Expected {
  /** errno name, e.g. 'EEXIST'. */
  code: string;
  /** The result field: a number, or 'untouched' (the kernel did not write it). */
  field?: number | 'untouched';
  bytesDone?: number;
}

/** Runs fn, expects a UffdError with the kernel's code/errno and result field; returns it. */
export function expectUffd(fn: () => unknown, want: Expected): UffdError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (!(thrown instanceof UffdError)) {
    throw new Error(`expected a UffdError ${want.code}, got ${String(thrown ?? 'no error')}`);
  }
  expect({ code: thrown.code, errno: thrown.errno }).toEqual({
    code: want.code,
    errno: errnoOf(want.code),
  });
  if (want.field !== undefined) {
    expect(thrown.field).toBe(want.field === 'untouched' ? undefined : want.field);
  }
  if (want.bytesDone !== undefined) expect(thrown.bytesDone).toBe(want.bytesDone);
  return thrown;
}

/** -errno for a name: field values such as -EEXIST. */
export function neg(code: string): number {
  return errnoOf(code);
}

/** Resolves 'pending' if p has not settled after `ms` (a liveness check, not a timing claim). */
export async function stillPending<T>(p: Promise<T>, ms = 100): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p.then(() => 'settled' as const),
    new Promise<'pending'>((res) => (timer = setTimeout(() => res('pending'), ms))),
  ]);
  clearTimeout(timer);
  return r === 'pending';
}

/**
 * Runs a raw memory syscall on a worker thread and resolves with its return value: madvise,
 * munmap or mremap of a registered range with EVENT_REMOVE/UNMAP/REMAP enabled blocks its caller
 * until the event is read, so it must not be the JS thread (which reads the events).
 */
export function inWorker(
  call: 'madvise' | 'munmap' | 'mremap',
  args: number[],
): { result: Promise<number>; worker: Worker } {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const { native } = require(workerData.dist + '/binding.js');
     parentPort.postMessage(native()[workerData.call](...workerData.args));`,
    { eval: true, workerData: { dist: DIST, call, args } },
  );
  const result = new Promise<number>((resolve, reject) => {
    worker.once('message', (v: number) => resolve(v));
    worker.once('error', reject);
  });
  return { result, worker };
}
