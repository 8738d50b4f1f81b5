'use strict';
// Postcopy live migration, in miniature. A source process holds a memory image and serves its
// pages over TCP on 127.0.0.1. The destination (this process) starts running at once on empty
// memory registered with a userfaultfd: a worker thread, the "guest", reads pages in random
// order and faults; each fault is requested from the source on an urgent connection, while a
// background connection prefetches everything else in order (like QEMU's postcopy-preempt
// channel). At the end every byte is compared with the source's SHA-256.
//
//   node examples/postcopy-migration.js [pages=4096]
const { createHash } = require('crypto');
const { fork } = require('child_process');
const net = require('net');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const { Userfaultfd, Mapping, UffdError, pageSize } = require('userfaultfd');

const HEADER = 8; // request and reply header: [u32 first page][u32 page count]
const SEED = 0x5eed;

/** Page `i` of the image: a xorshift32 stream seeded by the page number (cheap to re-derive). */
function fillPage(bytes, i) {
  let x = (SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0 || 1;
  for (let j = 0; j < bytes.length; j += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[j] = x & 0xff;
    bytes[j + 1] = (x >>> 8) & 0xff;
    bytes[j + 2] = (x >>> 16) & 0xff;
    bytes[j + 3] = x >>> 24;
  }
}

/** Splits a byte stream into [header, payload] frames of `payloadSize(header)` bytes. */
function frames(socket, payloadSize, onFrame) {
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (buf.length < HEADER) return;
      const first = buf.readUInt32LE(0);
      const count = buf.readUInt32LE(4);
      const need = HEADER + payloadSize(count);
      if (buf.length < need) return;
      onFrame(first, count, buf.subarray(HEADER, need));
      buf = buf.subarray(need);
    }
  });
}

