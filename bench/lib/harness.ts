/**
 * The measuring machinery: options, the C reference runner, interleaved repetitions with
 * medians, and the progress line.
 *
 * Method: every row runs its contenders (the C reference and the package, sometimes more)
 * once per repetition, in an order that rotates from one repetition to the next, after one
 * warm-up round that is thrown away. The machine is shared, so single runs are noisy: the
 * medians of the repetitions are what the table compares, and the JSON keeps every sample.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchOptions {
  quick: boolean;
  /** Repetitions per row (after one warm-up). */
  reps: number;
  /** Scenario numbers to run (empty: all). */
  only: Set<number>;
  /** Where the C references were compiled. */
  refBin: string;
  /** Where the results go. */
  outDir: string;
  /** Repository root (bench/ref lives there). */
  root: string;
  /** The checkout whose dist/ is measured and loaded by workers (default: root). */
  pkgRoot?: string;
}

/** Scales a size for --quick. */
export function size(opts: BenchOptions, full: number, quick: number): number {
  return opts.quick ? quick : full;
}

export function now(): bigint {
  return process.hrtime.bigint();
}

export function elapsedNs(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0);
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs a C reference program (key=value args) and parses its one JSON line. */
export function runRef(
  opts: BenchOptions,
  program: string,
  args: Record<string, string | number>,
): Record<string, number> {
  const argv = Object.entries(args).map(([k, v]) => `${k}=${v}`);
  const out = execFileSync(join(opts.refBin, program), argv, {
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 1 << 20,
  });
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Record<string, number>;
}

/** cc -O2 every bench/ref/*.c into bench/ref/bin/. */
export function compileRefs(o: BenchOptions): string {
  const dir = join(o.root, 'bench', 'ref');
  mkdirSync(o.refBin, { recursive: true });
  const cc = process.env.CC ?? 'cc';
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.c'))) {
    progress(`compiling bench/ref/${f} with ${cc}`);
    // Into a temporary name, then rename: another bench run (e.g. a parallel test) may be
    // executing the previous binary right now.
    const out = join(o.refBin, f.slice(0, -2));
    const tmp = `${out}.${process.pid}.tmp`;
    execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-pthread', '-o', tmp, join(dir, f)], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    renameSync(tmp, out);
  }
  return execFileSync(cc, ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? cc;
}

// ---- progress ---------------------------------------------------------------------------------

const tty = process.stderr.isTTY === true;
let lastLen = 0;
const startedAt = Date.now();

/** Rewrites the progress line (one line per update when stderr is not a terminal). */
export function progress(text: string): void {
  const secs = ((Date.now() - startedAt) / 1000).toFixed(0).padStart(3);
  const line = `[${secs}s] ${text}`;
  if (tty) {
    const cols = process.stderr.columns ?? 120;
    const shown = line.length > cols - 1 ? line.slice(0, cols - 2) + '…' : line;
    process.stderr.write('\r' + shown + ' '.repeat(Math.max(0, lastLen - shown.length)));
    lastLen = shown.length;
  } else {
    process.stderr.write(line + '\n');
  }
}

/** Ends the progress line (so the table starts on a clean line). */
export function progressDone(): void {
  if (tty && lastLen > 0) process.stderr.write('\r' + ' '.repeat(lastLen) + '\r');
  lastLen = 0;
}

// ---- interleaving -----------------------------------------------------------------------------

export type Contender = () => Promise<number> | number;

/**
 * Runs each contender `reps` times (plus one discarded warm-up round), rotating the order every
 * repetition so that none always runs first or last. Returns the samples per contender.
 */
export async function interleave(
  label: string,
  reps: number,
  contenders: Record<string, Contender>,
  show: (name: string, v: number) => string = (n, v) => `${n} ${v.toPrecision(4)}`,
): Promise<Record<string, number[]>> {
  const names = Object.keys(contenders);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = -1; r < reps; r++) {
    const order = names.map((_, i) => names[(i + Math.max(r, 0)) % names.length]!);
    for (const name of order) {
      progress(`${label} · ${r < 0 ? 'warm-up' : `rep ${r + 1}/${reps}`} · ${name}`);
      const v = await contenders[name]!();
      if (r >= 0) samples[name]!.push(v);
    }
    if (r >= 0) {
      const parts = names.map((n) => show(n, median(samples[n]!)));
      progress(`${label} · rep ${r + 1}/${reps} · ${parts.join(' · ')}`);
    }
  }
  return samples;
}

/** Waits one turn of the event loop (so pending I/O callbacks, e.g. faults, are served). */
export function yieldLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
