'use strict';
// The fuzzed calls: a fast-check arbitrary of abstract call descriptors (plain data, so a
// failing sequence prints and replays); execute.js resolves a descriptor against the sandbox
// and makes the call. Descriptors name spaces, not addresses (see sandbox.js), and each call
// resolves them with the spaces it may safely act on.
//
// One table of calls serves both backends: an entry marked `only: 'kernel'` needs the real
// process (native threads, fds, Mapping objects, the addon's mm.* and probes) and is not drawn
// for the simulated backend; `only: 'simulated'` entries exist on the simulated target only
// (kept out of the kernel's draw so its sequences, and so its CI seed, stay what they were).
const path = require('path');
const fc = require('fast-check');

/** Thrown by hostile options objects' getters: propagating it is correct, not a bug. */
class Sentinel extends Error {}

const EVENT_FEATURES = ['eventFork', 'eventRemap', 'eventRemove', 'eventUnmap'];
// The package's own lists (lib/features.ts, lib/mm.ts), so a new feature, protection or advice
// is fuzzed too.
const dist = process.env.USERFAULTFD_DIST || path.join(__dirname, '..', '..', 'dist');
const FEATURES = Object.keys(require(path.join(dist, 'features.js')).FEATURE_BITS);
const { PROTS, ADVICES } = require(path.join(dist, 'mm.js'));

/** Values of every wrong kind: types, NaN, negatives, fractions, unsafe and huge integers. */
function junkValues() {
  return [
    undefined,
    null,
    true,
    false,
    '',
    '4096',
    'abc',
    NaN,
    Infinity,
    -Infinity,
    -1,
    -0,
    0.5,
    1e300,
    2 ** 53,
    2 ** 53 + 2,
    2 ** 64,
    -(2 ** 31),
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    -1n,
    2n ** 53n,
    2n ** 63n,
    2n ** 64n,
    2n ** 70n,
    Symbol('junk'),
    [],
    [4096],
    {},
    { valueOf: () => 4096 },
    { toString: () => '4096' },
    () => 4096,
    new Date(0),
    new Uint8Array(4),
    Object.create(null),
    new Map(),
  ];
}
const JUNK_COUNT = junkValues().length;

const junk = fc.oneof(
  { weight: 6, arbitrary: fc.nat(JUNK_COUNT - 1).map((i) => ({ junk: i })) },
  { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 }).map((v) => ({ v })) },
  { weight: 1, arbitrary: fc.double().map((v) => ({ v })) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((v) => ({ v })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }).map((v) => ({ v })) },
);

function junkOf(j) {
  return 'junk' in j ? junkValues()[j.junk] : j.v;
}

/**
 * The call arbitrary. `jw` is the weight of wrong values against 20 for right ones at every
 * argument: a run is drawn with jw 1, 4 or 12, so some sequences are mostly valid (registered
 * ranges, copies, moves, EEXIST races, events) and others mostly garbage.
 */
