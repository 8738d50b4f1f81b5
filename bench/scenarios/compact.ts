/**
 * Scenario 6: heap compaction as in the UFFDIO_MOVE commit (shared/seeds/
 * 2023-uffdio-move-uabi.txt: "over 40% reduction ... in the compacting thread's completion
 * time by using UFFDIO_MOVE vs. UFFDIO_COPY").
 *
 * `live` live pages lie at random positions of a from-space of `live * spread` pages. The main
 * thread relocates them, in address order, into a dense to-space registered for missing faults:
 * with COPY + MADV_DONTNEED of the from-space page, or with MOVE. A worker keeps reading random
 * to-space pages meanwhile; its faults are served at once by the same main thread from
 * `uffd.events()` (the compactor yields to the event loop every `chunk` pages), relocating the
 * faulting page out of order. Completion time = the compactor's loop.
 * C reference (bench/ref/compact.c): compactor, handler and reader threads.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import {
  type BenchOptions,
  elapsedNs,
  interleave,
  now,
  runRef,
  size,
  yieldLoop,
} from '../lib/harness';
import { type Row, finish } from '../lib/report';
import { permutation } from '../lib/rng';
import { pkg } from '../lib/pkg';

type Mode = 'copy' | 'move';
const SEED = 7;
const SPREAD = 2;
const CHUNK = 32;

/** The live from-space pages in address order: the first `live` of a permutation, sorted. */
export function liveSet(live: number, fromPages: number, seed: number): Uint32Array {
  const perm = permutation(fromPages, seed);
  const mark = new Uint8Array(fromPages);
  for (let i = 0; i < live; i++) mark[perm[i]!] = 1;
  const out = new Uint32Array(live);
  for (let k = 0, j = 0; k < fromPages; k++) if (mark[k]) out[j++] = k;
  return out;
}

export interface CompactResult {
  ns: number;
  faults: number;
  reads: number;
  bad: number;
}

