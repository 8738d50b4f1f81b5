'use strict';
// `npm run bench [-- --quick ...]`: builds what the bench runs (the addon if missing, dist/ and
// the bench's own TypeScript into build/bench/), then runs it. The C references are compiled by
// the bench itself (bench/run.ts), with the system cc.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`bench: ${path.basename(cmd)} ${args.join(' ')} failed`);
    process.exit(r.status || 1);
  }
}

// --no-build: use the addon and dist/ as they are (the test suite, which builds them first and
// must not rewrite dist/ under other tests' feet). The bench's own build/bench/ is always built.
const args = process.argv.slice(2);
const noBuild = args.includes('--no-build');
if (!noBuild) {
  if (!fs.existsSync(path.join(root, 'build', 'Release', 'userfaultfd.node'))) {
    run(bin('node-gyp'), ['rebuild']);
  }
  run(bin('tsc'), ['-p', 'tsconfig.build.json']);
  run(process.execPath, ['scripts/write-esm-entry.js']);
}
run(bin('tsc'), ['-p', 'bench/tsconfig.json']);
const r = spawnSync(
  process.execPath,
  [path.join(root, 'build', 'bench', 'bench', 'run.js'), ...args.filter((a) => a !== '--no-build')],
  { cwd: root, stdio: 'inherit' },
);
process.exit(r.status === null ? 1 : r.status);
