'use strict';
// Executes fuzzed call descriptors against the package and the sandbox, keeping the bookkeeping
// that keeps the runner safe: which uffds may register where, which ranges an uffd with
// non-cooperative events has registered (munmap, mremap, MAP_FIXED and madvise(DONTNEED|REMOVE)
// of those would block the JS thread until the event is read, so they are not issued), pending
// touches and event iterators. The sandbox decides what differs between backends: `sb.mm` is
// mm.* or the SimulatedSpace, `sb.read`/`sb.write` readMemory/writeMemory or the space's, and
// `sb.kernelFaultsBlock`/`sb.eventsBlock` say whether those blocking hazards exist at all.
const fs = require('fs');
const { junkOf, Sentinel, EVENT_FEATURES } = require('./calls');

const MAX_UFFDS = 12;
const MAX_PENDING_TOUCHES = 12;
const MAX_ITERATORS = 8;
const MAX_SERVERS = 8;
const MAX_FORKS = 4;

function isJunkSpec(x) {
  return (
    x !== null &&
    typeof x === 'object' &&
    !Array.isArray(x) &&
    !('t' in x) &&
    ('junk' in x || 'v' in x)
  );
}

function val(x) {
  if (isJunkSpec(x)) return junkOf(x);
  if (Array.isArray(x)) return x.map(val);
  return x;
}

/** A length spec standing for an already resolved length (junk: the rest of the space). */
function lenRoom(len) {
  if (typeof len === 'number' && Number.isSafeInteger(len) && len >= 0) {
    return { t: 'pages', n: 0, extra: len };
  }
  if (typeof len === 'bigint' && len >= 0n && len <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return { t: 'pages', n: 0, extra: Number(len), big: true };
  }
  return { t: 'rest' };
}

/** The smaller of a destination length and its source's room, keeping the length's type. */
function minLen(len, room) {
  const n = typeof len === 'bigint' ? Number(len) : len;
  const r = typeof room === 'bigint' ? Number(room) : room;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || typeof r !== 'number') {
    return len;
  }
  const m = Math.min(n, r);
  return typeof len === 'bigint' ? BigInt(m) : m;
}

/** A number for bookkeeping (NaN for anything that is not a number or BigInt). */
function toNum(x) {
  if (typeof x === 'number') return x;
  if (typeof x === 'bigint') return Number(x);
  return NaN;
}

/** madvise advice that raises a REMOVE event on a registered range. */
function zaps(advice) {
  return advice === 'dontneed' || advice === 'remove';
}

function overlaps(a, l, s, e) {
  return a < e && a + l > s;
}

class Executor {
  constructor(u, native, sb) {
    this.u = u;
    this.b = native; // null for the simulated backend
    this.sb = sb;
    this.ps = sb.ps;
    this.uffds = []; // { uffd, cls: 'umo' | 'full' | 'other', file: { evented, ranges, wrappers } }
    this.iterators = []; // { it, entry, pending: Promise | null }
    this.controllers = [new AbortController(), new AbortController(), new AbortController()];
    this.controllers.push(new AbortController());
    this.pendingTouches = new Set();
    this.touchInfo = new Map(); // pending touch -> description (for violation reports)
    this.pendingNexts = new Set();
    this.views = []; // { buf, owner: Mapping | undefined }
    this.asyncOutcomes = []; // errors from settled async calls, checked by the runner
    this.sourcesRead = []; // [addr, len] a COPY of the current call reads
    this.servers = []; // serve() servers
    this.forks = 0;
    this.closing = false; // teardown started: FORK events' uffds are closed, not adopted
    this.settled = 0; // async calls settled so far (progress, for the simulated quiesce)
  }

  /** Something that changes while async work runs (SimSandbox.quiesce waits for it to stop). */
  progress() {
    return `${this.settled}/${this.pendingTouches.size}/${this.pendingNexts.size}`;
  }

  /** A uffd on the sandbox's memory. */
  openUffd(options) {
    if (this.sb.kind === 'kernel') return this.u.Userfaultfd.open(options);
    return this.sb.space.userfaultfd(options);
  }

