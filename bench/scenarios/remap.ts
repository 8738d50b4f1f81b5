/**
 * Scenario 7: compaction by mremap(2) vs by UFFDIO_MOVE: time per page and the VMA count
 * (/proc/self/maps lines) they leave, up to the vm.max_map_count limit. The 2015 RFC's case for
 * MOVE: it changes page tables only and creates no VMAs (spec §2.10); mremap of single anonymous
 * pages splits the source VMA and leaves one-page VMAs that do not merge (their vm_pgoff is not
 * contiguous; the 2025 MREMAP_RELOCATE_ANON series is about exactly that), so the count grows by
 * about two per page until mremap fails with ENOMEM.
 * Both sides run in their own process: bench/ref/remap.c and scenarios/remap-child.ts.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { type BenchOptions, interleave, runRef, size } from '../lib/harness';
import { type Row, finish } from '../lib/report';

type Mode = 'mremap' | 'move';
interface RemapResult {
  ns: number;
  pages: number;
  vmasBefore: number;
  vmasAfter: number;
  errno: number;
}

function pkgRemap(opts: BenchOptions, mode: Mode, live: number): RemapResult {
  const out = execFileSync(
    process.execPath,
    [join(__dirname, 'remap-child.js'), opts.pkgRoot ?? opts.root, `mode=${mode}`, `live=${live}`],
    { encoding: 'utf8', timeout: 300_000 },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as RemapResult;
}

export async function scenario7(opts: BenchOptions): Promise<Row[]> {
  const live = size(opts, 40_000, 2000);
  const reps = Math.max(3, opts.reps >> 1);
  const runs: Record<string, RemapResult[]> = {};
  const rows: Row[] = [];
  for (const mode of ['mremap', 'move'] as const) {
    runs[`C ${mode}`] = [];
    runs[`pkg ${mode}`] = [];
    const s = await interleave(`s7 ${mode}`, reps, {
      C: () => {
        const r = runRef(opts, 'remap', { mode, live }) as unknown as RemapResult;
        runs[`C ${mode}`]!.push(r);
        return r.ns / 1000 / Math.max(1, r.pages);
      },
      pkg: () => {
        const r = pkgRemap(opts, mode, live);
        runs[`pkg ${mode}`]!.push(r);
        return r.ns / 1000 / Math.max(1, r.pages);
      },
    });
    const last = (k: string): RemapResult => runs[k]!.at(-1)!;
    const c = last(`C ${mode}`);
    const p = last(`pkg ${mode}`);
    const stopped = (r: RemapResult): string =>
      r.errno
        ? `${r.errno === 12 ? 'ENOMEM' : `errno ${r.errno}`} after ${r.pages} pages`
        : `all ${r.pages} pages`;
    rows.push(
      finish({
        scenario: 7,
        id: `s7.${mode}`,
        label: `compaction by ${mode === 'move' ? 'UFFDIO_MOVE' : 'mremap'}, ${live} pages`,
        unit: 'µs/page',
        c: s.C,
        pkg: s.pkg,
        note:
          `VMAs ${c.vmasBefore} → ${c.vmasAfter} (C, ${stopped(c)}); ` +
          `${p.vmasBefore} → ${p.vmasAfter} (package, ${stopped(p)})`,
        extra: { live, runs: { C: runs[`C ${mode}`], pkg: runs[`pkg ${mode}`] } },
      }),
      finish({
        scenario: 7,
        id: `s7.${mode}.vmas`,
        label: `VMAs added by ${mode === 'move' ? 'MOVE' : 'mremap'} (${stopped(p)})`,
        unit: '',
        value: p.vmasAfter - p.vmasBefore,
        cValue: c.vmasAfter - c.vmasBefore,
        valueUnit: 'VMAs',
      }),
    );
  }
  return rows;
}
