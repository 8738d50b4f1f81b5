/**
 * Bad input (issue 7): property-based fuzzing of the public API in a child process (a crash is a
 * signal exit), on both backends, and the cases the fuzzer and the review found, each of which
 * crashed, hung or misbehaved before its fix.
 *
 * FUZZ_CALLS (default 10000) sets the number of fuzzed calls per backend; FUZZ_SEED replays a
 * run (under CI=true scripts/fuzz.js uses its fixed seed). The long mode is `npm run fuzz:long`
 * (100k calls on each backend).
 */
import { join } from 'node:path';
import { pageSize } from '../../lib';
import { taskSize } from '../helpers/kernel';
import { hasWpUnpopulated, kernelFeatures } from '../helpers/kernel-version';
import {
  describeChild,
  jsonLines,
  lastJson,
  root,
  runFixture,
  runNode,
  testTimeoutFor,
  underAsan,
} from './helpers';

const calls = Number(process.env.FUZZ_CALLS ?? 10000);

interface FuzzSummary {
  backend: string;
  seed: number;
  calls: number;
  ok: number;
  refused: number;
  stateChecks: number;
  vmaChecks: number;
  errors: Record<string, number>;
  ops: Record<string, { calls: number; ok: number; refused: number }>;
  notDrawn: string[];
  pageSizes: Record<string, number>;
  unoffered: string[];
  violations: unknown[];
}

async function fuzz(backend: 'kernel' | 'simulated'): Promise<FuzzSummary> {
  const args = ['--backend', backend, '--calls', String(calls)];
  if (process.env.FUZZ_SEED) args.push('--seed', process.env.FUZZ_SEED);
  const r = await runNode(join(root, 'scripts', 'fuzz.js'), { args, timeoutMs: 10 * 60 * 1000 });
  expect({ signal: r.signal, timedOut: r.timedOut }).toEqual({ signal: null, timedOut: false });
  const s = lastJson<FuzzSummary>(r);
  expect(s.violations).toEqual([]);
  expect(r.code).toBe(0);
  expect(s.backend).toBe(backend);
  expect(s.calls).toBeGreaterThanOrEqual(calls);
  // The runs' setup asks for what the target offers: on a kernel, exactly what it lacks is left
  // out (WP_UNPOPULATED before 6.4, uffd-wp on arm64 before 6.10); the model offers everything.
  const setup = ['threadId', 'exactAddress', 'wpUnpopulated', 'pagefaultFlagWp'];
  const lacks = backend === 'kernel' ? setup.filter((f) => !kernelFeatures.has(f)) : [];
  expect(s.unoffered).toEqual(lacks);
  // The runs reached the kernel (or the model), not only the argument checks.
  expect(s.ok).toBeGreaterThan(calls / 10);
  expect(s.stateChecks).toBeGreaterThan(calls / 10);
  expect(s.vmaChecks).toBeGreaterThan(0);
  for (const key of Object.keys(s.errors)) {
    expect(key).toMatch(/^(TypeError:ERR_|RangeError:ERR_|UffdError:[A-Z_]+$|Sentinel$)/);
  }
  expect(Object.keys(s.errors)).toEqual(
    expect.arrayContaining(['UffdError:EINVAL', 'UffdError:ERR_UFFD_CLOSED']),
  );
  return s;
}

