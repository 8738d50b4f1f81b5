/**
 * Spec §5.2 rows C1-C37, C44 and C50-C53: UFFDIO_MOVE on the real kernel, through
 * Userfaultfd.move() (native() only where the public API refuses the value by design: C15, C16,
 * C18). Each row asserts the errno (UffdError code/errno), the result field (err.field;
 * undefined = untouched), the bytes moved, the page contents at dst (read from the JS thread only
 * once pagemap shows them present) and src presence through /proc/self/pagemap.
 *
 * Layout: every area is its own VMA between PROT_NONE guards (test/helpers/areas.ts); src areas
 * are unregistered and filled from JS before the move; dst areas are registered MISSING.
 */
import { closeSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Userfaultfd, mm, touch } from '../../lib';
import { native } from '../../lib/binding';
import { isPresent, pageKind, pagemap, taskSize } from '../helpers/kernel';
import { moveTest } from '../helpers/kernel-version';
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

const b = native();
let uffd: Userfaultfd;
const others: Userfaultfd[] = [];
const cleanups: (() => void)[] = [];

beforeEach(() => {
  uffd = Userfaultfd.open();
});
afterEach(() => {
  uffd?.close(); // undefined when only absence rows (kernel-version.ts) ran
  for (const u of others.splice(0)) u.close();
  for (const f of cleanups.splice(0).reverse()) f();
  releaseAll();
});

/** An unregistered src area of n pages, page i filled with byte (base + i). */
function src(n: number, base = 0x11): Area {
  const a = pages(n);
  fillPages(a, base);
  return a;
}

/** A dst area of n pages registered MISSING with `u` (default: this test's uffd). */
function dst(n: number, u: Userfaultfd = uffd): Area {
  const a = pages(n);
  u.register(a.addr, a.len, { missing: true });
  return a;
}

function presence(addr: number, n: number): boolean[] {
  return pagemap(addr, n).map((e) => e.present);
}

/** Offset of an area inside its Mapping (for Mapping.lock/protect/madvise). */
function off(a: Area): number {
  return a.addr - a.mapping.address;
}

function diskFile(): number {
  const path = join(tmpdir(), `uffd-probe-c-${process.pid}-${Date.now()}`);
  writeFileSync(path, Buffer.alloc(PS, 7));
  const fd = openSync(path, 'r+');
  unlinkSync(path);
  cleanups.push(() => closeSync(fd));
  return fd;
}

