'use strict';
// Write-protect faults (uffd_handle_page_fault's WP branch, spec §3.7): populated pages
// registered for wp and protected; a native thread writes each page, each write raises a wp
// fault (kind 'wp', write true) that is served by writeProtect(false), which also wakes; the
// writes land.
const { u, main } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const pages = 4;
  const uffd = u.Userfaultfd.open({ features: ['threadId', 'pagefaultFlagWp'] });
  const m = u.Mapping.anonymous(pages * ps);
  new Uint8Array(m.buffer).fill(1); // populate while unregistered
  const ioctls = uffd.register(m.address, pages * ps, { wp: true });
  uffd.writeProtect(m.address, pages * ps, true);
  const kinds = new Set();
  const server = uffd.serve((ev, { page }) => {
    kinds.add(`${ev.kind}/${ev.write}`);
    uffd.writeProtect(page, ps, false);
  });
  const t = await u.touch(m.address, pages * ps, { write: true, value: 7 });
  await server.stop();
  const bytes = new Uint8Array(m.buffer); // present pages: safe to read from JS
  const firsts = [];
  for (let i = 0; i < pages; i++) firsts.push(bytes[i * ps], bytes[i * ps + 1]);
  uffd.close();
  return {
    hasWp: ioctls.has('writeProtect'),
    kinds: [...kinds],
    faults: server.stats.faults,
    accesses: t.accesses,
    firsts,
  };
});
