/**
 * A small copying heap compactor written only against AddressSpace + Userfaultfd, so it runs
 * unchanged on the real kernel and on the simulated engine. It returns everything it observed
 * (results, errors, fault events, final page contents and states, VMA counts) as plain data;
 * the test requires both backends to report the same.
 *
 * The heap: `pages` pages of objects (each page starts with its object id); a deterministic
 * half is freed. Live pages are evacuated into a to-space registered for missing faults:
 * - eagerly, runs of live pages with UFFDIO_MOVE; a run that hits a page shared with a forked
 *   snapshot child gets EBUSY (spec §2.4) and falls back to COPY + MADV_DONTNEED;
 * - lazily, the rest: a mutator thread reads its objects at their new addresses, faults, and
 *   the compactor resolves each fault with a MOVE (completeMove).
 */
import type { AddressSpace } from '../../lib';
import { UffdError } from '../../lib/errors';
import { streamOf } from '../../lib/events';
import type { Userfaultfd } from '../../lib/userfaultfd';
import { heldParts } from './helpers/backends';

/** A tiny deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CompactorReport {
  live: number;
  eager: { at: number; pages: number; result: string }[];
  lazy: { at: number; kind: string; result: string }[];
  toSpace: (number | string)[];
  pageStates: string;
  vmasBefore: number;
  vmasAfter: number;
  fromAfterUnmap: boolean;
}

/** An operation's result in pages (so reports compare across page sizes). */
function outcome(ps: number, fn: () => number): string {
  try {
    return `ok ${fn() / ps}p`;
  } catch (e) {
    if (e instanceof UffdError) return `${e.code} done=${e.bytesDone / ps}p`;
    throw e;
  }
}

export async function compact(
  space: AddressSpace,
  uffd: Userfaultfd,
  opts: { pages: number; seed: number; forkSnapshot: boolean },
): Promise<CompactorReport> {
  const ps = space.pageSize;
  const n = opts.pages;
  const rnd = prng(opts.seed);
  // Both spaces inside one PROT_NONE reservation, so nothing else is adjacent to them.
  const total = (2 * n + 4) * ps;
  const resv = space.mmap(total, { prot: 'none' });
  const from = resv + ps;
  const to = resv + (n + 3) * ps;
  space.mmap(n * ps, { fixed: from });
  space.mmap(n * ps, { fixed: to });
  // What the cleanup unmaps: the whole reservation until the from-space is released (heldParts).
  let held = heldParts(resv, total);
  try {
    // Allocate: object id i in page i; free about half of them.
    for (let i = 0; i < n; i++) await space.write(from + i * ps, new Uint8Array([i + 1, 0xc0]));
    const liveIdx: number[] = [];
    for (let i = 0; i < n; i++) {
      if (rnd() < 0.5) space.madvise(from + i * ps, ps, 'dontneed');
      else liveIdx.push(i);
    }
    uffd.register(to, n * ps);
    const vmasBefore = space.vmaCount(resv, total);

    // A snapshot child (fork) shares the first few live pages: MOVE must refuse them.
    let child: Awaited<ReturnType<AddressSpace['fork']>> | undefined;
    if (opts.forkSnapshot) {
      const shared = new Set(liveIdx.slice(0, 3));
      for (const i of liveIdx) if (!shared.has(i)) space.madvise(from + i * ps, ps, 'dontfork');
      child = await space.fork();
    }

    // Eager phase: the first two thirds of the live pages, in runs contiguous in both spaces.
    const eagerCount = Math.floor((liveIdx.length * 2) / 3);
    const eager: CompactorReport['eager'] = [];
    let j = 0;
    while (j < eagerCount) {
      let k = j + 1;
      while (k < eagerCount && liveIdx[k] === liveIdx[k - 1]! + 1) k++;
      const run = k - j;
      const src = from + liveIdx[j]! * ps;
      const dst = to + j * ps;
      let result = outcome(ps, () => uffd.completeMove(dst, src, run * ps));
      if (!result.startsWith('ok')) {
        // Fall back page by page: MOVE where possible, COPY + DONTNEED where shared (EBUSY).
        const parts: string[] = [result];
        for (let p = 0; p < run; p++) {
          const d = dst + p * ps;
          const s = src + p * ps;
          if (space.pageInfo(d, ps)[0]!.present) continue;
          const r = outcome(ps, () => uffd.move(d, s, ps));
          if (r.startsWith('EBUSY')) {
            parts.push(`copy ${outcome(ps, () => uffd.copy(d, s, ps))}`);
            space.madvise(s, ps, 'dontneed');
          } else {
            parts.push(r);
          }
        }
        result = parts.join(' / ');
      }
      eager.push({ at: j, pages: run, result });
      j = k;
    }
    await child?.kill();

    // Lazy phase: a mutator reads every live object at its new address; faults are resolved
    // by moving the object's page on demand.
    const lazy: CompactorReport['lazy'] = [];
    const stream = streamOf(uffd);
    const reads: Promise<Uint8Array>[] = [];
    let settled = 0;
    for (let m = 0; m < liveIdx.length; m++) {
      const p = space.read(to + m * ps, 2);
      p.then(
        () => settled++,
        () => settled++,
      );
      reads.push(p);
    }
    for (let spins = 0; settled < reads.length; spins++) {
      await new Promise((r) => (spins < 50 ? setImmediate(r) : setTimeout(r, 1)));
      for (const ev of stream.readPending()) {
        if (ev.type !== 'pagefault') continue;
        const slot = (ev.address - (ev.address % ps) - to) / ps;
        const src = from + liveIdx[slot]! * ps;
        const result = outcome(ps, () => uffd.completeMove(to + slot * ps, src, ps));
        if (!result.startsWith('ok')) uffd.wake(to + slot * ps, ps);
        lazy.push({ at: slot, kind: ev.kind, result });
      }
      if (spins > 20000) throw new Error('compactor: mutator never finished');
    }
    lazy.sort((a, b) => a.at - b.at);
    const toSpace: (number | string)[] = [];
    for (const p of reads) {
      const b = await p;
      toSpace.push(b[1] === 0xc0 ? b[0]! : `bad:${b[0]},${b[1]}`);
    }

    // Release the from-space; the to-space keeps the live objects densely.
    const fromInfo = space.pageInfo(from, n * ps).some((p) => p.present);
    space.munmap(from, n * ps);
    held = heldParts(resv, total, [from, n * ps]);
    const info = space.pageInfo(to, liveIdx.length * ps);
    const states = info.map((p) => (p.present ? (p.exclusive ? 'x' : 'p') : '-')).join('');
    return {
      live: liveIdx.length,
      eager,
      lazy,
      toSpace,
      pageStates: states,
      vmasBefore,
      // Counted in the parts still held, not across the from-space's hole: anything in the
      // process may be mapped there by now (under ASan something was, in CI form: 5 VMAs on the
      // kernel against the model's 4).
      vmasAfter: held.reduce((sum, [a, l]) => sum + space.vmaCount(a, l), 0),
      fromAfterUnmap: fromInfo,
    };
  } finally {
    uffd.unregister(to, n * ps);
    for (const [a, l] of held) space.munmap(a, l);
  }
}
