'use strict';
// Two processes over a Unix socket: the child (two-process-child.js) owns the memory: it opens
// a uffd, registers a mapping and sends the uffd with SCM_RIGHTS (sendFd) plus a JSON payload
// over its end of a socketpair (fd 3); then its own JS thread reads the memory, which is
// legitimate because this process serves the faults. We receive the fd (receiveFd), wrap it
// (Userfaultfd.fromFd) and serve with COPY (MOVE cannot cross processes, spec C54).
const { spawn } = require('child_process');
const path = require('path');
const { u, main, pattern } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const [mine, theirs] = u.socketPair();
  const child = spawn(process.execPath, [path.join(__dirname, 'two-process-child.js')], {
    stdio: ['ignore', 'pipe', 'inherit', theirs],
  });
  u.closeFd(theirs);
  let childOut = '';
  child.stdout.on('data', (d) => (childOut += d));
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));

  const msg = await u.receiveFd(mine, { timeout: 10000 });
  const info = JSON.parse(msg.payload.toString());
  const uffd = u.Userfaultfd.fromFd(msg.fd, { features: info.features });
  const server = uffd.serve((ev, { page }) => {
    const i = (page - info.address) / ps;
    const bytes = new Uint8Array(ps);
    for (let j = 0; j < ps; j++) bytes[j] = pattern(i, j);
    uffd.copy(page, bytes, ps);
  });
  const { code, signal } = await exited;
  await server.stop();
  uffd.close();
  u.closeFd(mine);
  return {
    fds: msg.fds.length,
    payloadPages: info.pages,
    via: uffd.via,
    faults: server.stats.faults,
    childCode: code,
    childSignal: signal,
    childSaid: childOut.trim(),
  };
});
