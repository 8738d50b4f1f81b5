'use strict';
// serve(): while a REMOVE event is unread every resolving ioctl fails with EAGAIN (spec §1.6,
// D1-D3). Here the handler of a fault waits until a Worker is blocked in MADV_DONTNEED of
// another registered page (its REMOVE queued, not yet read), then resolves: EAGAIN. serve()
// queues the fault for retry, reads the pending REMOVE (onEvent sees it), retries without
// waiting for another message, and the fault is resolved.
const { u, main, worker, nextMessage, wchan, until } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open({ features: ['threadId', 'eventRemove'] });
  const m = u.Mapping.anonymous(4 * ps);
  new Uint8Array(m.buffer).fill(1, 2 * ps, 3 * ps); // page 2 present, for MADV_DONTNEED
  uffd.register(m.address, 4 * ps);
  const w = worker(
    async (u, { page }, port) => {
      port.postMessage({ ktid: u.jsThreadId() });
      await new Promise((r) => port.once('message', r));
      u.mm.madvise(page, u.pageSize, 'dontneed'); // blocks until REMOVE is read
      return { removed: true };
    },
    { page: m.address + 2 * ps },
  );
  const { ktid } = await nextMessage(w);
  const events = [];
  const attempts = [];
  const s = uffd.serve(
    async (ev, { page, attempt }) => {
      attempts.push(attempt);
      if (attempt === 0) {
        w.postMessage('go');
        await until(() => wchan(ktid).startsWith('userfaultfd_event'), 'the worker to block');
      }
      uffd.zeropage(page, ps);
    },
    { onEvent: (ev) => events.push(ev.type) },
  );
  const done = nextMessage(w);
  const r = await u.touch(m.address, ps);
  await done;
  await w.terminate();
  await s.stop();
  uffd.close();
  return { sum: r.sum, attempts, events, stats: s.stats };
});
