/**
 * Spec §5.2 rows C38-C43 and C54-C59: UFFDIO_MOVE/COPY/ZEROPAGE/REGISTER across fork(2) and on a
 * userfaultfd whose mm has exited, on the real kernel.
 *
 * - C38-C43: native().forkPause() forks a child that only pause()s (async-signal-safe in a
 *   multi-threaded parent), which makes every private anon page !PageAnonExclusive; the child is
 *   SIGKILLed and reaped with native().reap() (waitpid on a native thread).
 * - C54/C55: native().forkIoctl() forks a child that issues one ioctl on the inherited uffd.
 * - C56-C59: native().orphanUffd() returns a uffd created (and UFFDIO_API'd) by a child that has
 *   exited, received over SCM_RIGHTS; it is wrapped with Userfaultfd.fromFd().
 *
 * No uffd with EVENT_FORK is open while these fork (a fork would block until the event is read).
 */
import { Userfaultfd } from '../../lib';
import { native } from '../../lib/binding';
import { isPresent, pagemap } from '../helpers/kernel';
import { type Area, PS, expectUffd, fillPages, neg, pages, releaseAll } from '../helpers/areas';
import { moveTest } from '../helpers/kernel-version';

const b = native();
let uffd: Userfaultfd;
const children: number[] = [];
const others: Userfaultfd[] = [];

beforeEach(() => {
  uffd = Userfaultfd.open();
});
afterEach(async () => {
  await killAll();
  uffd?.close(); // undefined when only absence rows (kernel-version.ts) ran
  for (const u of others.splice(0)) u.close();
  releaseAll();
});

async function forkChild(): Promise<number> {
  const pid = await b.forkPause();
  expect(pid).toBeGreaterThan(0);
  children.push(pid);
  return pid;
}

/** SIGKILL every paused child and reap it (status: killed by signal 9). */
async function killAll(): Promise<void> {
  for (const pid of children.splice(0)) {
    process.kill(pid, 'SIGKILL');
    const status = await b.reap(pid);
    expect(status & 0x7f).toBe(9); // WTERMSIG(status) == SIGKILL
  }
}

function src(n: number, base: number, options: { dontFork?: boolean } = {}): Area {
  const a = pages(n, options);
  fillPages(a, base);
  return a;
}

function dst(n: number): Area {
  const a = pages(n);
  uffd.register(a.addr, a.len);
  return a;
}

