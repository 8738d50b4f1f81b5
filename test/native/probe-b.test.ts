/**
 * Spec §5.2 rows B1-B20: UFFDIO_REGISTER and UFFDIO_UNREGISTER on the real kernel, through the
 * public API (Userfaultfd.register/unregister) unless the row needs a mode the API cannot express.
 */
import { closeSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Userfaultfd, mm } from '../../lib';
import { native } from '../../lib/binding';
import { PS, area, expectUffd, hole, neg, pages, releaseAll } from '../helpers/areas';
import { taskSize } from '../helpers/kernel';
import {
  ANON_MISSING_IOCTLS,
  hasMove,
  hasPoison,
  kernelAtLeast,
  wpTest,
} from '../helpers/kernel-version';

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

function other(): Userfaultfd {
  const u = Userfaultfd.open();
  others.push(u);
  return u;
}

/** A regular file on disk (not tmpfs: tmpfs is shmem and registrable), one page long. */
function diskFile(): number {
  const path = join(tmpdir(), `uffd-probe-b-${process.pid}-${Date.now()}`);
  writeFileSync(path, Buffer.alloc(PS, 7));
  const fd = openSync(path, 'r+');
  unlinkSync(path);
  cleanups.push(() => closeSync(fd));
  return fd;
}

describe('spec §5.2 B rows: REGISTER / UNREGISTER', () => {
  test('B1: REGISTER anon MISSING -> ioctls=0x13c (6.8+; 0x1c on 6.1)', () => {
    const a = pages(4);
    const set = uffd.register(a.addr, a.len, { missing: true });
    // 0x13c = WAKE(2) COPY(3) ZEROPAGE(4) MOVE(5, 6.8+) POISON(8, 6.6+)
    expect([...set].sort()).toEqual([
      'copy',
      ...(hasMove ? ['move'] : []),
      ...(hasPoison ? ['poison'] : []),
      'wake',
      'zeropage',
    ]);
    const a2 = pages(1);
    expect(b.register(uffd.fd, a2.addr, a2.len, 1)).toBe(ANON_MISSING_IOCTLS);
  });

  wpTest(
    'B2: re-REGISTER same range MISSING|WP (same ctx) -> ioctls=0x17c (6.8+; 0x5c on 6.1)',
    () => {
      const a = pages(4);
      uffd.register(a.addr, a.len, { missing: true });
      const set = uffd.register(a.addr, a.len, { missing: true, wp: true });
      expect([...set].sort()).toEqual([
        'copy',
        ...(hasMove ? ['move'] : []),
        ...(hasPoison ? ['poison'] : []),
        'wake',
        'writeProtect',
        'zeropage',
      ]);
      expect(b.register(uffd.fd, a.addr, a.len, 3)).toBe(ANON_MISSING_IOCTLS | 0x40); // + WP(6)
    },
  );

  test('B3: REGISTER mode=0 -> EINVAL', () => {
    const a = pages(1);
    expectUffd(() => uffd.register(a.addr, a.len, {}), { code: 'EINVAL' });
    expect(b.register(uffd.fd, a.addr, a.len, 0)).toBe(neg('EINVAL'));
  });

  test('B4: REGISTER mode=1<<3 (RWP, unknown in 6.18) -> EINVAL', () => {
    const a = pages(1);
    expect(b.register(uffd.fd, a.addr, a.len, 1 << 3)).toBe(neg('EINVAL'));
    // The public API has no such mode: an unknown option is a TypeError before the syscall.
    expect(() => uffd.register(a.addr, a.len, { rwp: true } as never)).toThrow(TypeError);
  });

  test('B5: REGISTER MINOR on anon -> EINVAL', () => {
    const a = pages(1);
    expectUffd(() => uffd.register(a.addr, a.len, { minor: true }), { code: 'EINVAL' });
  });

  test('B6: REGISTER unaligned start -> EINVAL', () => {
    const a = pages(2);
    expectUffd(() => uffd.register(a.addr + 1, PS), { code: 'EINVAL' });
  });

  test('B7: REGISTER len=0 -> EINVAL', () => {
    const a = pages(1);
    expectUffd(() => uffd.register(a.addr, 0), { code: 'EINVAL' });
  });

  test('B8: REGISTER len unaligned -> EINVAL', () => {
    const a = pages(2);
    expectUffd(() => uffd.register(a.addr, PS + 100), { code: 'EINVAL' });
  });

  test('B9: REGISTER start >= TASK_SIZE -> EINVAL', () => {
    // TASK_SIZE is per arch (0x7ffffffff000 on x86_64 with 4-level paging, spec §0; 1 << 48 on
    // arm64 with 48-bit VA): measured by taskSize(). validate_range() refuses a start at or past it.
    // A BigInt: with x86 LA57 it is above 2^53, which the public API refuses (RangeError), so
    // the rows go through the binding; the public API too where the address is a safe integer.
    const task = taskSize();
    const ps = BigInt(PS);
    expect(b.register(uffd.fd, task, ps, 1)).toBe(neg('EINVAL'));
    expect(b.register(uffd.fd, task + (1n << 40n), ps, 1)).toBe(neg('EINVAL'));
    // ...and a range that starts below it and crosses it.
    expect(b.register(uffd.fd, task - ps, 2n * ps, 1)).toBe(neg('EINVAL'));
    if (task <= BigInt(Number.MAX_SAFE_INTEGER)) {
      expectUffd(() => uffd.register(Number(task), PS), { code: 'EINVAL' });
    }
  });

  test('B10b: REGISTER range entirely unmapped -> EINVAL', () => {
    const h = hole(4 * PS);
    expectUffd(() => uffd.register(h, 4 * PS), { code: 'EINVAL' });
  });

  test('B11: REGISTER [4 unmapped pages][4 mapped pages] -> 0', () => {
    const start = b.mmap(0, 8 * PS, 3, 0x22, -1, 0);
    expect(start).toBeGreaterThan(0);
    cleanups.push(() => b.munmap(start, 8 * PS));
    expect(b.munmap(start, 4 * PS)).toBe(0);
    const set = uffd.register(start, 8 * PS, { missing: true });
    expect(set.has('copy')).toBe(true);
    expect(set.has('move')).toBe(hasMove);
    uffd.unregister(start, 8 * PS);
  });

  test('B12: REGISTER a range already registered by another uffd -> EBUSY', () => {
    const a = pages(2);
    other().register(a.addr, a.len);
    expectUffd(() => uffd.register(a.addr, a.len), { code: 'EBUSY' });
  });

  test('B13: REGISTER MAP_SHARED of an O_RDONLY memfd (no VM_MAYWRITE) -> EPERM', () => {
    const mfd = b.memfdCreate('b13', b.constants.MFD_CLOEXEC!);
    expect(mfd).toBeGreaterThanOrEqual(0);
    cleanups.push(() => b.close(mfd));
    expect(b.ftruncate(mfd, PS)).toBe(0);
    const ro = openSync(`/proc/self/fd/${mfd}`, 'r');
    cleanups.push(() => closeSync(ro));
    const addr = mm.mmap(PS, { shared: true, prot: 'r', fd: ro });
    cleanups.push(() => mm.munmap(addr, PS));
    expectUffd(() => uffd.register(addr, PS), { code: 'EPERM' });
  });

  test('B14: REGISTER MAP_PRIVATE of a regular disk file -> EINVAL', () => {
    const fd = diskFile();
    const addr = mm.mmap(PS, { prot: 'rw', fd });
    cleanups.push(() => mm.munmap(addr, PS));
    expectUffd(() => uffd.register(addr, PS), { code: 'EINVAL' });
  });

  test('B15: REGISTER MAP_SHARED|MAP_ANONYMOUS (shmem) MISSING -> ioctls=0x13c (6.8+; 0x1c on 6.1)', () => {
    const a = pages(2, { shared: true });
    expect(b.register(uffd.fd, a.addr, a.len, 1)).toBe(ANON_MISSING_IOCTLS);
    // ...which advertises MOVE (6.8+) although MOVE on shmem fails (C33).
    expect(uffd.register(a.addr, a.len).has('move')).toBe(hasMove);
  });

  test('B16: UNREGISTER via a different uffd than the owner -> EINVAL (6.17+; 0 before)', () => {
    const a = pages(2);
    uffd.register(a.addr, a.len);
    if (kernelAtLeast(6, 17)) {
      // "userfaultfd: prevent unregistering VMAs through a different userfaultfd" (6.17, §2.9)
      expectUffd(() => other().unregister(a.addr, a.len), { code: 'EINVAL' });
      // still registered to the owner: a third uffd cannot register it
      expectUffd(() => other().register(a.addr, a.len), { code: 'EBUSY' });
    } else {
      // before 6.17 any uffd of the mm could unregister the range (spec §3.3): 0, and it is gone,
      // so a third uffd can register it
      expect(other().unregister(a.addr, a.len)).toBeUndefined();
      expect(other().register(a.addr, a.len).has('copy')).toBe(true);
    }
  });

  test('B17: UNREGISTER an unmapped range -> EINVAL', () => {
    const h = hole(2 * PS);
    expectUffd(() => uffd.unregister(h, 2 * PS), { code: 'EINVAL' });
  });

  test('B18: UNREGISTER a mapped, never-registered range -> 0', () => {
    const a = pages(2);
    expect(uffd.unregister(a.addr, a.len)).toBeUndefined();
  });

  test('B19: UNREGISTER a registered range -> 0', () => {
    const a = pages(2);
    uffd.register(a.addr, a.len);
    uffd.unregister(a.addr, a.len);
    // now free for another uffd
    expect(other().register(a.addr, a.len).has('copy')).toBe(true);
  });

  test('B20: UNREGISTER unaligned -> EINVAL', () => {
    const a = area(2 * PS);
    uffd.register(a.addr, a.len);
    expectUffd(() => uffd.unregister(a.addr + 1, PS), { code: 'EINVAL' });
  });
});
