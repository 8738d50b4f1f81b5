'use strict';
// A writer for the "newc" cpio format the kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst), so building a guest image needs
// no cpio binary. Entries: directories, regular files (copied from disk or given as bytes) and
// symlinks. Owner root, mtime 0: the image depends only on its contents.
const fs = require('fs');
const path = require('path');

class CpioWriter {
  constructor(file) {
    this.fd = fs.openSync(file, 'w');
    this.offset = 0;
    this.ino = 1;
    this.dirs = new Set(['.', '']);
  }

  write(buf) {
    fs.writeSync(this.fd, buf);
    this.offset += buf.length;
  }

  pad() {
    const n = (4 - (this.offset % 4)) % 4;
    if (n) this.write(Buffer.alloc(n));
  }

  header(name, mode, size) {
    const field = (v) => v.toString(16).padStart(8, '0');
    const nameBuf = Buffer.from(`${name}\0`);
    const h =
      '070701' +
      [this.ino++, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, nameBuf.length, 0].map(field).join('');
    this.write(Buffer.from(h, 'latin1'));
    this.write(nameBuf);
    this.pad();
  }

  /** Creates the parents of `name` (a path relative to the image root) as needed. */
  parents(name) {
    const dir = path.posix.dirname(name);
    if (this.dirs.has(dir)) return;
    this.parents(dir);
    this.header(dir, 0o40755, 0);
    this.dirs.add(dir);
  }

  dir(name, mode = 0o755) {
    this.parents(name);
    if (this.dirs.has(name)) return;
    this.header(name, 0o40000 | mode, 0);
    this.dirs.add(name);
  }

  bytes(name, data, mode = 0o644) {
    this.parents(name);
    this.header(name, 0o100000 | mode, data.length);
    this.write(data);
    this.pad();
  }

  /** Copies a file from disk, streaming it (node is ~100 MB). */
  file(name, src, mode) {
    const st = fs.statSync(src);
    this.parents(name);
    this.header(name, 0o100000 | (mode ?? st.mode & 0o777), st.size);
    const fd = fs.openSync(src, 'r');
    const buf = Buffer.allocUnsafe(1 << 20);
    try {
      let left = st.size;
      while (left > 0) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, left), null);
        if (n === 0) throw new Error(`${src}: file shrank while copying`);
        this.write(buf.subarray(0, n));
        left -= n;
      }
    } finally {
      fs.closeSync(fd);
    }
    this.pad();
  }

  symlink(name, target) {
    this.parents(name);
    const data = Buffer.from(target);
    this.header(name, 0o120777, data.length);
    this.write(data);
    this.pad();
  }

  /** Copies a directory tree under `name`, skipping what `skip(relPath, dirent)` rejects. */
  tree(name, src, skip = () => false, rel = '') {
    this.dir(name);
    for (const d of fs.readdirSync(src, { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (skip(r, d)) continue;
      const from = path.join(src, d.name);
      const to = `${name}/${d.name}`;
      if (d.isDirectory()) this.tree(to, from, skip, r);
      else if (d.isSymbolicLink()) {
        // Dereference: the guest has no node_modules/.bin or hoisting to point into.
        const real = fs.realpathSync(from);
        if (fs.statSync(real).isDirectory()) this.tree(to, real, skip, r);
        else this.file(to, real);
      } else if (d.isFile()) this.file(to, from);
    }
  }

  close() {
    this.header('TRAILER!!!', 0, 0);
    fs.closeSync(this.fd);
    return this.offset;
  }
}

module.exports = { CpioWriter };
