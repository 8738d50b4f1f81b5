'use strict';
// Quick start (the same code as in the README): open, map, register, serve faults, move, and
// handle errors. Run: node examples/quick-start.js
const { Userfaultfd, Mapping, UffdError, readMemory, pageSize } = require('userfaultfd');

async function main() {
  // 1. Open a userfaultfd. By default it is UFFD_USER_MODE_ONLY, which needs no privilege.
  let uffd;
  try {
    uffd = Userfaultfd.open();
  } catch (e) {
    if (e instanceof UffdError) {
      console.error(`userfaultfd is not available here (${e.code}): run npx userfaultfd doctor`);
      process.exit(1);
    }
    throw e;
  }

  // 2. Map 4 pages of anonymous memory and register them: nothing is populated yet, so every
  //    first access to a page stops in the kernel until we provide the page.
  const mem = Mapping.anonymous(4 * pageSize);
  uffd.register(mem.address, mem.length, { missing: true });

  // 3. Serve the faults on this (the JS) thread: fill each missing page with its index.
  const served = (async () => {
    for await (const event of uffd.events()) {
      if (event.type !== 'pagefault') continue;
      const index = (event.address - mem.address) / pageSize;
      uffd.copy(event.address, new Uint8Array(pageSize).fill(index + 1), pageSize);
    }
  })();

  // The memory must be touched from another thread (THE rule: the JS thread that serves the
  // faults must never touch a missing registered page). readMemory reads on a native thread.
  const bytes = await readMemory(mem.address, mem.length);
  console.log('page first bytes:', [0, 1, 2, 3].map((i) => bytes[i * pageSize]).join(' '));

  // 4. MOVE (Linux 6.8+): hand a page over into a registered range without copying it.
  if (uffd.features.has('move')) {
    const dst = Mapping.anonymous(pageSize);
    uffd.register(dst.address, dst.length, { missing: true });
    const src = Mapping.anonymous(pageSize); // not registered: the JS thread may write to it
    new Uint8Array(src.buffer).fill(42);
    uffd.move(dst.address, src.address, pageSize);
    // dst's page is present now, so reading it from JS is safe.
    console.log('moved byte:', new Uint8Array(dst.buffer)[0]);
    dst.unmap();
    src.unmap();
  }

  // 5. Errors carry the kernel's verdict: COPY into a page that is already there is EEXIST.
  try {
    uffd.copy(mem.address, new Uint8Array(pageSize), pageSize);
  } catch (e) {
    if (!(e instanceof UffdError) || e.code !== 'EEXIST') throw e;
    console.log(`second copy: ${e.code} (errno ${e.errno}, ${e.request})`);
  }

  uffd.close(); // ends the event loop above
  await served;
  mem.unmap();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
