/**
 * Argument checks of the `AddressSpace` methods, shared by `kernelSpace()` and `SimulatedSpace`
 * so that one bad value gets the same error on both backends. Same rules as lib/validate.ts:
 * a value that is not what the method takes is a TypeError (wrong type, unknown option) or a
 * RangeError (not a safe non-negative integer), thrown before any syscall; alignment, zero
 * lengths and ranges are the kernel's (or the model's) to judge and come back as UffdError.
 */
import { constants as bufferConstants } from 'node:buffer';
import { ADVICES, PROTS } from '../mm';
import {
  checkOptions,
  describe,
  rangeError,
  toBool,
  toChoice,
  toU53,
  typeError,
} from '../validate';
import type { SpaceAdvice, SpaceMmapOptions, SpaceMremapOptions, SpaceProt } from './address-space';
import type { SimulatedSpaceOptions } from './space';

/** read(): at most a Buffer's maximum (what readMemory() allows on the kernel side). */
const MAX_READ = bufferConstants.MAX_LENGTH;

/**
 * pageInfo() returns one object per page: past 2^20 pages (4 GiB of 4K pages) the answer alone
 * would take hundreds of MB, on either backend.
 */
export const MAX_PAGEINFO_PAGES = 2 ** 20;

export function rangeArgs(addr: unknown, len: unknown, addrName = 'addr'): [number, number] {
  return [toU53(addr, addrName), toU53(len, 'len')];
}

export function protArg(prot: unknown): SpaceProt {
  return toChoice(prot, 'prot', PROTS);
}

export function adviceArg(advice: unknown): SpaceAdvice {
  return toChoice(advice, 'advice', ADVICES);
}

export interface MmapArgs {
  len: number;
  prot: SpaceProt;
  shared: boolean;
  populate: boolean;
  fixed: number | undefined;
}

export function mmapArgs(len: unknown, options: unknown): MmapArgs {
  const o = checkOptions<SpaceMmapOptions>(options, 'options', [
    'prot',
    'shared',
    'populate',
    'fixed',
  ]);
  return {
    len: toU53(len, 'len'),
    prot: protArg(o.prot ?? 'rw'),
    shared: toBool(o.shared, 'shared'),
    populate: toBool(o.populate, 'populate'),
    fixed: o.fixed === undefined ? undefined : toU53(o.fixed, 'fixed'),
  };
}

export function mlockArgs(options: unknown): { onFault: boolean } {
  const o = checkOptions<{ onFault: boolean }>(options, 'options', ['onFault']);
  return { onFault: toBool(o.onFault, 'onFault') };
}

export interface MremapArgs {
  addr: number;
  oldLen: number;
  newLen: number;
  /** MREMAP_MAYMOVE: asked for, or implied by `fixed` (this API's rule). */
  mayMove: boolean;
  fixed: number | undefined;
  dontUnmap: boolean;
  relocateAnon: boolean;
}

export function mremapArgs(
  addr: unknown,
  oldLen: unknown,
  newLen: unknown,
  options: unknown,
): MremapArgs {
  const o = checkOptions<SpaceMremapOptions>(options, 'options', [
    'mayMove',
    'fixed',
    'dontUnmap',
    'relocateAnon',
  ]);
  const fixed = o.fixed === undefined ? undefined : toU53(o.fixed, 'fixed');
  return {
    addr: toU53(addr, 'addr'),
    oldLen: toU53(oldLen, 'oldLen'),
    newLen: toU53(newLen, 'newLen'),
    mayMove: toBool(o.mayMove, 'mayMove') || fixed !== undefined,
    fixed,
    dontUnmap: toBool(o.dontUnmap, 'dontUnmap'),
    relocateAnon: toBool(o.relocateAnon, 'relocateAnon'),
  };
}

export function readArgs(addr: unknown, len: unknown): [number, number] {
  const l = toU53(len, 'len');
  if (l > MAX_READ) throw rangeError(`len must be at most ${MAX_READ} (a Buffer's maximum)`);
  return [toU53(addr, 'addr'), l];
}

export function writeArgs(addr: unknown, data: unknown): [number, Uint8Array] {
  if (!(data instanceof Uint8Array)) {
    throw typeError(`The "data" argument must be a Uint8Array. Received ${describe(data)}`);
  }
  return [toU53(addr, 'addr'), data];
}

/** vmaCount(start?, len?): no start counts every VMA; a start without a length counts none. */
export function vmaCountArgs(start: unknown, len: unknown): [number, number] | undefined {
  if (start === undefined) {
    if (len !== undefined) throw typeError('vmaCount(): a "len" without a "start"');
    return undefined;
  }
  return [toU53(start, 'start'), len === undefined ? 0 : toU53(len, 'len')];
}

export function pageInfoArgs(addr: unknown, len: unknown, pageSize: number): [number, number] {
  const [a, l] = rangeArgs(addr, len);
  const pages = Math.ceil((a + l) / pageSize) - Math.floor(a / pageSize);
  if (pages > MAX_PAGEINFO_PAGES) {
    throw rangeError(`pageInfo() covers at most ${MAX_PAGEINFO_PAGES} pages; asked for ${pages}`);
  }
  return [a, l];
}

/**
 * `new SimulatedSpace(options)`: the option names and values it takes (an unknown option, or a
 * value of the wrong kind, used to be ignored or to build a space that failed later).
 */
export function spaceOptionsArgs(options: unknown): SimulatedSpaceOptions {
  const o = checkOptions<SimulatedSpaceOptions>(options, 'options', [
    'pageSize',
    'profile',
    'uffdWp',
    'taskSize',
    'thp',
    'swap',
    'mremapRelocateAnon',
    'privileged',
    'unprivilegedUserfaultfd',
    'devAccess',
    'userfaultfd',
  ]);
  const out: SimulatedSpaceOptions = {};
  if (o.pageSize !== undefined) {
    const ps = toU53(o.pageSize, 'pageSize');
    if (![4096, 16384, 65536].includes(ps)) {
      throw rangeError(`pageSize must be 4096, 16384 or 65536. Received ${ps}`);
    }
    out.pageSize = ps;
  }
  if (o.profile !== undefined)
    out.profile = toChoice(o.profile, 'profile', ['6.18', '6.12', '6.1', 'rfc-2015'] as const);
  if (o.uffdWp !== undefined) out.uffdWp = toBool(o.uffdWp, 'uffdWp');
  if (o.taskSize !== undefined) {
    const t = toU53(o.taskSize, 'taskSize');
    const ps = out.pageSize ?? 4096;
    if (t % ps !== 0 || t < 64 * ps) {
      throw rangeError(`taskSize must be a multiple of the page size, at least 64 pages`);
    }
    out.taskSize = t;
  }
  if (o.thp !== undefined)
    out.thp = toChoice(o.thp, 'thp', ['always', 'madvise', 'never'] as const);
  for (const k of [
    'swap',
    'mremapRelocateAnon',
    'privileged',
    'devAccess',
    'userfaultfd',
  ] as const) {
    if (o[k] !== undefined) out[k] = toBool(o[k], k);
  }
  if (o.unprivilegedUserfaultfd !== undefined) {
    const v = o.unprivilegedUserfaultfd as unknown;
    if (v !== 0 && v !== 1) {
      throw typeError(
        `The "unprivilegedUserfaultfd" option must be 0 or 1. Received ${describe(v)}`,
        'ERR_INVALID_ARG_VALUE',
      );
    }
    out.unprivilegedUserfaultfd = v;
  }
  return out;
}
