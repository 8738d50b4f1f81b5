/**
 * The heap compactor (./compactor.ts) runs unchanged on the kernel backend and on the simulated
 * engine (4K, 16K and 64K pages); every report must be identical to the kernel's.
 */
import { SimulatedSpace, kernelSpace } from '../../lib';
import { type CompactorReport, compact } from './compactor';
import { kernelAvailable } from './helpers/backends';

const ci = process.env.CI === 'true';

const cases = [
  { pages: 32, seed: 1, forkSnapshot: false },
  { pages: 32, seed: 2, forkSnapshot: true },
  { pages: 48, seed: 7, forkSnapshot: true },
];

function sane(r: CompactorReport): void {
  // Every live object arrived, densely and in order; nothing is left in the from-space.
  expect(r.toSpace.every((v) => typeof v === 'number')).toBe(true);
  const ids = r.toSpace as number[];
  expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  expect(ids.length).toBe(r.live);
  expect(r.fromAfterUnmap).toBe(false);
  expect(r.pageStates).toBe('x'.repeat(r.live));
}

describe.each(cases)('compactor $pages pages, seed $seed, fork $forkSnapshot', (c) => {
  let kernel: CompactorReport | undefined;

  test('kernel', async () => {
    if (!kernelAvailable()) {
      if (ci) throw new Error('CI=true but the kernel backend is unavailable');
      console.warn('NOT RUN: no kernel backend here');
      return;
    }
    const space = kernelSpace();
    const uffd = space.userfaultfd();
    try {
      kernel = await compact(space, uffd, c);
    } finally {
      uffd.close();
    }
    sane(kernel);
    if (c.forkSnapshot) expect(kernel.eager.some((e) => e.result.includes('EBUSY'))).toBe(true);
  });

  test.each([4096, 16384, 65536])(
    'simulated %i-byte pages: same report as the kernel',
    async (ps) => {
      const space = new SimulatedSpace({ pageSize: ps, swap: false });
      const uffd = space.userfaultfd();
      const report = await compact(space, uffd, c);
      uffd.close();
      sane(report);
      if (kernel !== undefined) expect(report).toEqual(kernel);
    },
  );
});