  /**
   * Opens the five uffds every run starts with and registers their ranges. The features and
   * modes asked for are those this kernel (or model) offers: WP_UNPOPULATED is 6.4+, and arm64
   * has no uffd-wp before 6.10 (REGISTER with MODE_WP is EINVAL there). Whatever is left out is
   * listed in `this.unoffered` (the summary's `unoffered`): a smaller setup, never a silent one.
   */
  setupUffds() {
    const open = (o) => this.openUffd(o);
    const first = open();
    const offered = (f) => first.availableFeatures.has(f);
    const want = ['threadId', 'exactAddress', 'wpUnpopulated'];
    const wp = offered('pagefaultFlagWp');
    this.unoffered = [...want.filter((f) => !offered(f)), ...(wp ? [] : ['pagefaultFlagWp'])];
    this.addUffd(first, 'umo', false);
    this.addUffd(open({ features: want.filter(offered) }), 'umo', false);
    this.addUffd(
      open({ features: ['eventRemove', 'eventUnmap', 'eventRemap', 'threadId'] }),
      'umo',
      true,
    );
    this.addUffd(open({ userModeOnly: false }), 'full', false);
    this.addUffd(open({ features: ['sigbus'] }), 'umo', false);
    // Start with registered ranges, so that fills, moves and EEXIST races happen often.
    const ps = this.ps;
    const R = this.sb.R;
    const m = this.sb.mappings[0];
    this.owners = [
      [R + 16 * ps, R + 48 * ps, 0, undefined],
      [R + 144 * ps, R + 160 * ps, 1, { missing: true, wp }],
      [R + 160 * ps, R + 176 * ps, 4, undefined],
      [this.sb.R2, this.sb.R2end, 3, undefined],
      [m.address, m.address + m.length, 2, undefined],
      [R + 96 * ps, R + 112 * ps, 1, { minor: true }],
    ];
    for (const [s, e, i, modes] of this.owners) this.uffds[i].uffd.register(s, e - s, modes);
    this.uffds[2].file.ranges.push([m.address, m.address + m.length]);
  }

  addUffd(uffd, cls, evented, file) {
    const f = file ?? { evented, ranges: [], wrappers: new Set() };
    f.wrappers.add(uffd);
    if (this.uffds.length >= MAX_UFFDS) {
      uffd.close();
      return;
    }
    this.uffds.push({ uffd, cls, file: f });
  }

  /** Would an munmap/mremap/MAP_FIXED/madvise(DONTNEED) of [a, a+l) raise a blocking event? */
  eventBlocked(a, l) {
    if (!this.sb.eventsBlock) return false;
    if (typeof a !== 'number' || typeof l !== 'number') {
      a = typeof a === 'bigint' ? Number(a) : a;
      l = typeof l === 'bigint' ? Number(l) : l;
      if (typeof a !== 'number' || typeof l !== 'number') return false;
    }
    const span = Math.max(l, this.ps);
    for (const { file } of this.uffds) {
      if (!file.evented || ![...file.wrappers].some((w) => !w.closed)) continue;
      if (file.ranges.some(([s, e]) => overlaps(a, span, s, e))) return true;
    }
    return false;
  }

  entry(i) {
    return this.uffds[i % this.uffds.length];
  }

  /** The uffd that registered `addr` at setup (so that MOVE, which needs it, can succeed). */
  ownerOf(d, addr) {
    if (!d.own) return this.entry(d.u);
    const a = toNum(addr);
    const o = this.owners.find(([s, e]) => a >= s && a < e);
    return o === undefined ? this.entry(d.u) : this.uffds[o[2]];
  }

  mapping(i) {
    const ms = this.sb.mappings;
    return ms.length === 0 ? undefined : ms[i % ms.length];
  }

  opts(o, fieldFn = (k, v) => val(v)) {
    switch (o.t) {
      case 'none':
        return undefined;
      case 'empty':
        return {};
      case 'unknown':
        return { bogusOption: 1 };
      case 'junk':
        return junkOf(o.j);
      case 'getter':
        return Object.defineProperty({}, 'dontWake', {
          enumerable: true,
          get() {
            throw new Sentinel('getter');
          },
        });
      default: {
        const out = {};
        for (const [k, v] of Object.entries(o.f)) out[k] = fieldFn(k, v);
        return out;
      }
    }
  }

