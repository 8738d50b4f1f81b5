'use strict';
// Closing the last reference of a uffd unregisters its ranges and wakes every waiter (spec
// §1.6): a native thread and a Worker, both asleep in handle_userfault on missing pages (their
// faults read or not), resume and see ordinary zero-filled pages. An iterator ends.
const { u, main, worker, nextMessage, wchan, until } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open({ features: ['threadId'] });
  const m = u.Mapping.anonymous(4 * ps);
  uffd.register(m.address, 4 * ps);
  const native = u.touch(m.address, ps);
  const w = worker(
    (u, { address }) => {
      const b = new Uint8Array(u.Mapping.attach(address, u.pageSize).buffer);
      return { byte: b[5] };
    },
    { address: m.address + 2 * ps },
  );
  const fromWorker = nextMessage(w);
  const it = uffd.events();
  // Read one fault (now "read but unresolved"); leave the other pending in the kernel queue.
  const first = (await it.next()).value;
  await until(() => wchan(first.threadId) === 'handle_userfault', 'the faulting thread to sleep');
  const pending = it.next(); // waits
  uffd.close();
  const ended = await pending;
  const [n, wr] = await Promise.all([native, fromWorker]);
  await w.terminate();
  // The range is an ordinary anonymous mapping now: no uffd, safe to read from JS.
  const b = new Uint8Array(m.buffer);
  return {
    iteratorDone: ended.done,
    nativeSum: n.sum,
    workerByte: wr.byte,
    nowOrdinary: b[0] === 0 && b[2 * ps + 5] === 0 && b[3 * ps] === 0,
  };
});
