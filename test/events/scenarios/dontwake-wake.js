'use strict';
// Spec E2/E3/E5: UFFDIO_MOVE with DONTWAKE installs the page but the faulting thread keeps
// sleeping (it is still in handle_userfault, found by its THREAD_ID); UFFDIO_WAKE then wakes it
// and its read sees the moved bytes. A MOVE without DONTWAKE wakes at once (E5).
const { u, main, wchan, until } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open({ features: ['threadId', 'move'] });
  const src = u.Mapping.anonymous(2 * ps);
  new Uint8Array(src.buffer).fill(9);
  const dst = u.Mapping.anonymous(2 * ps);
  uffd.register(dst.address, 2 * ps);
  const it = uffd.events();

  let settled = false;
  const t = u.touch(dst.address, ps).then((r) => {
    settled = true;
    return r;
  });
  const ev = (await it.next()).value;
  const moved = uffd.move(dst.address, src.address, ps, { dontWake: true });
  // E2: the thread is (or, if it had not reached schedule() yet, gets) asleep and stays so. Had
  // the MOVE woken it, it would find the page present and finish instead.
  await until(() => wchan(ev.threadId) === 'handle_userfault', 'the faulter to sleep');
  const sleepingAfterMove = wchan(ev.threadId);
  // Let the loop turn a few times: nothing may wake it but us.
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  const settledBeforeWake = settled;
  uffd.wake(dst.address, ps); // E3
  const r = await t;

  // E5: without DONTWAKE the MOVE itself wakes.
  const t2 = u.touch(dst.address + ps, ps);
  const ev2 = (await it.next()).value;
  uffd.move(dst.address + ps, src.address + ps, ps);
  const r2 = await t2;
  await it.return();
  const moveEmulated = uffd.moveEmulated;
  uffd.close();
  return {
    moveEmulated,
    moved,
    sleepingAfterMove,
    settledBeforeWake,
    sum: r.sum,
    threadIdMatches: r.threadId === ev.threadId,
    sum2: r2.sum,
    thread2: r2.threadId === ev2.threadId,
  };
});
