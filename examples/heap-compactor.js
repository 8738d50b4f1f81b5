'use strict';
// Heap compactor: worker threads read and write objects in an arena while the main thread
// compacts the live pages into a fresh arena. The fresh arena is registered with a userfaultfd,
// so a worker that reaches an object before the compactor has moved its page faults, and the
// main thread moves that page first (on demand) while it keeps compacting in the background.
// Done twice: with UFFDIO_MOVE (the page changes owner, no copy) and with UFFDIO_COPY.
//
//   node examples/heap-compactor.js [arenaPages=2048] [workers=2]
//
// The JS main thread never touches the fresh arena before it is complete (THE rule: it serves
// the faults). Workers may: their faults are served by the main thread.
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const { Userfaultfd, Mapping, UffdError, pageSize } = require('userfaultfd');

const OBJ = 256; // bytes per object: [u32 id][u32 version][payload...]
const PER_PAGE = pageSize / OBJ;

/** The payload byte of object `id` at `version`: verifiable from the header alone. */
const payload = (id, version, i) => (id * 7 + version * 13 + i) & 0xff;

function writeObject(view, off, id, version) {
  view.setUint32(off, id, true);
  view.setUint32(off + 4, version, true);
  for (let i = 8; i < OBJ; i++) view.setUint8(off + i, payload(id, version, i));
}

function checkObject(view, off, id) {
  if (view.getUint32(off, true) !== id) return -1;
  const version = view.getUint32(off + 4, true);
  for (let i = 8; i < OBJ; i += 31)
    if (view.getUint8(off + i) !== payload(id, version, i)) return -1;
  return version;
}

if (!isMainThread) {
  // A mutator: for each of its pages of the fresh arena, check every object and write a new
  // version of it. The first access to a page that is not there yet faults.
  const { address, length, pages, rounds } = workerData;
  const arena = Mapping.attach(address, length);
  const view = new DataView(arena.buffer);
  parentPort.once('message', () => {
    let bad = 0;
    let updates = 0;
    for (let r = 0; r < rounds; r++) {
      for (const p of pages) {
        for (let o = 0; o < PER_PAGE; o++) {
          const off = p.to * pageSize + o * OBJ;
          const id = p.from * PER_PAGE + o;
          const v = checkObject(view, off, id);
          if (v < 0) bad++;
          else {
            writeObject(view, off, id, v + 1);
            updates++;
          }
        }
      }
    }
    arena.unmap();
    parentPort.postMessage({ bad, updates });
  });
  parentPort.postMessage('ready');
  return;
}