if (process.argv[2] === '--source') {
  // The source: the image in ordinary memory, served to whoever connects.
  const pages = Number(process.argv[3]);
  const image = Buffer.alloc(pages * pageSize);
  for (let i = 0; i < pages; i++) fillPage(image.subarray(i * pageSize, (i + 1) * pageSize), i);
  const sha256 = createHash('sha256').update(image).digest('hex');
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    frames(
      socket,
      () => 0,
      (first, count) => {
        const header = Buffer.alloc(HEADER);
        header.writeUInt32LE(first, 0);
        header.writeUInt32LE(count, 4);
        socket.write(header);
        socket.write(image.subarray(first * pageSize, (first + count) * pageSize));
      },
    );
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port, sha256 }));
  process.on('disconnect', () => process.exit(0));
} else if (!isMainThread) {
  // The guest: reads every page once, in random order, and checks its bytes. A page that has
  // not arrived yet faults; the time of that first touch is the fault latency.
  const { address, length } = workerData;
  const mem = new Uint8Array(Mapping.attach(address, length).buffer);
  // Wait for the go (it comes when the worker is up, so the race starts at once).
  const go = new Int32Array(workerData.go);
  Atomics.wait(go, 0, 0);
  const pages = length / pageSize;
  const order = [...Array(pages).keys()];
  for (let i = pages - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const expected = new Uint8Array(pageSize);
  const latencies = [];
  let bad = 0;
  for (const p of order.slice(0, Math.min(pages, 512))) {
    const t = process.hrtime.bigint();
    const first = mem[p * pageSize]; // the first touch: faults if the page is not here yet
    latencies.push(Number(process.hrtime.bigint() - t) / 1e3);
    fillPage(expected, p);
    const page = mem.subarray(p * pageSize, (p + 1) * pageSize);
    if (first !== expected[0] || Buffer.compare(page, expected) !== 0) bad++;
  }
  parentPort.postMessage({ bad, latencies });
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

async function main() {
  const pages = Number(process.argv[2] ?? 4096);
  const source = fork(__filename, ['--source', String(pages)]);
  const { port, sha256 } = await new Promise((resolve) => source.once('message', resolve));

  const mem = Mapping.anonymous(pages * pageSize);
  const uffd = Userfaultfd.open();
  uffd.register(mem.address, mem.length, { missing: true });

  const present = new Uint8Array(pages);
  let arrived = 0;
  let onDemand = 0;
  let duplicates = 0;
  let allHere;
  const complete = new Promise((resolve) => (allHere = resolve));

  // Places the pages of a reply. A page that is already here (it came on the other connection)
  // is skipped; a contiguous run of missing pages is placed with one UFFDIO_COPY, which also
  // wakes the threads waiting for them.
  const place = (first, count, data) => {
    let i = 0;
    while (i < count) {
      if (present[first + i]) {
        duplicates++;
        i++;
        continue;
      }
      let n = 1;
      while (i + n < count && !present[first + i + n]) n++;
      const dst = mem.address + (first + i) * pageSize;
      try {
        // completeCopy retries a partial COPY (EAGAIN with bytesDone > 0) until the run is done
        // or a real error comes back.
        uffd.completeCopy(dst, data.subarray(i * pageSize, (i + n) * pageSize), n * pageSize);
      } catch (e) {
        if (!(e instanceof UffdError) || e.code !== 'EEXIST') throw e;
        // A page of the run is already there (the kernel stops at it): place the rest of the run
        // page by page. EEXIST does not wake (spec §2.6), so wake each page that was there.
        for (let j = e.bytesDone / pageSize; j < n; j++) {
          const at = dst + j * pageSize;
          const bytes = data.subarray((i + j) * pageSize, (i + j + 1) * pageSize);
          try {
            uffd.copy(at, bytes, pageSize);
          } catch (e2) {
            if (!(e2 instanceof UffdError) || e2.code !== 'EEXIST') throw e2;
            uffd.wake(at, pageSize);
          }
        }
      }
      present.fill(1, first + i, first + i + n);
      arrived += n;
      i += n;
    }
    if (arrived === pages) allHere();
  };

  const connect = () =>
    new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.setNoDelay(true);
      s.once('error', reject);
    });
  const request = (socket, first, count) => {
    const h = Buffer.alloc(HEADER);
    h.writeUInt32LE(first, 0);
    h.writeUInt32LE(count, 4);
    socket.write(h);
  };
  const urgent = await connect();
  const background = await connect();
  frames(urgent, (count) => count * pageSize, place);

  // Background prefetch: one request of 16 pages in flight at a time, in page order, skipping
  // what is already here (a real migration also caps this channel's bandwidth).
  const CHUNK = 16;
  let next = 0;
  const prefetch = () => {
    while (next < pages && present[next]) next++;
    if (next >= pages) return;
    const count = Math.min(CHUNK, pages - next);
    request(background, next, count);
    next += count;
  };
  frames(
    background,
    (count) => count * pageSize,
    (first, count, data) => {
      place(first, count, data);
      prefetch();
    },
  );

  // The guest starts now, on empty memory.
  const go = new Int32Array(new SharedArrayBuffer(4));
  const guest = new Worker(__filename, {
    workerData: { address: mem.address, length: mem.length, go: go.buffer },
  });
  await new Promise((resolve) => guest.once('online', resolve));
  Atomics.store(go, 0, 1);
  Atomics.notify(go, 0);
  const guestDone = new Promise((resolve, reject) => {
    guest.once('message', resolve);
    guest.once('error', reject);
  });
  const t0 = process.hrtime.bigint();
  prefetch();

  // Faults: ask for the page on the urgent connection (once), unless it is here already.
  const asked = new Uint8Array(pages);
  const served = (async () => {
    for await (const ev of uffd.events()) {
      if (ev.type !== 'pagefault') continue;
      const p = Math.floor((ev.address - mem.address) / pageSize);
      if (present[p]) uffd.wake(mem.address + p * pageSize, pageSize);
      else if (!asked[p]) {
        asked[p] = 1;
        onDemand++;
        request(urgent, p, 1);
      }
    }
  })();

  const [result] = await Promise.all([guestDone, complete]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  uffd.close();
  await served;
  urgent.destroy();
  background.destroy();
  source.disconnect();

  // Every page is here, so this thread may read the memory: compare every byte.
  const digest = createHash('sha256').update(new Uint8Array(mem.buffer)).digest('hex');
  mem.unmap();
  const lat = result.latencies.sort((a, b) => a - b);
  const pct = (q) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))].toFixed(0);
  console.log(
    `migrated ${pages} pages (${(pages * pageSize) / 1048576} MiB) in ${ms.toFixed(0)} ms: ` +
      `${onDemand} faults requested on demand, ${pages - onDemand} pages prefetched ` +
      `(${duplicates} arrived twice)`,
  );
  console.log(
    `guest first-touch latency over ${lat.length} random pages: median ${pct(0.5)} us, ` +
      `p99 ${pct(0.99)} us; ${result.bad} bad pages`,
  );
  if (digest !== sha256 || result.bad !== 0) {
    console.error(`FAILED: sha256 ${digest} != source ${sha256}, or bad pages`);
    process.exit(1);
  }
  console.log(`ok: every byte matches the source (sha256 ${digest.slice(0, 16)}...)`);
}
