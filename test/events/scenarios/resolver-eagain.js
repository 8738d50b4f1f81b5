'use strict';
// A native resolver meeting an unread non-cooperative event: a fault is pending and a Worker is
// blocked in MADV_DONTNEED of another registered page (REMOVE queued) before the resolver
// starts. Reading one message per read(2) (batch 1), the resolver takes the fault first (faults
// are read before events, spec §1.6), its ZEROPAGE fails with EAGAIN, it reads the REMOVE,
// forwards it to JS, and retries the fault without any new message. Counters are exact except
// eagain (>= 1: the retry may meet EAGAIN again until the woken thread decrements the count).
const { u, main, worker, nextMessage, wchan, until, userfaultSleepers } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open({ features: ['threadId', 'eventRemove'] });
  const m = u.Mapping.anonymous(4 * ps);
  new Uint8Array(m.buffer).fill(1, 2 * ps, 3 * ps);
  uffd.register(m.address, 4 * ps);
  const t = u.touch(m.address, ps);
  await until(() => userfaultSleepers().length === 1, 'the fault to be pending');
  const w = worker(
    async (u, { page }, port) => {
      port.postMessage({ ktid: u.jsThreadId() });
      u.mm.madvise(page, u.pageSize, 'dontneed'); // blocks until REMOVE is read
      return { removed: true };
    },
    { page: m.address + 2 * ps },
  );
  const { ktid } = await nextMessage(w);
  const removed = nextMessage(w);
  await until(() => wchan(ktid).startsWith('userfaultfd_event'), 'the worker to block');
  const r = uffd.startResolver({
    ranges: [{ start: m.address, len: 2 * ps, policy: 'zeropage' }],
    batch: 1,
  });
  const it = uffd.events();
  const ev = (await it.next()).value;
  const tr = await t;
  await removed;
  await w.terminate();
  const c = r.counters();
  await it.return();
  uffd.close(); // stops the resolver too
  return {
    event: [ev.type, ev.start === m.address + 2 * ps, ev.end === m.address + 3 * ps],
    sum: tr.sum,
    counters: c,
    runningAfterClose: r.running,
  };
});
