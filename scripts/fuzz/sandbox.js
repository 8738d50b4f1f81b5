'use strict';
// The fuzzer's sandbox: every address a fuzzed call may act on lies in memory made here, so that
// random but valid-looking calls can never munmap, mprotect, MOVE away or register memory that
// node itself uses (one madvise(DONTNEED) of V8's heap, one REGISTER of it, would crash or hang
// the runner and be reported as a bug of the package).
//
// Spaces:
// - R: an arena of raw mmap()ed memory (not a Mapping, so mm.* may act on it), laid out as
//   segments of different kinds (private/shared anonymous, memfd, read-only, a regular file)
//   between PROT_NONE reservations. Ranges are clamped to R, so "past the end of a mapping" means
//   into the next segment or reservation, never out of R. Holes that mm calls punch are refilled
//   at once with PROT_NONE (MAP_FIXED_NOREPLACE), so nobody else can map into R.
// - R2: 32 private anonymous pages, the only memory a uffd opened with userModeOnly: false may
//   register. A kernel-mode access (copy_from_user in COPY's src, mlock's populate, ...) to a
//   missing page registered with such a uffd blocks the calling thread, which is the JS thread:
//   so R2 is never a COPY source nor mlocked nor mremapped.
// - Mappings: Mapping objects (regions) created by the sandbox or by fuzzed calls. Ranges are
//   clamped to the Mapping; an unmapped Mapping's addresses are no longer ours (a later mmap by
//   node may reuse them), so they resolve to R instead.
// - Absurd addresses: below mmap_min_addr (with small lengths) or at/above 2^47 (any length):
//   nothing is mapped there.
//
// `Sandbox` holds what does not depend on the backend (the layout, resolving specs into
// addresses); `KernelSandbox` builds it in this process, `SimSandbox` in a SimulatedSpace. The
// simulated space holds nothing of node's, so there the spaces only keep the calls meaningful
// (and lengths bounded: the model walks the pages it is asked to populate, as the kernel does).
const fs = require('fs');
const os = require('os');
const path = require('path');
const { junkOf } = require('./calls');

const R_PAGES = 256;
/** R's layout as [first page, pages, kind]; PROT_NONE reservations in between. */
const LAYOUT = [
  [16, 32, 'private'],
  [64, 16, 'private'],
  [80, 16, 'shared'],
  [96, 16, 'memfd'],
  [112, 16, 'readonly'],
  [128, 16, 'file'],
  [144, 32, 'private'],
];
/** The writable anonymous and shmem segments: private A, private B, shared, memfd, private C. */
const SEGMENTS = LAYOUT.filter(([, , kind]) => kind !== 'readonly' && kind !== 'file').map(
  ([first, pages]) => [first, pages],
);
const R2_PAGES = 32;
const MAX_TRACKED_BYTES = 2 ** 30;
const TASK_SIZE = 0x7ffffffff000;
const HUGE = 2 ** 47; // any length >= this makes [addr, addr+len) leave the user address space

/** The backend-independent part: the layout of R, R2 and the mappings, and resolve(). */
class Sandbox {
  constructor(pageSize) {
    this.ps = pageSize;
    this.mappings = []; // Mapping objects (kernel), or plain { address, length } regions
  }

  liveMappings() {
    return this.mappings.filter((m) => !m.closed && m.owner);
  }

  /** [start, end) spaces whose state the oracle compares. */
  spaces() {
    const s = [
      [this.R, this.Rend],
      [this.R2, this.R2end],
    ];
    for (const m of this.liveMappings()) s.push([m.address, m.address + m.length]);
    return s;
  }

  /** Where the holes of R are, from [start, end) VMA extents sorted by address. */
  holesOfR(vmas) {
    let cur = this.R;
    const holes = [];
    for (const [s, e] of vmas) {
      if (s > cur) holes.push([cur, s]);
      cur = Math.max(cur, e);
    }
    if (cur < this.Rend) holes.push([cur, this.Rend]);
    return holes;
  }