describe('spec §5.2 C rows: UFFDIO_MOVE', () => {
  moveTest(
    'C1: MOVE 1 page src populated -> dst empty registered: field 1 page, dst[0]=0x11, src gone',
    () => {
      const s = src(1, 0x11);
      const d = dst(1);
      expect(uffd.move(d.addr, s.addr, PS)).toBe(PS);
      expect(isPresent(d.addr)).toBe(true);
      expect(d.bytes[0]).toBe(0x11);
      expect(d.bytes[PS - 1]).toBe(0x11);
      expect(isPresent(s.addr)).toBe(false);
      // src is unregistered: a later read maps the zero page (spec §4.4 "src now reads 0").
      expect(s.bytes[0]).toBe(0);
    },
  );

  moveTest('C2: MOVE 16 pages -> field 16 pages, every page at dst, none left at src', () => {
    const s = src(16, 0x40);
    const d = dst(16);
    expect(uffd.move(d.addr, s.addr, 16 * PS)).toBe(16 * PS);
    expect(presence(d.addr, 16)).toEqual(Array(16).fill(true));
    expect(presence(s.addr, 16)).toEqual(Array(16).fill(false));
    for (let i = 0; i < 16; i++) expect(d.bytes[i * PS + 7]).toBe(0x40 + i);
  });

  moveTest('C3: MOVE into a populated dst page -> EEXIST, field -EEXIST', () => {
    const s = src(1);
    const d = pages(1);
    d.bytes.fill(0x22);
    uffd.register(d.addr, d.len);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), {
      code: 'EEXIST',
      field: neg('EEXIST'),
      bytesDone: 0,
    });
    expect(d.bytes[0]).toBe(0x22);
    expect(isPresent(s.addr)).toBe(true);
  });

  moveTest('C4: MOVE src hole (pte none) -> ENOENT, field -ENOENT', () => {
    const s = pages(2);
    s.bytes[PS] = 1; // page #1 mapped, so the src pte table exists and page #0 is a none pte
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'ENOENT', field: neg('ENOENT') });
    expect(isPresent(d.addr)).toBe(false);
  });

  moveTest('C5: MOVE src hole + ALLOW_SRC_HOLES -> field 2 pages, dst stays empty', () => {
    const s = pages(2);
    const d = dst(2);
    expect(uffd.move(d.addr, s.addr, 2 * PS, { allowSrcHoles: true })).toBe(2 * PS);
    expect(presence(d.addr, 2)).toEqual([false, false]);
  });

  /** src pages 0,1,3 populated, #2 a hole; dst 4 registered pages. */
  function holeAt2(): { s: Area; d: Area } {
    const s = pages(4);
    fillPages(s, 0x50, 0, 2);
    fillPages(s, 0x50, 3, 1);
    return { s, d: dst(4) };
  }

  moveTest('C6: MOVE 4 pages, src page #2 is a hole -> EAGAIN, field 2 pages', () => {
    const { s, d } = holeAt2();
    expectUffd(() => uffd.move(d.addr, s.addr, 4 * PS), {
      code: 'EAGAIN',
      field: 2 * PS,
      bytesDone: 2 * PS,
    });
    expect(presence(d.addr, 4)).toEqual([true, true, false, false]);
    expect(presence(s.addr, 4)).toEqual([false, false, false, true]);
    expect([d.bytes[0], d.bytes[PS]]).toEqual([0x50, 0x51]);
  });

  moveTest('C7: retry the remainder (starts at the hole) -> ENOENT, field -ENOENT', () => {
    const { s, d } = holeAt2();
    expectUffd(() => uffd.move(d.addr, s.addr, 4 * PS), { code: 'EAGAIN', field: 2 * PS });
    expectUffd(() => uffd.move(d.addr + 2 * PS, s.addr + 2 * PS, 2 * PS), {
      code: 'ENOENT',
      field: neg('ENOENT'),
      bytesDone: 0,
    });
  });

  /** src 4 pages populated; dst page #2 populated before registration. */
  function dstAt2(): { s: Area; d: Area } {
    const s = src(4, 0x60);
    const d = pages(4);
    d.bytes.fill(0xee, 2 * PS, 3 * PS);
    uffd.register(d.addr, d.len);
    return { s, d };
  }

  moveTest('C8: MOVE 4 pages, dst page #2 already populated -> EAGAIN, field 2 pages', () => {
    const { s, d } = dstAt2();
    expectUffd(() => uffd.move(d.addr, s.addr, 4 * PS), {
      code: 'EAGAIN',
      field: 2 * PS,
      bytesDone: 2 * PS,
    });
    expect(presence(s.addr, 4)).toEqual([false, false, true, true]);
    expect(d.bytes[2 * PS]).toBe(0xee);
  });

  moveTest('C9: retry the remainder (dst #2 populated) -> EEXIST, field -EEXIST', () => {
    const { s, d } = dstAt2();
    expectUffd(() => uffd.move(d.addr, s.addr, 4 * PS), { code: 'EAGAIN', field: 2 * PS });
    expectUffd(() => uffd.move(d.addr + 2 * PS, s.addr + 2 * PS, 2 * PS), {
      code: 'EEXIST',
      field: neg('EEXIST'),
    });
  });

  moveTest('C10: dst populated + src hole + ALLOW_SRC_HOLES (dst checked first) -> EEXIST', () => {
    const s = pages(2);
    s.bytes[PS] = 1; // page #0 is a none pte inside an existing table
    const d = pages(1);
    d.bytes[0] = 0x33;
    uffd.register(d.addr, d.len);
    expectUffd(() => uffd.move(d.addr, s.addr, PS, { allowSrcHoles: true }), {
      code: 'EEXIST',
      field: neg('EEXIST'),
    });
  });

  moveTest('C11: MOVE dst unaligned (+1) -> EINVAL, field untouched', () => {
    const s = src(1);
    const d = dst(2);
    expectUffd(() => uffd.move(d.addr + 1, s.addr, PS), { code: 'EINVAL', field: 'untouched' });
  });

  moveTest('C12: MOVE src unaligned (+1) -> EINVAL, field untouched', () => {
    const s = src(2);
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr + 1, PS), { code: 'EINVAL', field: 'untouched' });
  });

  moveTest('C13: MOVE len unaligned (100) -> EINVAL, field untouched', () => {
    const s = src(1);
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr, 100), { code: 'EINVAL', field: 'untouched' });
  });

  moveTest('C14: MOVE len=0 -> EINVAL, field untouched', () => {
    const s = src(1);
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr, 0), { code: 'EINVAL', field: 'untouched' });
  });

  moveTest('C15: MOVE mode=1<<2 -> EINVAL, field untouched', () => {
    const s = src(1);
    const d = dst(1);
    expect(b.move(uffd.fd, d.addr, s.addr, PS, 1 << 2)).toBe(neg('EINVAL'));
    expect(b.result[0]).toBeNaN();
    // The public API has named options only: an unknown one is a TypeError, no syscall.
    expect(() => uffd.move(d.addr, s.addr, PS, { bit2: true } as never)).toThrow(TypeError);
    expect(isPresent(s.addr)).toBe(true);
  });

  moveTest('C16: MOVE src=0xfffffffffffff000 (>= TASK_SIZE) -> EINVAL, field untouched', () => {
    const d = dst(1);
    expect(b.move(uffd.fd, d.addr, 0xfffffffffffff000n, PS, 0)).toBe(neg('EINVAL'));
    expect(b.result[0]).toBeNaN();
    // Not a safe integer: the public API refuses it before the syscall.
    expect(() => uffd.move(d.addr, 0xfffffffffffff000n, PS)).toThrow(RangeError);
    expect(() => uffd.move(d.addr, 0xfffffffffffff000, PS)).toThrow(RangeError);
  });

  moveTest(
    'C17: MOVE src+len > TASK_SIZE (src=TASK_SIZE, and src=TASK_SIZE-PS with len=2 pages) -> EINVAL, untouched',
    () => {
      // TASK_SIZE is per arch (x86_64 4-level: 0x7ffffffff000, the spec's row; arm64 48-bit VA:
      // 1 << 48, where 0x7ffffffff000 is a valid but unmapped address and MOVE says ENOENT), so it
      // is measured (taskSize()). validate_range(src, len) refuses both before any lookup.
      // A BigInt (above 2^53 with x86 LA57, which the public API refuses): through the binding.
      const d = dst(2);
      const task = taskSize();
      const ps = BigInt(PS);
      for (const srcAddr of [task, task - ps]) {
        b.result[0] = 777;
        expect(b.move(uffd.fd, d.addr, srcAddr, 2n * ps, 0)).toBe(neg('EINVAL'));
        expect(b.result[0]).toBeNaN(); // field untouched
      }
      expect(isPresent(d.addr)).toBe(false);
    },
  );

  moveTest('C18: MOVE len=2^63 (wrap) -> EINVAL, field untouched', () => {
    const s = src(1);
    const d = dst(1);
    expect(b.move(uffd.fd, d.addr, s.addr, 1n << 63n, 0)).toBe(neg('EINVAL'));
    expect(b.result[0]).toBeNaN();
    expect(() => uffd.move(d.addr, s.addr, 1n << 63n)).toThrow(RangeError);
    expect(() => uffd.move(d.addr, s.addr, 2 ** 63)).toThrow(RangeError);
  });

  moveTest('C19: MOVE, neither src nor dst registered -> EINVAL, field -EINVAL', () => {
    const s = src(1);
    const d = pages(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EINVAL', field: neg('EINVAL') });
  });

  moveTest('C20: MOVE, only src registered (dst not) -> EINVAL, field -EINVAL', () => {
    const s = src(1);
    uffd.register(s.addr, s.len);
    const d = pages(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EINVAL', field: neg('EINVAL') });
  });

  moveTest(
    'C21: MOVE, dst registered to a DIFFERENT uffd (same mm) -> EINVAL, field -EINVAL',
    () => {
      const owner = Userfaultfd.open();
      others.push(owner);
      const s = src(1);
      const d = dst(1, owner);
      expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EINVAL', field: neg('EINVAL') });
    },
  );

  moveTest('C22: the same MOVE issued on the owning uffd -> field 1 page', () => {
    const owner = Userfaultfd.open();
    others.push(owner);
    const s = src(1, 0x22);
    const d = dst(1, owner);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EINVAL' });
    expect(owner.move(d.addr, s.addr, PS)).toBe(PS);
    expect(d.bytes[0]).toBe(0x22);
  });

  moveTest('C23: MOVE src range crosses the end of the src VMA -> EINVAL, field -EINVAL', () => {
    const s = src(2);
    const d = dst(2);
    expectUffd(() => uffd.move(d.addr, s.addr + PS, 2 * PS), {
      code: 'EINVAL',
      field: neg('EINVAL'),
    });
  });

  moveTest('C24: MOVE dst range crosses the end of the dst VMA -> EINVAL, field -EINVAL', () => {
    const s = src(2);
    const d = dst(2);
    expectUffd(() => uffd.move(d.addr + PS, s.addr, 2 * PS), {
      code: 'EINVAL',
      field: neg('EINVAL'),
    });
  });

  moveTest('C25: MOVE src start unmapped -> ENOENT, field -ENOENT', () => {
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, hole(), PS), { code: 'ENOENT', field: neg('ENOENT') });
  });

  moveTest('C26: MOVE dst start unmapped -> ENOENT, field -ENOENT', () => {
    const s = src(1);
    expectUffd(() => uffd.move(hole(), s.addr, PS), { code: 'ENOENT', field: neg('ENOENT') });
  });

  moveTest(
    'C27: MOVE dst unmapped AND src a bad (shared) VMA: dst looked up first -> ENOENT',
    () => {
      const s = pages(1, { shared: true });
      s.bytes.fill(1);
      expectUffd(() => uffd.move(hole(), s.addr, PS), { code: 'ENOENT', field: neg('ENOENT') });
    },
  );

  moveTest('C28: MOVE src RW -> dst PROT_READ (registered) -> EINVAL, field -EINVAL', () => {
    const s = src(1);
    const d = pages(1, { prot: 'r' });
    uffd.register(d.addr, d.len);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EINVAL', field: neg('EINVAL') });
  });

  moveTest('C29: MOVE, both PROT_READ (no VM_WRITE) -> EINVAL, field -EINVAL', () => {
    const s = pages(1, { prot: 'r' });
    expect(s.bytes[0]).toBe(0); // maps the zero page: src is populated
    const d = pages(1, { prot: 'r' });
    uffd.register(d.addr, d.len);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EINVAL', field: neg('EINVAL') });
  });

  moveTest('C30: MOVE src RWX -> dst RW -> EINVAL, field -EINVAL', () => {
    const s = pages(1, { prot: 'rwx' });
    s.bytes.fill(0x90);
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EINVAL', field: neg('EINVAL') });
  });

  moveTest('C31: MOVE src mlocked, dst not -> EINVAL, field -EINVAL', () => {
    const s = src(1);
    s.mapping.lock(undefined, off(s), s.len);
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EINVAL', field: neg('EINVAL') });
  });

  moveTest('C32: MOVE src mlocked -> dst mlock2(ONFAULT) -> field 1 page', () => {
    const s = src(1, 0x32);
    s.mapping.lock(undefined, off(s), s.len);
    const d = pages(1);
    // ONFAULT sets VM_LOCKED without faulting pages in (a plain mlock would populate dst).
    d.mapping.lock({ onFault: true }, off(d), d.len);
    uffd.register(d.addr, d.len);
    expect(uffd.move(d.addr, s.addr, PS)).toBe(PS);
    expect(d.bytes[0]).toBe(0x32);
  });

  moveTest(
    'C33: MOVE into a MAP_SHARED|MAP_ANONYMOUS dst (registered) -> EINVAL, field -EINVAL',
    () => {
      const s = src(1);
      const d = pages(1, { shared: true });
      uffd.register(d.addr, d.len);
      expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EINVAL', field: neg('EINVAL') });
    },
  );

  moveTest('C34: MOVE from a MAP_SHARED src -> EINVAL, field -EINVAL', () => {
    const s = pages(1, { shared: true });
    s.bytes.fill(0x34);
    const d = dst(1);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EINVAL', field: neg('EINVAL') });
  });

  moveTest(
    'C35: MOVE from a MAP_PRIVATE file VMA (CoW-ed anon page) -> EINVAL, field -EINVAL',
    async () => {
      const fd = diskFile();
      const s = mm.mmap(PS, { prot: 'rw', fd });
      cleanups.push(() => mm.munmap(s, PS));
      await touch(s, PS, { write: true, value: 0x35 }); // CoW: an anon page in a file VMA
      expect(isPresent(s)).toBe(true);
      const d = dst(1);
      expectUffd(() => uffd.move(d.addr, s, PS), { code: 'EINVAL', field: neg('EINVAL') });
    },
  );

  moveTest('C36: MOVE within one registered VMA (src and dst both in it) -> field 4 pages', () => {
    const a = pages(8);
    a.bytes.fill(0x99, 4 * PS, 8 * PS);
    uffd.register(a.addr, a.len);
    expect(uffd.move(a.addr, a.addr + 4 * PS, 4 * PS)).toBe(4 * PS);
    expect(presence(a.addr, 8)).toEqual([true, true, true, true, false, false, false, false]);
    expect(a.bytes[0]).toBe(0x99);
  });

  moveTest('C37: MOVE overlapping (dst=A, src=A+4K, len=8K; A empty) -> field 2 pages', () => {
    const a = pages(3);
    fillPages(a, 0x30, 1, 2); // page 1 = 0x31, page 2 = 0x32
    uffd.register(a.addr, a.len);
    expect(uffd.move(a.addr, a.addr + PS, 2 * PS)).toBe(2 * PS);
    expect(presence(a.addr, 3)).toEqual([true, true, false]);
    expect([a.bytes[0], a.bytes[PS]]).toEqual([0x31, 0x32]);
  });

  moveTest('C44: MOVE a zero-page-mapped src pte -> field 1 page, dst maps the zero page', () => {
    const s = pages(1);
    expect(s.bytes[0]).toBe(0); // read fault on an unregistered page: the zero page
    expect(pageKind(s.addr).zero).toBe(true); // src_was_zero=1
    const d = dst(1);
    expect(uffd.move(d.addr, s.addr, PS)).toBe(PS);
    expect(pageKind(d.addr)).toMatchObject({ present: true, zero: true }); // dst_is_zero=1
    expect(isPresent(s.addr)).toBe(false);
  });

  moveTest(
    'C50: MOVE 2 MiB from a never-touched src (no pte table) -> ENOENT, field -ENOENT',
    () => {
      const s = area(HP, { align: HP });
      const d = area(HP, { align: HP });
      uffd.register(d.addr, d.len);
      expectUffd(() => uffd.move(d.addr, s.addr, HP), { code: 'ENOENT', field: neg('ENOENT') });
    },
  );

  moveTest('C51: the same with ALLOW_SRC_HOLES -> field HP, dst stays empty', () => {
    const s = area(HP, { align: HP });
    const d = area(HP, { align: HP });
    uffd.register(d.addr, d.len);
    expect(uffd.move(d.addr, s.addr, HP, { allowSrcHoles: true })).toBe(HP);
    expect(isPresent(d.addr)).toBe(false);
    expect(isPresent(d.addr + HP - PS)).toBe(false);
  });

  moveTest(
    'C52: MOVE on a uffd whose UFFDIO_API did not request FEATURE_MOVE -> field 1 page',
    () => {
      // native: a handshake with features=0, exactly as the row
      const fd = b.open(b.constants.O_CLOEXEC! | b.constants.O_NONBLOCK! | 1);
      cleanups.push(() => b.close(fd));
      expect(b.api(fd, 0xaa, 0)[0]).toBe(0);
      const s = src(1, 0x52);
      const d = pages(1);
      expect(b.register(fd, d.addr, d.len, 1)).toBe(0x13c);
      expect(b.move(fd, d.addr, s.addr, PS, 0)).toBe(0);
      expect(b.result[0]).toBe(PS);
      expect(d.bytes[0]).toBe(0x52);
      // public API: features: [] requests nothing; MOVE still works.
      const u = Userfaultfd.open({ features: [] });
      others.push(u);
      const s2 = src(1, 0x53);
      const d2 = dst(1, u);
      expect(u.move(d2.addr, s2.addr, PS)).toBe(PS);
    },
  );

  moveTest('C53: MOVE into a dst registered WP-only (not MISSING) -> field 1 page', () => {
    const s = src(1, 0x53);
    const d = pages(1);
    uffd.register(d.addr, d.len, { wp: true });
    expect(uffd.move(d.addr, s.addr, PS)).toBe(PS);
    expect(d.bytes[0]).toBe(0x53);
  });
});
