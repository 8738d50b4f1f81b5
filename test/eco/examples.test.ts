/**
 * Smoke-runs every example in examples/ as a child process with a hard timeout (a hang is a
 * killed child and a failed test, never a stuck jest worker). Each example checks its own
 * results byte for byte and ends with an "ok:" line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectNoMove, hasMove } from '../helpers/kernel-version';

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
  const r = runExample(file, args, 60000);
  // an example that calls move() without checking features.has('move') needs UFFDIO_MOVE
  const source = readFileSync(join(__dirname, '..', '..', 'examples', file), 'utf8');
  const usesMove = source.includes('.move(') && !source.includes("features.has('move')");
  if (usesMove && !hasMove) {
    // Before 6.8 there is no UFFDIO_MOVE: the example stops with a UffdError (the kernel's EINVAL,
    // or open()'s refusal of the 'move' feature), never a hang or a crash.
    expectNoMove();
    expect({ ok: r.ok, signal: r.signal }).toEqual({ ok: false, signal: null });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(
      /EINVAL[^\n]*UFFDIO_MOVE|does not offer the userfaultfd feature\(s\) move/,
    );
    return;
  }
  if (!r.ok) {
    throw new Error(
      `${file}: exit ${r.status} ${r.signal ?? ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
  }
  expect(r.status).toBe(0);
});