  /**
   * Resolves an abstract address spec and length spec into a safe (addr, len) pair.
   * `allow` lists the spaces this call may touch ('R', 'R2', 'map', 'abs'); a spec naming another
   * space resolves in R. `hugeOk`: may a huge length (>= 2^47) be combined with a sandbox
   * address? True only for the uffd ioctls, whose validate_range() refuses start + len >
   * TASK_SIZE before anything else; mm.* walk every VMA up to start + len.
   */
  resolve(aSpec, lSpec, { allow = ['R', 'map', 'abs'], hugeOk = false } = {}) {
    const ps = this.ps;
    let t = aSpec.t;
    let big = aSpec.big === true;
    let addr;
    let end;
    if (t === 'bad') {
      const v = junkOf(aSpec.v);
      // Junk that is not an address is refused before any syscall, whatever the length.
      if (!isU53(v)) return [v, this.length(lSpec, Infinity, hugeOk)];
      // Junk that IS an address (an integer from the random pools) must not land in node's
      // own memory: keep it if nothing can be mapped there, else fold it into R.
      big = typeof v === 'bigint';
      const n = Number(v);
      if (n < 0x10000 || n >= HUGE) {
        t = 'abs';
        aSpec = { t: 'abs', v: n };
      } else {
        t = 'R';
        aSpec = { t: 'R', page: Math.floor(n / ps) % R_PAGES, sub: n % ps };
      }
    }
    if (t === 'seg') {
      // A page inside one of R's segments (the likeliest place for a call to succeed).
      const [first, n] = SEGMENTS[aSpec.s % SEGMENTS.length];
      t = 'R';
      aSpec = { t: 'R', page: first + (aSpec.page % n), sub: aSpec.sub };
    }
    if (!allow.includes(t)) t = 'R';
    if (t === 'map') {
      const live = this.liveMappings();
      const m = live.length > 0 ? live[aSpec.i % live.length] : undefined;
      if (m === undefined) {
        t = 'R';
      } else {
        end = m.address + m.length;
        addr = Math.min(m.address + aSpec.page * ps + aSpec.sub, end);
      }
    }
    if (t === 'R') {
      end = this.Rend;
      addr = this.R + (aSpec.page % R_PAGES) * ps + (aSpec.sub ?? 0);
    } else if (t === 'R2') {
      end = this.R2end;
      addr = this.R2 + (aSpec.page % R2_PAGES) * ps + (aSpec.sub ?? 0);
    } else if (t === 'abs') {
      addr = aSpec.v;
      // Nothing is mapped below mmap_min_addr (64 KiB) nor at/above 2^47: lengths stay below
      // 64 KiB from a low address; any length is fine from a high one.
      end = addr >= HUGE ? Infinity : 0x10000;
    }
    return [big ? BigInt(addr) : addr, this.length(lSpec, end - addr, hugeOk)];
  }

  /**
   * A length spec's value for a range with `room` bytes before the end of its space: valid
   * lengths are clamped to the room (a huge one is kept only when `hugeOk`); junk passes through.
   */
  length(lSpec, room, hugeOk) {
    const ps = this.ps;
    let v;
    let big = lSpec.big === true;
    switch (lSpec.t) {
      case 'pages':
        v = lSpec.n * ps + lSpec.extra;
        break;
      case 'rest':
        v = Number.isFinite(room) ? Math.max(0, room) : 0;
        break;
      case 'huge':
        v = lSpec.v;
        break;
      default: {
        const j = junkOf(lSpec.v);
        if (!isU53(j)) return j;
        big = typeof j === 'bigint';
        v = Number(j);
      }
    }
    if (v > room && !(hugeOk && v >= HUGE)) v = Math.max(0, room);
    return big ? BigInt(v) : v;
  }
}

class KernelSandbox extends Sandbox {
  constructor(u, native) {
    super(u.pageSize);
    this.u = u;
    this.b = native;
    this.k = u.constants();
    this.kind = 'kernel';
    /** A kernel-mode access to a page registered by a non-USER_MODE_ONLY uffd sleeps (R2). */
    this.kernelFaultsBlock = true;
    /** munmap, mremap, MAP_FIXED and madvise(DONTNEED) of an evented range block the caller. */
    this.eventsBlock = true;
    this.mm = u.mm;
    this.fds = []; // fds the sandbox opened (memfd, file)
    this.extra = []; // [addr, len] mapped outside R by fuzzed calls, to munmap at teardown
  }

  mmapRaw(addr, len, prot, flags, fd = -1, off = 0) {
    const r = this.b.mmap(addr, len, prot, flags, fd, off);
    if (r < 0) throw new Error(`sandbox mmap failed: ${r}`);
    return r;
  }

