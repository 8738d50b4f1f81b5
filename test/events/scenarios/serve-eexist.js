'use strict';
// serve(): EEXIST from a handler means another resolution won the race (here: a second uffd
// reference installs the page first, as a racing thread would). The kernel does not wake on
// error, so serve() wakes the page; the faulting thread resumes and sees the winner's bytes.
const { u, main } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open({ features: ['threadId'] });
  const m = u.Mapping.anonymous(ps);
  uffd.register(m.address, ps);
  const winner = new Uint8Array(ps).fill(0x5a);
  const loser = new Uint8Array(ps).fill(0x11);
  const s = uffd.serve((ev, { page }) => {
    uffd.copy(page, winner, ps, { dontWake: true }); // the racer: installs, does not wake
    uffd.copy(page, loser, ps); // our resolution: EEXIST, and nothing woken by the kernel
  });
  const r = await u.touch(m.address, ps);
  await s.stop();
  uffd.close();
  return { sum: r.sum, stats: s.stats };
});
