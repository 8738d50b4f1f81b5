'use strict';
// Lazy file: a file's contents appear in memory page by page, on first touch. The memory is
// anonymous and registered with a userfaultfd; when a thread first touches a page, the handler
// reads that page of the file (pread) and places it with UFFDIO_COPY. Pages nobody touches are
// never read from disk.
//
//   node examples/lazy-file.js [file]     (default: a generated 1 MiB + 1234 byte file)
//
// The reader is a worker thread (the JS main thread serves the faults and must not touch the
// registered memory: THE rule).
const { createHash, randomBytes } = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const { Userfaultfd, Mapping, UffdError, pageSize } = require('userfaultfd');

/** A file mapped lazily: `address`/`size` to read it; `serve(event)` answers its faults. */
class LazyFile {
  constructor(file, uffd) {
    this.fd = fs.openSync(file, 'r');
    this.size = fs.fstatSync(this.fd).size;
    this.mapping = Mapping.anonymous(
      Math.max(pageSize, Math.ceil(this.size / pageSize) * pageSize),
    );
    this.uffd = uffd;
    this.page = Buffer.alloc(pageSize);
    this.loaded = 0;
    uffd.register(this.mapping.address, this.mapping.length, { missing: true });
  }

  get address() {
    return this.mapping.address;
  }

  /** Answers a fault in this file's range: reads the page from the file. False if not ours. */
  serve(event) {
    const off = event.address - this.mapping.address;
    if (off < 0 || off >= this.mapping.length) return false;
    const start = off - (off % pageSize);
    const n = fs.readSync(this.fd, this.page, 0, pageSize, start);
    this.page.fill(0, n); // past the end of the file: zeros, as mmap(2) of a file gives
    try {
      this.uffd.copy(this.mapping.address + start, this.page, pageSize);
      this.loaded++;
    } catch (e) {
      if (!(e instanceof UffdError) || e.code !== 'EEXIST') throw e; // placed meanwhile
    }
    return true;
  }

  close() {
    this.mapping.unmap();
    fs.closeSync(this.fd);
  }
}

if (!isMainThread) {
  // The reader: peeks at three places, then hashes the whole file through the mapping.
  const { address, size } = workerData;
  const bytes = new Uint8Array(
    Mapping.attach(address, Math.ceil(size / pageSize) * pageSize).buffer,
  );
  const peek = [0, Math.floor(size / 2), size - 1].map((o) => bytes[o]);
  parentPort.postMessage({ step: 'peek', peek });
  const sha256 = createHash('sha256').update(bytes.subarray(0, size)).digest('hex');
  parentPort.postMessage({ step: 'hash', sha256 });
  return;
}

async function main() {
  let file = process.argv[2];
  let tmp;
  if (file === undefined) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-lazy-'));
    file = path.join(tmp, 'data.bin');
    fs.writeFileSync(file, randomBytes(1024 * 1024 + 1234));
  }
  const contents = fs.readFileSync(file); // only to check the result
  if (contents.length === 0) {
    console.log(`${file} is empty: nothing to map`);
    return;
  }
  const uffd = Userfaultfd.open();
  const lazy = new LazyFile(file, uffd);
  const pages = lazy.mapping.length / pageSize;
  const served = (async () => {
    for await (const ev of uffd.events()) if (ev.type === 'pagefault') lazy.serve(ev);
  })();

  const reader = new Worker(__filename, { workerData: { address: lazy.address, size: lazy.size } });
  let ok = true;
  await new Promise((resolve, reject) => {
    reader.on('message', (m) => {
      if (m.step === 'peek') {
        const want = [0, Math.floor(lazy.size / 2), lazy.size - 1].map((o) => contents[o]);
        ok &&= m.peek.every((b, i) => b === want[i]);
        console.log(`after reading 3 bytes: ${lazy.loaded} of ${pages} pages loaded from the file`);
      } else {
        const want = createHash('sha256').update(contents).digest('hex');
        ok &&= m.sha256 === want;
        console.log(
          `after hashing it all: ${lazy.loaded} of ${pages} pages loaded; sha256 ` +
            `${m.sha256 === want ? 'matches' : 'DIFFERS from'} the file (${lazy.size} bytes)`,
        );
        resolve();
      }
    });
    reader.once('error', reject);
  });
  uffd.close();
  await served;
  lazy.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  if (!ok) {
    console.error('FAILED: the lazy mapping differs from the file');
    process.exit(1);
  }
  console.log('ok: the file was mapped on first touch');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
