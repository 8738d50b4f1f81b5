/**
 * The swap rows of the probe table (spec §5.2 X6, X7) on the kernel, with the kernel's MOVE and
 * with the MOVE emulation: probe-table.test.ts runs the other rows. A file of their own because
 * they need a swap device (test/helpers/system-state.ts: the active one or a temporary swapfile;
 * root, and CI=true fails without it), which the test/vm guests cannot hold (no disk, ramfs
 * /tmp): test/vm/suite.js lists this file as host-only, as it does test/native/probe-x-swap.
 */
import { describeSystem } from '../helpers/system-state';
import { kernelAvailable, runningProfile } from './helpers/backends';
import { kernelRowTest } from './probes/kernel-rows';
import { ROWS } from './probes/rows';

const swapRows = ROWS.filter((r) => r.needs === 'swap');

test('the table has the two swap rows', () => {
  expect(swapRows.map((r) => r.id)).toEqual(['X6', 'X7']);
});

describe('kernel (this machine)', () => {
  if (!kernelAvailable()) {
    test('kernel backend available', () => {
      if (process.env.CI === 'true')
        throw new Error('CI=true but the kernel backend is unavailable');
      console.warn('NOT RUN: no kernel backend here');
    });
    return;
  }
  const profile = runningProfile();
  if (profile === '6.1') {
    test('the table has answers for this kernel', () => {
      throw new Error('no 6.1 column in the probe table (probe-table.test.ts)');
    });
    return;
  }
  describeSystem('swap device', { swap: true }, () => {
    for (const mode of ['kernel', 'emulated'] as const) {
      describe(
        mode === 'kernel' ? "the kernel's MOVE" : 'MOVE emulated (moveEmulation: always)',
        () => {
          for (const row of swapRows) kernelRowTest(row, mode, profile);
        },
      );
    }
  });
});
