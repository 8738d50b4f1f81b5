/**
 * Spec §5.2 rows F1-F26: UFFDIO_COPY, ZEROPAGE, CONTINUE (on anon), POISON and WRITEPROTECT on
 * the real kernel, through the public API; native() only for mode bits the API cannot express
 * (F6, F14, F21, F24), with the API's own refusal asserted beside.
 */
import { Userfaultfd, touch } from '../../lib';
import { native } from '../../lib/binding';
import { isPresent, pageKind, pagemap } from '../helpers/kernel';
import {
  type Area,
  PS,
  expectUffd,
  fillPages,
  hole,
  neg,
  pages,
  releaseAll,
} from '../helpers/areas';
import { moveTest, poisonTest, wpTest } from '../helpers/kernel-version';

const b = native();
let uffd: Userfaultfd;
const others: Userfaultfd[] = [];

beforeEach(() => {
  uffd = Userfaultfd.open();
});
afterEach(() => {
  uffd?.close(); // undefined when only absence rows (kernel-version.ts) ran
  for (const u of others.splice(0)) u.close();
  releaseAll();
});

function src(n: number, base = 0xf0): Area {
  const a = pages(n);
  fillPages(a, base);
  return a;
}

function dst(n: number, modes: { missing?: boolean; wp?: boolean } = { missing: true }): Area {
  const a = pages(n);
  uffd.register(a.addr, a.len, modes);
  return a;
}

/** A dst area of n pages with page i populated (before registration) for each i in `populated`. */
function dstWith(n: number, populated: number[]): Area {
  const a = pages(n);
  for (const i of populated) a.bytes.fill(0xee, i * PS, (i + 1) * PS);
  uffd.register(a.addr, a.len);
  return a;
}

