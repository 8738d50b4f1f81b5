/**
 * Spec §5.2 rows C45-C49: UFFDIO_MOVE with transparent huge pages (spec §2.3, §2.5) on the real
 * kernel. Areas come from Mapping.anonymous(len, { hugepage: true }) (MADV_HUGEPAGE, 2 MiB
 * aligned; THP policy here is `madvise`, use_zero_page=1). THP and zero-page state is read from
 * /proc/self/pagemap + /proc/kpageflags (KPF_THP bit 22, KPF_ZERO_PAGE bit 24), which needs root.
 * A THP that cannot be allocated fails the precondition assertion: nothing is skipped.
 */
import { Userfaultfd } from '../../lib';
import { isPresent, pageKind } from '../helpers/kernel';
import { type Area, HP, PS, area, expectUffd, neg, pages, releaseAll } from '../helpers/areas';
import { moveTest } from '../helpers/kernel-version';

let uffd: Userfaultfd;

beforeEach(() => {
  uffd = Userfaultfd.open();
});
afterEach(() => {
  uffd?.close(); // undefined when only absence rows (kernel-version.ts) ran
  releaseAll();
});

/** A 2 MiB-aligned hugepage area filled by writes from JS: the first write fault maps a THP. */
function thpSrc(byte: number): Area {
  const s = area(HP, { hugepage: true });
  s.bytes.fill(byte);
  expect(pageKind(s.addr).thp).toBe(true); // src_thp=1
  expect(pageKind(s.addr + HP - PS).thp).toBe(true);
  return s;
}

function hugeDst(len = HP): Area {
  const d = area(len, { hugepage: true });
  uffd.register(d.addr, d.len);
  return d;
}

describe('spec §5.2 C rows: THP', () => {
  moveTest('C45: MOVE 2 MiB, both 2 MiB-aligned, src is a THP -> field HP, dst is a THP', () => {
    const s = thpSrc(0x5c);
    const d = hugeDst();
    expect(uffd.move(d.addr, s.addr, HP)).toBe(HP);
    expect(pageKind(d.addr).thp).toBe(true); // dst_thp=1: the PMD itself moved
    expect(d.bytes[HP - 1]).toBe(0x5c);
    expect(isPresent(s.addr)).toBe(false);
    expect(isPresent(s.addr + HP - PS)).toBe(false);
  });

  moveTest('C46: MOVE the first 1 MiB of a THP (forces a split) -> field HP/2', () => {
    const s = thpSrc(0x46);
    const d = hugeDst();
    expect(uffd.move(d.addr, s.addr, HP / 2)).toBe(HP / 2);
    expect(pageKind(d.addr)).toMatchObject({ present: true, thp: false }); // dst_thp=0
    // src tail: still present, no longer part of a THP (split_huge_pmd + split_folio)
    expect(pageKind(s.addr + HP / 2)).toMatchObject({ present: true, thp: false });
    expect(isPresent(s.addr)).toBe(false);
    expect([d.bytes[0], d.bytes[HP / 2 - 1], s.bytes[HP / 2]]).toEqual([0x46, 0x46, 0x46]);
  });

  moveTest('C47: MOVE a 2 MiB THP src -> dst at +4K (misaligned) -> field HP', () => {
    const s = thpSrc(0x47);
    const d = hugeDst(2 * HP);
    expect(uffd.move(d.addr + PS, s.addr, HP)).toBe(HP);
    expect(isPresent(d.addr)).toBe(false);
    expect(isPresent(d.addr + PS)).toBe(true);
    expect(isPresent(d.addr + HP)).toBe(true);
    expect([d.bytes[PS], d.bytes[HP + PS - 1]]).toEqual([0x47, 0x47]);
    expect(isPresent(s.addr)).toBe(false);
  });

  moveTest('C48: MOVE 1 page into a range mapped by a dst THP -> EEXIST, field -EEXIST', () => {
    const d = area(HP, { hugepage: true });
    d.bytes.fill(0x48);
    expect(pageKind(d.addr).thp).toBe(true); // dst_thp=1
    uffd.register(d.addr, d.len);
    const s = pages(1);
    s.bytes.fill(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EEXIST', field: neg('EEXIST') });
    expect(d.bytes[0]).toBe(0x48);
  });

  moveTest('C49: MOVE 2 MiB whose src is the huge zero page -> field HP, dst is zero', () => {
    const s = area(HP, { hugepage: true });
    expect(s.bytes[0]).toBe(0); // read fault: the huge zero page
    expect(pageKind(s.addr)).toMatchObject({ zero: true, thp: true }); // src_zero=1 src_thp=1
    const d = hugeDst();
    expect(uffd.move(d.addr, s.addr, HP)).toBe(HP);
    expect(pageKind(d.addr)).toMatchObject({ present: true, zero: true }); // dst_zero=1
    expect(isPresent(s.addr)).toBe(false);
  });
});
