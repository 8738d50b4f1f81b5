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

const SMOKE_TIMEOUT_S = Number(process.env.UFFD_SMOKE_TIMEOUT || 240);
const JEST_TIMEOUT_S = Number(process.env.UFFD_JEST_TIMEOUT || 420);

/** Runs node with args, echoing its output; resolves { code, out } or kills it at the deadline. */
function runNode(args, timeoutS, opts = {}) {
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
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, signal, out });
    });
  });
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
  if (fs.existsSync(path.join(suite, 'jest.config.js'))) {
    const t0 = Date.now();
    const jestBin = path.join(suite, 'node_modules', 'jest', 'bin', 'jest.js');
    const summaryFile = '/tmp/jest-summary.json';
    const j = await runNode(
      [
        jestBin,
        '--ci',
        '--json',
        `--outputFile=${summaryFile}`,
        ...(process.env.UFFD_JEST_ARGS || '').split(' ').filter(Boolean),
      ],
      JEST_TIMEOUT_S,
      { cwd: suite },
    );
    let summary;
    try {
      summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'));
    } catch {
      summary = undefined;
    }
    result.jest = summary
      ? {
          suites: summary.numTotalTestSuites,
          pass: summary.numPassedTests,
          fail: summary.numFailedTests,
          failedSuites: summary.numFailedTestSuites,
          failed: summary.testResults
            .flatMap((r) =>
              r.assertionResults.filter((a) => a.status === 'failed').map((a) => a.fullName),
            )
            .slice(0, 20),
          exit: j.code,
        }
      : { pass: 0, fail: 1, exit: j.code, aborted: 'no jest summary' };
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
