'use strict';
// The guest side of `npm run test:kernels`: /init (test/vm/vminit.c) runs
// `/node/bin/node /app/guest/run.js` in each QEMU guest. It runs
//   1. smoke.js: the end-to-end checks of the installed package (/app/node_modules/userfaultfd),
//   2. the project's jest suites, compiled to JS on the host (/app/suite, when present),
// each in a child process with a hard timeout, then prints one line for the host to parse:
//   VMRESULT {"kernel":..,"pageSize":..,"features":[..],"smoke":{..},"jest":{..}}
// and exits non-zero if anything failed.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// The whole run's budget, set by the host a little under its own kill timeout.
const DEADLINE_S = Number(process.env.UFFD_DEADLINE || 400);
const SMOKE_TIMEOUT_S = Math.min(180, DEADLINE_S / 2);
// Every suite has started, some have not finished, and no test case has completed for this
// long: a suite is hung (a thread blocked on a fault nobody serves cannot be timed out by jest).
const HANG_S = Number(
  process.env.UFFD_HANG_S || 45 * Math.max(1, Number(process.env.UFFD_TEST_TIME_SCALE) || 1),
);

/**
 * Runs node with args, echoing its output; resolves { code, out }. Kills it at the deadline, or
 * earlier when `stuck()` (polled every 5 s) returns a reason.
 */
function runNode(args, timeoutS, opts = {}, stuck = () => undefined) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    const onData = (stream) => (d) => {
      out += d;
      stream.write(d);
    };
    child.stdout.on('data', onData(process.stdout));
    child.stderr.on('data', onData(process.stderr));
    const timer = setTimeout(() => {
      console.log(`\n# ${args.join(' ')}: no result after ${timeoutS} s, killing it`);
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    const poll = setInterval(() => {
      const why = stuck();
      if (why === undefined) return;
      console.log(`\n# ${args.join(' ')}: ${why}, killing it`);
      child.kill('SIGKILL');
    }, 5000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve({ code: code ?? 128, signal, out });
    });
  });
}

/** Per-suite results from the reporter's lines; suites that started and never ended hung. */
function jestSummary(ndjson, exit) {
  const lines = fs.existsSync(ndjson)
    ? fs
        .readFileSync(ndjson, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
  const started = new Set(lines.filter((l) => l.event === 'start').map((l) => l.suite));
  const done = lines.filter((l) => l.event === 'result');
  for (const d of done) started.delete(d.suite);
  const hung = [...started];
  const sum = (k) => done.reduce((a, d) => a + d[k], 0);
  const s = {
    suites: done.length + hung.length,
    pass: sum('pass'),
    fail: sum('fail') + hung.length,
    skipped: sum('skipped'),
    failedSuites: done.filter((d) => d.fail > 0).map((d) => d.suite),
    hung,
    failed: done.flatMap((d) => d.failed.map((f) => `${d.suite}: ${f}`)).slice(0, 30),
    exit,
  };
  console.log(
    `# jest: ${s.pass} passed, ${s.fail} failed, ${s.skipped} skipped in ${s.suites} suites`,
  );
  for (const d of done) {
    console.log(`#   ${d.fail ? 'FAIL' : 'pass'} ${d.suite}: ${d.pass} passed, ${d.fail} failed`);
  }
  for (const h of hung) {
    const last = lines.filter((l) => l.event === 'case' && l.suite === h).pop();
    const after = last ? `the test after "${last.title}"` : 'its first test';
    console.log(`#   HUNG ${h}: ${after} never finished (killed)`);
  }
  if (lines.length === 0) s.fail += 1; // jest never started a suite
  return s;
}

async function main() {
  const started = Date.now();
  const result = {
    kernel: os.release(),
    arch: process.arch,
    cpus: os.cpus().length,
    memMiB: Math.round(os.totalmem() / 2 ** 20),
  };
  console.log(
    `# guest: Linux ${result.kernel} ${result.arch}, ${result.cpus} CPUs, ${result.memMiB} MiB`,
  );

  const smoke = await runNode([path.join(__dirname, 'smoke.js')], SMOKE_TIMEOUT_S, {
    cwd: '/app',
  });
  const line = smoke.out.split('\n').find((l) => l.startsWith('SMOKE '));
  const s = line ? JSON.parse(line.slice(6)) : { pass: 0, fail: 1, aborted: 'no SMOKE line' };
  result.pageSize = s.pageSize;
  result.features = s.features;
  result.addon = s.addon;
  result.smoke = { pass: s.pass, fail: s.fail, failed: s.failed, exit: smoke.code };
  result.seconds = { smoke: (Date.now() - started) / 1000 };

  const suite = '/app/suite';
  // UFFD_NO_JEST=1: the host runs jest in other guests only (kernels.js --jest id=...)
  if (fs.existsSync(path.join(suite, 'jest.config.js')) && process.env.UFFD_NO_JEST !== '1') {
    const t0 = Date.now();
    // Leave the host's boot/shutdown margin: a result with hung suites named beats a timeout.
    const left = DEADLINE_S - (Date.now() - started) / 1000;
    const ndjson = '/tmp/jest-results.ndjson';
    const extra = (process.env.UFFD_JEST_ARGS || '').split(',').filter(Boolean);
    const total = JSON.parse(fs.readFileSync(path.join(suite, 'suites.json'), 'utf8')).length;
    const stuck = () => {
      if (extra.length > 0 || !fs.existsSync(ndjson)) return undefined; // a subset: no count
      const lines = fs.readFileSync(ndjson, 'utf8').split('\n').filter(Boolean).map(JSON.parse);
      const startedN = lines.filter((l) => l.event === 'start').length;
      const doneN = lines.filter((l) => l.event === 'result').length;
      const idle = (Date.now() - Math.max(...lines.map((l) => l.t))) / 1000;
      if (startedN === total && doneN < total && idle > HANG_S) {
        return `${total - doneN} suite(s) made no progress for ${HANG_S} s`;
      }
      return undefined;
    };
    const j = await runNode(
      [path.join(suite, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', ...extra],
      Math.max(10, Math.floor(left)),
      { cwd: suite, env: { ...process.env, UFFD_JEST_NDJSON: ndjson, FORCE_COLOR: '0' } },
      stuck,
    );
    result.jest = jestSummary(ndjson, j.code);
    result.seconds.jest = (Date.now() - t0) / 1000;
  }

  const failed =
    result.smoke.fail > 0 ||
    result.smoke.exit !== 0 ||
    (result.jest !== undefined && (result.jest.fail > 0 || result.jest.exit !== 0));
  result.ok = !failed;
  console.log(`VMRESULT ${JSON.stringify(result)}`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.log(
    `VMRESULT ${JSON.stringify({ ok: false, aborted: String(e && e.stack ? e.stack : e) })}`,
  );
  process.exitCode = 1;
});
