'use strict';
// End-to-end checks of the INSTALLED package on whatever kernel runs it: the QEMU guests of
// `npm run test:kernels` (x86_64 6.1 without MOVE, arm64 6.12 with 4K and 16K pages, ...) and the
// compiler-free install of `npm run test:pack`. Plain JS with node:assert, no test framework, so
// it runs anywhere a bare `node` does.
//
// It requires 'userfaultfd' as a user would (resolved from the working directory's
// node_modules; run it from OUTSIDE the repo, where the package's self-reference would win), and
// exercises the real API: probe, the page size (from the auxiliary vector, never 4096 by
// assumption), open, register, COPY/ZEROPAGE/MOVE (or MOVE's absence), faults raised on a native
// thread and in a worker and served from the event stream.
//
// Expectations come from the environment (the host puts them on the guest's kernel command line):
//   UFFD_EXPECT_PAGESIZE=16384   UFFD_EXPECT_MOVE=0|1   UFFD_EXPECT_PREBUILD=1
// Output: one "ok N - name" / "not ok N - name" line per check, then one line
//   SMOKE {"pass":..,"fail":..,"pageSize":..,"features":[..],"kernel":..,"addon":..}
// and exit status 1 if any check failed.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker } = require('node:worker_threads');

const pkgJson = require.resolve('userfaultfd/package.json', { paths: [process.cwd()] });
const pkgDir = path.dirname(pkgJson);
const uffdPkg = require(pkgDir);
const { Userfaultfd, Mapping, UffdError, probe, touch, readMemory } = uffdPkg;

const expectPageSize = process.env.UFFD_EXPECT_PAGESIZE
  ? Number(process.env.UFFD_EXPECT_PAGESIZE)
  : undefined;
const expectMove =
  process.env.UFFD_EXPECT_MOVE === undefined ? undefined : process.env.UFFD_EXPECT_MOVE === '1';
const expectPrebuild = process.env.UFFD_EXPECT_PREBUILD === '1';
// A check stuck longer than this is a failure (TCG guests are 3-10x slower than the host).
const CHECK_TIMEOUT_MS = Number(process.env.UFFD_CHECK_TIMEOUT_MS || 60000);

const results = [];
async function check(name, fn) {
  let timer;
  try {
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)),
        CHECK_TIMEOUT_MS,
      );
    });
    const detail = await Promise.race([fn(), timeout]);
    results.push({ name, ok: true });
    console.log(`ok ${results.length} - ${name}${detail ? ` (${detail})` : ''}`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`not ok ${results.length} - ${name}`);
    console.log(`  ${String(e && e.stack ? e.stack : e).replace(/\n/g, '\n  ')}`);
  } finally {
    clearTimeout(timer);
  }
}

/** AT_PAGESZ (6) from /proc/self/auxv: the page size the kernel told this process at exec. */
function auxvPageSize() {
  const auxv = fs.readFileSync('/proc/self/auxv');
  for (let off = 0; off + 16 <= auxv.length; off += 16) {
    const type = auxv.readBigUInt64LE(off);
    if (type === 6n) return Number(auxv.readBigUInt64LE(off + 8));
    if (type === 0n) break;
  }
  throw new Error('AT_PAGESZ not in /proc/self/auxv');
}

/** Resolves every missing-page fault from `stream` with `serve(event)` until `count` served. */
async function serveFaults(iterator, count, serve) {
  const events = [];
  while (events.length < count) {
    const { value, done } = await iterator.next();
    if (done) throw new Error(`event stream ended after ${events.length} of ${count} faults`);
    if (value.type !== 'pagefault') throw new Error(`unexpected event ${value.type}`);
    events.push(value);
    serve(value);
  }
  return events;
}

/**
 * MOVE round trip on `u`: 2 pages into a registered range; dst gets the bytes, src reads zero
 * afterwards, and a MOVE onto a populated dst page is EEXIST.
 */
async function moveRoundTrip(u) {
  const ps = uffdPkg.pageSize;
  const dst = Mapping.anonymous(4 * ps);
  const src = Mapping.anonymous(2 * ps);
  try {
    u.register(dst.address, dst.length);
    const data = pattern(2 * ps, 7);
    Buffer.from(src.buffer).set(data);
    assert.equal(u.move(dst.address, src.address, 2 * ps), 2 * ps);
    assert.deepEqual(Buffer.from(await readMemory(dst.address, 2 * ps)), data);
    const after = await readMemory(src.address, 2 * ps);
    assert.ok(
      after.every((b) => b === 0),
      'src reads zero after the move',
    );
    Buffer.from(src.buffer).fill(9);
    assert.throws(
      () => u.move(dst.address + ps, src.address, ps),
      (e) => e instanceof UffdError && e.code === 'EEXIST',
    );
    u.unregister(dst.address, dst.length);
  } finally {
    dst.unmap();
    src.unmap();
  }
}

