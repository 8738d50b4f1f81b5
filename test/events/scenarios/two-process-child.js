'use strict';
// The memory-owning side of two-process.js: fd 3 is our end of a socketpair.
const { u, pattern } = require('./common');

(async () => {
  const ps = u.pageSize;
  const pages = 8;
  const uffd = u.Userfaultfd.open({ features: ['threadId'] });
  const m = u.Mapping.anonymous(pages * ps);
  uffd.register(m.address, m.length);
  const payload = JSON.stringify({ address: m.address, pages, features: ['threadId'] });
  await u.sendFd(3, uffd, payload); // the peer serves it now (the watchdog stops watching it)
  const b = new Uint8Array(m.buffer); // our JS thread faults; the other process resolves
  let bad = 0;
  for (let i = 0; i < pages; i++)
    for (let j = 0; j < ps; j++) if (b[i * ps + j] !== pattern(i, j)) bad++;
  console.log(bad === 0 ? `CHILD OK ${pages}` : `CHILD BAD ${bad}`);
  uffd.close();
  process.exit(bad === 0 ? 0 : 1);
})();
