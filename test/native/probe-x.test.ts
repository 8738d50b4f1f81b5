/**
 * Spec §5.2 extra rows that need no system changes: X1, X2 (the ioctl argument itself), X3, X4
 * (a page pinned as an io_uring fixed buffer: test/helpers/pin.ts), X14-X20 (uffd-wp and poison
 * markers, WP re-registration) and X21-X26 (page-table granularity: a src 2 MiB block without a
 * pte table gives ENOENT before dst is looked at; CONFIG_PT_RECLAIM frees a table zapped as a
 * whole). Hugetlb and KSM rows are in probe-x-system.test.ts, swap rows in probe-x-swap.test.ts.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { Userfaultfd } from '../../lib';
import { native } from '../../lib/binding';
import { isPresent, pageAt, pageKind } from '../helpers/kernel';
import { type LongTermPin, pinLongTerm } from '../helpers/pin';
import {
  type Area,
  HP,
  PS,
  area,
  expectUffd,
  fillPages,
  hole,
  neg,
  pages,
  releaseAll,
} from '../helpers/areas';
import {
  hasMove,
  kernelAtLeast,
  moveTest,
  wpTest,
  wpUnpopulatedTest,
} from '../helpers/kernel-version';

const b = native();
let uffd: Userfaultfd;
const pins: LongTermPin[] = [];

afterEach(() => {
  for (const p of pins.splice(0)) p.unpin();
  uffd?.close(); // undefined when only absence rows (kernel-version.ts) ran
  releaseAll();
});

/** This process's io_uring fds. */
function ringFds(): number[] {
  return readdirSync('/proc/self/fd')
    .filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[io_uring]';
      } catch {
        return false; // the fd readdir itself used
      }
    })
    .map(Number);
}

function pin(a: Area): LongTermPin {
  const p = pinLongTerm(a.addr, a.len);
  pins.push(p);
  return p;
}

function open(features: ('wpUnpopulated' | 'threadId')[] = []): Userfaultfd {
  uffd = Userfaultfd.open({ features });
  return uffd;
}

function src(n: number, base = 0x10): Area {
  const a = pages(n);
  fillPages(a, base);
  return a;
}

function dst(n: number, modes: { missing?: boolean; wp?: boolean } = { missing: true }): Area {
  const a = pages(n);
  uffd.register(a.addr, a.len, modes);
  return a;
}

/** A registered dst page populated before registration. */
function populatedDst(): Area {
  const a = pages(1);
  a.bytes.fill(0xdd);
  uffd.register(a.addr, a.len);
  return a;
}

function off(a: Area): number {
  return a.addr - a.mapping.address;
}

/**
 * A 2 MiB-aligned block nobody has touched (so its pmd is none: no pte table), inside a VMA whose
 * next 2 MiB block is touched, so the PMD table above it exists ("pud present", X24). Returns
 * the area; the untouched block is [addr, addr + HP).
 */
function untouchedBlock(): Area {
  const a = area(2 * HP, { align: HP });
  a.bytes[HP] = 1;
  return a;
}