async function compact(kind, arenaPages, workers) {
  // The old arena: every page full of objects; every other page is garbage (dead objects).
  const old = Mapping.anonymous(arenaPages * pageSize);
  const oldView = new DataView(old.buffer);
  const live = [];
  for (let p = 0; p < arenaPages; p++) {
    for (let o = 0; o < PER_PAGE; o++)
      writeObject(oldView, p * pageSize + o * OBJ, p * PER_PAGE + o, 1);
    if (p % 2 === 0) live.push(p);
  }
  // The forwarding table: live page `from` goes to page `to` of the fresh arena.
  const forward = live.map((from, to) => ({ from, to }));
  const fresh = Mapping.anonymous(forward.length * pageSize);
  const uffd = Userfaultfd.open();
  uffd.register(fresh.address, fresh.length, { missing: true });

  const done = new Uint8Array(forward.length); // pages already in the fresh arena
  let onDemand = 0;
  let raced = 0;
  let ioctlNs = 0n; // time inside the MOVE/COPY ioctls alone
  // Moves (or copies) one page into the fresh arena. EEXIST: the other path got there first
  // (the kernel has woken the faulting threads already); the wake below is harmless then.
  const place = (to) => {
    if (done[to]) return;
    done[to] = 1;
    const dst = fresh.address + to * pageSize;
    const src = old.address + forward[to].from * pageSize;
    const t = process.hrtime.bigint();
    try {
      if (kind === 'MOVE') uffd.move(dst, src, pageSize);
      else uffd.copy(dst, src, pageSize);
      ioctlNs += process.hrtime.bigint() - t;
    } catch (e) {
      if (!(e instanceof UffdError) || e.code !== 'EEXIST') throw e;
      raced++;
      uffd.wake(dst, pageSize);
    }
  };

  // Fault service: runs on this thread, interleaved with the compaction loop below.
  const served = (async () => {
    for await (const ev of uffd.events()) {
      if (ev.type !== 'pagefault') continue;
      const to = Math.floor((ev.address - fresh.address) / pageSize);
      if (done[to]) {
        uffd.wake(fresh.address + to * pageSize, pageSize); // placed meanwhile: already woken
      } else {
        onDemand++;
        place(to);
      }
    }
  })();

  // The mutators work on the fresh arena from its start; the compactor fills it from its end,
  // so the mutators' first accesses fault until the two meet.
  const rounds = 2;
  const threads = [];
  for (let w = 0; w < workers; w++) {
    const pages = forward.filter((_, i) => i % workers === w);
    const t = new Worker(__filename, {
      workerData: { address: fresh.address, length: fresh.length, pages, rounds },
    });
    await new Promise((resolve, reject) => {
      t.once('message', resolve);
      t.once('error', reject);
    });
    threads.push(t);
  }
  const results = threads.map(
    (t) =>
      new Promise((resolve, reject) => {
        t.once('message', resolve);
        t.once('error', reject);
      }),
  );
  for (const t of threads) t.postMessage('go');

  // Background compaction, in chunks, yielding so that faults are served in between.
  const t0 = process.hrtime.bigint();
  for (let to = forward.length - 1; to >= 0; to--) {
    place(to);
    if (to % 16 === 0) await new Promise(setImmediate);
  }
  const compactMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const stats = await Promise.all(results);
  uffd.close();
  await served;

  // Every page is in now, so this thread may read the fresh arena: each object must be intact
  // at version 1 + rounds (written once before compaction, then once per round by its worker).
  const view = new DataView(fresh.buffer);
  let wrong = 0;
  for (const { from, to } of forward) {
    for (let o = 0; o < PER_PAGE; o++) {
      if (checkObject(view, to * pageSize + o * OBJ, from * PER_PAGE + o) !== 1 + rounds) wrong++;
    }
  }
  const bad = stats.reduce((a, s) => a + s.bad, 0) + wrong;
  // After MOVE the old live pages are gone (read as zero); after COPY they are still there.
  const oldAfter = new DataView(old.buffer).getUint32(live[0] * pageSize + 4, true);
  fresh.unmap();
  old.unmap();
  const ioctlUs = Number(ioctlNs) / 1e3 / forward.length;
  return { kind, pages: forward.length, compactMs, ioctlUs, onDemand, raced, bad, oldAfter };
}

async function main() {
  const arenaPages = Number(process.argv[2] ?? 2048);
  const workers = Number(process.argv[3] ?? 2);
  const probeUffd = Userfaultfd.open();
  const kinds = probeUffd.features.has('move') ? ['MOVE', 'COPY'] : ['COPY'];
  probeUffd.close();
  if (kinds.length === 1) console.log('UFFDIO_MOVE is not available (Linux < 6.8): COPY only');
  let failed = false;
  for (const kind of kinds) {
    const r = await compact(kind, arenaPages, workers);
    console.log(
      `${kind}: compacted ${r.pages} live pages of ${arenaPages} in ${r.compactMs.toFixed(1)} ms ` +
        `with the mutators running; ${r.ioctlUs.toFixed(2)} us per page inside the ioctl; ` +
        `${r.onDemand} faults served on demand, ` +
        `old live page after: ${r.oldAfter === 0 ? 'empty (moved)' : 'still there (copied)'}, ` +
        `${r.bad} bad objects`,
    );
    if (r.bad !== 0) failed = true;
  }
  if (failed) {
    console.error('FAILED: objects were damaged');
    process.exit(1);
  }
  console.log('ok: every object intact after compaction');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
