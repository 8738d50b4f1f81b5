/**
 * Scenario 9: the simulated engine (lib/engine, issue 4): single-page moves per second through
 * the simulated backend's Userfaultfd, over scattered pages as in scenario 3. Runs when the
 * package exports `SimulatedSpace`; no C reference (the figure is absolute).
 */
import { type BenchOptions, elapsedNs, interleave, now, size } from '../lib/harness';
import { type Row, finish } from '../lib/report';
import { permutation } from '../lib/rng';
import { pkg } from '../lib/pkg';

interface SimUffd {
  register(addr: number, len: number): unknown;
  move(dst: number, src: number, len: number): number;
  close(): void;
}
interface SimSpace {
  readonly pageSize: number;
  mmap(len: number, opts?: { populate?: boolean }): number;
  write(addr: number, data: Uint8Array): Promise<void>;
  userfaultfd(opts?: unknown): SimUffd;
}
type SimCtor = new (opts: { pageSize: number }) => SimSpace;

function simulatedSpace(): SimCtor | undefined {
  const c = (pkg() as unknown as { SimulatedSpace?: SimCtor }).SimulatedSpace;
  return typeof c === 'function' ? c : undefined;
}

/** Moves per second for `pages` scattered single-page moves. */
export async function engineMoves(pages: number): Promise<number> {
  const Sim = simulatedSpace()!;
  const sp = new Sim({ pageSize: 4096 });
  const ps = sp.pageSize;
  const src = sp.mmap(pages * ps);
  const dst = sp.mmap(pages * ps);
  const page = new Uint8Array(ps);
  for (let k = 0; k < pages; k++) {
    page[0] = (k + 1) & 0xff;
    await sp.write(src + k * ps, page);
  }
  const uffd = sp.userfaultfd();
  uffd.register(dst, pages * ps);
  const pd = permutation(pages, 12345);
  const psrc = permutation(pages, 12346);
  const t0 = now();
  for (let i = 0; i < pages; i++) uffd.move(dst + pd[i]! * ps, src + psrc[i]! * ps, ps);
  const ns = elapsedNs(t0);
  uffd.close();
  return (pages * 1e9) / ns;
}

export async function scenario9(opts: BenchOptions): Promise<Row[]> {
  const target = { kind: 'min' as const, limit: 1e6, text: '≥ 1M moves/s' };
  if (simulatedSpace() === undefined) {
    return [
      finish({
        scenario: 9,
        id: 's9.engine',
        label: 'simulated engine: single-page moves',
        unit: '',
        valueUnit: 'moves/s',
        target,
        skipped: 'SimulatedSpace is not in this build (engine issue); harness ready',
      }),
    ];
  }
  const pages = size(opts, 65_536, 4096);
  try {
    const s = await interleave(
      's9 engine',
      opts.reps,
      { pkg: () => engineMoves(pages) },
      (n, v) => `${n} ${(v / 1e6).toFixed(2)}M moves/s`,
    );
    const sorted = [...s.pkg!].sort((a, b) => a - b);
    return [
      finish({
        scenario: 9,
        id: 's9.engine',
        label: `simulated engine: ${pages} scattered single-page moves`,
        unit: '',
        value: sorted[sorted.length >> 1],
        valueUnit: 'moves/s',
        target,
        extra: { pages, samples: s.pkg },
      }),
    ];
  } catch (e) {
    return [
      finish({
        scenario: 9,
        id: 's9.engine',
        label: 'simulated engine: single-page moves',
        unit: '',
        valueUnit: 'moves/s',
        target,
        skipped: `the engine's API differs from what the harness expects: ${(e as Error).message}`,
      }),
    ];
  }
}
