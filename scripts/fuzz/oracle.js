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
    return { ...pages, fds: fs.readdirSync('/proc/self/fd').length };
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

module.exports = { Oracle };
