'use strict';
// `npm run examples`: runs every example the way the README says (one command each), with a
// hard timeout, and checks that each ends with its "ok:" line. test/eco/examples.test.ts runs
// the same list under jest.
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');

/** Each example and its command-line arguments (small sizes: this is a smoke run). */
const EXAMPLES = [
  ['quick-start.js', []],
  ['heap-compactor.js', ['1024', '2']],
  ['postcopy-migration.js', ['2048']],
  ['firecracker-handler.js', []],
  ['lazy-file.js', []],
];

function runExample(file, args, timeoutMs = 60000) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join('examples', file), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
  const lines = r.stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  return {
    file,
    status: r.status,
    signal: r.signal,
    ms: Date.now() - t0,
    stdout: r.stdout,
    stderr: r.stderr,
    ok:
      r.status === 0 && (file === 'quick-start.js' ? /EEXIST/.test(r.stdout) : /^ok: /.test(last)),
  };
}

module.exports = { EXAMPLES, runExample };

if (require.main === module) {
  let failed = 0;
  for (const [file, args] of EXAMPLES) {
    const r = runExample(file, args);
    process.stdout.write(`${r.stdout.trimEnd().replace(/^/gm, `  ${file}: `)}\n`);
    if (!r.ok) {
      failed++;
      console.error(`FAIL ${file}: exit ${r.status} ${r.signal ?? ''}\n${r.stderr}`);
    } else console.log(`PASS ${file} (${r.ms} ms)`);
  }
  process.exit(failed ? 1 : 0);
}
