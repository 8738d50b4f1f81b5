'use strict';
// A Firecracker-style page-fault handler. When Firecracker restores a microVM snapshot with
// `mem_backend: { backend_type: "Uffd" }`, it maps empty guest memory, registers it with a
// userfaultfd, connects to the handler's Unix socket and sends the uffd (SCM_RIGHTS) with a JSON
// array describing the guest memory regions:
//   [{ "base_host_virt_addr": ..., "size": ..., "offset": ..., "page_size": ... }]
// The handler serves every fault from the snapshot's memory file: page at
// base_host_virt_addr + x comes from the file at offset + x.
//
// Here a peer process plays the VMM: it maps two guest regions, registers them, hands the uffd
// and the mappings to the handler, then "resumes the guest" by reading and writing its memory
// from native threads, and checks every byte against the snapshot file.
//
//   node examples/firecracker-handler.js            (runs both sides)
//
// The handler side is what a real Firecracker handler needs: `receiveFirecrackerHandshake()`
// takes the one message (JSON + the uffd over SCM_RIGHTS) and `serveGuestMemory()` serves the
// faults with UFFDIO_COPY from the snapshot (zero pages after a REMOVE). The VMM side sends the
// same message with `sendFd()`.
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const {
  Userfaultfd,
  Mapping,
  readMemory,
  writeMemory,
  pageSize,
  sendFd,
  receiveFirecrackerHandshake,
  serveGuestMemory,
} = require('userfaultfd');

// ---------------------------------------------------------------------------------- handler
async function handler(socketPath, snapshotPath) {
  // pauseOnConnect: the handshake is read with recvmsg(2) on the socket's fd (the fd comes as
  // ancillary data, which net.Socket would drop), so Node must not read from it first.
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise((resolve) => server.listen(socketPath, resolve));
  console.log('listening'); // the VMM waits for this line
  const socket = await new Promise((resolve) => server.once('connection', resolve));
  server.close();
  const handshake = await receiveFirecrackerHandshake(socket, { timeout: 10000 });

  // The snapshot's memory file. (Firecracker's own example handler maps it; reading it is the
  // same to serveGuestMemory, which copies each page from this buffer with UFFDIO_COPY.)
  const snapshot = fs.readFileSync(snapshotPath);

  const serving = serveGuestMemory(handshake, snapshot, { concurrency: 4 });

  // The VMM closes the socket when the guest is done (Firecracker: when the VM exits).
  socket.resume();
  await new Promise((resolve) => socket.once('close', resolve));
  handshake.uffd.close();
  await serving.done;
  const { faults, eexist, failed } = serving.stats;
  console.log(
    JSON.stringify({ faults, raced: eexist, failed, regions: handshake.mappings.length }),
  );
}

// --------------------------------------------------------------------------------------- VMM
/** Starts the handler and resolves when it listens. */
function startHandler(socketPath, snapshotPath) {
  const child = spawn(process.execPath, [__filename, '--handler', socketPath, snapshotPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = [];
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      child.emit('line', lines[lines.length - 1]);
    }
  });
  const listening = new Promise((resolve, reject) => {
    child.on('line', (l) => l === 'listening' && resolve());
    child.once('exit', (code) => reject(new Error(`handler exited (${code}) before listening`)));
  });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve({ code, lines })));
  return { listening, exited };
}

async function vmm() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uffd-fc-'));
  const socketPath = path.join(dir, 'uffd.sock');
  const snapshotPath = path.join(dir, 'snapshot.mem');
  try {
    // The snapshot's memory file: two regions' worth of recognisable bytes.
    const sizes = [256 * pageSize, 64 * pageSize];
    const snapshot = Buffer.alloc(sizes[0] + sizes[1]);
    for (let i = 0; i < snapshot.length; i += 4) snapshot.writeUInt32LE((i * 2654435761) >>> 0, i);
    fs.writeFileSync(snapshotPath, snapshot);

    // Guest memory: empty, registered, described the way Firecracker describes it.
    const regions = sizes.map((size) => Mapping.anonymous(size));
    const uffd = Userfaultfd.open();
    for (const r of regions) uffd.register(r.address, r.length, { missing: true });
    const mappings = regions.map((r, i) => ({
      base_host_virt_addr: r.address,
      size: r.length,
      offset: i === 0 ? 0 : sizes[0],
      page_size: pageSize,
    }));

    const h = startHandler(socketPath, snapshotPath);
    await h.listening;
    const socket = await new Promise((resolve, reject) => {
      const s = net.connect(socketPath, () => resolve(s));
      s.once('error', reject);
    });
    // Firecracker's one message: the JSON regions with the uffd attached (SCM_RIGHTS).
    await sendFd(socket, uffd, JSON.stringify(mappings));

    // Resume the guest: "vCPUs" (native threads) touch the memory; every first touch faults
    // and the handler serves it. Two read the same region at once; one writes into region 1.
    const [a, b] = await Promise.all([
      readMemory(regions[0].address, regions[0].length),
      readMemory(regions[0].address, regions[0].length),
    ]);
    await writeMemory(regions[1].address + 5 * pageSize + 100, Buffer.from('guest was here'));
    const c = await readMemory(regions[1].address, regions[1].length);
    socket.end();
    const { code, lines } = await h.exited;
    const stats = JSON.parse(lines[lines.length - 1] ?? '{}');

    const expected1 = Buffer.from(snapshot.subarray(sizes[0]));
    Buffer.from('guest was here').copy(expected1, 5 * pageSize + 100);
    const ok =
      code === 0 &&
      Buffer.compare(Buffer.from(a), snapshot.subarray(0, sizes[0])) === 0 &&
      Buffer.compare(Buffer.from(b), snapshot.subarray(0, sizes[0])) === 0 &&
      Buffer.compare(Buffer.from(c), expected1) === 0 &&
      stats.failed === 0 &&
      // Every page was copied exactly once; a second vCPU's fault on it met EEXIST.
      stats.faults - stats.raced === (sizes[0] + sizes[1]) / pageSize;
    console.log(
      `handler served ${stats.faults} faults (${stats.raced} concurrent duplicates) for ` +
        `${stats.regions} regions from ${path.basename(snapshotPath)}; handler exit ${code}`,
    );
    uffd.close();
    for (const r of regions) r.unmap();
    if (!ok) {
      console.error('FAILED: guest memory differs from the snapshot, or faults were missed');
      process.exit(1);
    }
    console.log('ok: every guest byte came from the snapshot file');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const run = process.argv[2] === '--handler' ? handler(process.argv[3], process.argv[4]) : vmm();
run.catch((e) => {
  console.error(e);
  process.exit(1);
});
