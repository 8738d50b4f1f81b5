'use strict';
// pidfd_getfd(2): the child (pidfd-child.js) opens a uffd and registers memory, and tells us its
// pid, the fd number and the address on stdout. We take a copy of its fd with pidfdGetfd (root,
// or same user without Yama ptrace restrictions) and serve its faults with ZEROPAGE/COPY while
// its JS thread reads the memory.
const { spawn } = require('child_process');
const path = require('path');
const { u, main } = require('./common');

main(async () => {
  const ps = u.pageSize;
  const child = spawn(process.execPath, [path.join(__dirname, 'pidfd-child.js')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.on('exit', (code) => r(code)));
  let out = '';
  const info = await new Promise((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('INFO '));
      if (line) resolve(JSON.parse(line.slice(5)));
    });
  });
  const fd = u.pidfdGetfd(info.pid, info.fd);
  const uffd = u.Userfaultfd.fromFd(fd, { features: ['threadId'] });
  const server = uffd.serve((ev, { page }) => {
    uffd.copy(page, new Uint8Array(ps).fill(((page - info.address) / ps + 1) & 0xff), ps);
  });
  child.stdin.write('go\n');
  const code = await exited;
  await server.stop();
  uffd.close();
  let denied;
  try {
    u.pidfdGetfd(info.pid, info.fd); // the child is gone
  } catch (e) {
    denied = e.code;
  }
  return {
    code,
    said: out.split('\n').filter((l) => l.startsWith('CHILD')),
    faults: server.stats.faults,
    gone: denied,
  };
});
