'use strict';
// Spec E1/E9/E10: a read at dst+77 is reported page-aligned by default (with THREAD_ID = the
// reading thread), and at exactly dst+77 with the exactAddress feature; ZEROPAGE of the page
// resolves it.
const { u, main } = require('./common');

async function faultAt(features, offset) {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open({ features });
  const dst = u.Mapping.anonymous(ps);
  uffd.register(dst.address, ps);
  const t = u.touch(dst.address + offset, 1);
  const it = uffd.events();
  const ev = (await it.next()).value;
  const page = ev.address - (ev.address % ps);
  const zeropage = uffd.zeropage(page, ps);
  const r = await t;
  await it.return();
  uffd.close();
  dst.unmap();
  return {
    offset: ev.address - dst.address,
    threadId: ev.threadId === r.threadId && ev.threadId > 0,
    zeropage,
    sum: r.sum,
  };
}

main(async () => ({
  exact: await faultAt(['threadId', 'exactAddress'], 77),
  aligned: await faultAt(['threadId'], 77),
}));
