'use strict';
// uffd-unit-tests.c `move` (spec §4.2), with faults from a Worker and from a native thread:
// every page of dst faults exactly once (a MISSING read fault: no WP, MINOR or WRITE flag), is
// served by UFFDIO_MOVE from src at the same offset (EEXIST -> wake, as move_page() does), dst
// ends up holding src's bytes and src reads zero afterwards.
const { u, main, worker, nextMessage, fillPattern, pattern } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const pages = 32;
  const len = pages * ps;
  const uffd = u.Userfaultfd.open({ features: ['threadId', 'move'] });
  const src = u.Mapping.anonymous(len, { hugepage: false, dontFork: true }); // post_alloc
  const dst = u.Mapping.anonymous(len);
  fillPattern(src, pages, pattern);
  const ioctls = uffd.register(dst.address, len);

  // First half: a Worker reads through its own view of dst; second half: a native thread.
  const half = len / 2;
  const w = worker(
    (u, { address, length }) => {
      const m = u.Mapping.attach(address, length);
      const b = new Uint8Array(m.buffer);
      let sum = 0;
      for (let i = 0; i < b.length; i++) sum += b[i];
      return { sum };
    },
    { address: dst.address, length: half },
  );
  const fromWorker = nextMessage(w);
  const fromNative = u.readMemory(dst.address + half, half);

  const faultsPerPage = new Map();
  const flags = new Set();
  let eexist = 0;
  for await (const ev of uffd.events()) {
    if (ev.type !== 'pagefault') throw new Error(`unexpected ${ev.type}`);
    flags.add(`${ev.kind}/${ev.write}/${ev.flags}`);
    const page = ev.address - (ev.address % ps);
    faultsPerPage.set(page, (faultsPerPage.get(page) ?? 0) + 1);
    try {
      uffd.move(page, src.address + (page - dst.address), ps);
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      eexist++;
      uffd.wake(page, ps);
    }
    if (faultsPerPage.size === pages) break;
  }
  const workerResult = await fromWorker;
  const nativeBytes = await fromNative;
  await w.terminate();

  let expectedFirst = 0;
  for (let i = 0; i < pages / 2; i++) for (let j = 0; j < ps; j++) expectedFirst += pattern(i, j);
  let nativeOk = true;
  for (let k = 0; k < half; k++) {
    const i = pages / 2 + Math.floor(k / ps);
    if (nativeBytes[k] !== pattern(i, k % ps)) nativeOk = false;
  }
  const srcSum = new Uint8Array(src.buffer).reduce((a, b) => a + b, 0); // src is unregistered
  const moveEmulated = uffd.moveEmulated;
  uffd.close();
  return {
    moveEmulated,
    ioctlsHasMove: ioctls.has('move'),
    faults: [...faultsPerPage.values()].reduce((a, b) => a + b, 0),
    pagesFaulted: faultsPerPage.size,
    maxFaultsPerPage: Math.max(...faultsPerPage.values()),
    flags: [...flags],
    eexist,
    workerSumOk: workerResult.sum === expectedFirst,
    nativeOk,
    srcSum,
  };
});
