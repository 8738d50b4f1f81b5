/**
 * Both entry points: `import ... from 'userfaultfd'` (package.json exports "import" ->
 * dist/index.mjs) and `require('userfaultfd')` ("require" -> dist/index.js), from a consumer
 * directory that has the package in node_modules, at run time and for the type checker.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
let consumer: string;

beforeAll(() => {
  consumer = mkdtempSync(join(tmpdir(), 'uffd-consumer-'));
  mkdirSync(join(consumer, 'node_modules', '@types'), { recursive: true });
  symlinkSync(root, join(consumer, 'node_modules', 'userfaultfd'));
  symlinkSync(
    join(root, 'node_modules', '@types', 'node'),
    join(consumer, 'node_modules', '@types', 'node'),
  );
});
afterAll(() => rmSync(consumer, { recursive: true, force: true }));

function node(file: string, text: string): { status: number | null; out: string; err: string } {
  writeFileSync(join(consumer, file), text);
  const r = spawnSync(process.execPath, [file], {
    cwd: consumer,
    encoding: 'utf8',
    timeout: 30000,
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

test('ESM: named and default imports resolve to dist/index.mjs and share the CJS instance', () => {
  const r = node(
    'esm.mjs',
    `import uffd, { Userfaultfd, Mapping, UffdError, probe, doctor, pageSize } from 'userfaultfd';
import * as ns from 'userfaultfd';
import { createRequire } from 'node:module';
const cjs = createRequire(import.meta.url)('userfaultfd');
const missing = Object.keys(cjs).filter((k) => !(k in ns));
console.log(JSON.stringify({
  resolved: import.meta.resolve('userfaultfd'),
  same: uffd === cjs && Userfaultfd === cjs.Userfaultfd && Mapping === cjs.Mapping,
  open: typeof Userfaultfd.open,
  missing,
  pageSize,
  probe: probe().available,
  doctor: typeof doctor().ok,
  error: new UffdError('EEXIST', 'x') instanceof cjs.UffdError,
}));
`,
  );
  expect(r.err).toBe('');
  expect(r.status).toBe(0);
  const o = JSON.parse(r.out) as Record<string, unknown>;
  expect(o.resolved).toMatch(/\/dist\/index\.mjs$/);
  expect(o).toMatchObject({
    same: true,
    open: 'function',
    missing: [],
    doctor: 'boolean',
    error: true,
  });
  expect(o.pageSize).toBeGreaterThanOrEqual(4096);
});

test('CJS: require resolves to dist/index.js', () => {
  const r = node(
    'cjs.cjs',
    `const u = require('userfaultfd');
console.log(JSON.stringify({
  resolved: require.resolve('userfaultfd'),
  names: ['Userfaultfd', 'Mapping', 'UffdError', 'probe', 'doctor', 'touch', 'pageSize'].filter((n) => !(n in u)),
  pkg: require('userfaultfd/package.json').name,
}));
`,
  );
  expect(r.status).toBe(0);
  const o = JSON.parse(r.out) as Record<string, unknown>;
  expect(o.resolved).toMatch(/\/dist\/index\.js$/);
  expect(o).toMatchObject({ names: [], pkg: 'userfaultfd' });
});

test('types: both entry points type-check under nodenext, and wrong calls are errors', () => {
  writeFileSync(
    join(consumer, 'esm.mts'),
    `import uffd, { Userfaultfd, Mapping, type UffdEvent, type DoctorReport } from 'userfaultfd';
export const size: number = uffd.pageSize;
export const report: DoctorReport = uffd.doctor();
export function kind(e: UffdEvent): string { return e.type; }
export const open = (): Userfaultfd => Userfaultfd.open({ backend: 'auto', features: ['move'] });
export const map = (): Mapping => Mapping.anonymous(size);
// @ts-expect-error not a backend
Userfaultfd.open({ backend: 'kernel-ish' });
// @ts-expect-error not a feature name
Userfaultfd.open({ features: ['teleport'] });
`,
  );
  writeFileSync(
    join(consumer, 'cjs.cts'),
    `import uffd = require('userfaultfd');
export const size: number = uffd.pageSize;
export const err: string = new uffd.UffdError('EPERM', 'x').code;
// @ts-expect-error userModeOnly is a boolean
uffd.Userfaultfd.open({ userModeOnly: 'yes' });
`,
  );
  writeFileSync(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        lib: ['ES2022', 'ESNext.Disposable'],
        types: ['node'],
      },
      files: ['esm.mts', 'cjs.cts'],
    }),
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', consumer], {
    encoding: 'utf8',
    timeout: 60000,
  });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
});

test('bin: dist/cli.js is an executable script with a node shebang', () => {
  const pkg = require(join(root, 'package.json')) as { bin: { userfaultfd: string } };
  expect(pkg.bin.userfaultfd).toBe('dist/cli.js');
  const r = spawnSync(process.execPath, [join(root, pkg.bin.userfaultfd), '--help'], {
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('usage: userfaultfd doctor');
  expect(
    require('node:fs')
      .readFileSync(join(root, 'dist', 'cli.js'), 'utf8')
      .split('\n')[0],
  ).toBe('#!/usr/bin/env node');
});
