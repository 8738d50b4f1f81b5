'use strict';
// `npm test`: build the TypeScript (workers and child processes load dist/), make sure the
// addon is built, lint, then run jest. Under CI=true an unavailable kernel path is a failure,
// never a silent skip.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function run(label, cmd, args, opts = {}) {
  console.log(`\n> ${label}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`\n${label} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''})`);
    process.exit(r.status || 1);
  }
}

const jestArgs = process.argv.slice(2);
if (!fs.existsSync(path.join(root, 'build', 'Release', 'userfaultfd.node'))) {
  run('build addon', bin('node-gyp'), ['rebuild']);
}
run('build ts', bin('tsc'), ['-p', 'tsconfig.build.json']);
run('esm entry', process.execPath, ['scripts/write-esm-entry.js']);
if (!process.env.SKIP_LINT) {
  run('eslint', bin('eslint'), ['.']);
  run('prettier', bin('prettier'), ['--check', '.']);
  run('clang-format', process.execPath, ['scripts/clang-format.js', '--check']);
  run('typecheck', bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);
}
if (process.env.CI === 'true') {
  const { probe } = require(path.join(root, 'dist'));
  const p = probe();
  if (!p.available || !p.features.includes('move')) {
    console.error('CI=true but the kernel userfaultfd path is unavailable:', p);
    process.exit(1);
  }
}
// Jest's own summary is not a line CI tools read, so finish with a plain "N passed, N failed".
const results = path.join(root, '.cache', 'jest-results.json');
fs.mkdirSync(path.dirname(results), { recursive: true });
const r = spawnSync(bin('jest'), [...jestArgs, '--json', `--outputFile=${results}`], {
  cwd: root,
  stdio: 'inherit',
});
let summary = 'jest: no results';
try {
  const j = JSON.parse(fs.readFileSync(results, 'utf8'));
  const skipped = j.numPendingTests + j.numTodoTests;
  summary = `jest: ${j.numPassedTests} passed, ${j.numFailedTests} failed, ${skipped} skipped`;
} catch {
  // jest crashed before writing results: the exit status says so
}
console.log(`\n${summary}`);
process.exit(r.status === null ? 1 : r.status);
