/**
 * Spec §5.2 rows X6, X7 (a swapped-out src pte), split from probe-x-system.test.ts because they
 * need a swap device: an existing one, or a temporary 64 MiB swapfile made with dd, mkswap and
 * swapon on a block-backed filesystem (test/helpers/system-state.ts, under its machine-wide
 * lock). Root is required: CI=true fails without it, a local non-root run prints NOT RUN;
 * nothing is skipped.
 * The test/vm guests cannot provide one (no disk: / and /tmp are ramfs, which cannot hold swap,
 * and no dd/mkswap/swapon), so test/vm/suite.js lists this file as host-only.
 */
import { Userfaultfd, readMemory } from '../../lib';
import { native } from '../../lib/binding';
import { pageAt } from '../helpers/kernel';
import { type Area, PS, expectUffd, fillPages, neg, pages, releaseAll } from '../helpers/areas';
import { moveTest } from '../helpers/kernel-version';
import { describeSystem } from '../helpers/system-state';

const b = native();
let uffd: Userfaultfd;
const children: number[] = [];

beforeEach(() => {
  uffd = Userfaultfd.open();
});
afterEach(async () => {
  for (const pid of children.splice(0)) {
    process.kill(pid, 'SIGKILL');
    await b.reap(pid);
  }
  uffd?.close(); // undefined when only absence rows (kernel-version.ts) ran
  releaseAll();
});

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function dst(n: number): Area {
  const a = pages(n);
  uffd.register(a.addr, a.len);
  return a;
}

describeSystem('swap: X6, X7 (a temporary 64 MiB swapfile, removed after)', { swap: true }, () => {
  /** MADV_PAGEOUT until pagemap shows a swap entry. */
  async function swapOut(a: Area): Promise<void> {
    await until(
      'the page to be swapped out',
      () => {
        if (pageAt(a.addr).swapped) return true;
        a.mapping.madvise('pageout', a.addr - a.mapping.address, PS);
        return pageAt(a.addr).swapped;
      },
      10000,
    );
  }

  moveTest(
    'X6: MOVE a swapped-out src pte (the swap entry moves, no swap-in) -> field 1 page',
    async () => {
      const s = pages(1);
      fillPages(s, 0x4b);
      await swapOut(s); // src_swapped=1
      const d = dst(1);
      expect(uffd.move(d.addr, s.addr, PS)).toBe(PS);
      expect(pageAt(d.addr)).toMatchObject({ swapped: true, present: false }); // dst_swapped=1
      expect(pageAt(s.addr)).toMatchObject({ swapped: false, present: false }); // src_empty=1
      expect((await readMemory(d.addr, 1))[0]).toBe(0x4b); // swap-in at dst: dst[0]=0x4b
    },
  );

  moveTest('X7: MOVE a swap pte shared with a fork child -> EBUSY, field -EBUSY', async () => {
    const s = pages(1);
    fillPages(s, 0x47);
    await swapOut(s);
    const pid = await b.forkPause(); // the child's copy of the swap pte makes it non-exclusive
    expect(pid).toBeGreaterThan(0);
    children.push(pid);
    const d = dst(1);
    expect(pageAt(s.addr).swapped).toBe(true); // src_swapped=1
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EBUSY', field: neg('EBUSY') });
  });
});
