'use strict';
// A Worker opens its own uffd, serves its own faults (touched by a native thread), then exits
// while an event iterator is still waiting (and, with argv[2] === 'resolver', while a native
// resolver thread runs, or with 'unref', by itself through an unref'd stream). The async
// cleanup hook of the poll handle (and the resolver's env cleanup hook) must let the Worker and
// then the process exit cleanly: exit code 0, no crash.
const { u, main, worker, nextMessage } = require('./common');

main(async () => {
  const mode = process.argv[2] ?? 'plain';
  const w = worker(
    async (u, { mode }, port) => {
      const ps = u.pageSize;
      const uffd = u.Userfaultfd.open();
      const m = u.Mapping.anonymous(4 * ps);
      uffd.register(m.address, 4 * ps);
      if (mode === 'resolver') {
        uffd.startResolver({ ranges: [{ start: m.address, len: 2 * ps, policy: 'zeropage' }] });
      }
      const t = u.touch(m.address, 4 * ps);
      const it = uffd.events();
      let n = 0;
      while (n < (mode === 'resolver' ? 2 : 4)) {
        const ev = (await it.next()).value;
        uffd.zeropage(ev.address, ps);
        n++;
      }
      const r = await t;
      if (mode === 'unref') uffd.unref();
      it.next(); // waits forever: nothing else will fault
      port.postMessage({ served: n, accesses: r.accesses });
      // returning leaves the iterator (and the resolver) running
    },
    { mode },
  );
  const exited = new Promise((res) => w.once('exit', res)); // before it can happen
  const r = await nextMessage(w);
  const exitCode = mode === 'unref' ? await exited : await w.terminate();
  return { ...r, exitCode };
});
