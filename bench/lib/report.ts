/**
 * Rows, targets, the printed table, the JSON file and the Markdown table for the README.
 */
import { cpus, loadavg, release } from 'node:os';
import { readFileSync } from 'node:fs';
import { median } from './harness';

export interface Target {
  /** 'ratio': package/C median must be <= limit. 'min': value must be >= limit. */
  kind: 'ratio' | 'min';
  limit: number;
  text: string;
}

export interface Row {
  scenario: number;
  id: string;
  label: string;
  /** Unit of the C and package medians (e.g. 'µs/fault'). */
  unit: string;
  /** Samples, already in `unit`. */
  c?: number[];
  pkg?: number[];
  cMedian?: number;
  pkgMedian?: number;
  /** package median / C median. */
  ratio?: number;
  /** For metric rows (a reduction, a speed-up, a rate): the package's figure... */
  value?: number;
  /** ...and the C reference's, when there is one. */
  cValue?: number;
  valueUnit?: string;
  target?: Target;
  met?: boolean;
  note?: string;
  /** Why the row did not run. */
  skipped?: string;
  extra?: Record<string, unknown>;
}

/** Fills medians, ratio and met from the samples. */
export function finish(row: Row): Row {
  if (row.c !== undefined) row.cMedian = median(row.c);
  if (row.pkg !== undefined) row.pkgMedian = median(row.pkg);
  if (row.cMedian !== undefined && row.pkgMedian !== undefined && row.cMedian > 0) {
    row.ratio = row.pkgMedian / row.cMedian;
  }
  if (row.target !== undefined && row.skipped === undefined) {
    if (row.target.kind === 'ratio' && row.ratio !== undefined) {
      row.met = row.ratio <= row.target.limit;
    } else if (row.target.kind === 'min' && row.value !== undefined) {
      row.met = row.value >= row.target.limit;
    }
  }
  return row;
}

export const ratioTarget = (limit: number): Target => ({
  kind: 'ratio',
  limit,
  text: `≤ ${limit.toFixed(2)}×`,
});

export interface Machine {
  cpus: number;
  cpuModel: string;
  kernel: string;
  node: string;
  thp: string;
  maxMapCount: number;
  loadavg: number[];
}

export function machine(): Machine {
  let thp = '';
  try {
    thp = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').trim();
  } catch {
    // no THP
  }
  let maxMapCount = 0;
  try {
    maxMapCount = Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8'));
  } catch {
    // not Linux
  }
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
    thp,
    maxMapCount,
    loadavg: loadavg(),
  };
}

function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '–';
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

function valueText(v: number | undefined, unit: string | undefined): string {
  if (v === undefined) return '–';
  if (unit === '%') return `${(v * 100).toFixed(1)} %`;
  if (unit === '×') return `${v.toFixed(2)}×`;
  return `${fmt(v)}${unit ? ' ' + unit : ''}`;
}

export interface TableLine {
  id: string;
  what: string;
  c: string;
  pkg: string;
  ratio: string;
  target: string;
  verdict: string;
}

export function tableLines(rows: Row[]): TableLine[] {
  return rows.map((r) => {
    const isMetric = r.value !== undefined || r.valueUnit !== undefined;
    const c = r.skipped
      ? '–'
      : isMetric
        ? valueText(r.cValue, r.valueUnit)
        : `${fmt(r.cMedian)} ${r.unit}`;
    const pkg = r.skipped
      ? 'skipped'
      : isMetric
        ? valueText(r.value, r.valueUnit)
        : `${fmt(r.pkgMedian)} ${r.unit}`;
    const ratio = r.ratio !== undefined && !isMetric ? `${r.ratio.toFixed(2)}×` : '';
    const verdict =
      r.skipped !== undefined ? 'n/a' : r.met === undefined ? '' : r.met ? 'met' : 'MISSED';
    return {
      id: r.id,
      what: r.label,
      c,
      pkg,
      ratio,
      target: r.target?.text ?? '',
      verdict,
    };
  });
}

const HEAD: TableLine = {
  id: 'id',
  what: 'scenario',
  c: 'C reference',
  pkg: 'package',
  ratio: 'pkg/C',
  target: 'target',
  verdict: '',
};

/** The plain-text table for the terminal. */
export function textTable(rows: Row[]): string {
  const lines = [HEAD, ...tableLines(rows)];
  const keys: (keyof TableLine)[] = ['id', 'what', 'c', 'pkg', 'ratio', 'target', 'verdict'];
  const w = keys.map((k) => Math.max(...lines.map((l) => l[k].length)));
  const out = lines.map((l) =>
    keys.map((k, i) => (i >= 2 && i <= 4 ? l[k].padStart(w[i]!) : l[k].padEnd(w[i]!))).join('  '),
  );
  out.splice(1, 0, w.map((n) => '-'.repeat(n)).join('  '));
  return out.join('\n');
}

/** The same table in Markdown (for the README). */
export function markdownTable(rows: Row[]): string {
  const lines = tableLines(rows);
  const head = '| id | scenario | C reference | package | pkg/C | target | |';
  const sep = '|---|---|--:|--:|--:|---|---|';
  const body = lines.map(
    (l) => `| ${l.id} | ${l.what} | ${l.c} | ${l.pkg} | ${l.ratio} | ${l.target} | ${l.verdict} |`,
  );
  return [head, sep, ...body].join('\n');
}
