// The kernel selftests' fault and event cases (tools/testing/selftests/mm/uffd-unit-tests.c,
// spec §4.2) and probe rows E1-E13, re-done with this package's API on the real kernel. Each
// scenario runs in its own process with a hard timeout (helpers.ts): a fault nobody serves
// would hang its thread.
import { ok, scenario } from './helpers';
import { pageSize } from '../../lib';
import { hasMove, moveApiTest, poisonTest, wpTest } from '../helpers/kernel-version';

describe('selftest cases on the real kernel', () => {
  moveApiTest(
    'move: every dst page faults once (MISSING, read), is served by MOVE; src reads zero',
    async () => {
      const r = ok(await scenario('selftest-move'));
      expect(r).toEqual({
        moveEmulated: !hasMove, // the emulation before 6.8
        ioctlsHasMove: hasMove, // REGISTER's answer is the kernel's

        faults: 32,
        pagesFaulted: 32,
        maxFaultsPerPage: 1,
        flags: ['missing/false/0'],
        eexist: 0,
        workerSumOk: true,
        nativeOk: true,
        srcSum: 0,
      });
    },
  );

  moveApiTest(
    'move-pmd: one fault per 2 MiB chunk, each served by one MOVE of the chunk',
    async () => {
      const r = ok<Record<string, number | boolean>>(await scenario('selftest-move-pmd'));
      expect(r).toMatchObject({
        moveEmulated: !hasMove,
        alignedDst: true,
        alignedSrc: true,
        faults: 4,
        srcSum: 0,
      });
      expect(r.accesses).toBe(r.pages);
      expect(r.sum).toBe(r.expectedSum);
    },
  );

  test('zeropage: served fault reads zero; a second ZEROPAGE is EEXIST (-EEXIST field)', async () => {
    expect(ok(await scenario('selftest-zeropage'))).toEqual({
      hasZeropage: true,
      kind: 'missing',
      zeropage: pageSize,
      workerSum: 0,
      again: { code: 'EEXIST', field: -17, errno: -17 },
    });
  });

  test('events: fork + mremap + MADV_DONTNEED give FORK, REMAP, UNMAP, REMOVE in order', async () => {
    expect(ok(await scenario('selftest-events'))).toEqual({
      log: ['pagefault', 'fork', 'remap', 'unmap', 'pagefault', 'remove'],
      forkIsUffd: true,
      before: 'anon_inode:[userfaultfd]',
      after: 'ENOENT', // the FORK event's fd is closed with its wrapper
      remap: { from: true, to: true, len: true },
      unmap: { start: true, end: true },
      movedTo: true,
      fault1: true,
      remove: { start: true, end: true },
    });
  });

  poisonTest('poison: even pages poisoned (SIGBUS at their address), odd pages zero', async () => {
    const r = ok<Record<string, unknown>>(await scenario('selftest-poison'));
    expect(r).toMatchObject({
      hasPoison: true,
      updated: [pageSize, pageSize],
      outcome: ['SIGBUS', 0, 'SIGBUS', 0],
      faultAddresses: [true, null, true, null],
    });
  });

  wpTest('wp: write faults on protected pages are served by writeProtect(false)', async () => {
    expect(ok(await scenario('selftest-wp'))).toEqual({
      hasWp: true,
      kinds: ['wp/true'],
      faults: 4,
      accesses: 4,
      firsts: [7, 1, 7, 1, 7, 1, 7, 1],
    });
  });

  test('minor: memfd minor faults served by CONTINUE; a second CONTINUE is EEXIST', async () => {
    expect(ok(await scenario('selftest-minor'))).toEqual({
      hasContinue: true,
      kinds: ['minor'],
      faults: 8,
      mapped: [pageSize],
      bytesOk: true,
      again: { code: 'EEXIST', field: -17 },
    });
  });

  moveApiTest('E2/E3/E5: MOVE with dontWake leaves the thread asleep until WAKE', async () => {
    expect(ok(await scenario('dontwake-wake'))).toEqual({
      moveEmulated: !hasMove,
      moved: pageSize,
      sleepingAfterMove: 'handle_userfault',
      settledBeforeWake: false,
      sum: 9,
      threadIdMatches: true,
      sum2: 9,
      thread2: true,
    });
  });

  test('E1/E9/E10: page-aligned address by default, exact with exactAddress', async () => {
    expect(ok(await scenario('exact-address'))).toEqual({
      exact: { offset: 77, threadId: true, zeropage: pageSize, sum: 0 },
      aligned: { offset: 0, threadId: true, zeropage: pageSize, sum: 0 },
    });
  });
});
