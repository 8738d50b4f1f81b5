/**
 * Smoke-runs every example in examples/ as a child process with a hard timeout (a hang is a
 * killed child and a failed test, never a stuck jest worker). Each example checks its own
 * results byte for byte and ends with an "ok:" line.
 */
import { join } from 'node:path';
import { scaledMs } from '../helpers/time';

const { EXAMPLES, runExample } = require(
  join(__dirname, '..', '..', 'scripts', 'run-examples.js'),
) as {
  EXAMPLES: [string, string[]][];
  runExample: (
    file: string,
    args: string[],
    timeoutMs?: number,
  ) => {
    ok: boolean;
    status: number | null;
    signal: string | null;
    stdout: string;
    stderr: string;
  };
};

test.each(EXAMPLES)('examples/%s runs and verifies itself', (file, args) => {
  const r = runExample(file, args, scaledMs(60000));
  // An example that calls move() without checking features.has('move') runs on kernels without
  // UFFDIO_MOVE too (before 6.8): the default moveEmulation 'auto' serves it.
  if (!r.ok) {
    throw new Error(
      `${file}: exit ${r.status} ${r.signal ?? ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
  }
  expect(r.status).toBe(0);
});
