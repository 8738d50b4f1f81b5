/**
 * Spec §5.2 rows that need system state: hugetlb (X8-X13: vm.nr_hugepages) and KSM (X5: ksmd);
 * the swap rows X6, X7 are in probe-x-swap.test.ts, the io_uring pin rows X3, X4 (no system
 * change) in probe-x.test.ts. Each describe sets the state up in beforeAll and restores it in
 * afterAll, under a machine-wide lock (test/helpers/system-state.ts; the spec's probe did the
 * same by hand: `echo 4 > nr_hugepages`, `echo 1 > ksm/run`). Root is required: CI=true fails
 * without it, a local non-root run prints NOT RUN; nothing is skipped.
 *
 * X5: ksmd merges a page on its second visit and visits every MADV_MERGEABLE area of the machine
 * in turn (a QEMU guest's RAM is mergeable: ~170k pages ahead of ours, ~50 s at the default
 * rate), so ksmd scans at full speed only while the test waits (1.5-9 s here with a guest
 * running, ~50 ms without), then its settings are restored; merged pages stay merged.
 */
import { Userfaultfd, readMemory, touch } from '../../lib';
import { native } from '../../lib/binding';
import { pageKind } from '../helpers/kernel';
import { describeSystem, ksmMerge } from '../helpers/system-state';
import { HP, PS, expectUffd, neg, pages, releaseAll } from '../helpers/areas';
import { HUGETLB_MISSING_IOCTLS, hasPoison, moveTest } from '../helpers/kernel-version';

const b = native();
let uffd: Userfaultfd;
const rawMaps: [number, number][] = [];

beforeEach(() => {
  uffd = Userfaultfd.open();
});
afterEach(() => {
  uffd?.close(); // undefined when only absence rows (kernel-version.ts) ran
  for (const [a, l] of rawMaps.splice(0)) b.munmap(a, l);
  releaseAll();
});

describeSystem(
  'hugetlb: X8-X13 (vm.nr_hugepages raised by 4, restored after)',
  { hugetlbPages: 4 },
  () => {
    const MAP_HUGETLB = 0x40000; // asm-generic/mman-common.h (x86-64 and arm64)

    function huge(): number {
      const a = b.mmap(0, HP, 3, 0x22 | MAP_HUGETLB, -1, 0);
      expect(a).toBeGreaterThan(0);
      rawMaps.push([a, HP]);
      return a;
    }

    test('X8: REGISTER MAP_HUGETLB private MISSING -> ioctls=0x10c (the BASIC set)', () => {
      const h = huge();
      expect(b.register(uffd.fd, h, HP, 1)).toBe(HUGETLB_MISSING_IOCTLS); // POISON(8) from 6.6
      // re-register (same ctx) through the public API: WAKE COPY POISON, no ZEROPAGE/MOVE
      expect([...uffd.register(h, HP)].sort()).toEqual([
        'copy',
        ...(hasPoison ? ['poison'] : []),
        'wake',
      ]);
    });

    moveTest('X9: MOVE hugetlb -> hugetlb -> EINVAL, field -EINVAL', async () => {
      const s = huge();
      await touch(s, 1, { write: true, value: 9 });
      const d = huge();
      uffd.register(d, HP);
      expectUffd(() => uffd.move(d, s, HP), { code: 'EINVAL', field: neg('EINVAL') });
    });

    test('X10: ZEROPAGE on hugetlb -> EINVAL, field -EINVAL', () => {
      const d = huge();
      uffd.register(d, HP);
      expectUffd(() => uffd.zeropage(d, HP), { code: 'EINVAL', field: neg('EINVAL') });
    });

    test('X11: COPY 4K into hugetlb (len not hugepage-aligned) -> EINVAL, field -EINVAL', () => {
      const d = huge();
      uffd.register(d, HP);
      const s = pages(1);
      expectUffd(() => uffd.copy(d, s.addr, PS), { code: 'EINVAL', field: neg('EINVAL') });
    });

    test('X12: COPY 2M into hugetlb -> field HP', async () => {
      const d = huge();
      uffd.register(d, HP);
      const src = new Uint8Array(HP).fill(0x12);
      expect(uffd.copy(d, src, HP)).toBe(HP);
      expect([...(await readMemory(d + HP - 4, 4))]).toEqual([0x12, 0x12, 0x12, 0x12]);
    });

    test('X13: REGISTER hugetlb with start not hugepage-aligned -> EINVAL', () => {
      const h = huge();
      expectUffd(() => uffd.register(h + PS, HP - PS), { code: 'EINVAL' });
    });
  },
);

describeSystem('KSM: X5 (ksmd at full speed while waiting, restored after)', { ksm: true }, () => {
  moveTest(
    'X5: MOVE a KSM-merged page -> EBUSY, field -EBUSY',
    async () => {
      const s = pages(2);
      s.bytes.fill(0x4b); // two identical pages
      await ksmMerge(s.addr, s.len);
      expect(pageKind(s.addr).ksm).toBe(true); // ksm=1
      const d = pages(1);
      uffd.register(d.addr, d.len);
      expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EBUSY', field: neg('EBUSY') });
      expect(pageKind(s.addr).ksm).toBe(true); // still there, still the KSM page
    },
    60000,
  );
});
