/**
 * The 173 probe rows of spec §5.2, run on the real kernel and on the simulated engine (4K, and
 * 16K/64K pages, where sizes in the expected strings scale with the page and PMD size).
 *
 * On the kernel every row runs, twice (the kernel's MOVE, then the MOVE emulation):
 * - X3/X4 pin the page as an io_uring fixed buffer (native/pin.cc);
 * - X5 (KSM) and X8–X13 (hugetlb) run in a describeSystem that raises vm.nr_hugepages and lets
 *   ksmd scan at full speed while X5 waits for the merge, restoring both after
 *   (test/helpers/system-state.ts: root; CI=true fails without it);
 * - X6/X7 (swap) are in probe-table-swap.test.ts (a swapfile, which the test/vm guests cannot
 *   hold).
 */
import { describeSystem } from '../helpers/system-state';
import { kernelAvailable, runningProfile } from './helpers/backends';
import { kernelRowTest } from './probes/kernel-rows';
import { makeEnv } from './probes/env';
import { ROWS, expected, type Row } from './probes/rows';

const ci = process.env.CI === 'true';
/** Rows of the describeSystem below; the swap rows are probe-table-swap.test.ts's. */
const hugetlbOrKsm = (r: Row): boolean => r.needs === 'hugetlb' || r.needs === 'ksm';

test('the table has the 173 rows of spec §5.2', () => {
  expect(ROWS.length).toBe(173);
  expect(new Set(ROWS.map((r) => r.id)).size).toBe(173);
});

/** The running kernel's answers: 6.18's, or 6.12's where a row has them (rows.ts on612). */
const running = kernelAvailable() ? runningProfile() : '6.18';

for (const [title, mode] of [
  ['kernel (this machine)', 'kernel'],
  ['kernel, MOVE emulated (moveEmulation: always)', 'emulated'],
] as const) {
  describe(`${title}, ${running}'s answers`, () => {
    if (!kernelAvailable()) {
      test('kernel backend available', () => {
        if (ci) throw new Error('CI=true but the kernel backend is unavailable');
        console.warn('NOT RUN: no kernel backend here');
      });
      return;
    }
    if (running === '6.1') {
      // Half the rows are MOVE's, which 6.1 lacks: the table has no 6.1 column (test/native
      // covers 6.1's answers, the differential its VMA rules). test/vm does not run it there.
      test('the table has answers for this kernel', () => {
        throw new Error(`no 6.1 column in the probe table (kernel ${running} profile)`);
      });
      return;
    }
    const profile = running;
    for (const row of ROWS) {
      if (row.needs !== 'swap' && !hugetlbOrKsm(row)) kernelRowTest(row, mode, profile);
    }
    describeSystem('hugetlb pool (+4 pages), ksmd', { hugetlbPages: 4, ksm: true }, () => {
      for (const row of ROWS) if (hugetlbOrKsm(row)) kernelRowTest(row, mode, profile);
    });
  });
}

// The model: 6.18 at every page size; its '6.12' profile at the sizes 6.12 was measured with.
for (const [profile, pageSize] of [
  ['6.18', 4096],
  ['6.18', 16384],
  ['6.18', 65536],
  ['6.12', 4096],
  ['6.12', 16384],
] as const) {
  describe(`simulated, ${pageSize / 1024}K pages, profile ${profile}`, () => {
    for (const row of ROWS) {
      test(`${row.id} ${row.what}`, async () => {
        const env = makeEnv('simulated', pageSize, profile);
        try {
          expect(await row.run(env)).toBe(expected(row, profile, env.ps, env.pmd));
        } finally {
          await env.cleanup();
        }
      });
    }
  });
}
