/**
 * Scenarios 3 and 4: resolving calls from JS.
 *
 * 3. Single-page `uffd.move()` / `uffd.copy()` in a loop over scattered pages: dst page pd[i]
 *    receives src page ps[i], both permutations from the same xorshift32 seeds as the C loop.
 * 4. The same work as one `uffd.moveBatch()` / `copyBatch()` call with a Float64Array of
 *    (dst, src, len) triples (built before the clock starts, as the C loop's permutations are).
 * C reference (bench/ref/calls.c): the same loop of ioctls in C. No thread waits on the range.
 */
import { type BenchOptions, elapsedNs, interleave, now, runRef, size } from '../lib/harness';
import { type Row, finish, ratioTarget } from '../lib/report';
import { permutation } from '../lib/rng';
import { pkg } from '../lib/pkg';

type CallOp = 'move' | 'copy';
const SEED = 12345;

/** ns per page for the package: single calls (batched = false) or one batch call. */
export function pkgCalls(op: CallOp, pages: number, batched: boolean): number {
  const { Userfaultfd, Mapping, pageSize: ps } = pkg();
  const len = pages * ps;
  const uffd = Userfaultfd.open();
  const dst = Mapping.anonymous(len, { hugepage: false });
  const src = Mapping.anonymous(len, { hugepage: false });
  try {
    const b = new Uint8Array(src.buffer);
    for (let off = 0, i = 1; off < len; off += ps, i++) b[off] = i & 0xff;
    uffd.register(dst.address, len);
    const pd = permutation(pages, SEED);
    const psrc = permutation(pages, SEED + 1);
    const D = dst.address;
    const S = src.address;
    let ns: number;
    if (batched) {
      const entries = new Float64Array(pages * 3);
      for (let i = 0; i < pages; i++) {
        entries[3 * i] = D + pd[i]! * ps;
        entries[3 * i + 1] = S + psrc[i]! * ps;
        entries[3 * i + 2] = ps;
      }
      const t0 = now();
      const done = op === 'move' ? uffd.moveBatch(entries) : uffd.copyBatch(entries);
      ns = elapsedNs(t0);
      if (done !== pages) throw new Error(`batch did ${done} of ${pages}`);
    } else if (op === 'move') {
      const t0 = now();
      for (let i = 0; i < pages; i++) uffd.move(D + pd[i]! * ps, S + psrc[i]! * ps, ps);
      ns = elapsedNs(t0);
    } else {
      const t0 = now();
      for (let i = 0; i < pages; i++) uffd.copy(D + pd[i]! * ps, S + psrc[i]! * ps, ps);
      ns = elapsedNs(t0);
    }
    // The page landed (registered memory is present now, so the JS thread may read it).
    const got = new Uint8Array(dst.buffer)[pd[0]! * ps];
    if (got !== ((psrc[0]! + 1) & 0xff)) throw new Error(`content mismatch: ${got}`);
    return ns / pages;
  } finally {
    uffd.close();
    dst.unmap();
    src.unmap();
  }
}

function cCalls(opts: BenchOptions, op: CallOp, pages: number): number {
  const r = runRef(opts, 'calls', { op, pages, seed: SEED });
  return r.ns! / r.calls!;
}

async function callRows(opts: BenchOptions, batched: boolean): Promise<Row[]> {
  const pages = size(opts, 16_384, 1024);
  const n = batched ? 4 : 3;
  const rows: Row[] = [];
  for (const op of ['move', 'copy'] as const) {
    const s = await interleave(`s${n} ${op}${batched ? ' batch' : ''}`, opts.reps * 2, {
      C: () => cCalls(opts, op, pages),
      pkg: () => pkgCalls(op, pages, batched),
    });
    rows.push(
      finish({
        scenario: n,
        id: `s${n}.${op}`,
        label: batched
          ? `${op}Batch() of ${pages} scattered pages vs C loop`
          : `single-page ${op}() in a loop, scattered`,
        unit: 'ns/page',
        c: s.C,
        pkg: s.pkg,
        target: ratioTarget(batched ? 1.03 : 1.1),
        extra: { pages },
      }),
    );
  }
  return rows;
}

export const scenario3 = (opts: BenchOptions): Promise<Row[]> => callRows(opts, false);
export const scenario4 = (opts: BenchOptions): Promise<Row[]> => callRows(opts, true);
