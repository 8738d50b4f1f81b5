#!/usr/bin/env node
'use strict';
// Builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer into build-asan/ (the
// regular build/ is untouched): `npm run build:asan`. build-asan/ holds links to binding.gyp,
// native/ and node_modules/, and node-gyp builds there with the gyp variable asan=1
// (binding.gyp: -fsanitize=address,undefined -fno-sanitize-recover=all -O1 -g).
// Load it with USERFAULTFD_ADDON_DIR=build-asan and LD_PRELOAD of libasan (scripts/test-asan.js).
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');
const dir = path.join(root, 'build-asan');
fs.mkdirSync(dir, { recursive: true });
for (const name of ['binding.gyp', 'native', 'node_modules']) {
  const link = path.join(dir, name);
  if (!fs.existsSync(link)) fs.symlinkSync(path.join(root, name), link);
}
const gyp = path.join(root, 'node_modules', '.bin', 'node-gyp');
const args = ['rebuild', '--asan=1'];
// Headers: npm passes its nodedir config when run through npm; else use the running node's
// own prefix when it ships them (distribution packages do), rather than downloading.
const prefix = path.dirname(path.dirname(process.execPath));
const nodedir =
  process.env.npm_config_nodedir ||
  (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined);
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(gyp, args, { cwd: dir, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status || 1);
const out = path.join(dir, 'build', 'Release', 'userfaultfd.node');
const nm = spawnSync('nm', ['-D', out], { encoding: 'utf8' });
if (!/__asan_/.test(nm.stdout) || !/__ubsan_/.test(nm.stdout)) {
  console.error(`${out} is not instrumented (no __asan_/__ubsan_ symbols)`);
  process.exit(1);
}
console.log(`ASan+UBSan addon: ${out}`);