  /** The owner of dst when asked for, unless that would let a full uffd act outside R2. */
  checkedOwner(d, addr, e) {
    const o = this.ownerOf(d, addr);
    return o.cls === 'full' && e.cls !== 'full' ? e : o;
  }

  /** Spaces a uffd may register or fill: a full (non USER_MODE_ONLY) uffd only R2. */
  spacesFor(entry, write) {
    if (entry.cls === 'full' && write && this.sb.kernelFaultsBlock)
      return { allow: ['R2', 'abs'], home: 'R2', hugeOk: true };
    return { allow: ['R', 'R2', 'map', 'abs'], hugeOk: true };
  }

  resolve(a, l, opts) {
    if (opts.home === 'R2' && a.t !== 'abs' && a.t !== 'bad') a = { ...a, t: 'R2' };
    return this.sb.resolve(a, l, opts);
  }

  /** A COPY source, recorded in sourcesRead (the kernel may fault it in even when refusing). */
  copySource(s, len) {
    const [src, l] = this.copySource1(s, len);
    // (A view is process memory: on the simulated backend it is not in the space at all.)
    const view = ArrayBuffer.isView(src);
    const addr = view ? (this.b === null ? NaN : this.b.addressOf(src)) : toNum(src);
    const n = ArrayBuffer.isView(src) ? src.byteLength : toNum(l);
    if (Number.isFinite(addr) && Number.isFinite(n)) this.sourcesRead.push([addr, n]);
    return [src, l];
  }

  /** A COPY source: an address (never R2: a kernel read there could block) or a view. */
  copySource1(s, len) {
    if (s.t === 'addr') {
      const [addr, l2] = this.sb.resolve(s.a, lenRoom(len), {
        allow: this.sb.kernelFaultsBlock ? ['R', 'map', 'abs'] : ['R', 'R2', 'map', 'abs'],
        hugeOk: true,
      });
      return [addr, minLen(len, l2)];
    }
    const size = s.pages * this.ps;
    switch (s.kind) {
      case 'u8':
        return [new Uint8Array(size), len];
      case 'buffer':
        return [Buffer.alloc(size + 3).subarray(3), len];
      case 'dv':
        return [new DataView(new ArrayBuffer(size)), len];
      case 'f64':
        return [new Float64Array(size / 8), len];
      case 'sab':
        return [new Uint8Array(new SharedArrayBuffer(size || 8)), len];
      case 'mapbuf': {
        const m = this.sb.liveMappings()[s.i % Math.max(1, this.sb.liveMappings().length)];
        if (m === undefined || m.buffer === undefined) return [new Uint8Array(0), len];
        return [new Uint8Array(m.buffer), len];
      }
      default: {
        const v = this.views[s.i % Math.max(1, this.views.length)];
        // An old view: detached (its Mapping was unmapped) or still live.
        return [v ? v.view : new Uint8Array(0), len];
      }
    }
  }

  entries(e, move) {
    const ps = this.ps;
    switch (e.t) {
      case 'badval':
        return new Float64Array([this.sb.R, this.sb.R + ps, e.v]);
      case 'badlen':
        return new Float64Array([this.sb.R, this.sb.R + ps]);
      case 'type':
        if (e.kind === 'array') return [this.sb.R, this.sb.R, ps];
        if (e.kind === 'f32') return new Float32Array(3);
        if (e.kind === 'u8') return new Uint8Array(3);
        return val(e.j);
      default: {
        const out = [];
        for (const { d, s, l } of e.t3) {
          if (d.t === 'bad' || s.t === 'bad' || l.t === 'bad' || d.big || s.big || l.big) {
            out.push(NaN, 0, 0);
            continue;
          }
          const [da, dl] = this.sb.resolve(d, l, {
            allow: ['R', 'R2', 'map', 'abs'],
            hugeOk: true,
          });
          const srcAllow =
            move || !this.sb.kernelFaultsBlock ? ['R', 'R2', 'map', 'abs'] : ['R', 'map', 'abs'];
          const [sa, sl] = this.sb.resolve(s, l, { allow: srcAllow, hugeOk: true });
          out.push(da, sa, Math.min(dl, sl));
          if (!move) this.sourcesRead.push([sa, Math.min(dl, sl)]);
        }
        return new Float64Array(out);
      }
    }
  }

