'use strict';
// serve(): a handler that throws (or rejects) does not leave its faulting thread asleep.
// Default policy: the page is POISONed (the thread takes SIGBUS: no silent zeros) and the error
// goes to onError, serving continues. onHandlerError 'zeropage': the thread reads zeros. Without
// onError: the server stops and `done` rejects with ERR_UFFD_HANDLER (cause: the handler's
// error), the fault still resolved.
const { u, main } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open({ features: ['threadId', 'poison'] });
  const m = u.Mapping.anonymous(8 * ps);
  uffd.register(m.address, 8 * ps);
  const out = {};

  // 1. poison (default) + onError; page 1 throws synchronously, page 2 rejects.
  const errors = [];
  let s = uffd.serve(
    async (ev, { page }) => {
      const i = (page - m.address) / ps;
      if (i === 1) throw new Error('sync boom');
      if (i === 2) await Promise.reject(new Error('async boom'));
      uffd.zeropage(page, ps);
    },
    { onError: (e, ev) => errors.push({ code: e.code, cause: e.cause.message, at: ev.address }) },
  );
  const r1 = await Promise.all([0, 1, 2].map((i) => u.touch(m.address + i * ps, ps)));
  await s.stop();
  out.poison = {
    outcome: r1.map((r) => r.signal ?? r.sum),
    errors: errors
      .map((e) => [e.code, e.cause, (e.at - m.address) / ps])
      .sort((a, b) => a[2] - b[2]),
    stats: s.stats,
  };

  // 2. zeropage policy.
  s = uffd.serve(
    () => {
      throw new Error('nope');
    },
    { onHandlerError: 'zeropage', onError: () => {} },
  );
  const r2 = await u.touch(m.address + 3 * ps, ps);
  await s.stop();
  out.zeropage = { signal: r2.signal ?? null, sum: r2.sum, failed: s.stats.failed };

  // 3. no onError: done rejects, the fault is still resolved (poisoned), later faults are not
  // read any more (the server stopped).
  s = uffd.serve(() => {
    throw new TypeError('fatal');
  });
  const r3 = await u.touch(m.address + 4 * ps, ps);
  let rejected;
  try {
    await s.done;
  } catch (e) {
    rejected = { code: e.code, cause: e.cause.name, message: /poisoned/.test(e.message) };
  }
  out.noOnError = { signal: r3.signal ?? null, rejected };

  // 4. serve() while another consumer iterates: ERR_UFFD_ITERATOR_BUSY, nothing started.
  const it = uffd.events();
  try {
    uffd.serve(() => {});
  } catch (e) {
    out.busy = e.code;
  }
  await it.return();
  uffd.close();
  return out;
});