function pattern(len, seed) {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

async function main() {
  const info = probe();
  const ps = uffdPkg.pageSize;
  let addon = '';
  const summary = () => ({
    pass: results.filter((r) => r.ok).length,
    fail: results.filter((r) => !r.ok).length,
    pageSize: ps,
    features: info.features,
    kernel: os.release(),
    arch: process.arch,
    addon,
    failed: results.filter((r) => !r.ok).map((r) => r.name),
  });
  console.log(
    `# ${os.release()} ${process.arch} node ${process.version} page size ${ps}; ` +
      `features: ${info.features.join(' ') || '(none)'}`,
  );

  await check('the addon loads from the installed package', () => {
    const ngb = require(require.resolve('node-gyp-build', { paths: [pkgDir] }));
    addon = path.relative(pkgDir, ngb.path(pkgDir));
    if (expectPrebuild) {
      assert.match(addon, new RegExp(`^prebuilds/linux-${process.arch}/`));
    }
    return addon;
  });

  await check('page size comes from the kernel, not from a constant', () => {
    const aux = auxvPageSize();
    assert.equal(ps, aux, 'pageSize export vs AT_PAGESZ');
    assert.equal(uffdPkg.mm.systemPageSize(), aux, 'mm.systemPageSize() vs AT_PAGESZ');
    if (expectPageSize !== undefined) assert.equal(aux, expectPageSize, 'guest page size');
    return `${aux}`;
  });

  await check('without the addon, pageSize still comes from the kernel', () => {
    // USERFAULTFD_ADDON_DIR pointing nowhere makes the addon unloadable, as on a platform with
    // no prebuild and no compiler: the package must still report the real page size.
    const out = require('node:child_process').execFileSync(
      process.execPath,
      ['-e', `const u = require(${JSON.stringify(pkgDir)}); console.log(u.pageSize)`],
      { env: { ...process.env, USERFAULTFD_ADDON_DIR: '/nonexistent' }, encoding: 'utf8' },
    );
    assert.equal(Number(out.trim()), auxvPageSize());
  });

  await check('probe() finds a working open path and reads the features', () => {
    assert.equal(info.available, true, `probe: ${JSON.stringify(info)}`);
    assert.ok(info.features.includes('missingShmem'));
    if (expectMove !== undefined) {
      assert.equal(info.features.includes('move'), expectMove, `'move' in probe().features`);
    }
    return info.via;
  });

  const hasMove = info.features.includes('move');
  const uffd = Userfaultfd.open();
  const dst = Mapping.anonymous(8 * ps);

  await check('register reports the ioctls the range allows', () => {
    const ioctls = uffd.register(dst.address, dst.length);
    for (const n of ['copy', 'zeropage', 'wake']) assert.ok(ioctls.has(n), n);
    if (uffd.moveEmulated !== true) assert.equal(ioctls.has('move'), hasMove, 'move ioctl bit');
    return [...ioctls].join(' ');
  });

  await check('register of a range that is not page-aligned is EINVAL', () => {
    const half = ps / 2; // 2048 / 8192 / 32768: unaligned on every page size
    assert.throws(
      () => uffd.register(dst.address + half, ps),
      (e) => e instanceof UffdError && e.code === 'EINVAL',
    );
    if (ps > 4096) {
      // 4096-aligned but not page-aligned: what a 4K assumption would get wrong
      assert.throws(
        () => uffd.register(dst.address + 4096, ps),
        (e) => e instanceof UffdError && e.code === 'EINVAL',
      );
    }
  });

  const page0 = pattern(ps, 1);
  await check('COPY fills a missing page; a second COPY is EEXIST', async () => {
    assert.equal(uffd.copy(dst.address, page0, ps), ps);
    assert.throws(
      () => uffd.copy(dst.address, page0, ps),
      (e) => e instanceof UffdError && e.code === 'EEXIST' && e.bytesDone === 0,
    );
    assert.deepEqual(Buffer.from(await readMemory(dst.address, ps)), page0);
  });

  await check('ZEROPAGE maps zeroes', async () => {
    assert.equal(uffd.zeropage(dst.address + ps, ps), ps);
    const back = await readMemory(dst.address + ps, ps);
    assert.ok(back.every((b) => b === 0));
  });

  // MOVE: the kernel's where it has UFFD_FEATURE_MOVE; elsewhere the package's emulation
  // (COPY + MADV_DONTNEED, `moveEmulation` option, on by default where the kernel lacks MOVE)
  // once the package has it, else the kernel's own refusal.
  const emulationApi = typeof uffd.moveEmulated === 'boolean';
  const canMove = hasMove || uffd.moveEmulated === true;
  if (emulationApi) {
    await check('MOVE is emulated exactly where the kernel lacks it', () => {
      assert.equal(uffd.moveEmulated, !hasMove);
      return uffd.moveEmulated ? 'emulated' : 'kernel';
    });
  }
  if (canMove) {
    await check(`MOVE moves pages (${hasMove ? 'kernel' : 'emulated'})`, () => moveRoundTrip(uffd));
  }
  if (hasMove && emulationApi) {
    await check('the MOVE emulation forced on a MOVE kernel behaves the same', async () => {
      const em = Userfaultfd.open({ moveEmulation: 'always' });
      try {
        assert.equal(em.moveEmulated, true);
        await moveRoundTrip(em);
      } finally {
        em.close();
      }
    });
  }
  if (!hasMove) {
    await check('without UFFD_FEATURE_MOVE the kernel refuses UFFDIO_MOVE', () => {
      const raw = emulationApi ? Userfaultfd.open({ moveEmulation: 'never' }) : uffd;
      const d = Mapping.anonymous(ps);
      const src = Mapping.anonymous(ps);
      try {
        if (raw !== uffd) raw.register(d.address, ps);
        else uffd.register(d.address, ps);
        Buffer.from(src.buffer).fill(3);
        // fs/userfaultfd.c: an ioctl the kernel does not know falls through to -EINVAL
        assert.throws(
          () => raw.move(d.address, src.address, ps),
          (e) => e instanceof UffdError && e.code === 'EINVAL',
        );
      } finally {
        if (raw !== uffd) raw.close();
        else uffd.unregister(d.address, ps);
        d.unmap();
        src.unmap();
      }
    });
  }

  await check('faults on a native thread are served from the event stream', async () => {
    const m = Mapping.anonymous(4 * ps);
    uffd.register(m.address, m.length);
    const it = uffd.events();
    const scratch = canMove ? Mapping.anonymous(ps) : undefined;
    const touching = touch(m.address, m.length); // one read per page, on a native thread
    const events = await serveFaults(it, 4, (ev) => {
      const page = (ev.address - m.address) / ps;
      assert.ok(Number.isInteger(page) && page >= 0 && page < 4, `fault at ${ev.address}`);
      assert.equal(ev.kind, 'missing');
      const fill = Buffer.alloc(ps, page + 1);
      if (scratch !== undefined) {
        Buffer.from(scratch.buffer).set(fill); // repopulate the source, then move it in
        uffd.move(ev.address, scratch.address, ps);
      } else {
        uffd.copy(ev.address, fill, ps);
      }
    });
    const r = await touching;
    await it.return();
    assert.equal(r.accesses, 4);
    assert.equal(r.sum, 1 + 2 + 3 + 4);
    if (uffd.features.has('threadId')) {
      for (const ev of events) assert.equal(ev.threadId, r.threadId);
    }
    uffd.unregister(m.address, m.length);
    scratch?.unmap();
    m.unmap();
    return `${events.length} faults, served by ${scratch ? 'MOVE' : 'COPY'}`;
  });

  await check('a write fault reports write=true; ZEROPAGE then lets the write land', async () => {
    const m = Mapping.anonymous(ps);
    uffd.register(m.address, m.length);
    const it = uffd.events();
    const writing = touch(m.address + ps - 1, 1, { write: true, value: 0x5a });
    const [ev] = await serveFaults(it, 1, (e) => uffd.zeropage(e.address, ps));
    await writing;
    await it.return();
    assert.equal(ev.write, true);
    assert.equal(ev.address, m.address); // page-aligned without exactAddress
    const back = await readMemory(m.address, ps);
    assert.equal(back[ps - 1], 0x5a);
    assert.equal(back[0], 0);
    uffd.unregister(m.address, m.length);
    m.unmap();
  });

  await check('a fault raised in a worker thread is served on the main thread', async () => {
    const m = Mapping.anonymous(2 * ps);
    uffd.register(m.address, m.length);
    const it = uffd.events();
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const { Mapping } = require(workerData.pkg);
       const v = new Uint8Array(Mapping.attach(workerData.addr, workerData.len).buffer);
       parentPort.postMessage(v[0] + v[workerData.ps]);`,
      { eval: true, workerData: { pkg: pkgDir, addr: m.address, len: m.length, ps } },
    );
    const sum = new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await serveFaults(it, 2, (ev) => uffd.copy(ev.address, Buffer.alloc(ps, 20), ps));
    assert.equal(await sum, 40);
    await it.return();
    await worker.terminate();
    uffd.unregister(m.address, m.length);
    m.unmap();
  });

  await check('close() releases the fd; later calls throw', () => {
    uffd.unregister(dst.address, dst.length);
    uffd.close();
    assert.equal(uffd.closed, true);
    assert.throws(() => uffd.register(dst.address, ps));
    dst.unmap();
  });

  const s = summary();
  console.log(`SMOKE ${JSON.stringify(s)}`);
  process.exitCode = s.fail === 0 ? 0 : 1;
}

main().catch((e) => {
  console.log(`not ok - smoke aborted: ${e && e.stack ? e.stack : e}`);
  console.log(`SMOKE ${JSON.stringify({ pass: 0, fail: 1, aborted: String(e) })}`);
  process.exitCode = 1;
});
