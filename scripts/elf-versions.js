'use strict';
// The symbol versions a shared object needs from its libraries (the ELF "version needs" section,
// SHT_GNU_verneed, what `readelf -V` prints under "Version needs section"), and the check of
// those versions against the oldest system the prebuilds promise to load on.
//
// A binary linked against glibc 2.36 that calls, say, pthread_once gets bound to the newest
// version of that symbol (GLIBC_2.34, when libpthread moved into libc); the dynamic loader of an
// older glibc then refuses the whole file ("version `GLIBC_2.34' not found"). Checking the needed
// versions is therefore exact: a file whose needs are all within the baseline loads there.
// Pure JavaScript, so the check also runs where binutils (or an arm64 readelf) is missing.
const fs = require('fs');

/**
 * The baseline the prebuilds are built for (scripts/prebuild.js builds them in Debian 11
 * "bullseye"): glibc 2.31, libstdc++ and libgcc_s from GCC 10. Debian 11 and Ubuntu 20.04 have
 * these; the newest versions their libraries define are GLIBC_2.30, GLIBCXX_3.4.28,
 * CXXABI_1.3.12 and GCC_7.0.0 (read from bullseye's libc.so.6, libstdc++.so.6.0.28 and
 * libgcc_s.so.1).
 */
const BASELINE = {
  label: 'glibc 2.31, libstdc++ of GCC 10 (Debian 11, Ubuntu 20.04)',
  max: { GLIBC: '2.31', GLIBCXX: '3.4.28', CXXABI: '1.3.12', GCC: '7.0.0' },
};

const SHT_GNU_VERNEED = 0x6ffffffe;

/** Numeric comparison of dotted versions: 2.4 < 2.31 < 2.34, 3.4.9 < 3.4.28. */
function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function cString(buf, off) {
  const end = buf.indexOf(0, off);
  return buf.toString('latin1', off, end < 0 ? buf.length : end);
}

/**
 * The versions `file` needs, by library: Map('libc.so.6' => ['GLIBC_2.2.5', ...]), each list
 * sorted. Only 64-bit little-endian ELF (x86_64, aarch64): the prebuilds' targets.
 */
function versionNeeds(file) {
  const b = fs.readFileSync(file);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file}: not an ELF`);
  if (b[4] !== 2 || b[5] !== 1) throw new Error(`${file}: not a 64-bit little-endian ELF`);
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const section = (i) => {
    const o = shoff + i * shentsize;
    return {
      type: b.readUInt32LE(o + 4),
      offset: Number(b.readBigUInt64LE(o + 0x18)),
      link: b.readUInt32LE(o + 0x28),
      info: b.readUInt32LE(o + 0x2c),
    };
  };
  const needs = new Map();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.type !== SHT_GNU_VERNEED) continue;
    const strtab = section(s.link).offset;
    // Elf64_Verneed {vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32}, then
    // vn_cnt Elf64_Vernaux {vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next}
    // (sh_info = the number of Verneed entries).
    let p = s.offset;
    for (let n = 0; n < s.info; n++) {
      const lib = cString(b, strtab + b.readUInt32LE(p + 4));
      const list = needs.get(lib) ?? [];
      let a = p + b.readUInt32LE(p + 8);
      for (let k = 0; k < b.readUInt16LE(p + 2); k++) {
        list.push(cString(b, strtab + b.readUInt32LE(a + 8)));
        a += b.readUInt32LE(a + 12);
      }
      needs.set(lib, list);
      const next = b.readUInt32LE(p + 12);
      if (next === 0) break;
      p += next;
    }
  }
  for (const [lib, list] of needs) {
    needs.set(
      lib,
      [...new Set(list)].sort((x, y) => x.localeCompare(y, 'en', { numeric: true })),
    );
  }
  return needs;
}

/** The newest needed version per family ({GLIBC: '2.28', GLIBCXX: '3.4.22', ...}). */
function newestNeeds(needs) {
  const newest = {};
  for (const list of needs.values()) {
    for (const v of list) {
      const m = /^([A-Z]+)_([0-9.]+)$/.exec(v);
      if (m && (!newest[m[1]] || compareVersions(m[2], newest[m[1]]) > 0)) newest[m[1]] = m[2];
    }
  }
  return newest;
}

/**
 * The needed versions the baseline lacks, as 'GLIBC_2.34 (libc.so.6)'. A version of a family
 * the baseline does not list (GLIBC_PRIVATE, an unknown library's) counts as lacking: nothing
 * vouches for it.
 */
function aboveBaseline(needs, baseline = BASELINE) {
  const out = [];
  for (const [lib, list] of needs) {
    for (const v of list) {
      const m = /^([A-Z]+)_([0-9.]+)$/.exec(v);
      const max = m && baseline.max[m[1]];
      if (!max || compareVersions(m[2], max) > 0) out.push(`${v} (${lib})`);
    }
  }
  return out;
}

module.exports = { BASELINE, compareVersions, versionNeeds, newestNeeds, aboveBaseline };
