'use strict';
// The state a refused call must leave unchanged, read from the kernel without touching memory:
// - the VMAs over the sandbox with their permissions and VmFlags from /proc/self/smaps (um, uw
//   and ui are the userfaultfd MISSING, WP and MINOR registrations: a refused register or
//   unregister shows up here);
// - per page, the /proc/self/pagemap bits present, swapped, uffd-wp and exclusively-mapped (a
//   refused COPY/ZEROPAGE/POISON/MOVE that installed or removed a page shows up here). PFNs are
//   not compared: compaction may migrate a page at any time;
// - the number of open fds.
// (THP collapse by khugepaged cannot fill none ptes here: no sandbox VMA spans an aligned 2 MiB.)
// It is only compared in a quiescent state: every pending touch() thread is finished or blocked
// in handle_userfault, so nothing else changes the pages between two snapshots.
const fs = require('fs');

/** The open fds of this process. */
function fdCount() {
  return fs.readdirSync('/proc/self/fd').length;
}

const PRESENT = 1n << 63n;
const SWAPPED = 1n << 62n;
const UFFD_WP = 1n << 57n;
const EXCLUSIVE = 1n << 56n;
const MASK = PRESENT | SWAPPED | UFFD_WP | EXCLUSIVE;

class Oracle {
  constructor(pageSize) {
    this.ps = pageSize;
    this.pagemap = fs.openSync('/proc/self/pagemap', 'r');
  }

  close() {
    fs.closeSync(this.pagemap);
  }

  /**
   * A comparable snapshot of the spaces ([start, end) pairs). Reading smaps walks every page
   * table of the process (~10 ms here), so the VMA part is taken only when asked for: for the
   * calls that act on VMAs (register, unregister, mm.*, Mapping methods); no kernel path lets a
   * refused COPY, MOVE, ZEROPAGE, POISON, CONTINUE or WAKE change a VMA.
   */
  snapshot(spaces, withVmas = true) {
    const pages = this.pages(spaces, withVmas ? this.vmas(spaces) : undefined);
    return { ...pages, fds: fdCount() };
  }

  vmas(spaces) {
    const vmas = [];
    const smaps = fs.readFileSync('/proc/self/smaps', 'utf8');
    let cur = null;
    for (const line of smaps.split('\n')) {
      const h = /^([0-9a-f]+)-([0-9a-f]+) (\S+)/.exec(line);
      if (h) {
        const s = parseInt(h[1], 16);
        const e = parseInt(h[2], 16);
        // Clipped to the sandbox: node's own VMAs merge with and split from ours at will.
        const parts = spaces
          .filter(([a, b]) => s < b && e > a)
          .map(([a, b]) => [Math.max(s, a), Math.min(e, b)]);
        cur = parts.length > 0 ? { parts, perms: h[3] } : null;
        continue;
      }
      if (cur && line.startsWith('VmFlags:')) {
        const flags = line.slice(8).trim().split(/\s+/).sort().join(' ');
        for (const [s, e] of cur.parts) {
          vmas.push(`${s.toString(16)}-${e.toString(16)} ${cur.perms} ${flags}`);
        }
        cur = null;
      }
    }
    return vmas.join('\n');
  }

  pages(spaces, vmas) {
    const pages = [];
    for (const [a, b] of spaces) {
      const n = Math.ceil((b - a) / this.ps);
      const buf = Buffer.alloc(n * 8);
      fs.readSync(this.pagemap, buf, 0, buf.length, (a / this.ps) * 8);
      const bits = [];
      for (let i = 0; i < n; i++) {
        const v = buf.readBigUInt64LE(i * 8) & MASK;
        bits.push(v === 0n ? '.' : (v >> 56n).toString(16));
      }
      pages.push({ a, bits });
    }
    return { vmas, pages };
  }

