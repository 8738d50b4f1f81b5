// The README's example (examples/readme-move.js) runs as documented: a Worker touches a fresh
// mapping, the main thread serves each fault with MOVE from a source mapping.
import { join } from 'path';
import { ROOT, runNode } from './helpers';

test('examples/readme-move.js prints ok after one fault per page', async () => {
  const r = await runNode([join(ROOT, 'examples', 'readme-move.js')], { cwd: '/' });
  expect(r.timedOut).toBe(false);
  expect(r.code).toBe(0);
  expect(r.stdout.trim()).toMatch(/^ok \d+ 16 faults$/);
});