  /**
   * Runs one call. Returns { ok, value } | { err } | { skipped } | { async: Promise }.
   * `mm: true` marks calls after which the sandbox holes are refilled.
   */
  run(d) {
    const u = this.u;
    const ps = this.ps;
    switch (d.op) {
      case 'open': {
        const o = this.opts(d.o);
        // On the simulated target, { backend: 'simulated' } goes through Userfaultfd.open() to
        // the default simulated process (not the sandbox's space: its calls act on nothing we
        // map there); anything else opens on the sandbox's space.
        const viaOpen =
          this.sb.kind === 'kernel' ||
          (o !== null && typeof o === 'object' && o.backend === 'simulated');
        const uffd = viaOpen ? u.Userfaultfd.open(o) : this.sb.space.userfaultfd(o);
        const feats = o && Array.isArray(o.features) ? o.features : [];
        const evented = feats.some((f) => EVENT_FEATURES.includes(f));
        const full = o !== null && typeof o === 'object' && o.userModeOnly === false;
        const cls = this.sb.kind !== 'kernel' && viaOpen ? 'other' : full ? 'full' : 'umo';
        this.addUffd(uffd, cls, evented);
        return uffd.via;
      }
      case 'fromFd': {
        let fd;
        let own = false;
        let source;
        if (d.fd.t === 'dup') {
          source = this.entry(d.fd.u);
          if (source.uffd.closed) return { skipped: 'dup of closed' };
          fd = this.b.dup(source.uffd.fd);
          own = true;
        } else if (d.fd.t === 'devnull') {
          fd = fs.openSync('/dev/null', 'r');
          own = true;
        } else {
          fd = val(d.fd.v);
          // A junk value that is a valid fd number may be one node owns (fromFd would take it
          // over): use a number that is surely not open instead.
          if (Number.isInteger(fd) && fd >= 0 && fd < 2 ** 31 - 1) fd = 2 ** 31 - 2;
        }
        try {
          const w = u.Userfaultfd.fromFd(fd, this.opts(d.o));
          own = false;
          if (source) this.addUffd(w, source.cls, source.file.evented, source.file);
          else this.addUffd(w, 'other', false);
          return w.fd;
        } finally {
          if (own) fs.closeSync(fd);
        }
      }
      case 'register': {
        const e = this.entry(d.u);
        const [a, l] = this.resolve(d.a, d.l, this.spacesFor(e, true));
        const r = e.uffd.register(a, l, this.opts(d.o));
        if (e.file.evented) e.file.ranges.push([toNum(a), toNum(a) + toNum(l)]);
        return [...r];
      }
      case 'unregister': {
        const e = this.entry(d.u);
        const [a, l] = this.resolve(d.a, d.l, this.spacesFor(e, false));
        return e.uffd.unregister(a, l);
      }
      case 'copy':
      case 'completeCopy': {
        let e = this.entry(d.u);
        const [a, l] = this.resolve(d.a, d.l, this.spacesFor(e, true));
        e = this.checkedOwner(d, a, e);
        const [src, len] = this.copySource(d.s, l);
        return e.uffd[d.op](a, src, len, this.opts(d.o));
      }
      case 'zeropage':
      case 'poison':
      case 'continue':
      case 'completeZeropage': {
        let e = this.entry(d.u);
        const [a, l] = this.resolve(d.a, d.l, this.spacesFor(e, true));
        e = this.checkedOwner(d, a, e);
        return e.uffd[d.op](a, l, this.opts(d.o));
      }
      case 'move':
      case 'completeMove': {
        let e = this.entry(d.u);
        const [a, l] = this.resolve(d.a, d.l, this.spacesFor(e, true));
        e = this.checkedOwner(d, a, e);
        const [s, sl] = this.sb.resolve(d.s, lenRoom(l), {
          allow: ['R', 'R2', 'map', 'abs'],
          hugeOk: true,
        });
        const len = minLen(l, sl);
        return e.uffd[d.op](a, s, len, this.opts(d.o));
      }
      case 'wake': {
        const e = this.entry(d.u);
        const [a, l] = this.resolve(d.a, d.l, this.spacesFor(e, false));
        return e.uffd.wake(a, l);
      }
      case 'writeProtect': {
        const e = this.entry(d.u);
        const [a, l] = this.resolve(d.a, d.l, this.spacesFor(e, true));
        return e.uffd.writeProtect(a, l, val(d.p), this.opts(d.o));
      }
      case 'moveBatch':
      case 'copyBatch': {
        const e = this.entry(d.u);
        return e.uffd[d.op](this.entries(d.e, d.op === 'moveBatch'), this.opts(d.o));
      }
      case 'events': {
        const e = this.entry(d.u);
        const o = this.opts(d.o, (k, v) => {
          if (k === 'signal') return 'ctl' in v ? this.controllers[v.ctl].signal : val(v.j);
          return val(v);
        });
        const it = e.uffd.events(o);
        if (this.iterators.length >= MAX_ITERATORS) {
          void it.return();
          return 'dropped';
        }
        this.iterators.push({ it, entry: e });
        return 'iterator';
      }
      case 'next': {
        if (this.iterators.length === 0) return { skipped: 'no iterator' };
        const { it } = this.iterators[d.i % this.iterators.length];
        const p = it.next();
        this.trackAsync(p, this.pendingNexts, 'next');
        // A FORK event's uffd is the reader's to close: fuzz it, then close it at teardown.
        p.then((r) => r.done !== true && this.adoptEvent(r.value)).catch(() => {});
        return { async: p };
      }
      case 'return': {
        if (this.iterators.length === 0) return { skipped: 'no iterator' };
        const { it } = this.iterators[d.i % this.iterators.length];
        const p = it.return();
        this.trackAsync(p, this.pendingNexts, 'return');
        return { async: p };
      }
      case 'abort':
        this.controllers[d.c].abort();
        this.controllers[d.c] = new AbortController();
        return 'aborted';
      case 'close':
        this.entry(d.u).uffd.close();
        return 'closed';
      case 'refUnref': {
        const uffd = this.entry(d.u).uffd;
        return d.ref ? (uffd.ref(), 'ref') : (uffd.unref(), 'unref');
      }
      case 'dispose':
        this.entry(d.u).uffd[Symbol.for('nodejs.dispose')]();
        return 'disposed';
      case 'getters': {
        const x = this.entry(d.u).uffd;
        return [x.fd, x.closed, x.features.size, x.via, x.backend].join(',');
      }
      case 'anonymous':
      case 'memfd': {
        const [, l] = this.sb.resolve({ t: 'abs', v: 2 ** 48 }, d.l, {});
        const m = u.Mapping[d.op](l, this.opts(d.o));
        this.sb.addMapping(m);
        return m.length;
      }
      case 'attach': {
        let a;
        let l;
        if (d.a.t === 'stale') {
          const m = this.mapping(d.a.i);
          if (m === undefined) return { skipped: 'no mapping' };
          a = m.address;
          l = m.length;
        } else {
          [a, l] = this.sb.resolve(d.a, d.l, { allow: ['R', 'R2', 'map', 'abs'] });
        }
        const m = u.Mapping.attach(a, l);
        this.sb.addMapping(m);
        return m.length;
      }
      case 'alias': {
        const m = this.mapping(d.m);
        if (m === undefined) return { skipped: 'no mapping' };
        const al = m.alias(this.opts(d.o));
        this.sb.addMapping(al);
        return al.length;
      }
      case 'buffer': {
        const m = this.mapping(d.m);
        if (m === undefined) return { skipped: 'no mapping' };
        const buf = m.buffer;
        const owner = m.owner
          ? m
          : this.sb.mappings.find(
              (o) => o.owner && m.address >= o.address && m.address < o.address + o.length,
            );
        if (this.views.length < 16) this.views.push({ buf, view: new Uint8Array(buf), owner });
        return buf.byteLength;
      }
      case 'useView': {
        // Unmap, then use a view: a detached view reads nothing; a view of unmapped memory
        // reads the zero pages mapped over it. A view of live memory is not read: its pages
        // may be registered and missing, and the JS thread must never fault on those.
        const v = this.views[d.i % Math.max(1, this.views.length)];
        if (v === undefined) return { skipped: 'no view' };
        if (v.buf.byteLength !== 0 && !(v.owner === undefined || v.owner.closed)) {
          return { skipped: 'live view' };
        }
        const x = v.view;
        return x.length === 0 ? 'detached' : x[0] === 0 ? 'zero' : `byte ${x[0]}`;
      }
      case 'mapMadvise':
      case 'mapProtect':
      case 'mapLock':
      case 'mapUnlock':
      case 'mapUnmap': {
        const m = this.mapping(d.m);
        if (m === undefined) return { skipped: 'no mapping' };
        if (d.op === 'mapUnmap' || (d.op === 'mapMadvise' && zaps(val(d.adv)))) {
          // Attached views too: they alias the owner's (possibly registered) memory. And a
          // memfd Mapping's unmap() unmaps its alias() Mappings as well.
          const ranges = [m, ...(d.op === 'mapUnmap' ? (m.aliases ?? []) : [])];
          if (
            !m.closed &&
            ranges.some((r) => !r.closed && this.eventBlocked(r.address, r.length))
          ) {
            return { skipped: 'would raise a blocking event' };
          }
        }
        if (d.op === 'mapMadvise') return m.madvise(val(d.adv), val(d.off), val(d.len));
        if (d.op === 'mapProtect') return m.protect(val(d.prot), val(d.off), val(d.len));
        if (d.op === 'mapLock') return m.lock(this.opts(d.o), val(d.off), val(d.len));
        if (d.op === 'mapUnlock') return m.unlock(val(d.off), val(d.len));
        return m.unmap();
      }
      case 'mmap': {
        let fixedRange;
        const o = this.opts(d.o, (k, v) => {
          if (k === 'fixed') {
            const [a, l] = this.sb.resolve(v, d.l, { allow: ['R', 'abs'] });
            fixedRange = [a, l];
            return a;
          }
          if (k === 'fd') {
            if (v === 'memfd') return this.sb.memfd;
            if (v === 'file') return this.sb.fileFd;
            if (v === 'devnull') return this.sb.devNull;
            if (v === 'high') return 2 ** 32 + this.sb.memfd;
            return val(v);
          }
          return val(v);
        });
        let len;
        if (fixedRange !== undefined) {
          len = fixedRange[1];
          if (this.eventBlocked(fixedRange[0], len)) return { skipped: 'blocking event' };
        } else {
          [, len] = this.sb.resolve({ t: 'abs', v: 2 ** 48 }, d.l, {});
          if (d.l.t === 'rest') len = 16 * ps;
        }
        const addr = this.sb.mm.mmap(len, o);
        if (fixedRange === undefined) this.sb.unmapOutside(addr, Number(len));
        return { ok: addr, mm: true };
      }
      case 'munmap':
      case 'mprotect':
      case 'madvise':
      case 'mlock':
      case 'munlock': {
        // R2 is never unmapped (nothing refills it), and on the kernel never mlocked (populating
        // a page registered by the non-USER_MODE_ONLY uffd would block the JS thread).
        const noR2 = d.op === 'munmap' || (d.op === 'mlock' && this.sb.kernelFaultsBlock);
        const allow = ['R', 'R2', 'map', 'abs'].filter((s) => !noR2 || s !== 'R2');
        const [a, l] = this.sb.resolve(d.a, d.l, { allow });
        const evt = d.op === 'munmap' || (d.op === 'madvise' && zaps(val(d.adv)));
        if (evt && this.eventBlocked(a, l)) return { skipped: 'blocking event' };
        const mm = this.sb.mm;
        let r;
        if (d.op === 'munmap') r = mm.munmap(a, l);
        else if (d.op === 'mprotect') r = mm.mprotect(a, l, val(d.prot));
        else if (d.op === 'madvise') r = mm.madvise(a, l, val(d.adv));
        else if (d.op === 'mlock') r = mm.mlock(a, l, this.opts(d.o));
        else r = mm.munlock(a, l);
        return { ok: r, mm: true };
      }
      case 'mremap': {
        const [a, l] = this.sb.resolve(d.a, d.l, { allow: ['R', 'abs'] });
        // The new length stays within R too (growing in place must not take memory past it).
        const room =
          typeof a === 'number' && a >= this.sb.R && a < this.sb.Rend ? this.sb.Rend - a : 16 * ps;
        const [, n] = this.sb.resolve({ t: 'abs', v: 2 ** 48 }, d.n, {});
        let newLen = n;
        if ((typeof n === 'number' || typeof n === 'bigint') && Number(n) < 2 ** 47) {
          const c = Math.min(Number(n), room);
          newLen = typeof n === 'bigint' ? BigInt(c) : c;
        }
        let fixed;
        const o = this.opts(d.o, (k, v) => {
          if (k !== 'fixed') return val(v);
          const [fa] = this.sb.resolve(v, { t: 'pages', n: 0, extra: 0 }, { allow: ['R', 'abs'] });
          fixed = fa;
          return fa;
        });
        const fx = typeof fixed === 'bigint' ? Number(fixed) : fixed;
        if (typeof fx === 'number' && fx >= this.sb.R && fx < this.sb.Rend) {
          // MREMAP_FIXED replaces [fixed, fixed + newLen): keep that inside R as well.
          const nl = typeof newLen === 'bigint' ? Number(newLen) : newLen;
          if (typeof nl === 'number' && fx + nl > this.sb.Rend) {
            return { skipped: 'fixed target past R' };
          }
        }
        if (this.eventBlocked(a, l) || (fixed !== undefined && this.eventBlocked(fixed, newLen))) {
          return { skipped: 'blocking event' };
        }
        const r = this.sb.mm.mremap(a, l, newLen, o);
        if (r !== Number(a) && (r < this.sb.R || r >= this.sb.Rend)) {
          this.sb.unmapOutside(r, Number(newLen)); // moved out of the sandbox: give it back
        }
        return { ok: r, mm: true };
      }
      case 'mmMisc':
        if (d.which === 0) return u.mm.mremapRelocateAnonSupported();
        if (d.which === 1) return u.mm.systemPageSize();
        return u.mm.hugePageSize();
      case 'touch':
      case 'readMemory':
      case 'writeMemory': {
        if (this.pendingTouches.size >= MAX_PENDING_TOUCHES) return { skipped: 'touch cap' };
        const [a, l] = this.sb.resolve(d.a, d.l, { allow: ['R', 'R2', 'map', 'abs'] });
        let p;
        if (d.op === 'touch') p = u.touch(a, l, this.opts(d.o));
        else if (d.op === 'readMemory') p = this.sb.read(a, l);
        else {
          const n = Number.isSafeInteger(l) && l >= 0 && l <= 1 << 20 ? l : 8;
          const data = d.bad === null ? new Uint8Array(n).fill(0xa5) : val(d.bad);
          p = this.sb.write(a, data);
        }
        this.trackAsync(p, this.pendingTouches, d.op);
        this.touchInfo.set(p, `${d.op}(${toNum(a)}, ${toNum(l)})`);
        return { async: p };
      }
      case 'probe':
        if (typeof val(d.q) === 'boolean') return u.queryFeatures(val(d.q)).via;
        return u.probe().available;
      case 'serve':
        return this.serve(d);
      case 'serveStop': {
        if (this.servers.length === 0) return { skipped: 'no server' };
        const p = this.servers[d.i % this.servers.length].stop();
        this.trackAsync(p, this.pendingNexts, 'serveStop');
        return { async: p };
      }
      case 'spaceQuery': {
        const space = this.sb.mm;
        if (d.which === 3) return space.vmaCount();
        const [a, l] = this.sb.resolve(d.a, d.l, {
          allow: ['R', 'R2', 'map', 'abs'],
          hugeOk: true,
        });
        if (d.which === 0) return space.vmaCount(a, l);
        if (d.which === 1) return space.vmaInfo(a, l).length;
        return space.pageInfo(a, l).length;
      }
      case 'fork': {
        if (this.forks >= MAX_FORKS) return { skipped: 'fork cap' };
        this.forks++;
        const p = this.sb.space.fork();
        // The promise settles once the FORK events are read (or their uffds released).
        this.trackAsync(p, this.pendingNexts, 'fork');
        p.then((child) => this.sb.children.push(child)).catch(() => {});
        return { async: p };
      }
      case 'newSpace': {
        const sp = new u.SimulatedSpace(this.opts(d.o));
        try {
          const a = sp.mmap(4 * sp.pageSize);
          const w = sp.userfaultfd();
          w.register(a, 4 * sp.pageSize);
          w.zeropage(a, sp.pageSize);
          w.close();
          return sp.pageInfo(a, 4 * sp.pageSize).filter((p) => p.present).length;
        } finally {
          sp.exit();
        }
      }
      case 'simControl': {
        const sp = this.sb.space;
        if (d.which === 3) {
          const [, l] = this.sb.resolve({ t: 'abs', v: 2 ** 48 }, d.l, {});
          const a = sp.mmapHugetlb(l);
          sp.munmap(a, l); // like a non-fixed mmap: given back at once
          return a;
        }
        const [a, l] = this.sb.resolve(d.a, d.l, {
          allow: ['R', 'R2', 'map', 'abs'],
          hugeOk: true,
        });
        if (d.which === 0) return sp.pin(a, l);
        if (d.which === 1) return sp.unpin(a, l);
        return sp.ksmMerge(a, l);
      }
      case 'spaceOf':
        return u.spaceOf(d.bad === null ? this.entry(d.u).uffd : val(d.bad)).kind;
      default:
        throw new Error(`unknown op ${d.op}`);
    }
  }

