'use strict';
// clang-format over native/ (the binary ships in the clang-format npm package, so no system
// package is needed). --check: fail on any difference; --fix: rewrite in place.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const files = fs
  .readdirSync(path.join(root, 'native'))
  .filter((f) => /\.(cc|h)$/.test(f))
  .map((f) => path.join('native', f));
const bin = require.resolve('clang-format/index.js');
const args = process.argv.includes('--fix') ? ['-i', ...files] : ['--dry-run', '-Werror', ...files];
try {
  execFileSync(process.execPath, [bin, '--style=file', ...args], { cwd: root, stdio: 'inherit' });
} catch {
  console.error('clang-format: native/ is not formatted; run `npm run format`');
  process.exit(1);
}
