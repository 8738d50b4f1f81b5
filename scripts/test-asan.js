#!/usr/bin/env node
'use strict';
// `npm run test:asan`: the test suite against the addon built with AddressSanitizer and
// UndefinedBehaviorSanitizer (scripts/build-asan.js). valgrind cannot run it (it does not know
// the userfaultfd syscall), so node runs with libasan preloaded (node itself is not
// instrumented; the addon is) and loads build-asan/ through USERFAULTFD_ADDON_DIR. Every child
// process the tests spawn inherits the same environment.
//
// Options (and why):
//   detect_leaks=0        node does not free its heap at exit by design, and every allocation
//                         stack passes through node frames, so LeakSanitizer cannot separate the
//                         addon's leaks from node's: leaks are measured by scripts/soak.js instead
//                         (RSS, fds, threads over 1M faults / 100k cycles / 1k Workers).
//   handle_segv=0, handle_sigbus=0
//                         touch() catches SIGSEGV/SIGBUS on purpose (poisoned or unmapped pages);
//                         ASan must leave those signals to the addon's handlers.
//   halt_on_error=1, abort_on_error=1, UBSan halt_on_error=1 (and -fno-sanitize-recover=all)
//                         the first report kills the process: a test fails, nothing is missed.
//   log_path=<dir>        every report from any process lands in a file; the run fails if the
//                         directory is not empty afterwards.
//
//   node scripts/test-asan.js [jest args]     (default: test/; FUZZ_CALLS defaults to 3000,
//                                              UFFD_DIFF_RUNS to 300)
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');
const asanDir = path.join(root, 'build-asan');
const addon = path.join(asanDir, 'build', 'Release', 'userfaultfd.node');

function newestSource() {
  const files = [
    'binding.gyp',
    ...fs.readdirSync(path.join(root, 'native')).map((f) => `native/${f}`),
  ];
  return Math.max(...files.map((f) => fs.statSync(path.join(root, f)).mtimeMs));
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

if (!fs.existsSync(addon) || fs.statSync(addon).mtimeMs < newestSource()) {
  if (run(process.execPath, [path.join(__dirname, 'build-asan.js')]) !== 0) process.exit(1);
}
if (run(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json']) !== 0) {
  process.exit(1);
}
run(process.execPath, [path.join(__dirname, 'write-esm-entry.js')]);

const libasan = spawnSync('gcc', ['-print-file-name=libasan.so'], {
  encoding: 'utf8',
}).stdout.trim();
if (!path.isAbsolute(libasan) || !fs.existsSync(libasan)) {
  console.error('libasan.so not found (gcc -print-file-name=libasan.so)');
  process.exit(1);
}
const logs = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-asan-'));
fs.chmodSync(logs, 0o1777); // the privilege tests run children as nobody
const env = {
  ...process.env,
  USERFAULTFD_ADDON_DIR: asanDir,
  LD_PRELOAD: libasan,
  ASAN_OPTIONS: [
    'detect_leaks=0',
    'handle_segv=0',
    'handle_sigbus=0',
    'allow_user_segv_handler=1',
    'halt_on_error=1',
    'abort_on_error=1',
    `log_path=${logs}/asan`,
  ].join(':'),
  UBSAN_OPTIONS: ['print_stacktrace=1', 'halt_on_error=1', `log_path=${logs}/ubsan`].join(':'),
  FUZZ_CALLS: process.env.FUZZ_CALLS ?? '3000',
  // The differential's 2,000 sequences run in npm test; here they only drive the addon (300).
  UFFD_DIFF_RUNS: process.env.UFFD_DIFF_RUNS ?? '300',
  SOAK_SCALE: process.env.SOAK_SCALE ?? '0.01',
};

// The run must really be instrumented: the runtime mapped, the ASan build of the addon loaded.
const check = spawnSync(
  process.execPath,
  [
    '-e',
    `const b = require(${JSON.stringify(path.join(root, 'dist', 'binding.js'))}).native();
     const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
     console.log(JSON.stringify({
       asan: /libasan/.test(maps), ubsan: /libubsan/.test(maps),
       addon: maps.includes(${JSON.stringify(addon)}), exports: Object.keys(b).length }));`,
  ],
  { env, encoding: 'utf8' },
);
const sanity = JSON.parse(check.stdout || '{}');
if (!sanity.asan || !sanity.ubsan || !sanity.addon) {
  console.error('not instrumented:', check.stdout, check.stderr);
  process.exit(1);
}
console.log(`ASan+UBSan: ${addon}; reports to ${logs}`);

const jestArgs = process.argv.slice(2);
// GCC's UBSan runtime ignores log_path when linked with ASan and writes to stderr: scan the
// output too (with halt_on_error the reporting child dies, so its test fails as well).
const jest = spawnSync(
  path.join(root, 'node_modules', '.bin', 'jest'),
  jestArgs.length ? jestArgs : ['test/'],
  { cwd: root, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
);
process.stdout.write(jest.stdout);
process.stderr.write(jest.stderr);
const output = `${jest.stdout}\n${jest.stderr}`;
const inOutput = (output.match(/runtime error:|ERROR: (AddressSanitizer|LeakSanitizer)/g) ?? [])
  .length;
const files = fs.readdirSync(logs);
for (const f of files) {
  console.error(`\n==== ${f}\n${fs.readFileSync(path.join(logs, f), 'utf8')}`);
}
const status = jest.status ?? 1;
console.log(
  `\nsanitizer reports: ${files.length} in ${logs}, ${inOutput} in the output; jest exit: ${status}`,
);
process.exit(files.length + inOutput > 0 ? 1 : status);