function callTable(ps, jw, backend) {
  const V = 20;
  const pick = (good, bad) =>
    fc.oneof({ weight: V, arbitrary: good }, { weight: jw, arbitrary: bad });
  const sub = pick(fc.constant(0), fc.constantFrom(1, 8, 2048 % ps, ps - 1));
  const big = fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, fc.constant(true));
  const ABS = [0, 1, ps, 0x8000, 0xffff, 0x7ffffffff000, 2 ** 47, 2 ** 48, 2 ** 52, 2 ** 53 - 1];
  const HUGE = [2 ** 47, 2 ** 48, 2 ** 52, 2 ** 53 - 1, 2 ** 53 - ps];
  const rec = (t, fields) => fc.record({ t: fc.constant(t), ...fields });
  const addr = fc.oneof(
    { weight: 4 * V, arbitrary: rec('R', { page: fc.nat(255), sub, big }) },
    { weight: 6 * V, arbitrary: rec('seg', { s: fc.nat(4), page: fc.nat(31), sub, big }) },
    { weight: 4 * V, arbitrary: rec('map', { i: fc.nat(15), page: fc.nat(16), sub, big }) },
    { weight: 2 * V, arbitrary: rec('R2', { page: fc.nat(31), sub, big }) },
    { weight: V, arbitrary: rec('abs', { v: fc.constantFrom(...ABS), big }) },
    { weight: 2 * jw, arbitrary: rec('bad', { v: junk }) },
  );
  const extra = pick(fc.constant(0), fc.constantFrom(1, ps - 1));
  const n = (max) => pick(fc.integer({ min: 1, max }), fc.constant(0));
  const len = fc.oneof(
    { weight: 8 * V, arbitrary: rec('pages', { n: n(20), extra, big }) },
    { weight: 2 * V, arbitrary: rec('rest', {}) },
    { weight: V, arbitrary: rec('pages', { n: n(64), extra, big }) },
    { weight: jw, arbitrary: rec('huge', { v: fc.constantFrom(...HUGE), big }) },
    { weight: 2 * jw, arbitrary: rec('bad', { v: junk }) },
  );
  const bool = pick(fc.boolean(), junk);
  // An options bag: absent, empty, the allowed keys with good or bad values, an unknown key,
  // not an object, or an object whose getter throws.
  const opts = (fields) =>
    fc.oneof(
      { weight: 3 * V, arbitrary: fc.constant({ t: 'none' }) },
      { weight: V, arbitrary: fc.constant({ t: 'empty' }) },
      {
        weight: 6 * V,
        arbitrary: fc.record(fields, { requiredKeys: [] }).map((f) => ({ t: 'obj', f })),
      },
      { weight: jw, arbitrary: fc.constant({ t: 'unknown' }) },
      { weight: jw, arbitrary: junk.map((j) => ({ t: 'junk', j })) },
      { weight: jw, arbitrary: fc.constant({ t: 'getter' }) },
    );
  const u = fc.nat(11);
  const m = fc.nat(15);
  const num = (max) => pick(fc.nat(max), junk);
  const prot = pick(fc.constantFrom(...PROTS), junk);
  const advice = pick(fc.constantFrom(...ADVICES), junk);
  const off = fc.oneof(
    { weight: V, arbitrary: fc.constant(undefined) },
    { weight: V, arbitrary: fc.record({ n: fc.nat(12), extra }).map((o) => o.n * ps + o.extra) },
    { weight: jw, arbitrary: junk },
  );
  const features = pick(
    fc.array(
      pick(
        fc.constantFrom(...FEATURES),
        fc.oneof(fc.constantFrom('bit40', 'bit63', 'bit64', 'nope', ''), junk),
      ),
      { maxLength: 4 },
    ),
    junk,
  );
  const src = fc.oneof(
    { weight: 4, arbitrary: addr.map((a) => ({ t: 'addr', a })) },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('view'),
        kind: fc.constantFrom('u8', 'buffer', 'dv', 'f64', 'sab', 'mapbuf', 'old'),
        i: fc.nat(15),
        pages: fc.nat(4),
      }),
    },
  );
  const triple = fc.record({ d: addr, s: addr, l: len });
  const entries = fc.oneof(
    {
      weight: 6 * V,
      arbitrary: fc.array(triple, { maxLength: 4 }).map((t) => ({ t: 'ok', t3: t })),
    },
    {
      weight: jw,
      arbitrary: rec('badval', { v: fc.constantFrom(NaN, -1, 0.5, 2 ** 53, Infinity) }),
    },
    { weight: jw, arbitrary: rec('badlen', {}) },
    {
      weight: jw,
      arbitrary: rec('type', { kind: fc.constantFrom('array', 'f32', 'u8', 'junk'), j: junk }),
    },
  );
  const fdSpec = fc.oneof(
    { weight: 3 * V, arbitrary: rec('dup', { u }) },
    { weight: V, arbitrary: fc.constant({ t: 'devnull' }) },
    { weight: jw, arbitrary: rec('num', { v: fc.constantFrom(-1, 2 ** 31 - 1, 2 ** 31, 1e9) }) },
    { weight: jw, arbitrary: rec('bad', { v: junk }) },
  );
  const mmapFd = fc.oneof(
    { weight: 3 * V, arbitrary: fc.constant(undefined) },
    { weight: V, arbitrary: fc.constantFrom('memfd', 'file', 'devnull') },
    { weight: jw, arbitrary: fc.constant('high') },
    { weight: jw, arbitrary: junk },
  );
  const mapLen = fc.oneof(
    { weight: 6 * V, arbitrary: rec('pages', { n: n(16), extra, big }) },
    { weight: jw, arbitrary: rec('huge', { v: fc.constantFrom(...HUGE), big }) },
    { weight: 2 * jw, arbitrary: rec('bad', { v: junk }) },
  );
  const align = fc.oneof(
    { weight: 3 * V, arbitrary: fc.constant(undefined) },
    { weight: V, arbitrary: fc.constantFrom(ps, 2 * ps, 2 * 1024 * 1024) },
    { weight: jw, arbitrary: fc.constantFrom(3 * ps, 2 ** 40, 1) },
    { weight: jw, arbitrary: junk },
  );
  const signal = pick(
    fc.nat(3).map((c) => ({ ctl: c })),
    junk.map((j) => ({ j })),
  );

  const names = new Map();
  const call = (op, fields) => {
    const arb = fc.record({ op: fc.constant(op), ...fields });
    names.set(arb, op);
    return arb;
  };
  const weighted = (w, arb, only) => ({ weight: w, arbitrary: arb, only, op: names.get(arb) });
  const kernelOnly = 'kernel';
  const simOnly = 'simulated';
  const fn = pick(fc.constant('fn'), junk);
  const table = [
    weighted(
      2,
      call('open', {
        o: opts({
          features,
          userModeOnly: bool,
          backend: fc.oneof(fc.constantFrom('kernel', 'auto', 'simulated'), junk),
        }),
      }),
    ),
    weighted(1, call('fromFd', { fd: fdSpec, o: opts({ features }) }), kernelOnly),
    weighted(
      8,
      call('register', { u, a: addr, l: len, o: opts({ missing: bool, wp: bool, minor: bool }) }),
    ),
    weighted(4, call('unregister', { u, a: addr, l: len })),
    weighted(
      5,
      call('copy', {
        u,
        own: fc.boolean(),
        a: addr,
        l: len,
        s: src,
        o: opts({ dontWake: bool, wp: bool }),
      }),
    ),
    weighted(
      3,
      call('zeropage', { u, own: fc.boolean(), a: addr, l: len, o: opts({ dontWake: bool }) }),
    ),
    weighted(
      5,
      call('move', {
        u,
        own: fc.boolean(),
        a: addr,
        l: len,
        s: addr,
        o: opts({ dontWake: bool, allowSrcHoles: bool }),
      }),
    ),
    weighted(3, call('wake', { u, a: addr, l: len })),
    weighted(3, call('writeProtect', { u, a: addr, l: len, p: bool, o: opts({ dontWake: bool }) })),
    weighted(
      2,
      call('continue', {
        u,
        own: fc.boolean(),
        a: addr,
        l: len,
        o: opts({ dontWake: bool, wp: bool }),
      }),
    ),
    weighted(
      3,
      call('poison', { u, own: fc.boolean(), a: addr, l: len, o: opts({ dontWake: bool }) }),
    ),
    weighted(
      2,
      call('completeMove', {
        u,
        own: fc.boolean(),
        a: addr,
        l: len,
        s: addr,
        o: opts({ dontWake: bool, allowSrcHoles: bool }),
      }),
    ),
    weighted(
      2,
      call('completeCopy', {
        u,
        own: fc.boolean(),
        a: addr,
        l: len,
        s: src,
        o: opts({ dontWake: bool, wp: bool }),
      }),
    ),
    weighted(
      1,
      call('completeZeropage', {
        u,
        own: fc.boolean(),
        a: addr,
        l: len,
        o: opts({ dontWake: bool }),
      }),
    ),
    weighted(
      2,
      call('moveBatch', { u, e: entries, o: opts({ dontWake: bool, allowSrcHoles: bool }) }),
    ),
    weighted(2, call('copyBatch', { u, e: entries, o: opts({ dontWake: bool, wp: bool }) })),
    weighted(3, call('events', { u, o: opts({ signal, batch: num(2000) }) })),
    weighted(3, call('next', { i: fc.nat(7) })),
    weighted(1, call('return', { i: fc.nat(7) })),
    weighted(1, call('abort', { c: fc.nat(3) })),
    weighted(1, call('close', { u })),
    weighted(1, call('refUnref', { u, ref: fc.boolean() })),
    weighted(1, call('dispose', { u })),
    weighted(1, call('getters', { u })),
    weighted(
      2,
      call('anonymous', {
        l: mapLen,
        o: opts({ prot, shared: bool, hugepage: bool, dontFork: bool, align, populate: bool }),
      }),
      kernelOnly,
    ),
    weighted(
      1,
      call('memfd', {
        l: mapLen,
        o: opts({ prot, hugepage: bool, name: fc.oneof(fc.string({ maxLength: 300 }), junk) }),
      }),
      kernelOnly,
    ),
    weighted(
      2,
      call('attach', { a: fc.oneof(addr, fc.record({ t: fc.constant('stale'), i: m })), l: len }),
      kernelOnly,
    ),
    weighted(1, call('alias', { m, o: opts({ prot }) }), kernelOnly),
    weighted(2, call('buffer', { m }), kernelOnly),
    weighted(2, call('mapMadvise', { m, adv: advice, off, len: off }), kernelOnly),
    weighted(2, call('mapProtect', { m, prot, off, len: off }), kernelOnly),
    weighted(1, call('mapLock', { m, o: opts({ onFault: bool }), off, len: off }), kernelOnly),
    weighted(1, call('mapUnlock', { m, off, len: off }), kernelOnly),
    weighted(2, call('mapUnmap', { m }), kernelOnly),
    weighted(2, call('useView', { i: fc.nat(15) }), kernelOnly),
    weighted(
      2,
      call('mmap', {
        l: len,
        // AddressSpace.mmap() (simulated) takes these four; mm.mmap() also fd, offset, noreserve.
        o:
          backend === 'kernel'
            ? opts({
                prot,
                shared: bool,
                fixed: addr,
                populate: bool,
                noreserve: bool,
                fd: mmapFd,
                offset: off,
              })
            : opts({ prot, shared: bool, fixed: addr, populate: bool }),
      }),
    ),
    weighted(2, call('munmap', { a: addr, l: len })),
    weighted(2, call('mprotect', { a: addr, l: len, prot })),
    weighted(2, call('madvise', { a: addr, l: len, adv: advice })),
    weighted(1, call('mlock', { a: addr, l: len, o: opts({ onFault: bool }) })),
    weighted(1, call('munlock', { a: addr, l: len })),
    weighted(
      2,
      call('mremap', {
        a: addr,
        l: len,
        n: len,
        o: opts({ mayMove: bool, fixed: addr, dontUnmap: bool, relocateAnon: bool }),
      }),
    ),
    weighted(1, call('mmMisc', { which: fc.nat(2) }), kernelOnly),
    weighted(
      4,
      call('touch', {
        a: addr,
        l: len,
        o: opts({ write: bool, stride: num(3 * ps), value: num(300) }),
      }),
      kernelOnly,
    ),
    weighted(3, call('readMemory', { a: addr, l: len })),
    weighted(
      2,
      call('writeMemory', {
        a: addr,
        l: len,
        bad: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, junk),
      }),
    ),
    weighted(1, call('probe', { q: bool }), kernelOnly),
    // uffd.serve(handler, options): h picks the handler (0 zeropage, 1 copy, 2 throws, 3 does
    // nothing); onError/onEvent 'fn' are functions the executor supplies.
    weighted(
      3,
      call('serve', {
        u,
        h: fc.nat(3),
        o: opts({
          concurrency: num(4),
          onHandlerError: pick(fc.constantFrom('poison', 'zeropage'), junk),
          onError: fn,
          onEvent: fn,
          signal,
          batch: num(100),
        }),
      }),
      simOnly,
    ),
    weighted(1, call('serveStop', { i: fc.nat(7) }), simOnly),
    // AddressSpace queries (which 3: vmaCount() of everything).
    weighted(2, call('spaceQuery', { which: fc.nat(3), a: addr, l: len }), simOnly),
    weighted(1, call('fork', {}), simOnly),
    // new SimulatedSpace(options), then a map/register/zeropage on it; and the simulation-only
    // controls (0 pin, 1 unpin, 2 ksmMerge, 3 mmapHugetlb) and spaceOf() on the sandbox space.
    weighted(
      1,
      call('newSpace', {
        o: opts({
          pageSize: pick(fc.constantFrom(4096, 16384, 65536), fc.oneof(fc.constant(8192), junk)),
          profile: pick(fc.constantFrom('6.18', 'rfc-2015'), junk),
          taskSize: pick(fc.constantFrom(2 ** 47, 2 ** 48, 2 ** 40), junk),
          thp: pick(fc.constantFrom('always', 'madvise', 'never'), junk),
          swap: bool,
          privileged: bool,
          unprivilegedUserfaultfd: pick(fc.constantFrom(0, 1), junk),
          devAccess: bool,
          userfaultfd: bool,
          mremapRelocateAnon: bool,
        }),
      }),
      simOnly,
    ),
    weighted(2, call('simControl', { which: fc.nat(3), a: addr, l: len }), simOnly),
    weighted(
      1,
      call('spaceOf', { u, bad: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, junk) }),
      simOnly,
    ),
  ];
  return table.filter((e) => e.only === undefined || e.only === backend);
}

function makeArbitraries(ps, jw, backend = 'kernel') {
  return fc.oneof(
    ...callTable(ps, jw, backend).map(({ weight, arbitrary }) => ({ weight, arbitrary })),
  );
}

/** The ops drawn for `backend`, and those of the other backend that it never draws. */
function opsOf(ps, backend) {
  const mine = callTable(ps, 1, backend).map((e) => e.op);
  const other = backend === 'kernel' ? 'simulated' : 'kernel';
  const notDrawn = callTable(ps, 1, other)
    .map((e) => e.op)
    .filter((op) => !mine.includes(op));
  return { drawn: mine, notDrawn };
}

/** Sequences of `length` calls, each sequence drawn at one junk level. */
function makeSequences(ps, length, backend = 'kernel') {
  const levels = [1, 4, 12].map((jw) => makeArbitraries(ps, jw, backend));
  return fc
    .nat(levels.length - 1)
    .chain((i) => fc.array(levels[i], { minLength: length, maxLength: length }));
}

module.exports = {
  makeArbitraries,
  makeSequences,
  junkOf,
  Sentinel,
  EVENT_FEATURES,
  opsOf,
};