  setup() {
    const { k, ps } = this;
    const anon = k.MAP_PRIVATE | k.MAP_ANONYMOUS | k.MAP_NORESERVE;
    const rw = k.PROT_READ | k.PROT_WRITE;
    // R sits right below a 256 MiB free gap: mmap picks the highest free gap that fits, so the
    // allocations of other threads (V8, the ASan allocator) land in that gap rather than in a
    // hole a fuzzed munmap just punched in R (seen under ASan before repair() could refill it:
    // a foreign mapping in R that another thread then wrote to).
    const GAP = 256 * 1024 * 1024;
    const whole = this.mmapRaw(0, R_PAGES * ps + GAP, k.PROT_NONE, anon);
    this.b.munmap(whole + R_PAGES * ps, GAP);
    this.R = whole;
    this.Rend = this.R + R_PAGES * ps;
    const fixed = k.MAP_FIXED;
    const memfd = this.b.memfdCreate('fuzz', k.MFD_CLOEXEC);
    if (memfd < 0) throw new Error(`memfd_create: ${memfd}`);
    this.fds.push(memfd);
    this.memfd = memfd;
    this.b.ftruncate(memfd, 32 * ps);
    const file = path.join(os.tmpdir(), `uffd-fuzz-${process.pid}.bin`);
    fs.writeFileSync(file, Buffer.alloc(16 * ps, 0x11));
    const ffd = fs.openSync(file, 'r+');
    fs.unlinkSync(file);
    this.fds.push(ffd);
    this.fileFd = ffd;
    for (const [first, pages, kind] of LAYOUT) {
      const at = this.R + first * ps;
      const len = pages * ps;
      if (kind === 'private') this.mmapRaw(at, len, rw, anon | fixed);
      if (kind === 'shared') this.mmapRaw(at, len, rw, k.MAP_SHARED | k.MAP_ANONYMOUS | fixed);
      if (kind === 'memfd') this.mmapRaw(at, len, rw, k.MAP_SHARED | fixed, memfd, 0);
      if (kind === 'readonly') this.mmapRaw(at, len, k.PROT_READ, anon | fixed);
      if (kind === 'file') this.mmapRaw(at, len, rw, k.MAP_PRIVATE | fixed, ffd, 0);
    }
    this.R2 = this.mmapRaw(0, R2_PAGES * this.ps, rw, anon);
    this.R2end = this.R2 + R2_PAGES * ps;
    // Some Mappings: private, shared, memfd (+ its alias).
    this.addMapping(this.u.Mapping.anonymous(8 * ps));
    this.addMapping(this.u.Mapping.anonymous(8 * ps, { shared: true }));
    const mf = this.u.Mapping.memfd(8 * ps);
    this.addMapping(mf);
    this.addMapping(mf.alias());
    this.devNull = fs.openSync('/dev/null', 'r');
    this.fds.push(this.devNull);
  }

  addMapping(m) {
    // The oracle reads 8 bytes of pagemap per page of every tracked Mapping at each snapshot. A
    // huge one is given back at once (the call that made it was fuzzed all the same): with
    // arm64's 48-bit VA a 2^47-byte Mapping fits, and its snapshot buffer did not (RangeError).
    if (this.mappings.length >= 16 || m.length > MAX_TRACKED_BYTES) {
      m.unmap();
      return;
    }
    this.mappings.push(m);
  }

  /** Gives back memory a fuzzed mmap/mremap placed outside the sandbox. */
  unmapOutside(addr, len) {
    this.b.munmap(addr, len);
  }

  /** The real process's memory access calls. */
  read(addr, len) {
    return this.u.readMemory(addr, len);
  }

  write(addr, data) {
    return this.u.writeMemory(addr, data);
  }

  /**
   * The addon's task threads ("uffd-task", native/threads.cc): how many exist and how many sleep
   * in handle_userfault.
   */
  static taskThreads() {
    let all = 0;
    let blocked = 0;
    for (const t of fs.readdirSync('/proc/self/task')) {
      try {
        if (fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() !== 'uffd-task') continue;
        all++;
        const w = fs.readFileSync(`/proc/self/task/${t}/wchan`, 'utf8');
        if (w === 'handle_userfault') blocked++;
      } catch {
        // the thread exited
      }
    }
    return { all, blocked };
  }

  /**
   * Quiescent: each pending touch has a thread and every such thread is blocked in a fault, so
   * nothing changes the sandbox until a call wakes one.
   */
  async quiesce(ex, deadlineMs = 5000) {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const t = KernelSandbox.taskThreads();
      if (t.all === t.blocked && t.blocked >= ex.pendingTouches.size) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setImmediate(r));
    }
  }

  /** What is still running, for a violation report. */
  pendingInfo(ex) {
    const threads = JSON.stringify(KernelSandbox.taskThreads());
    return `${[...ex.touchInfo.values()].join('; ')} threads ${threads}`;
  }

  /** Refills holes in R with PROT_NONE reservations (after munmap/mremap/failed MAP_FIXED). */
  repair() {
    const { k } = this;
    for (const [s, e] of this.holesOfR(this.vmasIn(this.R, this.Rend))) {
      const r = this.b.mmap(
        s,
        e - s,
        k.PROT_NONE,
        k.MAP_PRIVATE | k.MAP_ANONYMOUS | k.MAP_NORESERVE | k.MAP_FIXED_NOREPLACE,
        -1,
        0,
      );
      if (r !== s) throw new Error(`sandbox breach: cannot refill [${hex(s)}, ${hex(e)}): ${r}`);
    }
  }

  /** VMAs of /proc/self/maps intersecting [start, end), clipped to it. */
  vmasIn(start, end) {
    const out = [];
    for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+)/.exec(line);
      if (!m) continue;
      const s = parseInt(m[1], 16);
      const e = parseInt(m[2], 16);
      if (e <= start || s >= end) continue;
      out.push([Math.max(s, start), e]);
    }
    return out;
  }

  teardown() {
    for (const m of this.mappings) {
      try {
        m.unmap();
      } catch {
        // already gone
      }
    }
    this.mappings = [];
    this.b.munmap(this.R, this.Rend - this.R);
    this.b.munmap(this.R2, this.R2end - this.R2);
    for (const [s, e] of this.extra) this.b.munmap(s, e - s);
    this.extra = [];
    for (const fd of this.fds) fs.closeSync(fd);
    this.fds = [];
  }
}