describe('spec §5.2 F rows: COPY, ZEROPAGE, CONTINUE, POISON, WRITEPROTECT', () => {
  test('F1: COPY 1 page -> field 1 page', () => {
    const s = src(1, 0xf1);
    const d = dst(1);
    expect(uffd.copy(d.addr, s.addr, PS)).toBe(PS);
    expect(d.bytes[0]).toBe(0xf1);
    expect(isPresent(s.addr)).toBe(true); // COPY leaves src alone
  });

  test('F2: COPY with src unaligned (src+1) -> field 1 page, dst = src shifted by one byte', () => {
    const s = pages(2);
    for (let i = 0; i < s.len; i++) s.bytes[i] = i % 251;
    const d = dst(1);
    expect(uffd.copy(d.addr, s.addr + 1, PS)).toBe(PS);
    // dst[i] = src[i+1]: dst[0] = 1, dst[1] = 2, ...
    expect(d.bytes[0]).toBe(1);
    expect(Buffer.from(d.bytes).equals(Buffer.from(s.bytes.subarray(1, PS + 1)))).toBe(true);
  });

  test('F3: COPY dst unaligned -> EINVAL, field untouched', () => {
    const s = src(1);
    const d = dst(2);
    expectUffd(() => uffd.copy(d.addr + 1, s.addr, PS), { code: 'EINVAL', field: 'untouched' });
  });

  test('F4: COPY len unaligned -> EINVAL, field untouched', () => {
    const s = src(1);
    const d = dst(1);
    expectUffd(() => uffd.copy(d.addr, s.addr, 100), { code: 'EINVAL', field: 'untouched' });
  });

  test('F5: COPY into a populated page -> EEXIST, field -EEXIST', () => {
    const s = src(1);
    const d = dstWith(1, [0]);
    expectUffd(() => uffd.copy(d.addr, s.addr, PS), { code: 'EEXIST', field: neg('EEXIST') });
    expect(d.bytes[0]).toBe(0xee);
  });

  test('F6: COPY mode=1<<2 -> EINVAL, field untouched', () => {
    const s = src(1);
    const d = dst(1);
    expect(b.copy(uffd.fd, d.addr, s.addr, PS, 1 << 2)).toBe(neg('EINVAL'));
    expect(b.result[0]).toBeNaN();
    expect(() => uffd.copy(d.addr, s.addr, PS, { bit2: true } as never)).toThrow(TypeError);
  });

  test('F7: COPY mode=WP on a MISSING-only registration -> EINVAL, field -EINVAL', () => {
    const s = src(1);
    const d = dst(1);
    expectUffd(() => uffd.copy(d.addr, s.addr, PS, { wp: true }), {
      code: 'EINVAL',
      field: neg('EINVAL'),
    });
  });

  test('F8: COPY into an unregistered dst -> ENOENT, field -ENOENT', () => {
    const s = src(1);
    const d = pages(1);
    expectUffd(() => uffd.copy(d.addr, s.addr, PS), { code: 'ENOENT', field: neg('ENOENT') });
  });

  test('F9: COPY 4 pages where dst #2 is populated -> EAGAIN, field 2 pages', () => {
    const s = src(4, 0x90);
    const d = dstWith(4, [2]);
    expectUffd(() => uffd.copy(d.addr, s.addr, 4 * PS), {
      code: 'EAGAIN',
      field: 2 * PS,
      bytesDone: 2 * PS,
    });
    expect(pagemap(d.addr, 4).map((e) => e.present)).toEqual([true, true, true, false]);
    expect([d.bytes[0], d.bytes[PS], d.bytes[2 * PS]]).toEqual([0x90, 0x91, 0xee]);
  });

  test('F10: COPY from an unmapped src -> EFAULT, field -EFAULT', () => {
    const d = dst(1);
    expectUffd(() => uffd.copy(d.addr, hole(), PS), { code: 'EFAULT', field: neg('EFAULT') });
    expect(isPresent(d.addr)).toBe(false);
  });

  test('F11: COPY dst range crosses the VMA end -> ENOENT, field -ENOENT', () => {
    const s = src(2);
    const d = dst(2);
    expectUffd(() => uffd.copy(d.addr + PS, s.addr, 2 * PS), {
      code: 'ENOENT',
      field: neg('ENOENT'),
    });
  });

  test('F12: ZEROPAGE 1 page -> field 1 page, the zero page is mapped', () => {
    const d = dst(1);
    expect(uffd.zeropage(d.addr, PS)).toBe(PS);
    expect(pageKind(d.addr)).toMatchObject({ present: true, zero: true });
    expect(d.bytes.subarray(0, PS).every((x) => x === 0)).toBe(true);
  });

  test('F13: ZEROPAGE on a populated page -> EEXIST, field -EEXIST', () => {
    const d = dstWith(1, [0]);
    expectUffd(() => uffd.zeropage(d.addr, PS), { code: 'EEXIST', field: neg('EEXIST') });
  });

  test('F14: ZEROPAGE mode=1<<1 -> EINVAL, field untouched', () => {
    const d = dst(1);
    expect(b.zeropage(uffd.fd, d.addr, PS, 1 << 1)).toBe(neg('EINVAL'));
    expect(b.result[0]).toBeNaN();
    expect(() => uffd.zeropage(d.addr, PS, { wp: true } as never)).toThrow(TypeError);
  });

  moveTest('F15: MOVE onto a zeropage-filled dst -> EEXIST, field -EEXIST', () => {
    const s = src(1);
    const d = dst(1);
    uffd.zeropage(d.addr, PS);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EEXIST', field: neg('EEXIST') });
  });

  test('F16: CONTINUE on anon (MISSING-registered) -> EINVAL, field -EINVAL', () => {
    const d = dst(1);
    expectUffd(() => uffd.continue(d.addr, PS), { code: 'EINVAL', field: neg('EINVAL') });
  });

  poisonTest('F17: POISON 1 page -> field 1 page', () => {
    const d = dst(1);
    expect(uffd.poison(d.addr, PS)).toBe(PS);
    expect(isPresent(d.addr)).toBe(false); // a marker, not a page
  });

  poisonTest('F18: reading a poisoned page -> SIGBUS', async () => {
    const d = dst(2);
    uffd.poison(d.addr + PS, PS);
    const r = await touch(d.addr + PS, 1);
    expect(r.signal).toBe('SIGBUS');
    expect(r.faultAddress).toBe(d.addr + PS);
    expect(r.accesses).toBe(0);
  });

  poisonTest('F19: POISON on an already-poisoned pte -> EEXIST, field -EEXIST', () => {
    const d = dst(1);
    uffd.poison(d.addr, PS);
    expectUffd(() => uffd.poison(d.addr, PS), { code: 'EEXIST', field: neg('EEXIST') });
  });

  moveTest('F20: MOVE onto a poisoned dst pte -> EEXIST, field -EEXIST', () => {
    const s = src(1);
    const d = dst(1);
    uffd.poison(d.addr, PS);
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EEXIST', field: neg('EEXIST') });
  });

  poisonTest('F21: POISON mode=1<<1 -> EINVAL, field untouched', () => {
    const d = dst(1);
    expect(b.poison(uffd.fd, d.addr, PS, 1 << 1)).toBe(neg('EINVAL'));
    expect(b.result[0]).toBeNaN();
    expect(() => uffd.poison(d.addr, PS, { wp: true } as never)).toThrow(TypeError);
  });

  wpTest('F22: WRITEPROTECT mode=WP|DONTWAKE -> EINVAL', () => {
    const d = dst(1, { missing: true, wp: true });
    expectUffd(() => uffd.writeProtect(d.addr, PS, true, { dontWake: true }), { code: 'EINVAL' });
    expect(b.writeprotect(uffd.fd, d.addr, PS, 0b11)).toBe(neg('EINVAL'));
  });

  test('F23: WRITEPROTECT on a range registered without WP -> ENOENT', () => {
    const d = dst(1);
    expectUffd(() => uffd.writeProtect(d.addr, PS, true), { code: 'ENOENT' });
  });

  wpTest('F24: WRITEPROTECT mode=1<<2 -> EINVAL', () => {
    const d = dst(1, { missing: true, wp: true });
    expect(b.writeprotect(uffd.fd, d.addr, PS, 1 << 2)).toBe(neg('EINVAL'));
    expect(() => uffd.writeProtect(d.addr, PS, true, { bit2: true } as never)).toThrow(TypeError);
  });

  test('F25: COPY via uffd A into a range registered to uffd B (same mm) -> field 1 page', () => {
    const owner = Userfaultfd.open();
    others.push(owner);
    const s = src(1, 0x25);
    const d = pages(1);
    owner.register(d.addr, d.len);
    expect(uffd.copy(d.addr, s.addr, PS)).toBe(PS);
    expect(d.bytes[0]).toBe(0x25);
  });

  test('F26: ZEROPAGE via uffd A into a range registered to uffd B -> field 1 page', () => {
    const owner = Userfaultfd.open();
    others.push(owner);
    const d = pages(1);
    owner.register(d.addr, d.len);
    expect(uffd.zeropage(d.addr, PS)).toBe(PS);
    expect(pageKind(d.addr).zero).toBe(true);
  });
});
