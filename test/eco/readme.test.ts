/**
 * The README's quick start must run as written: it must be exactly examples/quick-start.js,
 * which examples.test.ts runs. And every example the README lists must exist and be run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const { EXAMPLES } = require(join(root, 'scripts', 'run-examples.js')) as {
  EXAMPLES: [string, string[]][];
};

test('the quick start is examples/quick-start.js, verbatim', () => {
  const section = readme.slice(readme.indexOf('\n## Quick start\n'));
  const block = /```js\n([\s\S]*?)```/.exec(section);
  expect(block).not.toBeNull();
  expect(block![1]).toBe(readFileSync(join(root, 'examples', 'quick-start.js'), 'utf8'));
});

test('every example the README names exists and is smoke-tested', () => {
  const named = [...readme.matchAll(/node examples\/([\w-]+\.js)/g)].map((m) => m[1]!);
  expect(named.length).toBeGreaterThanOrEqual(5);
  const run = EXAMPLES.map(([f]) => f);
  for (const f of new Set(named)) {
    expect(existsSync(join(root, 'examples', f))).toBe(true);
    expect(run).toContain(f);
  }
});
