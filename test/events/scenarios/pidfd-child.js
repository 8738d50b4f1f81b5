'use strict';
// The memory-owning side of pidfd.js: another process takes our uffd with pidfd_getfd and
// serves it, so the watchdog (which would otherwise read our uffd after our JS thread slept in
// a fault for a while) is turned off.
const { u } = require('./common');

u.watchJsThreadFaults({ policy: 'off' });
const ps = u.pageSize;
const pages = 4;
const uffd = u.Userfaultfd.open({ features: ['threadId'] });
const m = u.Mapping.anonymous(pages * ps);
uffd.register(m.address, m.length);
console.log(`INFO ${JSON.stringify({ pid: process.pid, fd: uffd.fd, address: m.address })}`);
process.stdin.once('data', () => {
  const b = new Uint8Array(m.buffer);
  let ok = true;
  for (let i = 0; i < pages; i++)
    if (b[i * ps] !== i + 1 || b[i * ps + ps - 1] !== i + 1) ok = false;
  console.log(ok ? 'CHILD OK' : 'CHILD BAD');
  uffd.close();
  process.exit(ok ? 0 : 1);
});
