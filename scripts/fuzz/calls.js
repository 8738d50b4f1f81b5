'use strict';
// The fuzzed calls: a fast-check arbitrary of abstract call descriptors (plain data, so a
// failing sequence prints and replays), and `execute(ctx, desc)`, which resolves a descriptor
// against the sandbox and makes the call. Descriptors name spaces, not addresses (see
// sandbox.js), and each call resolves them with the spaces it may safely act on.
const fc = require('fast-check');

/** Thrown by hostile options objects' getters: propagating it is correct, not a bug. */
class Sentinel extends Error {}

const FEATURES = [
  'pagefaultFlagWp',
  'eventFork',
  'eventRemap',
  'eventRemove',
  'missingHugetlbfs',
  'missingShmem',
  'eventUnmap',
  'sigbus',
  'threadId',
  'minorHugetlbfs',
  'minorShmem',
  'exactAddress',
  'wpHugetlbfsShmem',
  'wpUnpopulated',
  'poison',
  'wpAsync',
  'move',
];
const EVENT_FEATURES = ['eventFork', 'eventRemap', 'eventRemove', 'eventUnmap'];
const PROTS = ['none', 'r', 'rw', 'rwx', 'rx'];
const ADVICES = [
  'normal',
  'dontneed',
  'dontfork',
  'dofork',
  'hugepage',
  'nohugepage',
  'pageout',
  'cold',
  'remove',
];

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
function makeArbitraries(ps, jw) {
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

  const call = (op, fields) => fc.record({ op: fc.constant(op), ...fields });
  const weighted = (w, arb) => ({ weight: w, arbitrary: arb });
  return fc.oneof(
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
    weighted(1, call('fromFd', { fd: fdSpec, o: opts({ features }) })),
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
    ),
    weighted(
      1,
      call('memfd', {
        l: mapLen,
        o: opts({ prot, hugepage: bool, name: fc.oneof(fc.string({ maxLength: 300 }), junk) }),
      }),
    ),
    weighted(
      2,
      call('attach', { a: fc.oneof(addr, fc.record({ t: fc.constant('stale'), i: m })), l: len }),
    ),
    weighted(1, call('alias', { m, o: opts({ prot }) })),
    weighted(2, call('buffer', { m })),
    weighted(2, call('mapMadvise', { m, adv: advice, off, len: off })),
    weighted(2, call('mapProtect', { m, prot, off, len: off })),
    weighted(1, call('mapLock', { m, o: opts({ onFault: bool }), off, len: off })),
    weighted(1, call('mapUnlock', { m, off, len: off })),
    weighted(2, call('mapUnmap', { m })),
    weighted(2, call('useView', { i: fc.nat(15) })),
    weighted(
      2,
      call('mmap', {
        l: len,
        o: opts({
          prot,
          shared: bool,
          fixed: addr,
          populate: bool,
          noreserve: bool,
          fd: mmapFd,
          offset: off,
        }),
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
    weighted(1, call('mmMisc', { which: fc.nat(2) })),
    weighted(
      4,
      call('touch', {
        a: addr,
        l: len,
        o: opts({ write: bool, stride: num(3 * ps), value: num(300) }),
      }),
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
    weighted(1, call('probe', { q: bool })),
  );
}

/** Sequences of `length` calls, each sequence drawn at one junk level. */
function makeSequences(ps, length) {
  const levels = [1, 4, 12].map((jw) => makeArbitraries(ps, jw));
  return fc
    .nat(levels.length - 1)
    .chain((i) => fc.array(levels[i], { minLength: length, maxLength: length }));
}

module.exports = { makeArbitraries, makeSequences, junkOf, Sentinel, EVENT_FEATURES };
