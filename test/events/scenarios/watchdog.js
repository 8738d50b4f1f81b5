'use strict';
// The JS thread reads a missing page of memory registered with a uffd it serves itself. The
// watchdog must report it loudly (stderr: DEADLOCK, the address, the rule) and, with policy
// 'resolve', un-wedge the thread so the script finishes.
// argv[2]: policy ('report' | 'resolve'); argv[3]: 'resolver' to have a native resolver running
// (the page is outside its ranges, so the resolver forwards the JS thread's fault and reports).
const { u } = require('./common');

const policy = process.argv[2];
u.watchJsThreadFaults({ policy, thresholdMs: 200 });
const ps = u.pageSize;
const uffd = u.Userfaultfd.open(); // threadId is on by default
const m = u.Mapping.anonymous(2 * ps);
uffd.register(m.address, 2 * ps);
if (process.argv[3] === 'resolver') {
  uffd.startResolver({ ranges: [{ start: m.address + ps, len: ps, policy: 'zeropage' }] });
}
console.log(`PAGE 0x${m.address.toString(16)} TID ${u.jsThreadId()}`);
const byte = new Uint8Array(m.buffer)[100]; // the mistake
console.log(`READ ${byte}`);
uffd.close();
