'use strict';
// Native resolvers (no JS on the fault path): each policy serves every page of its range with
// exact counters; faults from a Worker and from native threads; faults outside the ranges and a
// wp fault are forwarded to events(); an unread REMOVE makes the resolver's ioctl fail with
// EAGAIN, it hands the event to JS and retries; stop() gives read(2) back to events(); close()
// stops it.
const { u, main, worker, nextMessage, fillPattern, pattern, wchan, until } = require('./common');

function checkPattern(bytes, firstPage) {
  const ps = u.pageSize;
  for (let k = 0; k < bytes.length; k++) {
    if (bytes[k] !== pattern(firstPage + Math.floor(k / ps), k % ps)) return false;
  }
  return true;
}

main(async () => {
  const ps = u.pageSize;
  const pages = 16;
  const len = pages * ps;
  const out = {};
  const uffd = u.Userfaultfd.open({ features: ['threadId', 'move', 'eventRemove'] });
  const zero = u.Mapping.anonymous(len);
  const copyDst = u.Mapping.anonymous(len);
  const moveDst = u.Mapping.anonymous(len);
  const copySrc = u.Mapping.anonymous(len);
  const moveSrc = u.Mapping.anonymous(len);
  const outside = u.Mapping.anonymous(2 * ps);
  const wp = u.Mapping.anonymous(ps);
  new Uint8Array(wp.buffer).fill(3); // present, then write-protected below
  fillPattern(copySrc, pages, pattern);
  fillPattern(moveSrc, pages, pattern);
  for (const m of [zero, copyDst, moveDst, outside]) uffd.register(m.address, m.length);
  // uffd-wp: not on arm64 before 6.10 (no pagefaultFlagWp): REGISTER(WP) is the kernel's EINVAL
  // there, and the wp part below is left out.
  const hasWp = uffd.availableFeatures.has('pagefaultFlagWp');
  out.wpRegister = null;
  try {
    uffd.register(wp.address, ps, { wp: true });
    uffd.writeProtect(wp.address, ps, true);
  } catch (e) {
    out.wpRegister = e.code;
  }
  const ranges = (movePolicy) => [
    { start: zero.address, len, policy: 'zeropage' },
    { start: copyDst.address, len, policy: 'copy', source: copySrc.address },
    { start: moveDst.address, len, policy: movePolicy, source: moveSrc.address },
    ...(hasWp ? [{ start: wp.address, len: ps, policy: 'zeropage' }] : []), // only missing faults are its own
  ];
  // Before 6.8 move() is emulated in JS, which the resolver thread cannot use: the 'move' policy
  // is refused, and the rest runs with that range on 'copy'.
  out.moveRefused = null;
  let r;
  try {
    r = uffd.startResolver({ ranges: ranges('move') });
  } catch (e) {
    out.moveRefused = e.code;
    r = uffd.startResolver({ ranges: ranges('copy') });
  }
  // zeropage and copy from native threads, move from a Worker reading through its own view.
  const w = worker(
    (u, { address, length }) => {
      const b = new Uint8Array(u.Mapping.attach(address, length).buffer);
      return Array.from(b);
    },
    { address: moveDst.address, length: len },
  );
  const [z, c, mv] = await Promise.all([
    u.touch(zero.address, len),
    u.readMemory(copyDst.address, len),
    nextMessage(w),
  ]);
  await w.terminate();
  out.policies = {
    counters: r.counters(),
    zeroSum: z.sum,
    copyOk: checkPattern(c, 0),
    moveOk: checkPattern(Uint8Array.from(mv), 0),
    copySrcKept: checkPattern(new Uint8Array(copySrc.buffer), 0),
    moveSrcZero: new Uint8Array(moveSrc.buffer).every((b) => b === 0),
  };

  // Forwarded: a fault outside every range, served from JS through events().
  const it = uffd.events();
  const t = u.touch(outside.address, 2 * ps);
  const fwd = [];
  for (let i = 0; i < 2; i++) {
    const ev = (await it.next()).value;
    fwd.push([ev.type, ev.kind, (ev.address - outside.address) / ps]);
    uffd.zeropage(ev.address, ps);
  }
  await t;
  // A wp fault, even inside a range, is not the resolver's: forwarded too.
  if (hasWp) {
    const tw = u.touch(wp.address, ps, { write: true, value: 8 });
    const evw = (await it.next()).value;
    fwd.push([evw.type, evw.kind, evw.write]);
    uffd.writeProtect(wp.address, ps, false);
    await tw;
  }
  out.forwarded = { events: fwd, counters: r.counters(), wpByte: new Uint8Array(wp.buffer)[0] };

  // stop(): JS reads the fd again.
  await r.stop();
  const t2 = u.touch(zero.address, ps); // present now: no fault
  const more = u.Mapping.anonymous(ps);
  uffd.register(more.address, ps);
  const t3 = u.touch(more.address, ps);
  const ev3 = (await it.next()).value;
  uffd.zeropage(ev3.address, ps);
  await Promise.all([t2, t3]);
  out.afterStop = { running: r.running, type: ev3.type, own: ev3.address === more.address };
  await it.return();

  // forward: false: a fault outside the ranges is counted in errors and left asleep; closing
  // the uffd stops the resolver and wakes it (it then reads an ordinary zero page).
  const lone = u.Mapping.anonymous(ps);
  uffd.register(lone.address, ps);
  const r2 = uffd.startResolver({
    ranges: [{ start: zero.address, len, policy: 'zeropage' }],
    forward: false,
  });
  const t4 = u.touch(lone.address, ps);
  await until(() => r2.counters().errors === 1, 'the dropped fault');
  uffd.close();
  const r4 = await t4;
  out.noForward = { counters: r2.counters(), running: r2.running, sum: r4.sum };
  return out;
});
