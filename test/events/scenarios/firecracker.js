'use strict';
// Firecracker's snapshot-restore handshake against a small C peer playing the VMM
// (test/events/peers/fc-vmm.c, built by the test with `cc`): we listen on a Unix socket with
// net.createServer({ pauseOnConnect: true }) so Node never reads the connection, receive the
// handshake (JSON regions + the uffd) with receiveFirecrackerHandshake on the socket's fd, and
// serve the VMM's faults from the snapshot file with serveGuestMemory. The peer checks every
// byte, removes a page (REMOVE event) and checks it then reads zero.
// argv[2]: the compiled peer; argv[3]: a scratch directory.
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const path = require('path');
const { u, main } = require('./common');

main(async () => {
  const [peer, dir] = process.argv.slice(2);
  const ps = u.pageSize;
  const snapshotPath = path.join(dir, 'mem.snap');
  const snapshot = Buffer.alloc(12 * ps);
  for (let o = 0; o < snapshot.length; o++)
    snapshot[o] = (o * 7 + Math.floor(o / ps) * 13 + 1) & 0xff;
  fs.writeFileSync(snapshotPath, snapshot);
  const sockPath = path.join(dir, 'uffd.sock');
  try {
    fs.unlinkSync(sockPath);
  } catch {
    // not there
  }
  const connected = new Promise((resolve) => {
    const srv = net.createServer({ pauseOnConnect: true }, (sock) => {
      srv.close();
      resolve(sock);
    });
    srv.listen(sockPath);
  });
  await new Promise((r) => setImmediate(r));
  const vmm = spawn(peer, [sockPath, snapshotPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let vmmOut = '';
  vmm.stdout.on('data', (d) => (vmmOut += d));
  vmm.stderr.on('data', (d) => (vmmOut += d));
  const exited = new Promise((r) => vmm.on('exit', (code, signal) => r({ code, signal })));

  const sock = await connected;
  const hs = await u.receiveFirecrackerHandshake(sock, {
    timeout: 10000,
    features: ['eventRemove'],
  });
  const server = u.serveGuestMemory(hs, snapshot);
  const { code, signal } = await exited;
  await server.stop();
  hs.uffd.close();
  sock.destroy();
  return {
    regions: hs.mappings.map((m) => ({
      size: m.size / ps,
      offset: m.offset / ps,
      page: m.page_size === ps,
    })),
    vmm: vmmOut.trim(),
    code,
    signal,
    stats: server.stats,
  };
});