/**
 * The same layout in a fresh SimulatedSpace (lib/engine): R with its segments between PROT_NONE
 * reservations, R2, and three plain regions standing for the Mappings. The model has no memfd
 * nor private file mapping reachable from AddressSpace: the memfd segment is shared anonymous
 * memory (shmem, which is what a memfd is) and the file segment is private 'rx' memory.
 */
class SimSandbox extends Sandbox {
  constructor(u, pageSize) {
    super(pageSize);
    this.u = u;
    this.kind = 'simulated';
    // A kernel-mode access (GUP, COPY's source) to a missing page of a non-USER_MODE_ONLY uffd
    // gets SIGBUS in the model (a synchronous simulated syscall cannot sleep): R2 needs no care.
    this.kernelFaultsBlock = false;
    // Non-cooperative events never block the JS thread: the calls return, the event is queued.
    this.eventsBlock = false;
    this.children = []; // fork children, killed at teardown
  }

  setup() {
    const sp = new this.u.SimulatedSpace({ pageSize: this.ps });
    const ps = this.ps;
    this.space = sp;
    this.mm = sp;
    this.R = sp.mmap(R_PAGES * ps, { prot: 'none' });
    this.Rend = this.R + R_PAGES * ps;
    const options = {
      private: {},
      shared: { shared: true },
      memfd: { shared: true },
      readonly: { prot: 'r' },
      file: { prot: 'rx' },
    };
    for (const [first, pages, kind] of LAYOUT) {
      sp.mmap(pages * ps, { ...options[kind], fixed: this.R + first * ps });
    }
    this.R2 = sp.mmap(R2_PAGES * ps);
    this.R2end = this.R2 + R2_PAGES * ps;
    for (const shared of [false, true, true]) {
      const address = sp.mmap(8 * ps, { shared });
      this.mappings.push({ address, length: 8 * ps, owner: true, closed: false });
    }
  }

  unmapOutside(addr, len) {
    this.space.munmap(addr, len);
  }

  read(addr, len) {
    return this.space.read(addr, len);
  }

  write(addr, data) {
    return this.space.write(addr, data);
  }

  /**
   * Lets what the last call started run on (woken accesses, event readers, serve() handlers):
   * event-loop turns until the executor's progress stops changing. The simulated calls are
   * synchronous and the JS thread is the only actor, so this is about realism, not safety: the
   * runner brackets each call with snapshots taken in the same turn.
   */
  async quiesce(ex, maxTurns = 200) {
    let last = ex.progress();
    for (let turn = 0, stable = 0; stable < 2; turn++) {
      if (turn >= maxTurns) return true;
      await new Promise((r) => setImmediate(r));
      const p = ex.progress();
      stable = p === last ? stable + 1 : 0;
      last = p;
    }
    return true;
  }

  pendingInfo(ex) {
    return [...ex.touchInfo.values()].join('; ');
  }

  /** Refills holes in R with PROT_NONE reservations, as the kernel sandbox does. */
  repair() {
    const vmas = this.space.vmaInfo(this.R, this.Rend - this.R).map((v) => [v.start, v.end]);
    for (const [s, e] of this.holesOfR(vmas)) this.space.mmap(e - s, { fixed: s, prot: 'none' });
  }

  /**
   * Kills the fork children. A child holds copies of the parent's uffd fds (as after a real
   * fork), so until it dies closing the parent's Userfaultfds releases nothing. That includes
   * the child of a fork() still waiting for its FORK event to be read: the harness does not have
   * it yet, so it is taken from the model's list (what SIGKILL would reach in the kernel).
   */
  async killChildren() {
    for (const c of this.children.splice(0)) await c.kill();
    for (const c of [...this.space.children]) c.exit();
  }

  teardown() {
    this.space.exit();
  }
}

function hex(n) {
  return `0x${n.toString(16)}`;
}

/** A value the API accepts as an address or length: a safe non-negative integer or BigInt. */
function isU53(v) {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0;
  if (typeof v === 'bigint') return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER);
  return false;
}

module.exports = { KernelSandbox, SimSandbox, R_PAGES, R2_PAGES, SEGMENTS, TASK_SIZE, HUGE };