  /**
   * uffd.serve() with one of four handlers (0 zeropage, 1 copy, 2 throws, 3 returns without
   * resolving: the faulting access sleeps until something wakes it). `done` is tracked like a
   * pending next(): it must settle once the uffd closes, and reject only with a typed error.
   */
  serve(d) {
    const e = this.entry(d.u);
    const uffd = e.uffd;
    const handlers = [
      (ev, { page, pageSize }) => uffd.zeropage(page, pageSize),
      (ev, { page, pageSize }) => uffd.copy(page, new Uint8Array(pageSize).fill(0x5a), pageSize),
      () => {
        throw new Error('handler fails');
      },
      () => {},
    ];
    const o = this.opts(d.o, (k, v) => {
      if (k === 'signal') return 'ctl' in v ? this.controllers[v.ctl].signal : val(v.j);
      if (k === 'onError' && v === 'fn') {
        return (err) => this.asyncOutcomes.push({ what: 'serve.onError', err });
      }
      if (k === 'onEvent' && v === 'fn') return (ev) => this.adoptEvent(ev);
      return val(v);
    });
    const server = uffd.serve(handlers[d.h], o);
    if (this.servers.length >= MAX_SERVERS) {
      void server.stop().catch(() => {});
      return 'dropped';
    }
    this.servers.push(server);
    this.trackAsync(server.done, this.pendingNexts, 'serve.done');
    return 'serving';
  }

