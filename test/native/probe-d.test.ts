/**
 * Spec §5.2 rows D1-D6: resolution ioctls while a non-cooperative event is unread
 * (ctx->mmap_changing > 0, spec §1.6, §2.1 #1, §3.10) on the real kernel.
 *
 * A worker thread does MADV_DONTNEED on a registered range of a uffd with EVENT_REMOVE: the
 * madvise blocks in the kernel until the REMOVE event is read, and until then every range ioctl
 * fails with EAGAIN and result field -EAGAIN, even with invalid arguments. The JS thread (which
 * reads the event) waits with poll(2) until the event is pending and never blocks on it. If a
 * test fails first, afterEach closes the uffd, which flushes the event and releases the worker.
 */
import type { Worker } from 'node:worker_threads';
import { Userfaultfd } from '../../lib';
import { native } from '../../lib/binding';
import { isPresent } from '../helpers/kernel';
import {
  type Area,
  PS,
  expectUffd,
  fillPages,
  inWorker,
  neg,
  pages,
  releaseAll,
} from '../helpers/areas';
import { kernelAtLeast, moveTest } from '../helpers/kernel-version';

const b = native();
const POLLIN = 0x1;

let uffd: Userfaultfd;
let worker: Worker | undefined;

afterEach(async () => {
  uffd?.close(); // undefined when only absence rows (kernel-version.ts) ran // flushes an unread event: the worker's madvise returns
  if (worker !== undefined) await worker.terminate();
  worker = undefined;
  releaseAll();
});

/** Resolves once poll(2) reports the uffd readable (without reading), or throws after ms. */
async function readable(fd: number, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = b.poll(fd, POLLIN, 0);
    if (r === POLLIN) return;
    if (r !== 0) throw new Error(`poll: revents ${r}`);
    if (Date.now() > deadline) throw new Error('no event became pending');
    await new Promise((res) => setTimeout(res, 5));
  }
}

interface Pending {
  d: Area;
  s: Area;
  /** The worker's madvise return value, once the event has been read. */
  madvise: Promise<number>;
}

/** A REMOVE event (MADV_DONTNEED of dst page #0, done by a worker) pending and unread. */
async function unreadRemove(): Promise<Pending> {
  uffd = Userfaultfd.open({ features: ['eventRemove'] });
  const d = pages(2);
  d.bytes[0] = 1;
  uffd.register(d.addr, d.len);
  const s = pages(1);
  fillPages(s, 0xd0);
  const w = inWorker('madvise', [d.addr, PS, b.constants.MADV_DONTNEED!]);
  worker = w.worker;
  await readable(uffd.fd);
  return { d, s, madvise: w.result };
}

const EAGAIN_EVENT = { code: 'EAGAIN', field: neg('EAGAIN'), bytesDone: 0 };
// COPY/ZEROPAGE: before 6.9 fs/userfaultfd.c returned EAGAIN on mmap_changing before writing the
// result field (untouched); "userfaultfd: protect mmap_changing with rw_sem in userfaulfd_ctx"
// (6.9) moved the check into mfill_atomic(), whose -EAGAIN is put_user()ed (spec §2.9).
const EAGAIN_EVENT_FILL = kernelAtLeast(6, 9)
  ? EAGAIN_EVENT
  : { code: 'EAGAIN', field: 'untouched' as const, bytesDone: 0 };

describe('spec §5.2 D rows: ioctls while a REMOVE event is unread', () => {
  moveTest('D1: MOVE while a REMOVE event is unread -> EAGAIN, field -EAGAIN', async () => {
    const { d, s } = await unreadRemove();
    expectUffd(() => uffd.move(d.addr + PS, s.addr, PS), EAGAIN_EVENT);
    expect(isPresent(s.addr)).toBe(true);
  });

  test('D2: COPY while a REMOVE event is unread -> EAGAIN, field -EAGAIN', async () => {
    const { d, s } = await unreadRemove();
    expectUffd(() => uffd.copy(d.addr + PS, s.addr, PS), EAGAIN_EVENT_FILL);
  });

  test('D3: ZEROPAGE while a REMOVE event is unread -> EAGAIN, field -EAGAIN', async () => {
    const { d } = await unreadRemove();
    expectUffd(() => uffd.zeropage(d.addr + PS, PS), EAGAIN_EVENT_FILL);
  });

  moveTest(
    'D4: MOVE with INVALID args while the event is unread (mmap_changing first) -> EAGAIN, field -EAGAIN',
    async () => {
      const { d, s } = await unreadRemove();
      expectUffd(
        () => uffd.move(d.addr + 1, s.addr + 3, 100, { allowSrcHoles: true }),
        EAGAIN_EVENT,
      );
      expectUffd(() => uffd.move(0, 0, 0), EAGAIN_EVENT);
    },
  );

  test('D5: REMOVE event content (MADV_DONTNEED of 1 page) -> event 0x15 [0, 4096), madvise 0', async () => {
    const { d, madvise } = await unreadRemove();
    const it = uffd.events();
    const ev = await it.next();
    expect(ev).toEqual({ done: false, value: { type: 'remove', start: d.addr, end: d.addr + PS } });
    expect(await madvise).toBe(0);
    await it.return!();
  });

  moveTest('D6: MOVE after the event is consumed -> field 1 page', async () => {
    const { d, s, madvise } = await unreadRemove();
    expectUffd(() => uffd.move(d.addr + PS, s.addr, PS), { code: 'EAGAIN' });
    const it = uffd.events();
    expect((await it.next()).value).toMatchObject({ type: 'remove' });
    await it.return!();
    expect(await madvise).toBe(0);
    expect(uffd.move(d.addr + PS, s.addr, PS)).toBe(PS);
    expect(d.bytes[PS]).toBe(0xd0);
  });

  moveTest(
    'completeMove() with an unread event throws EAGAIN with bytesDone 0 (no retry loop)',
    async () => {
      const { d, s } = await unreadRemove();
      expectUffd(() => uffd.completeMove(d.addr + PS, s.addr, PS), EAGAIN_EVENT);
      expectUffd(() => uffd.completeCopy(d.addr + PS, s.addr, PS), EAGAIN_EVENT_FILL);
      expectUffd(() => uffd.completeZeropage(d.addr + PS, PS), EAGAIN_EVENT_FILL);
    },
  );

  test('WRITEPROTECT while the event is unread -> EAGAIN (spec §3.7; no result field)', async () => {
    const { d } = await unreadRemove();
    expectUffd(() => uffd.writeProtect(d.addr, PS, true), { code: 'EAGAIN' });
  });
});
