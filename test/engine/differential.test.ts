/**
 * Property-based differential test: random sequences of mmap/munmap/mprotect/mlock/madvise/
 * mremap/fork/access/register/unregister/move/copy/zeropage/poison/writeprotect run on the real
 * kernel and on the simulated engine; every return, errno, result field, fault event, VMA layout
 * (count, perms, mlock, registration), pagemap state and page content must agree. fast-check
 * shrinks a failure to a minimal sequence and prints its seed (replay: UFFD_DIFF_SEED=<seed> UFFD_DIFF_PATH=<path>).
 *
 * Runs: 2,000 sequences under CI=true, 300 otherwise; UFFD_DIFF_RUNS overrides.
 */
import fc from 'fast-check';
import { SimulatedSpace, type SimulatedSpaceOptions, kernelSpace, pageSize } from '../../lib';
import { hugePageSize } from '../../lib/mm';
import { type Cmd, execute, seqArb, setup, snapshot, teardown } from './diff/commands';
import { kernelAvailable, runningProfile } from './helpers/backends';
import { hasMove, hasWp } from '../helpers/kernel-version';

const ci = process.env.CI === 'true';
const runs = Number(process.env.UFFD_DIFF_RUNS ?? (ci ? 2000 : 300));
const stats = { sequences: 0, commands: 0 };

/**
 * The model of the running kernel (lib/engine/space.ts): its page size (16K in an arm64 guest),
 * the profile of its version ('6.12' before 6.17, '6.1' before MOVE in 6.8), and whether the
 * arch has uffd-wp (arm64 6.1 does not). Measured on the running kernel, not assumed; without
 * UFFDIO_MOVE the sequences have no 'move' (diff/commands.ts cmdArb).
 */
const MODEL: SimulatedSpaceOptions = {
  pageSize,
  profile: runningProfile(),
  uffdWp: hasWp,
};

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function runBoth(seq: Cmd[]): Promise<void> {
  const pmd = hugePageSize();
  const k = await setup(kernelSpace(), pmd);
  const s = await setup(new SimulatedSpace({ swap: false, ...MODEL }), pmd);
  stats.sequences++;
  try {
    for (let i = 0; i < seq.length; i++) {
      const cmd = seq[i]!;
      stats.commands++;
      const ko = await execute(k, cmd);
      const so = await execute(s, cmd);
      if (!same(ko, so)) {
        throw new Error(
          `step ${i} ${JSON.stringify(cmd)}: outcome differs\n kernel:    ${JSON.stringify(ko)}\n simulated: ${JSON.stringify(so)}`,
        );
      }
      const ks = await snapshot(k);
      const ss = await snapshot(s);
      if (!same(ks, ss)) {
        throw new Error(
          `step ${i} ${JSON.stringify(cmd)}: state differs\n kernel:    ${JSON.stringify(ks)}\n simulated: ${JSON.stringify(ss)}`,
        );
      }
    }
  } finally {
    await teardown(k, s); // the kernel's holes are not ours to unmap: see teardown()
    await teardown(s);
  }
}

describe('differential: kernel vs simulated engine', () => {
  test(`${runs} random sequences agree`, async () => {
    if (!kernelAvailable()) {
      if (ci) throw new Error('CI=true but the kernel backend is unavailable');
      console.warn('NOT RUN: no kernel backend here (the addon does not load)');
      return;
    }
    // CI is deterministic (a fixed seed, so a red run is reproducible and a green one stays
    // green); exploration uses fresh seeds: UFFD_DIFF_SEED=random (or a seed to replay).
    // Fresh seeds found the COPY src==dst EEXIST case (seed 1098231135, fixed in the engine,
    // now the CI seed) and, with seed 20261122, that mremap without EVENT_REMAP unregisters the
    // whole VMA the moved range merged into (test/engine/mremap-uffd.test.ts). The snapshot
    // compares each VMA's perms, mlock and registration, not only their number.
    const seedEnv = process.env.UFFD_DIFF_SEED ?? (ci ? '1098231135' : 'random');
    const seed = seedEnv === 'random' ? undefined : Number(seedEnv);
    await fc.assert(fc.asyncProperty(seqArb({ move: hasMove }), runBoth), {
      numRuns: runs,
      seed,
      path: process.env.UFFD_DIFF_PATH,
      endOnFailure: false,
    });
    console.log(
      `differential: ${stats.sequences} sequences, ${stats.commands} commands, 0 mismatches`,
    );
  }, 900_000);
});