  /** A FORK event read by a fuzzed next() or serve(): its uffd joins the pool (or is closed). */
  adoptEvent(ev) {
    if (ev === undefined || ev.type !== 'fork') return;
    if (this.closing) ev.uffd.close();
    else this.addUffd(ev.uffd, 'other', false);
  }

  trackAsync(p, set, what) {
    set.add(p);
    p.then(
      () => {
        set.delete(p);
        this.touchInfo.delete(p);
        this.settled++;
      },
      (err) => {
        set.delete(p);
        this.touchInfo.delete(p);
        this.settled++;
        this.asyncOutcomes.push({ what, err });
      },
    );
  }

  /** Closes everything; returns what did not settle. */
  async teardown(deadlineMs) {
    this.closing = true;
    for (const it of this.iterators) void it.it.return();
    for (const s of this.servers) void s.stop().catch(() => {});
    for (const { uffd } of this.uffds) uffd.close();
    if (this.sb.killChildren !== undefined) await this.sb.killChildren();
    const deadline = Date.now() + deadlineMs;
    while ((this.pendingTouches.size > 0 || this.pendingNexts.size > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
    }
    const stuck = { touches: this.pendingTouches.size, nexts: this.pendingNexts.size };
    this.uffds = [];
    this.iterators = [];
    this.views = [];
    this.servers = [];
    return stuck;
  }
}

module.exports = { Executor };
