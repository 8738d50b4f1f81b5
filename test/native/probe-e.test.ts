/**
 * Spec §5.2 rows E1-E13: page-fault and non-cooperative events, and waking, on the real kernel.
 *
 * Faults come from touch() (an access on a native thread) and are served by this test on the JS
 * thread, so nothing here can hang: a failing test leaves the faulting thread asleep until
 * afterEach closes the uffd, which wakes it (spec §1.6). fork/mremap/munmap with EVENT_FORK/
 * REMAP/UNMAP block their caller until the event is read, so they run on a native thread
 * (forkPause) or a worker thread, never on the JS thread that reads the events.
 */
import type { Worker } from 'node:worker_threads';
import { Userfaultfd, touch, type FeatureName, type UffdEvent } from '../../lib';
import { native } from '../../lib/binding';
import { childRun, DIST } from '../helpers/kernel';
import {
  type Area,
  PS,
  expectUffd,
  fillPages,
  inWorker,
  pages,
  releaseAll,
  stillPending,
} from '../helpers/areas';
import { hasMove, moveTest } from '../helpers/kernel-version';

const b = native();
let uffd: Userfaultfd;
let it: AsyncIterableIterator<UffdEvent> | undefined;
const workers: Worker[] = [];
const rawMaps: [number, number][] = [];

afterEach(async () => {
  await it?.return?.();
  it = undefined;
  uffd?.close(); // undefined when only absence rows (kernel-version.ts) ran // wakes any thread still faulting; flushes unread events (releases workers)
  for (const w of workers.splice(0)) await w.terminate();
  for (const [a, l] of rawMaps.splice(0)) b.munmap(a, l);
  releaseAll();
});

function open(features: FeatureName[]): Userfaultfd {
  uffd = Userfaultfd.open({ features });
  return uffd;
}

async function nextEvent(): Promise<UffdEvent> {
  it ??= uffd.events();
  const r = await it.next();
  if (r.done === true) throw new Error('event stream ended');
  return r.value;
}

function setup(n = 2): { d: Area; s: Area } {
  const d = pages(n);
  uffd.register(d.addr, d.len);
  const s = pages(n);
  fillPages(s, 0xe0);
  return { d, s };
}

/** A raw (non-Mapping) private anonymous range: mremap/munmap of it is done by workers. */
function rawMap(len: number): number {
  const a = b.mmap(0, len, 3, 0x22, -1, 0);
  expect(a).toBeGreaterThan(0);
  rawMaps.push([a, len]);
  return a;
}

/** Resolves one page by MOVE where the kernel has it (6.8+), else by COPY. */
function serve(dst: number, src: number): void {
  expect(hasMove ? uffd.move(dst, src, PS) : uffd.copy(dst, src, PS)).toBe(PS);
}