describe('bad input', () => {
  // Not under ASan (npm run test:asan; the normal CI job runs it): the fuzzer unmaps and moves
  // pages of its own arena, and ASan's secondary allocator mmap()s every large block (a
  // /proc/self/smaps read by the oracle, say) into whatever hole is free, such as one the
  // fuzzer just made; a later fuzzed MAP_FIXED or MOVE there overwrote the block's header and
  // ASan's allocator failed its own CHECK (sanitizer_allocator_secondary.h:199, seen once in CI
  // form). That is the harness sharing an address space with an allocator, not the addon.
  const kernelFuzz = underAsan ? test.skip : test;
  kernelFuzz(
    `fuzz, kernel backend: ${calls} calls, no crash, typed errors, no state change after a refusal`,
    async () => {
      await fuzz('kernel');
    },
    testTimeoutFor(10 * 60 * 1000),
  );

  test(
    `fuzz, simulated backend: ${calls} calls, no crash, typed errors, no state change after a refusal`,
    async () => {
      const s = await fuzz('simulated');
      // Every page size of the model, and the calls only this target draws, ran and succeeded.
      expect(Object.keys(s.pageSizes).sort()).toEqual(['16384', '4096', '65536']);
      for (const op of ['serve', 'fork', 'spaceQuery', 'mmap', 'readMemory', 'events', 'move']) {
        expect(s.ops[op]?.calls).toBeGreaterThan(0);
      }
      for (const op of ['serve', 'fork', 'spaceQuery', 'mremap', 'register', 'copy']) {
        expect(s.ops[op]?.ok).toBeGreaterThan(0);
      }
      // Kernel-only calls are never drawn for the model: listed, not silently skipped.
      expect(s.notDrawn).toEqual(expect.arrayContaining(['touch', 'fromFd', 'anonymous']));
      for (const op of s.notDrawn) expect(s.ops[op]).toBeUndefined();
    },
    testTimeoutFor(10 * 60 * 1000),
  );

  const regressions = 'regressions: each input that crashed, hung or left bad state before its fix';
  const noWpUnpopulated = '[no WP_UNPOPULATED before 6.4: serve-wp-marker asserts the refusal]';
  test(
    hasWpUnpopulated ? regressions : `${regressions} ${noWpUnpopulated}`,
    async () => {
      const r = await runFixture('bad-input-regressions.js', {
        timeoutMs: 60000,
        env: { UFFD_TASK_SIZE: String(taskSize()) },
      });
      expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
      const byName = Object.fromEntries(
        jsonLines<{ name: string }>(r.stdout).map((l) => [l.name, l as Record<string, unknown>]),
      );
      const refused = (cls: string, code: string) => ({ ok: false, cls, code });
      expect(byName['readMemory-huge']).toMatchObject(refused('RangeError', 'ERR_OUT_OF_RANGE'));
      expect(byName['readMemory-max']).toMatchObject(refused('RangeError', 'ERR_OUT_OF_RANGE'));
      expect(byName['events-options']).toEqual({
        name: 'events-options',
        first: refused('TypeError', 'ERR_INVALID_ARG_TYPE'),
        unknown: refused('TypeError', 'ERR_INVALID_ARG_VALUE'),
        batch: refused('TypeError', 'ERR_INVALID_ARG_TYPE'),
        then: { ok: true, value: 'iterator' },
      });
      expect(byName['mmap-fd']).toMatchObject(refused('RangeError', 'ERR_OUT_OF_RANGE'));
      expect(byName['memfd-name']).toMatchObject(refused('TypeError', 'ERR_INVALID_ARG_TYPE'));
      expect(byName['copy-sab']).toMatchObject({ ok: true, value: pageSize, byte: 0x5a });
      expect(byName['completeCopy-detached']).toMatchObject(
        refused('RangeError', 'ERR_OUT_OF_RANGE'),
      );
      expect(byName['fromFd-features']).toMatchObject({
        ...refused('TypeError', 'ERR_INVALID_ARG_TYPE'),
        stillOpen: true,
        nullProto: refused('TypeError', 'ERR_INVALID_ARG_VALUE'),
      });
      expect(byName['fromFd-not-uffd']).toMatchObject({
        ...refused('UffdError', 'ERR_UFFD_NOT_A_UFFD'),
        stillOpen: true,
        closedFd: refused('UffdError', 'EBADF'),
      });
      expect(byName['next-unpollable']).toMatchObject({
        n1: refused('UffdError', 'EPERM'),
        n2: refused('UffdError', 'EPERM'),
      });
      expect(byName['align-populate']).toMatchObject({ ok: true, value: true });
      expect(byName['refused-register']).toEqual({
        name: 'refused-register',
        refusals: [
          refused('UffdError', 'EINVAL'),
          refused('UffdError', 'EINVAL'),
          refused('TypeError', 'ERR_INVALID_ARG_TYPE'),
          // One page past TASK_SIZE: the kernel's EINVAL, or where TASK_SIZE is above 2^53
          // (x86_64 with 5-level paging) a length the package refuses before the syscall.
          taskSize() <= 2n ** 53n
            ? refused('UffdError', 'EINVAL')
            : refused('RangeError', 'ERR_OUT_OF_RANGE'),
        ],
        followUp: { ok: true, value: true }, // still unregistered: another uffd may take it
        busy: refused('UffdError', 'EBUSY'), // and then it is taken
      });
      expect(byName['touch-pins']).toMatchObject({
        reuse: refused('RangeError', 'ERR_OUT_OF_RANGE'),
        touched: 1,
      });
      if (hasWpUnpopulated) {
        expect(byName['serve-wp-marker']).toEqual({
          name: 'serve-wp-marker',
          read: { ok: true, value: [0, 0] },
          errors: ['ERR_UFFD_HANDLER'],
          eexist: 1,
        });
      } else {
        // Before 6.4: no WP_UNPOPULATED, so no marker to fault on; open() refuses the feature.
        expect(byName['serve-wp-marker']).toEqual({
          name: 'serve-wp-marker',
          refused: refused('UffdError', 'ERR_UFFD_UNSUPPORTED'),
        });
      }
    },
    testTimeoutFor(60000),
  );

  test(
    'calls from a Worker after the owner closed the uffd and unmapped the memory',
    async () => {
      const r = await runFixture('worker-after-owner.js', { timeoutMs: 60000 });
      expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
      const res = lastJson(r);
      expect(res).toMatchObject({
        fdsLeaked: 0,
        viewBytes: { ok: true, value: [0, 0, 0, 0, 0] },
        attach: { ok: false, cls: 'RangeError', code: 'ERR_OUT_OF_RANGE' },
        touch: { ok: true, value: 0 },
        readMemory: { ok: true, value: [0, 0, 0, 0] },
        afterClose: { ok: false, cls: 'UffdError', code: 'ERR_UFFD_CLOSED' },
        eventsAfterClose: { ok: false, cls: 'UffdError', code: 'ERR_UFFD_CLOSED' },
      });
      for (const k of ['register', 'copy', 'wake', 'unregister']) {
        const o = res[k] as { ok: boolean; cls?: string; code?: string };
        if (!o.ok) expect(o).toMatchObject({ cls: 'UffdError', code: expect.any(String) });
      }
      void describeChild;
    },
    testTimeoutFor(60000),
  );
});
