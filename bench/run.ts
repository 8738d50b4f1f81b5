/**
 * `npm run bench [-- --quick] [--reps N] [--only 1,3,6] [--out DIR]`
 *
 * Compiles the C references (bench/ref/*.c, system cc, into bench/ref/bin/), runs every scenario
 * through C and through the package in the same run, alternating, and prints the table of
 * medians and package/C ratios. Writes <out>/latest.json (or quick.json), a Markdown copy of the
 * table and the SVG chart the README embeds. scripts/bench.js builds dist/ and this file first.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { type BenchOptions, compileRefs, progress, progressDone } from './lib/harness';
import { type Row, machine, markdownTable, textTable } from './lib/report';
import { renderSvg } from './lib/svg';
import { pkg, repoRoot, setPkgRoot } from './lib/pkg';
import { scenario1, scenario2, scenario8 } from './scenarios/fault';
import { scenario3, scenario4 } from './scenarios/calls';
import { scenario5 } from './scenarios/bulk';
import { scenario6 } from './scenarios/compact';
import { scenario7 } from './scenarios/remap';
import { scenario9 } from './scenarios/engine';

const SCENARIOS: [number, string, (o: BenchOptions) => Promise<Row[]>][] = [
  [1, 'JS-served fault round trip', scenario1],
  [2, 'native-resolver fault round trip', scenario2],
  [3, 'single-page MOVE/COPY calls', scenario3],
  [4, 'batched MOVE/COPY', scenario4],
  [5, 'bulk MOVE/COPY', scenario5],
  [6, 'heap compaction, COPY vs MOVE', scenario6],
  [7, 'compaction by mremap vs MOVE', scenario7],
  [8, 'scaling, 1 vs 2 faulting threads', scenario8],
  [9, 'simulated engine', scenario9],
];

function parseArgs(argv: string[]): BenchOptions {
  const root = repoRoot();
  const o: BenchOptions = {
    quick: false,
    reps: 0,
    only: new Set(),
    refBin: join(root, 'bench', 'ref', 'bin'),
    outDir: join(root, 'bench', 'results'),
    root,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--reps') o.reps = Number(value());
    else if (a === '--only') for (const n of value().split(',')) o.only.add(Number(n));
    else if (a === '--out') o.outDir = value();
    else if (a === '--pkg') o.pkgRoot = value();
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run bench -- [--quick] [--reps N] [--only 1,3,6] [--out DIR] [--pkg DIR]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.reps === 0) o.reps = o.quick ? 2 : 7;
  if (!Number.isInteger(o.reps) || o.reps < 1) throw new Error('--reps must be a positive integer');
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.pkgRoot !== undefined) setPkgRoot(o.pkgRoot);
  const started = Date.now();
  const loadStart = loadavg();
  const ccVersion = compileRefs(o);
  const pageSize = pkg().pageSize;
  const rows: Row[] = [];
  let errors = 0;
  for (const [n, title, run] of SCENARIOS) {
    if (o.only.size > 0 && !o.only.has(n)) continue;
    progress(`scenario ${n}: ${title}`);
    try {
      rows.push(...(await run(o)));
    } catch (e) {
      errors++;
      rows.push({
        scenario: n,
        id: `s${n}.error`,
        label: title,
        unit: '',
        skipped: `ERROR: ${(e as Error).message}`,
      });
      progressDone();
      process.stderr.write(`scenario ${n} failed: ${String((e as Error).stack ?? e)}\n`);
    }
  }
  progressDone();
  const m = {
    ...machine(),
    pageSize,
    cc: ccVersion,
    loadavgStart: loadStart,
    loadavgEnd: loadavg(),
  };
  const result = {
    schema: 1,
    quick: o.quick,
    reps: o.reps,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    machine: m,
    rows,
  };
  mkdirSync(o.outDir, { recursive: true });
  const base = o.quick ? 'quick' : 'latest';
  const la = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
  const subtitle =
    `${m.cpus} × ${m.cpuModel}, Linux ${m.kernel}, Node ${m.node}, page ${pageSize} B; ` +
    `load average ${la(loadStart)} → ${la(m.loadavgEnd)}; ${o.reps} reps${o.quick ? ' (quick)' : ''}; ` +
    `${result.startedAt.slice(0, 16).replace('T', ' ')} UTC`;
  writeFileSync(join(o.outDir, `${base}.json`), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(o.outDir, `${base}.md`), `${subtitle}\n\n${markdownTable(rows)}\n`);
  writeFileSync(join(o.outDir, o.quick ? 'quick.svg' : 'chart.svg'), renderSvg(rows, subtitle));
  process.stdout.write(`\n${textTable(rows)}\n\n${subtitle}\n`);
  const met = rows.filter((r) => r.met === true).length;
  const missed = rows.filter((r) => r.met === false).length;
  const notRun = rows.filter((r) => r.target && r.skipped !== undefined).length;
  process.stdout.write(
    `targets: ${met} met, ${missed} missed, ${notRun} not run · results in ${join(o.outDir, base)}.json\n`,
  );
  process.exit(errors > 0 ? 1 : 0);
}

main().catch((e: unknown) => {
  progressDone();
  process.stderr.write(`${String((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