export async function pkgCompact(
  opts: BenchOptions,
  mode: Mode,
  live: number,
  chunk = CHUNK,
): Promise<CompactResult> {
  const { Userfaultfd, Mapping, mm, pageSize: ps } = pkg();
  const fromPages = live * SPREAD;
  const uffd = Userfaultfd.open();
  const from = Mapping.anonymous(fromPages * ps, { hugepage: false });
  const to = Mapping.anonymous(live * ps, { hugepage: false });
  const F = from.address;
  const T = to.address;
  let worker: Worker | undefined;
  try {
    const fw = new Uint32Array(from.buffer);
    for (let k = 0; k < fromPages; k++) fw[(k * ps) / 4] = k + 1;
    const liveIdx = liveSet(live, fromPages, SEED);
    uffd.register(T, live * ps);
    // Relocated pages (a real compactor's page state): the compactor skips the ones the fault
    // handler already did (a COPY that finds dst populated still copies the page first).
    const relocated = new Uint8Array(live);

    const relocate = (j: number): void => {
      const d = T + j * ps;
      const s = F + liveIdx[j]! * ps;
      try {
        if (mode === 'move') uffd.move(d, s, ps);
        else uffd.copy(d, s, ps);
      } catch (e) {
        // The other side relocated it first: wake whoever faulted (spec §4.4).
        if ((e as { code?: string }).code !== 'EEXIST') throw e;
        uffd.wake(d, ps);
      }
      if (mode === 'copy') mm.madvise(s, ps, 'dontneed');
      relocated[j] = 1;
    };

    const ac = new AbortController();
    let faults = 0;
    const served = (async () => {
      for await (const ev of uffd.events({ signal: ac.signal })) {
        if (ev.type !== 'pagefault') continue;
        relocate((ev.address - T) / ps);
        faults++;
      }
    })();

    const stop = new SharedArrayBuffer(4);
    worker = new Worker(join(__dirname, '..', 'workers', 'reader.js'), {
      workerData: {
        root: opts.pkgRoot ?? opts.root,
        address: T,
        length: live * ps,
        pageSize: ps,
        liveIdx,
        stop,
        seed: (SEED * 2654435761) | 1,
      },
    });
    const w = worker;
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    const done = new Promise<{ reads: number; bad: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    w.postMessage('go');
    await new Promise((r) => setTimeout(r, 1)); // let the reader start faulting (as in C)

    const t0 = now();
    for (let j = 0; j < live; j++) {
      if (relocated[j] === 0) relocate(j);
      if ((j + 1) % chunk === 0) await yieldLoop();
    }
    const ns = elapsedNs(t0);

    Atomics.store(new Int32Array(stop), 0, 1);
    const r = await done;
    ac.abort();
    await served;
    // Every to-space page is present now: check them all from the JS thread.
    let bad = r.bad;
    const tw = new Uint32Array(to.buffer);
    for (let j = 0; j < live; j++) if (tw[(j * ps) / 4] !== liveIdx[j]! + 1) bad++;
    return { ns, faults, reads: r.reads, bad };
  } finally {
    await worker?.terminate();
    uffd.close();
    from.unmap();
    to.unmap();
  }
}

export async function scenario6(opts: BenchOptions): Promise<Row[]> {
  const live = size(opts, 16_384, 1024);
  const info: Record<string, CompactResult[]> = { Ccopy: [], Cmove: [], pkgcopy: [], pkgmove: [] };
  const c = (mode: Mode): number => {
    const r = runRef(opts, 'compact', { mode, live, spread: SPREAD, seed: SEED });
    info[`C${mode}`]!.push(r as unknown as CompactResult);
    if (r.bad) throw new Error(`C compaction saw ${r.bad} wrong pages`);
    return r.ns! / 1e6;
  };
  const p = async (mode: Mode): Promise<number> => {
    const r = await pkgCompact(opts, mode, live);
    info[`pkg${mode}`]!.push(r);
    if (r.bad) throw new Error(`package compaction saw ${r.bad} wrong pages`);
    return r.ns / 1e6;
  };
  const s = await interleave(
    's6 compaction',
    opts.reps,
    {
      'C copy': () => c('copy'),
      'C move': () => c('move'),
      'pkg copy': () => p('copy'),
      'pkg move': () => p('move'),
    },
    (n, v) => `${n} ${v.toFixed(1)}ms`,
  );
  const copyRow = finish({
    scenario: 6,
    id: 's6.copy',
    label: `compaction of ${live} pages, COPY + MADV_DONTNEED`,
    unit: 'ms',
    c: s['C copy'],
    pkg: s['pkg copy'],
  });
  const moveRow = finish({
    scenario: 6,
    id: 's6.move',
    label: `compaction of ${live} pages, MOVE`,
    unit: 'ms',
    c: s['C move'],
    pkg: s['pkg move'],
  });
  const mean = (xs: CompactResult[], k: keyof CompactResult): number =>
    Math.round(xs.reduce((a, x) => a + x[k], 0) / Math.max(1, xs.length));
  const reduction = finish({
    scenario: 6,
    id: 's6.reduction',
    label: 'compactor time, MOVE vs COPY: reduction',
    unit: '',
    value: 1 - moveRow.pkgMedian! / copyRow.pkgMedian!,
    cValue: 1 - moveRow.cMedian! / copyRow.cMedian!,
    valueUnit: '%',
    target: { kind: 'min', limit: 0.65, text: '≥ 65 %' },
    note: `faults served while compacting (mean per run): C copy ${mean(info.Ccopy!, 'faults')}, C move ${mean(info.Cmove!, 'faults')}, pkg copy ${mean(info.pkgcopy!, 'faults')}, pkg move ${mean(info.pkgmove!, 'faults')}`,
    extra: { live, spread: SPREAD, chunk: CHUNK, runs: info },
  });
  return [copyRow, moveRow, reduction];
}