describe('spec §5.2 C rows: fork and exited mm', () => {
  moveTest(
    'C38: MOVE a src page shared with a live fork() child -> EBUSY, field -EBUSY',
    async () => {
      const s = src(1, 0x38);
      const d = dst(1);
      await forkChild();
      expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EBUSY', field: neg('EBUSY') });
      expect(isPresent(s.addr)).toBe(true);
      expect(isPresent(d.addr)).toBe(false);
    },
  );

  moveTest('C39: the same with ALLOW_SRC_HOLES -> EBUSY, field -EBUSY', async () => {
    const s = src(1, 0x39);
    const d = dst(1);
    await forkChild();
    expectUffd(() => uffd.move(d.addr, s.addr, PS, { allowSrcHoles: true }), {
      code: 'EBUSY',
      field: neg('EBUSY'),
    });
  });

  moveTest('C40: after the child exited (parent only read the page) -> still EBUSY', async () => {
    const s = src(1, 0x40);
    const d = dst(1);
    await forkChild();
    await killAll();
    expect(s.bytes[0]).toBe(0x40); // a read does not make the page exclusive again
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EBUSY', field: neg('EBUSY') });
  });

  moveTest('C41: after the parent wrote to the page -> field 1 page', async () => {
    const s = src(1, 0x41);
    const d = dst(1);
    await forkChild();
    await killAll();
    expectUffd(() => uffd.move(d.addr, s.addr, PS), { code: 'EBUSY' });
    s.bytes[0] = 0x42; // write fault: the page is PageAnonExclusive again
    expect(uffd.move(d.addr, s.addr, PS)).toBe(PS);
    expect([d.bytes[0], d.bytes[1]]).toEqual([0x42, 0x41]);
    expect(isPresent(s.addr)).toBe(false);
  });

  moveTest(
    'C42: MOVE 3 pages: #0,#1 exclusive, #2 still non-exclusive -> EAGAIN, field 2 pages',
    async () => {
      const s = src(3, 0x42);
      const d = dst(3);
      await forkChild();
      await killAll();
      s.bytes[0] = 0xa0;
      s.bytes[PS] = 0xa1;
      expectUffd(() => uffd.move(d.addr, s.addr, 3 * PS), {
        code: 'EAGAIN',
        field: 2 * PS,
        bytesDone: 2 * PS,
      });
      expect(pagemap(d.addr, 3).map((e) => e.present)).toEqual([true, true, false]);
      expect([d.bytes[0], d.bytes[PS]]).toEqual([0xa0, 0xa1]);
      // the retry of the remainder reveals the real reason
      expectUffd(() => uffd.move(d.addr + 2 * PS, s.addr + 2 * PS, PS), {
        code: 'EBUSY',
        field: neg('EBUSY'),
      });
    },
  );

  moveTest(
    'C43: MOVE a src with MADV_DONTFORK while a fork child is alive -> field 1 page',
    async () => {
      const s = src(1, 0x43, { dontFork: true });
      const d = dst(1);
      await forkChild();
      expect(uffd.move(d.addr, s.addr, PS)).toBe(PS);
      expect(d.bytes[0]).toBe(0x43);
    },
  );

  moveTest(
    'C54: MOVE issued by a fork() child on the parent uffd (ctx->mm != current->mm) -> EINVAL, untouched',
    async () => {
      const s = src(1, 0x54);
      const d = dst(1);
      const [ret, field] = await b.forkIoctl(uffd.fd, 1 /* MOVE */, d.addr, s.addr, PS, 0);
      expect(ret).toBe(neg('EINVAL'));
      expect(field).toBeNaN();
      expect(isPresent(d.addr)).toBe(false);
    },
  );

  test('C55: COPY issued by a fork() child on the parent uffd -> 0, field 1 page', async () => {
    const s = src(1, 0x01);
    const d = dst(3);
    const [ret, field] = await b.forkIoctl(uffd.fd, 0 /* COPY */, d.addr + 2 * PS, s.addr, PS, 0);
    expect([ret, field]).toEqual([0, PS]);
  });

  test('C55b: the parent sees the page installed by the child COPY: dst[2]=0x1', async () => {
    const s = src(1, 0x01);
    const d = dst(3);
    // The child reads src in its own (forked) address space and fills the parent's dst.
    expect(await b.forkIoctl(uffd.fd, 0, d.addr + 2 * PS, s.addr, PS, 0)).toEqual([0, PS]);
    expect(pagemap(d.addr, 3).map((e) => e.present)).toEqual([false, false, true]);
    expect(d.bytes[2 * PS]).toBe(0x1);
  });

  describe('a uffd whose mm has exited (fd passed via SCM_RIGHTS)', () => {
    async function orphan(): Promise<Userfaultfd> {
      const c = b.constants;
      const fd = await b.orphanUffd(c.O_CLOEXEC! | c.O_NONBLOCK! | c.UFFD_USER_MODE_ONLY!, 0);
      expect(fd).toBeGreaterThanOrEqual(0);
      const u = Userfaultfd.fromFd(fd);
      others.push(u);
      return u;
    }

    moveTest('C56: MOVE -> EINVAL, field untouched', async () => {
      const u = await orphan();
      const s = src(1, 0x56);
      const d = pages(1);
      expectUffd(() => u.move(d.addr, s.addr, PS), { code: 'EINVAL', field: 'untouched' });
    });

    test('C57: COPY -> ESRCH, field untouched', async () => {
      const u = await orphan();
      const s = src(1, 0x57);
      const d = pages(1);
      expectUffd(() => u.copy(d.addr, s.addr, PS), { code: 'ESRCH', field: 'untouched' });
    });

    test('C58: ZEROPAGE -> ESRCH, field untouched', async () => {
      const u = await orphan();
      const d = pages(1);
      expectUffd(() => u.zeropage(d.addr, PS), { code: 'ESRCH', field: 'untouched' });
    });

    test('C59: REGISTER -> ENOMEM', async () => {
      const u = await orphan();
      const d = pages(1);
      expectUffd(() => u.register(d.addr, d.len), { code: 'ENOMEM' });
    });
  });
});
