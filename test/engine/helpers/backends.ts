/**
 * Running the same scenario on both backends: the real process (kernelSpace + the kernel uffd)
 * and a SimulatedSpace (+ the simulated uffd). Scenarios address memory relative to an arena so
 * the two address layouts never matter.
 */
import { SimulatedSpace, kernelSpace, type AddressSpace, type PageInfo } from '../../../lib';
import type { SimulatedSpaceOptions } from '../../../lib/engine';
import { streamOf, type UffdEvent } from '../../../lib/events';
import type { Userfaultfd } from '../../../lib/userfaultfd';
import { kernelAtLeast } from '../../helpers/kernel-version';

export type BackendName = 'kernel' | 'simulated';

/** The kernel backend is expected here (Linux with the addon); CI=true makes its absence fail. */
export function kernelAvailable(): boolean {
  try {
    return kernelSpace().pageSize > 0;
  } catch {
    return false;
  }
}

/**
 * The engine profile of the running kernel (lib/engine/space.ts): '6.18' from 6.17, '6.12'
 * from 6.8 (UFFDIO_MOVE), '6.1' before. Only 6.1, 6.12 and 6.18 were measured (test/vm).
 */
export function runningProfile(): '6.18' | '6.12' | '6.1' {
  return kernelAtLeast(6, 17) ? '6.18' : kernelAtLeast(6, 8) ? '6.12' : '6.1';
}

/** A space for a scenario: the real process, or a fresh simulated one like this machine. */
export function makeSpace(name: BackendName, opts: SimulatedSpaceOptions = {}): AddressSpace {
  if (name === 'kernel') return kernelSpace();
  // This host: 4K pages, THP 'madvise', no swap device.
  return new SimulatedSpace({ swap: false, ...opts });
}

/**
 * A PROT_NONE reservation of `len` bytes aligned to `align`, carved out of a larger mapping
 * (the same trimming on both backends), so that MAP_FIXED mappings inside it land where the
 * scenario says and never next to unrelated memory.
 */
export function reserve(space: AddressSpace, len: number, align: number): number {
  const raw = space.mmap(len + align, { prot: 'none' });
  const start = Math.ceil(raw / align) * align;
  if (start > raw) space.munmap(raw, start - raw);
  const end = start + len;
  if (raw + len + align > end) space.munmap(end, raw + len + align - end);
  return start;
}

/**
 * The parts of a reservation [start, start + len) still held once `hole` ([addr, len]) was
 * unmapped or moved away, as [addr, len] pairs. The hole stopped being ours when it opened:
 * any mmap(NULL) in the process (a large malloc, say) may have been placed there since, so a
 * cleanup unmaps, and a count looks at, only these parts.
 */
export function heldParts(start: number, len: number, hole?: [number, number]): [number, number][] {
  if (hole === undefined) return [[start, len]];
  const [h, hl] = hole;
  const parts: [number, number][] = [];
  if (h > start) parts.push([start, h - start]);
  if (h + hl < start + len) parts.push([h + hl, start + len - (h + hl)]);
  return parts;
}

/** Events pending on a uffd right now (no waiting). */
export function pendingEvents(uffd: Userfaultfd): UffdEvent[] {
  return streamOf(uffd).readPending();
}

export const delay = (ms: number): Promise<void> =>
  new Promise((r) => (ms === 0 ? setImmediate(r) : setTimeout(r, ms)));

/** A page's state as a short string for comparisons and failure messages. */
export function pageCode(p: PageInfo): string {
  if (!p.present && !p.swapped) return p.uffdWp ? 'n+wp' : 'n';
  let s = p.swapped ? 's' : p.zero ? 'z' : 'p';
  if (p.exclusive) s += 'x';
  if (p.uffdWp) s += 'w';
  if (p.file) s += 'f';
  if (p.thp) s += 'h';
  return s;
}
