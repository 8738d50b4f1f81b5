'use strict';
// A native resolver and racing faults: two threads fault on the same page before the resolver
// starts, so it reads two messages for one page. The first is resolved (the resolution wakes
// both threads); the second resolution finds the page present (EEXIST) and is woken explicitly,
// as the kernel does not wake on error. Counters: faults 2, resolved 1, eexist 1.
const { u, main, userfaultSleepers, until } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open({ features: ['threadId', 'move'] });
  const src = u.Mapping.anonymous(ps);
  new Uint8Array(src.buffer).fill(4);
  const dst = u.Mapping.anonymous(ps);
  uffd.register(dst.address, ps);
  const a = u.touch(dst.address, ps);
  const b = u.touch(dst.address + 10, 1);
  await until(() => userfaultSleepers().length === 2, 'two sleepers on one page');
  const range = (policy) => ({ start: dst.address, len: ps, policy, source: src.address });
  // Before 6.8 (move() emulated in JS) the 'move' policy is refused: the race runs on 'copy'.
  let moveRefused = null;
  let r;
  try {
    r = uffd.startResolver({ ranges: [range('move')] });
  } catch (e) {
    moveRefused = e.code;
    r = uffd.startResolver({ ranges: [range('copy')] });
  }
  const [ra, rb] = await Promise.all([a, b]);
  // The counters are updated by the resolver thread after each ioctl returns, and the first
  // resolution already woke both touches: wait for it to finish the second message too.
  await until(() => r.counters().resolved + r.counters().eexist === 2, 'both messages handled');
  const counters = r.counters();
  uffd.close();
  return { moveRefused, counters, sums: [ra.sum, rb.sum] };
});