describe('spec §5.2 X rows (no system changes)', () => {
  moveTest('X1: MOVE with arg=NULL -> EFAULT', () => {
    open();
    expect(b.rawIoctl(uffd.fd, b.constants.UFFDIO_MOVE!, null)).toBe(neg('EFAULT'));
    // The public API takes no struct pointer: a non-address argument is a TypeError.
    expect(() => uffd.move(null as never, 0, PS)).toThrow(TypeError);
  });

  moveTest(
    'X2: MOVE with the struct in a read-only page (put_user fails) -> EFAULT, page moved',
    () => {
      open();
      const s = src(1, 0x2a);
      const d = dst(1);
      const arg = pages(1);
      const v = new DataView(arg.mapping.buffer, off(arg), 40);
      v.setBigUint64(0, BigInt(d.addr), true);
      v.setBigUint64(8, BigInt(s.addr), true);
      v.setBigUint64(16, BigInt(PS), true);
      v.setBigUint64(24, 0n, true);
      v.setBigInt64(32, -12345n, true);
      arg.mapping.protect('r', off(arg), PS);
      const struct = Buffer.from(arg.mapping.buffer, off(arg), 40);
      expect(b.rawIoctl(uffd.fd, b.constants.UFFDIO_MOVE!, struct)).toBe(neg('EFAULT'));
      expect(isPresent(d.addr)).toBe(true); // dst_present=1: the move did happen
      expect(isPresent(s.addr)).toBe(false); // src_present=0
      expect(d.bytes[0]).toBe(0x2a);
      expect(v.getBigInt64(32, true)).toBe(-12345n); // the result field could not be written
    },
  );

  test('ioUringPin: a ring fd; an unmapped range -> -EFAULT (io_uring_register), no fd left', () => {
    const s = src(1);
    const p = pin(s);
    expect(p.ring).toBeGreaterThan(2);
    expect(ringFds()).toEqual([p.ring]);
    expect(b.ioUringPin(hole(), PS)).toBe(neg('EFAULT'));
    expect(ringFds()).toEqual([p.ring]); // the ring of the failed registration was closed
  });

  moveTest('X3: MOVE a page pinned by io_uring IORING_REGISTER_BUFFERS -> EBUSY', () => {
    open();
    const s = src(1, 0x33);
    pin(s); // pin=0 (FOLL_PIN | FOLL_LONGTERM: folio_maybe_dma_pinned, spec §2)
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EBUSY', field: neg('EBUSY') });
    expect(isPresent(s.addr)).toBe(true); // nothing moved
    expect(isPresent(d.addr)).toBe(false);
  });

  moveTest('X4: the same page after IORING_UNREGISTER_BUFFERS -> field 1 page', () => {
    open();
    const s = src(1, 0x34);
    const p = pin(s);
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EBUSY' }); // X3
    p.unpin();
    expect(uffd.move(d.addr, s.addr, PS)).toBe(PS);
    expect(isPresent(s.addr)).toBe(false);
    expect(d.bytes[0]).toBe(0x34);
  });

  moveTest(
    'X4, by close(): closing the ring fd alone unpins too, later (io_ring_exit_work)',
    async () => {
      open();
      const s = src(1, 0x35);
      const ring = b.ioUringPin(s.addr, PS);
      expect(ring).toBeGreaterThan(2);
      const d = dst(1);
      expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EBUSY' });
      expect(b.close(ring)).toBe(0);
      // EBUSY until the workqueue has freed the ring's buffers (a refused MOVE changes nothing,
      // so retrying is safe); then the page moves.
      const deadline = Date.now() + 10000;
      let ret = -1;
      while (ret < 0 && Date.now() < deadline) {
        ret = b.move(uffd.fd, d.addr, s.addr, PS, 0);
        if (ret < 0) {
          expect(ret).toBe(neg('EBUSY'));
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      expect(ret).toBe(0);
      expect(b.result[0]).toBe(PS);
      expect(d.bytes[0]).toBe(0x35);
    },
  );

  moveTest('X14: MOVE onto a dst pte holding a uffd-wp marker (WP_UNPOPULATED) -> EEXIST', () => {
    open(['wpUnpopulated']);
    const s = src(1);
    const d = dst(1, { missing: true, wp: true });
    uffd.writeProtect(d.addr, PS, true);
    expect(pageAt(d.addr)).toMatchObject({ present: false, uffdWp: true }); // wpbit=1
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EEXIST', field: neg('EEXIST') });
  });

  wpUnpopulatedTest('X15: COPY onto the same marker pte -> field 1 page', () => {
    open(['wpUnpopulated']);
    const s = src(1, 0x15);
    const d = dst(1, { missing: true, wp: true });
    uffd.writeProtect(d.addr, PS, true);
    if (hasMove) expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EEXIST' }); // X14
    expect(uffd.copy(d.addr, s.addr, PS)).toBe(PS);
    expect(pageAt(d.addr).present).toBe(true);
    expect(d.bytes[0]).toBe(0x15);
  });

  moveTest('X16: MOVE from a src pte holding a POISON marker -> EFAULT, field -EFAULT', () => {
    open();
    const s = dst(1); // poison needs a range registered with this uffd
    expect(uffd.poison(s.addr, PS)).toBe(PS);
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EFAULT', field: neg('EFAULT') });
  });

  moveTest('X17: the same with ALLOW_SRC_HOLES (a marker is not a hole) -> EFAULT', () => {
    open();
    const s = dst(1);
    uffd.poison(s.addr, PS);
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS, { allowSrcHoles: true }), {
      code: 'EFAULT',
      field: neg('EFAULT'),
    });
  });

  moveTest('X18: MOVE from a src pte holding a uffd-wp marker -> EFAULT, field -EFAULT', () => {
    open(['wpUnpopulated']);
    const s = dst(1, { wp: true });
    uffd.writeProtect(s.addr, PS, true);
    expect(pageAt(s.addr)).toMatchObject({ present: false, uffdWp: true });
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EFAULT', field: neg('EFAULT') });
  });

  moveTest('X19: MOVE a uffd-wp-protected present src page -> field 1 page, dst not wp', () => {
    open();
    const s = src(1, 0x19);
    uffd.register(s.addr, s.len, { wp: true });
    uffd.writeProtect(s.addr, PS, true);
    expect(pageAt(s.addr)).toMatchObject({ present: true, uffdWp: true }); // src_wp=1
    const d = dst(1);
    expect(uffd.move(d.addr, s.addr, PS)).toBe(PS);
    expect(pageAt(d.addr)).toMatchObject({ present: true, uffdWp: false }); // dst_wp=0
    expect(d.bytes[0]).toBe(0x19);
  });

  wpTest(
    'X20: re-REGISTER a MISSING|WP range as MISSING only, same ctx -> 0 (observed: WP kept)',
    () => {
      open();
      const d = pages(2);
      expect(uffd.register(d.addr, d.len, { missing: true, wp: true }).has('writeProtect')).toBe(
        true,
      );
      const set = uffd.register(d.addr, d.len, { missing: true });
      expect(set.has('writeProtect')).toBe(false); // the ioctls are computed from the new mode
      // Observed (not in the spec's row, which only gives ret=0): WP is NOT dropped. 6.18's
      // userfaultfd_register() skips a VMA already registered with this ctx whose flags include
      // every requested flag ((vm_flags & MISSING) == MISSING), so VM_UFFD_WP stays and
      // WRITEPROTECT still succeeds although the returned set no longer lists it.
      expect(uffd.writeProtect(d.addr, PS, true)).toBeUndefined();
      uffd.writeProtect(d.addr, PS, false);
    },
  );

  moveTest('X21: dst 4K populated, src pmd none (no pte table), no flags -> ENOENT', () => {
    open();
    const s = untouchedBlock();
    const d = populatedDst();
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'ENOENT', field: neg('ENOENT') });
  });

  moveTest(
    'X22: the same with ALLOW_SRC_HOLES (src table allocated, then dst checked) -> EEXIST',
    () => {
      open();
      const s = untouchedBlock();
      const d = populatedDst();
      expectUffd(() => uffd.move(d.addr, s.addr, PS, { allowSrcHoles: true }), {
        code: 'EEXIST',
        field: neg('EEXIST'),
      });
    },
  );

  moveTest('X23: dst populated, src pte none inside an existing pte table -> EEXIST', () => {
    open();
    const s = untouchedBlock();
    s.bytes[PS] = 1; // page #1 of the block: the table exists, page #0 stays none
    const d = populatedDst();
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EEXIST', field: neg('EEXIST') });
  });

  moveTest('X24: dst is a THP, src pmd none (pud present) -> EEXIST', () => {
    open();
    const d = area(HP, { hugepage: true });
    d.bytes.fill(0x24);
    expect(pageKind(d.addr).thp).toBe(true); // dst_thp=1
    uffd.register(d.addr, d.len);
    const s = untouchedBlock();
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EEXIST', field: neg('EEXIST') });
  });

  moveTest(
    'X25: src page touched, then MADV_DONTNEED of that 4K page only, dst populated -> EEXIST',
    () => {
      open();
      const s = area(HP, { align: HP });
      s.bytes[0] = 1;
      s.mapping.madvise('dontneed', off(s), PS);
      expect(isPresent(s.addr)).toBe(false);
      const d = populatedDst();
      expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EEXIST', field: neg('EEXIST') });
    },
  );

  moveTest(
    'X25b: src touched, then MADV_DONTNEED of the whole 2 MiB (PT_RECLAIM frees the table) -> ENOENT',
    () => {
      open();
      const s = area(HP, { align: HP });
      s.bytes[0] = 1;
      // Where THP is "always" (Debian's default; this host has "madvise"), the first touch of an
      // aligned HP-sized area maps a THP with a PMD: no pte table at all.
      const wasThp = pageKind(s.addr).thp;
      s.mapping.madvise('dontneed', off(s), HP);
      const d = populatedDst();
      // CONFIG_PT_RECLAIM (6.14, x86_64 only: ARCH_SUPPORTS_PT_RECLAIM) frees the emptied table, so
      // the src pmd is none -> ENOENT (spec §2.4), as after zapping a PMD-mapped THP; without
      // either (arm64 or before 6.14, and a pte-mapped src) the empty table stays and the per-pte
      // order applies: dst populated -> EEXIST, as in X25.
      const ptReclaim = process.arch === 'x64' && kernelAtLeast(6, 14);
      const code = ptReclaim || wasThp ? 'ENOENT' : 'EEXIST';
      expectUffd(() => uffd.move(d.addr, s.addr, PS), { code, field: neg(code) });
    },
  );

  moveTest(
    'X26: src page #0 zapped but page #1 still mapped (table kept), dst populated -> EEXIST',
    () => {
      open();
      const s = area(HP, { align: HP });
      s.bytes[0] = 1;
      s.bytes[PS] = 1;
      s.mapping.madvise('dontneed', off(s), PS);
      const d = populatedDst();
      expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EEXIST', field: neg('EEXIST') });
    },
  );
});
