'use strict';
// uffd-unit-tests.c `zeropage` (spec §4.2, F12/F13): the range advertises ZEROPAGE, a fault
// served by it reads zero, and a second ZEROPAGE of the now-present page fails with EEXIST and
// result field -EEXIST.
const { u, main, worker, nextMessage } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open();
  const dst = u.Mapping.anonymous(ps);
  const ioctls = uffd.register(dst.address, ps);
  const w = worker(
    (u, { address, length }) => {
      const b = new Uint8Array(u.Mapping.attach(address, length).buffer);
      return b.reduce((a, x) => a + x, 0);
    },
    { address: dst.address, length: ps },
  );
  const sum = nextMessage(w);
  let zeropage = 0;
  let event;
  for await (const ev of uffd.events()) {
    event = ev;
    zeropage = uffd.zeropage(ev.address, ps);
    break;
  }
  const workerSum = await sum;
  await w.terminate();
  let again;
  try {
    uffd.zeropage(dst.address, ps);
  } catch (e) {
    again = { code: e.code, field: e.field, errno: e.errno };
  }
  uffd.close();
  return { hasZeropage: ioctls.has('zeropage'), kind: event.kind, zeropage, workerSum, again };
});
