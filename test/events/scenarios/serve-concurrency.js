'use strict';
// serve({ concurrency: 4 }): 8 faults pending at once (8 native threads); the first handlers
// wait until 4 run together, and no more than 4 ever do. With concurrency 1 (the default) they
// run one at a time.
const { u, main } = require('./common');

async function run(concurrency) {
  const ps = u.pageSize;
  const pages = 8;
  const uffd = u.Userfaultfd.open();
  const m = u.Mapping.anonymous(pages * ps);
  uffd.register(m.address, pages * ps);
  let inFlight = 0;
  let max = 0;
  let release;
  const full = new Promise((r) => (release = r));
  const s = uffd.serve(
    async (ev, { page }) => {
      inFlight++;
      max = Math.max(max, inFlight);
      if (inFlight === concurrency) release();
      await full;
      await new Promise((r) => setImmediate(r));
      uffd.zeropage(page, ps);
      inFlight--;
    },
    { concurrency },
  );
  const touches = [];
  for (let i = 0; i < pages; i++) touches.push(u.touch(m.address + i * ps, ps));
  await Promise.all(touches);
  await s.stop();
  uffd.close();
  return { max, handled: s.stats.handled };
}

main(async () => ({ four: await run(4), one: await run(1) }));