  /**
   * A description of what differs between two snapshots, or '' when equal. `faultedIn` lists
   * ranges a refused call may have read (a COPY's source): the kernel reads the source before it
   * looks at the destination, so a page there (or, by fault-around, next to it) may go from
   * missing to present.
   */
  static diff(before, after, ps, faultedIn = []) {
    const out = [];
    // A read fault on a file or shmem page also maps the neighbours already in the page cache
    // (fault-around, 64 KiB windows by default): widen each source range to those windows.
    const W = 64 * 1024;
    faultedIn = faultedIn.map(([s, l]) => {
      const a = Math.floor(s / W) * W;
      return [a, Math.ceil((s + l) / W) * W - a];
    });
    if (before.vmas !== undefined && after.vmas !== undefined && before.vmas !== after.vmas) {
      out.push(`VMAs:\n-${before.vmas}\n+${after.vmas}`);
    }
    const changed = [];
    for (let i = 0; i < before.pages.length; i++) {
      const b = before.pages[i];
      const a = after.pages[i];
      for (let j = 0; j < b.bits.length; j++) {
        if (b.bits[j] === a.bits[j]) continue;
        const addr = b.a + j * ps;
        const read = faultedIn.some(([s, l]) => addr + ps > s && addr < s + l);
        if (read && b.bits[j] === '.' && a.bits[j] !== '.') continue;
        // Faulting a source page of a shared or file mapping in (and its fault-around window)
        // maps a page-cache page once more: every other mapping of it (the memfd and its alias)
        // loses PM_MMAP_EXCLUSIVE (bit 56) with nothing else changed. Seen as "81 -> 80" on five
        // pages of the memfd after a refused COPY read from its alias (FUZZ_SEED=68324149).
        if (faultedIn.length > 0 && b.bits[j] !== '.' && a.bits[j] !== '.') {
          const [bv, av] = [parseInt(b.bits[j], 16), parseInt(a.bits[j], 16)];
          if ((bv & 1) === 1 && av === (bv & ~1)) continue;
        }
        changed.push(`0x${addr.toString(16)}: ${b.bits[j]} -> ${a.bits[j]}`);
      }
    }
    if (changed.length > 0)
      out.push(`pages (present/swap/wp/excl bits >> 56):\n${changed.join('\n')}`);
    // A refused call must not open an fd. The count may drop meanwhile for reasons outside the
    // call: a dropped Userfaultfd's FinalizationRegistry closes its fd whenever V8 collects it
    // (seen as "fds: 32 -> 31" on a refused unregister in a loaded container).
    if (after.fds > before.fds) out.push(`fds: ${before.fds} -> ${after.fds}`);
    return out.join('\n');
  }
}

/**
 * The same comparable state, for a SimulatedSpace, read from the space's own view:
 * - every VMA of the space (`vmaInfo`: range, permissions, mlock, uffd modes), plus the id of the
 *   uffd context each is registered with (a refused REGISTER by another uffd must not take a
 *   range over even with the same modes: that part is read from the model's VMA list);
 * - per page of the sandbox spaces, `pageInfo`'s present/swapped/uffd-wp/exclusive bits (the
 *   kernel oracle's) and file/zero/thp (which the kernel side needs root for);
 * - the simulated fd table, and per open uffd context its mmap_changing count and whether
 *   messages are pending (a refused call must not queue or consume an event).
 * The model runs on the JS thread only, so the runner takes both snapshots in the turn of the
 * call: nothing else can change the space in between.
 */
class SimOracle {
  constructor(space) {
    this.space = space;
  }

  close() {}

  snapshot(spaces) {
    const sp = this.space;
    const all = sp.vmaInfo(0, Number.MAX_SAFE_INTEGER);
    const model = sp.vmas.range(0, Infinity);
    const vmas = all.map((v, i) => {
      const u = v.uffd;
      const modes = `${u.missing ? 'm' : '-'}${u.wp ? 'w' : '-'}${u.minor ? 'i' : '-'}`;
      const ctx = model[i]?.uffd?.id ?? 0;
      return `${v.start.toString(16)}-${v.end.toString(16)} ${v.perms} ${v.locked ? 'lo' : '--'} ${modes} ctx${ctx}`;
    });
    const ctxs = new Map();
    for (const v of model) if (v.uffd !== null) ctxs.set(v.uffd.id, v.uffd);
    const fds = sp.sys.fds;
    for (const f of fds.values()) if (f.kind === 'uffd') ctxs.set(f.ctx.id, f.ctx);
    const queues = [...ctxs.values()]
      .sort((a, b) => a.id - b.id)
      .map((c) => `ctx${c.id}:${c.mmapChanging}${c.readable() ? '+' : ''}`);
    const pages = [];
    for (const [a, b] of spaces) {
      const bits = sp.pageInfo(a, b - a).map((p) => {
        const hi = (p.present ? 8 : 0) | (p.swapped ? 4 : 0) | (p.uffdWp ? 2 : 0);
        const v = hi | (p.exclusive ? 1 : 0);
        const lo = (p.file ? 4 : 0) | (p.zero ? 2 : 0) | (p.thp ? 1 : 0);
        return v === 0 && lo === 0 ? '.' : `${v.toString(16)}${lo}`;
      });
      pages.push({ a, bits });
    }
    return { vmas: `${vmas.join('\n')}\n${queues.join(' ')}`, pages, fds: fds.size };
  }
}

module.exports = { Oracle, SimOracle, fdCount };
