// `npm run bench -- --quick` (the CI form of the benchmark) runs end to end and writes valid
// results JSON. No timing is asserted: speed is what the bench reports, not what tests check.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

interface Row {
  scenario: number;
  id: string;
  label: string;
  unit: string;
  c?: number[];
  pkg?: number[];
  cMedian?: number;
  pkgMedian?: number;
  ratio?: number;
  value?: number;
  target?: { kind: string; limit: number };
  met?: boolean;
  skipped?: string;
}

describe('npm run bench -- --quick', () => {
  let out: string;
  let result: { schema: number; quick: boolean; machine: Record<string, unknown>; rows: Row[] };
  let status: number | null;
  let stdout: string;
  let stderr: string;

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'uffd-bench-'));
    const r = spawnSync(
      process.execPath,
      // --no-build: dist/ and the addon are built by `npm test` before jest starts.
      [join(ROOT, 'scripts', 'bench.js'), '--quick', '--no-build', '--out', out],
      { cwd: ROOT, encoding: 'utf8', timeout: 170_000 },
    );
    status = r.status;
    stdout = r.stdout;
    stderr = r.stderr;
    const file = join(out, 'quick.json');
    if (existsSync(file)) result = JSON.parse(readFileSync(file, 'utf8')) as typeof result;
  }, 180_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  test('exits 0 and prints the table', () => {
    if (status !== 0) console.error(stderr.slice(-4000));
    expect(status).toBe(0);
    expect(stdout).toMatch(/pkg\/C/);
    expect(stdout).toMatch(/targets: \d+ met, \d+ missed, \d+ not run/);
  });

  test('writes quick.json, quick.md and quick.svg', () => {
    expect(result.schema).toBe(1);
    expect(result.quick).toBe(true);
    expect(result.machine).toHaveProperty('kernel');
    expect(readFileSync(join(out, 'quick.md'), 'utf8')).toMatch(/^\| id \| scenario/m);
    expect(readFileSync(join(out, 'quick.svg'), 'utf8')).toMatch(/^<svg [^>]*xmlns=/);
  });

  test('every scenario reports; every row that ran has finite figures', () => {
    const scenarios = new Set(result.rows.map((r) => r.scenario));
    for (let n = 1; n <= 9; n++) expect(scenarios).toContain(n);
    for (const r of result.rows) {
      expect(r.id).not.toMatch(/error/);
      if (r.skipped !== undefined) {
        // Only the rows waiting for other issues' APIs may be skipped.
        expect(r.skipped).toMatch(/startResolver|SimulatedSpace|engine/);
        continue;
      }
      if (r.c !== undefined) {
        expect(r.c.length).toBeGreaterThan(0);
        expect(r.pkg!.length).toBe(r.c.length);
        for (const v of [...r.c, ...r.pkg!]) expect(Number.isFinite(v) && v > 0).toBe(true);
        expect(Number.isFinite(r.ratio)).toBe(true);
      } else {
        expect(Number.isFinite(r.value)).toBe(true);
      }
      if (r.target !== undefined) expect(typeof r.met).toBe('boolean');
    }
  });

  test('the rows the issue asks for are there', () => {
    const ids = result.rows.map((r) => r.id);
    for (const op of ['copy', 'zeropage', 'move']) {
      expect(ids).toContain(`s1.${op}.worker`);
      expect(ids).toContain(`s1.${op}.native`);
      expect(ids).toContain(`s2.${op}`);
    }
    expect(ids).toEqual(
      expect.arrayContaining([
        's3.move',
        's3.copy',
        's4.move',
        's4.copy',
        's6.copy',
        's6.move',
        's6.reduction',
        's7.mremap',
        's7.move',
        's7.mremap.vmas',
        's7.move.vmas',
        's8.js',
        's8.resolver',
        's9.engine',
      ]),
    );
    expect(ids.filter((id) => id.startsWith('s5.'))).toHaveLength(8);
  });

  test('MOVE adds no VMAs; mremap of single pages adds about two per page', () => {
    const byId = new Map(result.rows.map((r) => [r.id, r]));
    const mv = byId.get('s7.move.vmas')!;
    const mr = byId.get('s7.mremap.vmas')!;
    expect((mv as Row & { cValue: number }).cValue).toBe(0);
    expect((mr as Row & { cValue: number }).cValue).toBeGreaterThan(1000);
  });
});