describe('spec §5.2 E rows: events and waking', () => {
  test('E1: read fault at dst+123 (THREAD_ID) -> event 0x12, flags 0, page-aligned, ptid != 0', async () => {
    open(['threadId']);
    const { d, s } = setup();
    const t = touch(d.addr + 123, 1);
    const ev = await nextEvent();
    expect(ev).toMatchObject({
      type: 'pagefault',
      address: d.addr, // addr_off=0
      kind: 'missing',
      write: false,
      flags: 0,
    });
    expect(ev.type === 'pagefault' && ev.threadId).toBeGreaterThan(0);
    serve(d.addr, s.addr); // MOVE, or COPY before 6.8: the subject is the event
    const r = await t;
    expect(r.threadId).toBe(ev.type === 'pagefault' ? ev.threadId : -1);
    expect(r.sum).toBe(0xe0);
  });

  moveTest(
    'E2: MOVE with DONTWAKE resolves the page but the faulting thread stays asleep',
    async () => {
      open(['threadId']);
      const { d, s } = setup();
      const t = touch(d.addr, 1);
      expect(await nextEvent()).toMatchObject({ type: 'pagefault', address: d.addr });
      expect(uffd.move(d.addr, s.addr, PS, { dontWake: true })).toBe(PS);
      expect(d.bytes[0]).toBe(0xe0); // installed...
      expect(await stillPending(t)).toBe(true); // ...but thread_done=0
      uffd.wake(d.addr, PS);
      await t;
    },
  );

  moveTest('E3: UFFDIO_WAKE then wakes it', async () => {
    open(['threadId']);
    const { d, s } = setup();
    const t = touch(d.addr, 1);
    await nextEvent();
    uffd.move(d.addr, s.addr, PS, { dontWake: true });
    expect(await stillPending(t, 50)).toBe(true);
    expect(uffd.wake(d.addr, PS)).toBeUndefined();
    expect(await t).toMatchObject({ accesses: 1, sum: 0xe0 }); // thread_done=1
  });

  test('E4: write fault at dst+4096+5 -> event flags 0x1, address dst+4096', async () => {
    open(['threadId']);
    const { d, s } = setup();
    const t = touch(d.addr + PS + 5, 1, { write: true, value: 0x77 });
    const ev = await nextEvent();
    expect(ev).toMatchObject({
      type: 'pagefault',
      address: d.addr + PS,
      kind: 'missing',
      write: true,
      flags: 1,
    });
    serve(d.addr + PS, s.addr + PS); // MOVE, or COPY before 6.8: the subject is the event
    await t;
    expect([d.bytes[PS + 4], d.bytes[PS + 5]]).toEqual([0xe1, 0x77]);
  });

  moveTest('E5: MOVE (no DONTWAKE) wakes the faulting thread', async () => {
    open(['threadId']);
    const { d, s } = setup();
    const t = touch(d.addr + PS, 1, { write: true, value: 5 });
    await nextEvent();
    expect(uffd.move(d.addr + PS, s.addr + PS, PS)).toBe(PS);
    expect(await t).toMatchObject({ accesses: 1 }); // thread_done=1
  });

  test('E6: UFFDIO_WAKE len=0 -> EINVAL', () => {
    open([]);
    const { d } = setup();
    expectUffd(() => uffd.wake(d.addr, 0), { code: 'EINVAL' });
  });

  test('E7: UFFDIO_WAKE unaligned start -> EINVAL', () => {
    open([]);
    const { d } = setup();
    expectUffd(() => uffd.wake(d.addr + 1, PS), { code: 'EINVAL' });
  });

  test('E8: UFFDIO_WAKE on an unregistered range (no waiters) -> 0', () => {
    open([]);
    const a = pages(2);
    expect(uffd.wake(a.addr, a.len)).toBeUndefined();
  });

  test('E9: read fault at +77 with EXACT_ADDRESS -> address dst+77', async () => {
    open(['exactAddress']);
    const { d } = setup();
    const t = touch(d.addr + 77, 1);
    expect(await nextEvent()).toMatchObject({ type: 'pagefault', address: d.addr + 77 });
    uffd.zeropage(d.addr, PS);
    await t;
  });

  test('E10: resolve it with ZEROPAGE -> field 1 page', async () => {
    open(['exactAddress']);
    const { d } = setup();
    const t = touch(d.addr + 77, 1);
    await nextEvent();
    expect(uffd.zeropage(d.addr, PS)).toBe(PS);
    expect(await t).toMatchObject({ accesses: 1, sum: 0 });
  });

  // In a child with a hard timeout: with EVENT_FORK the forking thread sleeps in the kernel
  // until the JS thread reads the event, so any lock the fork holds in user space deadlocks the
  // whole process, where no jest timeout can fire. (That happened: glibc's fork() holds the malloc
  // locks across the syscall; native/threads.cc now forks with the raw clone syscall.)
  test('E11: fork() with EVENT_FORK -> event 0x13 with a valid new uffd', async () => {
    const script = `
      const d = require(${JSON.stringify(DIST)});
      const { native } = require(${JSON.stringify(DIST + '/binding.js')});
      const fs = require('fs');
      const b = native();
      (async () => {
        const out = [];
        for (let i = 0; i < 3; i++) {
          const u = d.Userfaultfd.open({ features: ['eventFork'] });
          // the event is sent only for VMAs registered with a ctx that has EVENT_FORK
          const m = d.Mapping.anonymous(b.pageSize());
          u.register(m.address, m.length);
          const forked = b.forkPause(); // blocks in fork(2) on a native thread until read
          const it = u.events();
          const ev = (await it.next()).value;
          const pid = await forked;
          const fd = ev.type === 'fork' ? ev.uffd.fd : -1;
          out.push({ type: ev.type, wrapped: ev.uffd instanceof d.Userfaultfd,
                     link: fs.readlinkSync('/proc/self/fd/' + fd), pid: pid > 0 });
          process.kill(pid, 'SIGKILL');
          await b.reap(pid);
          ev.uffd.close();
          await it.return();
          u.close();
          m.unmap();
        }
        console.log(JSON.stringify(out));
      })();
    `;
    const r = await childRun(script, 15000);
    expect({ code: r.code, signal: r.signal, timedOut: r.timedOut, stderr: r.stderr }).toEqual({
      code: 0,
      signal: null,
      timedOut: false,
      stderr: '',
    });
    // ufd_valid=1: an fd installed in this process, referring to a userfaultfd
    const one = { type: 'fork', wrapped: true, link: 'anon_inode:[userfaultfd]', pid: true };
    expect(JSON.parse(r.stdout)).toEqual([one, one, one]);
  });

  test('E12/E12b: mremap(MAYMOVE|FIXED) of a registered range with EVENT_REMAP|UNMAP -> REMAP then UNMAP of the old range', async () => {
    open(['eventRemap', 'eventUnmap']);
    const len = 8 * PS;
    const from = rawMap(len);
    const to = rawMap(len);
    uffd.register(from, len);
    const c = b.constants;
    const w = inWorker('mremap', [from, len, len, c.MREMAP_MAYMOVE! | c.MREMAP_FIXED!, to]);
    workers.push(w.worker);
    // E12: first message
    expect(await nextEvent()).toEqual({ type: 'remap', from, to, len });
    // E12b: further=0x16[0,32768) relative to the old address
    expect(await nextEvent()).toEqual({ type: 'unmap', start: from, end: from + len });
    expect(await w.result).toBe(to);
  });

  test('E13: munmap of a registered range with EVENT_UNMAP -> event 0x16 [start, end)', async () => {
    open(['eventUnmap']);
    const len = 4 * PS;
    const a = rawMap(len);
    uffd.register(a, len);
    const w = inWorker('munmap', [a, len]);
    workers.push(w.worker);
    expect(await nextEvent()).toEqual({ type: 'unmap', start: a, end: a + len });
    expect(await w.result).toBe(0);
  });
});
