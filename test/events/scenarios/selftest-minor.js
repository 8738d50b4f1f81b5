'use strict';
// uffd-unit-tests.c `minor` (spec §4.2, §3.8): a memfd mapping registered for minor faults, the
// page cache filled (and bit-flipped, as the selftest does) through an unregistered alias; a
// Worker reads every page; each page gives exactly one MINOR fault resolved by UFFDIO_CONTINUE
// (mapped == page size); a second CONTINUE gives EEXIST (-EEXIST in the field).
const { u, main, worker, nextMessage, pattern } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const pages = 8;
  const len = pages * ps;
  const uffd = u.Userfaultfd.open({ features: ['threadId'] });
  const m = u.Mapping.memfd(len);
  const alias = m.alias();
  const ab = new Uint8Array(alias.buffer);
  for (let i = 0; i < pages; i++)
    for (let j = 0; j < ps; j++) ab[i * ps + j] = ~pattern(i, j) & 0xff;
  const ioctls = uffd.register(m.address, len, { minor: true });
  const w = worker(
    (u, { address, length }) => {
      const b = new Uint8Array(u.Mapping.attach(address, length).buffer);
      let sum = 0;
      for (let i = 0; i < length; i += u.pageSize) sum += b[i]; // one read per page
      return { sum, first: Array.from(b.subarray(0, 64)) };
    },
    { address: m.address, length: len },
  );
  const got = nextMessage(w);
  const kinds = new Set();
  let faults = 0;
  const mapped = new Set();
  for await (const ev of uffd.events()) {
    kinds.add(ev.kind);
    faults++;
    mapped.add(uffd.continue(ev.address, ps));
    if (faults === pages) break;
  }
  const { first } = await got;
  await w.terminate();
  let again;
  try {
    uffd.continue(m.address, ps);
  } catch (e) {
    again = { code: e.code, field: e.field };
  }
  const expected = [];
  for (let j = 0; j < 64; j++) expected.push(~pattern(0, j) & 0xff);
  uffd.close();
  return {
    hasContinue: ioctls.has('continue'),
    kinds: [...kinds],
    faults,
    mapped: [...mapped],
    bytesOk: JSON.stringify(first) === JSON.stringify(expected),
    again,
  };
});
