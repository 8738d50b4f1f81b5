'use strict';
// uffd-unit-tests.c `move-pmd` (spec §4.2): src and dst MADV_HUGEPAGE, both aligned to the PMD
// size; each fault is served by one UFFDIO_MOVE of the whole 2 MiB chunk containing it, so the
// faults count equals the number of chunks although every page is read. src reads zero after.
const fs = require('fs');
const { u, main } = require('./common');

function anonHugeKb(address) {
  // AnonHugePages of the VMA starting at `address` in /proc/self/smaps.
  const text = fs.readFileSync('/proc/self/smaps', 'utf8');
  const start = address.toString(16).padStart(8, '0');
  const at = text.search(new RegExp(`^0*${start}-`, 'm'));
  if (at < 0) return -1;
  const m = /AnonHugePages:\s+(\d+) kB/.exec(text.slice(at));
  return m ? Number(m[1]) : -1;
}

main(async () => {
  const ps = u.pageSize;
  const pmd = 2 * 1024 * 1024;
  const chunks = 4;
  const len = chunks * pmd;
  const uffd = u.Userfaultfd.open({ features: ['threadId', 'move'] });
  const src = u.Mapping.anonymous(len, { hugepage: true });
  const dst = u.Mapping.anonymous(len, { hugepage: true });
  const sb = new Uint8Array(src.buffer);
  for (let c = 0; c < chunks; c++) sb.fill(c + 1, c * pmd, (c + 1) * pmd);
  const srcThpKb = anonHugeKb(src.address);
  uffd.register(dst.address, len);

  const touched = u.touch(dst.address, len); // one read per page, on a native thread
  let faults = 0;
  let moved = 0;
  for await (const ev of uffd.events()) {
    faults++;
    const chunk = ev.address - ((ev.address - dst.address) % pmd);
    moved += uffd.completeMove(chunk, src.address + (chunk - dst.address), pmd);
    if (moved === len) break;
  }
  const t = await touched;
  const srcSum = sb.reduce((a, b) => a + b, 0);
  const moveEmulated = uffd.moveEmulated;
  uffd.close();
  return {
    moveEmulated,
    alignedDst: dst.address % pmd === 0,
    alignedSrc: src.address % pmd === 0,
    faults,
    chunks,
    accesses: t.accesses,
    pages: len / ps,
    sum: t.sum,
    expectedSum: (pmd / ps) * ((chunks * (chunks + 1)) / 2),
    srcSum,
    srcThpKb,
  };
});
