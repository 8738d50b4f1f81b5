'use strict';
// An open uffd that nobody reads hangs its faulters: a native thread reads a registered page and
// sleeps in handle_userfault. This script prints BLOCKED once that is seen and then waits on the
// touch forever; the test kills it after a grace period and checks RESOLVED never appeared.
const { u, userfaultSleepers, until } = require('./common');

(async () => {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open();
  const m = u.Mapping.anonymous(ps);
  uffd.register(m.address, ps);
  u.touch(m.address, ps).then(() => console.log('RESOLVED'));
  await until(() => userfaultSleepers().length === 1, 'a sleeper');
  console.log('BLOCKED', userfaultSleepers().length);
  // Kept open and never read. It must stay reachable: a dropped Userfaultfd is collected and
  // its fd closed, which would wake the sleeper (seen in a slow QEMU guest, where a GC ran
  // within the grace period).
  globalThis.openButUnattended = uffd;
})();
