'use strict';
// uffd-unit-tests.c `events` (spec §4.2, E11-E13, D5): with EVENT_FORK|REMAP|REMOVE|UNMAP, a
// fork (on a native thread: forkPause), an mremap(MAYMOVE|FIXED) of the registered range and a
// MADV_DONTNEED of the moved range (both from a Worker, since each blocks until its event is
// read) produce FORK, REMAP, UNMAP and REMOVE, in that order, with the right ranges. The FORK
// event's uffd is a Userfaultfd wrapping a fresh fd of this process, closed when it is closed.
// Faults are served along the way (a page of the range before the fork, one after the mremap).
const fs = require('fs');
const { u, main, worker, nextMessage, native } = require('./common');

const link = (fd) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch (e) {
    return e.code;
  }
};

main(async () => {
  const ps = u.pageSize;
  const pages = 8;
  const len = pages * ps;
  const uffd = u.Userfaultfd.open({
    features: ['threadId', 'eventFork', 'eventRemap', 'eventRemove', 'eventUnmap'],
  });
  // Raw mappings (not Mapping objects), so mremap may move them.
  const area = u.mm.mmap(len);
  const target = u.mm.mmap(len);
  uffd.register(area, len);
  const it = uffd.events();
  const next = async () => (await it.next()).value;
  const log = [];

  // A fault before the fork, served with a zero page.
  const t0 = u.touch(area, ps);
  const f0 = await next();
  log.push(f0.type);
  uffd.zeropage(f0.address, ps);
  await t0;

  // FORK: the forking native thread waits until we read the event (forkPause uses the raw
  // clone syscall: glibc's fork() would hold malloc locks meanwhile, see native/threads.cc).
  const pidP = native().forkPause();
  const fork = await next();
  log.push(fork.type);
  const forkFd = fork.uffd.fd;
  const before = link(forkFd);
  const forkIsUffd = fork.uffd instanceof u.Userfaultfd;
  fork.uffd.close();
  const after = link(forkFd);
  const pid = await pidP;
  process.kill(pid, 'SIGKILL');

  // REMAP then UNMAP, from a Worker's mremap.
  const w = worker(
    async (u, { area, target, len }, port) => {
      const to = u.mm.mremap(area, len, len, { mayMove: true, fixed: target });
      port.postMessage({ to });
      await new Promise((r) => port.once('message', r));
      u.mm.madvise(to, u.pageSize, 'dontneed');
      return { removed: true };
    },
    { area, target, len },
  );
  const moved = nextMessage(w);
  const remap = await next();
  const unmap = await next();
  log.push(remap.type, unmap.type);
  const { to } = await moved;

  // A fault in the moved range is served at its new address.
  const t1 = u.touch(to + ps, ps);
  const f1 = await next();
  log.push(f1.type);
  uffd.zeropage(f1.address - (f1.address % ps), ps);
  await t1;

  // REMOVE, from the Worker's MADV_DONTNEED.
  const removedP = nextMessage(w);
  w.postMessage('go');
  const remove = await next();
  log.push(remove.type);
  await removedP;
  await w.terminate();
  await it.return();
  uffd.close();
  return {
    log,
    forkIsUffd,
    before,
    after,
    remap: { from: remap.from === area, to: remap.to === target, len: remap.len === len },
    unmap: { start: unmap.start === area, end: unmap.end === area + len },
    movedTo: to === target,
    fault1: f1.address === to + ps,
    remove: { start: remove.start === target, end: remove.end === target + ps },
  };
});
