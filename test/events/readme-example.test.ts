// The README's example is examples/readme-move.js verbatim (minus its header comment), and it
// runs as documented: a Worker touches a fresh mapping, the main thread serves each fault with
// MOVE from a source mapping.
import { readFileSync } from 'fs';
import { join } from 'path';
import { Userfaultfd } from '../../lib';
import { expectMoveEmulated } from '../helpers/kernel-version';
import { ROOT, runNode } from './helpers';

test('the README shows examples/readme-move.js', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Serving faults'));
  const block = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  const file = readFileSync(join(ROOT, 'examples', 'readme-move.js'), 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('//') && l !== "'use strict';")
    .join('\n')
    .trim();
  expect(block?.trim()).toBe(file);
  expect(file.split('\n').length).toBeLessThanOrEqual(26);
});

test('examples/readme-move.js prints ok after one fault per page', async () => {
  // Before 6.8 the kernel has no UFFDIO_MOVE: the example's open() (features ['move'], default
  // moveEmulation 'auto') gets the emulation, and the example runs as documented.
  const u = Userfaultfd.open({ features: ['move'] });
  try {
    expectMoveEmulated(u);
  } finally {
    u.close();
  }
  const r = await runNode([join(ROOT, 'examples', 'readme-move.js')], { cwd: '/' });
  expect(r.timedOut).toBe(false);
  expect(r.code).toBe(0);
  expect(r.stdout.trim()).toMatch(/^ok \d+ 16 faults$/);
});
