/**
 * The 'rfc-2015' profile (the 2015 RFC remap_pages(), seeds/2015-uffdio-remap-rfc-remap_pages.txt)
 * against '6.18', scenario by scenario, for every difference listed in spec §2.10. Both answers
 * are asserted, so a change to either profile shows up here.
 */
import * as U from '../../lib/engine/uapi';
import { makeEnv, type ProbeEnv } from './probes/env';
import { res } from './probes/rows';

type Scenario = (e: ProbeEnv) => Promise<string>;

async function populated(e: ProbeEnv, pages = 1): Promise<number> {
  const a = e.area(pages);
  for (let i = 0; i < pages; i++) await e.space.write(a + i * e.ps, new Uint8Array([0x11]));
  return a;
}

const cases: [string, string, string, Scenario][] = [
  [
    'dst start unmapped: ENOENT (6.18) / EINVAL (find_vma + range check)',
    'ret=-1 ENOENT field=-ENOENT',
    'ret=-1 EINVAL field=-EINVAL',
    async (e) => {
      const u = e.uffd();
      const src = await populated(e);
      const dst = e.area(1);
      e.space.munmap(dst, e.ps);
      return res(u.raw.move(dst, src, e.ps, 0), u.raw.lastField());
    },
  ],
  [
    "only src registered: EINVAL (dst must be this uffd's) / moves (either side, any uffd)",
    'ret=-1 EINVAL field=-EINVAL',
    `ret=0 field=4096`,
    async (e) => {
      const u = e.uffd();
      const src = await populated(e);
      const dst = e.area(1);
      u.register(src, e.ps);
      return res(u.raw.move(dst, src, e.ps, 0), u.raw.lastField());
    },
  ],
  [
    'dst registered with another uffd: EINVAL / moves',
    'ret=-1 EINVAL field=-EINVAL',
    'ret=0 field=4096',
    async (e) => {
      const src = await populated(e);
      const dst = e.area(1);
      e.uffd().register(dst, e.ps);
      const u = e.uffd();
      return res(u.raw.move(dst, src, e.ps, 0), u.raw.lastField());
    },
  ],
  [
    'both PROT_READ: EINVAL (VM_WRITE required) / moves',
    'ret=-1 EINVAL field=-EINVAL',
    'ret=0 field=4096',
    async (e) => {
      const u = e.uffd();
      const src = await populated(e);
      const dst = e.area(1);
      u.register(dst, e.ps);
      e.space.mprotect(src, e.ps, 'r');
      e.space.mprotect(dst, e.ps, 'r');
      return res(u.raw.move(dst, src, e.ps, 0), u.raw.lastField());
    },
  ],
  [
    'after a fork child exited, page only read: EBUSY (PageAnonExclusive) / moves (mapcount 1)',
    'ret=-1 EBUSY field=-EBUSY',
    'ret=0 field=4096',
    async (e) => {
      const u = e.uffd();
      const src = await populated(e);
      const dst = e.area(1);
      u.register(dst, e.ps);
      await (await e.space.fork()).kill();
      return res(u.raw.move(dst, src, e.ps, 0), u.raw.lastField());
    },
  ],
  [
    'pinned page mapped once: EBUSY (maybe_dma_pinned) / moves',
    'ret=-1 EBUSY field=-EBUSY',
    'ret=0 field=4096',
    async (e) => {
      const u = e.uffd();
      const src = await populated(e);
      const dst = e.area(1);
      u.register(dst, e.ps);
      e.pin(src, e.ps);
      return res(u.raw.move(dst, src, e.ps, 0), u.raw.lastField());
    },
  ],
  [
    'zero page src: moved / EBUSY (vm_normal_page() is NULL)',
    'ret=0 field=4096',
    'ret=-1 EBUSY field=-EBUSY',
    async (e) => {
      const u = e.uffd();
      const src = e.area(1);
      await e.space.read(src, 1);
      const dst = e.area(1);
      u.register(dst, e.ps);
      return res(u.raw.move(dst, src, e.ps, 0), u.raw.lastField());
    },
  ],
  [
    'an unread REMOVE event: EAGAIN (mmap_changing) / moves (no such check in 2015)',
    'ret=-1 EAGAIN field=-EAGAIN',
    'ret=0 field=4096',
    async (e) => {
      const u = e.uffd(['eventRemove']);
      const src = await populated(e);
      const dst = e.area(2);
      u.register(dst, 2 * e.ps);
      const t = e.blocking('madvise', [dst + e.ps, e.ps, 'dontneed']);
      const r = res(u.raw.move(dst, src, e.ps, 0), u.raw.lastField());
      u.raw.readMsgs(new Uint8Array(32));
      await t;
      return r;
    },
  ],
  [
    "MOVE from a fork child on the parent's uffd: EINVAL untouched (cross-mm) / reaches the pages",
    'ret=-1 EINVAL field=untouched',
    'ret=-1 EBUSY field=-EBUSY',
    async (e) => {
      const u = e.uffd();
      const src = await populated(e);
      const dst = e.area(1);
      u.register(dst, e.ps);
      const [r, f] = await e.forkIoctl(u, 'move', dst, src, e.ps, 0);
      return res(r, f);
    },
  ],
  [
    'swap entry shared with a fork child: EBUSY (!pte_swp_exclusive) / EBUSY (swapcount 2)',
    'ret=-1 EBUSY field=-EBUSY',
    'ret=-1 EBUSY field=-EBUSY',
    async (e) => {
      const u = e.uffd();
      const src = await populated(e);
      const dst = e.area(1);
      u.register(dst, e.ps);
      e.swapOut(src, e.ps);
      const child = await e.space.fork();
      const r = res(u.raw.move(dst, src, e.ps, 0), u.raw.lastField());
      await child.kill();
      return r;
    },
  ],
  [
    'swap entry after the child exited: EBUSY (exclusive bit stays clear) / moves (swapcount 1)',
    'ret=-1 EBUSY field=-EBUSY',
    'ret=0 field=4096',
    async (e) => {
      const u = e.uffd();
      const src = await populated(e);
      const dst = e.area(1);
      u.register(dst, e.ps);
      e.swapOut(src, e.ps);
      await (await e.space.fork()).kill();
      return res(u.raw.move(dst, src, e.ps, U.UFFDIO_MOVE_MODE_DONTWAKE), u.raw.lastField());
    },
  ],
  [
    'THP not exclusive and misaligned: EBUSY before the split / split, then per-page mapcount',
    'ret=-1 EBUSY field=-EBUSY',
    'ret=-1 EBUSY field=-EBUSY',
    async (e) => {
      const u = e.uffd();
      const n = e.pmd / e.ps;
      const src = e.area(n, { hugepage: true });
      await e.space.write(src, new Uint8Array([1]));
      const dst = e.area(n + 1);
      u.register(dst, e.pmd + e.ps);
      const child = await e.space.fork();
      const r = res(u.raw.move(dst + e.ps, src, e.pmd, 0), u.raw.lastField());
      await child.kill();
      return r;
    },
  ],
];

describe.each(cases)('%s', (_title, v618, rfc, run) => {
  test.each([
    ['6.18', v618],
    ['rfc-2015', rfc],
  ] as const)('profile %s', async (profile, expected) => {
    const env = makeEnv('simulated', 4096, profile);
    try {
      expect(await run(env)).toBe(expected);
    } finally {
      await env.cleanup();
    }
  });
});
