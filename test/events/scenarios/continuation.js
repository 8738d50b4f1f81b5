'use strict';
// Readiness is delivered with MakeCallback, so the promise continuation of `await it.next()`
// runs at once. This process has nothing else on its loop (no timers, no I/O): if the
// continuation waited for the next unrelated callback, the fault would never be served and the
// process would hang (and be killed by the test's timeout). Runs in the main thread or, with
// argv[2] === 'worker', inside a Worker that opens its own uffd.
const { u, main, worker, nextMessage } = require('./common');

async function serveThree(u) {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open();
  const m = u.Mapping.anonymous(3 * ps);
  uffd.register(m.address, 3 * ps);
  const t = u.touch(m.address, 3 * ps);
  let n = 0;
  for await (const ev of uffd.events()) {
    uffd.zeropage(ev.address, ps);
    if (++n === 3) break;
  }
  const r = await t;
  uffd.close();
  return { served: n, accesses: r.accesses };
}

main(async () => {
  if (process.argv[2] !== 'worker') return serveThree(u);
  const w = worker(serveThree, {});
  const r = await nextMessage(w);
  await w.terminate();
  return r;
});
