'use strict';
// uffd-unit-tests.c `poison` (spec §4.2, F18): 4 pages; the handler resolves odd pages with a
// zero page and POISONs even ones (updated == page size). Each page is read on its own native
// thread: exactly the 2 even pages raise SIGBUS, the others read 0.
const { u, main } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const pages = 4;
  const uffd = u.Userfaultfd.open({ features: ['threadId', 'poison'] });
  const dst = u.Mapping.anonymous(pages * ps);
  const ioctls = uffd.register(dst.address, pages * ps);
  const updated = [];
  const server = uffd.serve((ev, { page }) => {
    const i = (page - dst.address) / ps;
    if (i % 2 === 0) updated.push(uffd.poison(page, ps));
    else uffd.zeropage(page, ps);
  });
  const reads = [];
  for (let i = 0; i < pages; i++) reads.push(u.touch(dst.address + i * ps, ps));
  const results = await Promise.all(reads);
  await server.stop();
  uffd.close();
  return {
    hasPoison: ioctls.has('poison') && ioctls.has('copy'),
    updated,
    outcome: results.map((r) => r.signal ?? r.sum),
    faultAddresses: results.map((r, i) =>
      r.signal === undefined ? null : r.faultAddress === dst.address + i * ps,
    ),
    stats: server.stats,
  };
});
