/**
 * The hand-written uAPI (native/uapi.h, exported as native().constants) against the values of
 * ../shared/spec/kernel-semantics.md §1.1-§1.6. The expected values are written literally from
 * the spec tables, never derived from the code under test.
 */
import { native } from '../../lib/binding';
import { FEATURE_BITS, IOCTL_BITS, decodeMessages } from '../../lib';

const c = native().constants;

// §1.2 ioctl numbers (x86-64 values; the generic _IOC encoding gives the same on arm64).
const IOCTLS: Record<string, number> = {
  UFFDIO_REGISTER: 0xc020aa00,
  UFFDIO_UNREGISTER: 0x8010aa01,
  UFFDIO_WAKE: 0x8010aa02,
  UFFDIO_COPY: 0xc028aa03,
  UFFDIO_ZEROPAGE: 0xc020aa04,
  UFFDIO_MOVE: 0xc028aa05,
  UFFDIO_WRITEPROTECT: 0xc018aa06,
  UFFDIO_CONTINUE: 0xc020aa07,
  UFFDIO_POISON: 0xc020aa08,
  UFFDIO_API: 0xc018aa3f,
  USERFAULTFD_IOC_NEW: 0xaa00,
};

// §1.2 table: nr, direction (_IO 0, _IOW 1, _IOR 2, _IOWR 3) and argument size.
const IOCTL_SHAPE: Record<string, [nr: number, dir: number, size: number]> = {
  UFFDIO_REGISTER: [0x00, 3, 32],
  UFFDIO_UNREGISTER: [0x01, 2, 16],
  UFFDIO_WAKE: [0x02, 2, 16],
  UFFDIO_COPY: [0x03, 3, 40],
  UFFDIO_ZEROPAGE: [0x04, 3, 32],
  UFFDIO_MOVE: [0x05, 3, 40],
  UFFDIO_WRITEPROTECT: [0x06, 3, 24],
  UFFDIO_CONTINUE: [0x07, 3, 32],
  UFFDIO_POISON: [0x08, 3, 32],
  UFFDIO_API: [0x3f, 3, 24],
  USERFAULTFD_IOC_NEW: [0x00, 0, 0],
};

// §1.1
const OPEN: Record<string, number> = {
  UFFD_API: 0xaa,
  UFFD_USER_MODE_ONLY: 1,
};

// §1.3 sizes and offsets
const LAYOUT: Record<string, number> = {
  sizeof_uffdio_api: 24,
  sizeof_uffdio_range: 16,
  sizeof_uffdio_register: 32,
  sizeof_uffdio_copy: 40,
  sizeof_uffdio_zeropage: 32,
  sizeof_uffdio_writeprotect: 24,
  sizeof_uffdio_continue: 32,
  sizeof_uffdio_poison: 32,
  sizeof_uffdio_move: 40,
  sizeof_uffd_msg: 32,
  offsetof_uffdio_register_ioctls: 24,
  offsetof_uffdio_copy_copy: 32,
  offsetof_uffdio_zeropage_zeropage: 24,
  offsetof_uffdio_continue_mapped: 24,
  offsetof_uffdio_poison_updated: 24,
  offsetof_uffdio_move_move: 32,
  offsetof_uffd_msg_arg: 8,
  offsetof_uffd_msg_pagefault_flags: 8,
  offsetof_uffd_msg_pagefault_address: 16,
  offsetof_uffd_msg_pagefault_ptid: 24,
  offsetof_uffd_msg_fork_ufd: 8,
  offsetof_uffd_msg_remap_from: 8,
  offsetof_uffd_msg_remap_to: 16,
  offsetof_uffd_msg_remap_len: 24,
  offsetof_uffd_msg_remove_start: 8,
  offsetof_uffd_msg_remove_end: 16,
};

// §1.3 mode bits table
const MODES: Record<string, number> = {
  UFFDIO_REGISTER_MODE_MISSING: 1 << 0,
  UFFDIO_REGISTER_MODE_WP: 1 << 1,
  UFFDIO_REGISTER_MODE_MINOR: 1 << 2,
  UFFDIO_COPY_MODE_DONTWAKE: 1 << 0,
  UFFDIO_COPY_MODE_WP: 1 << 1,
  UFFDIO_ZEROPAGE_MODE_DONTWAKE: 1 << 0,
  UFFDIO_WRITEPROTECT_MODE_WP: 1 << 0,
  UFFDIO_WRITEPROTECT_MODE_DONTWAKE: 1 << 1,
  UFFDIO_CONTINUE_MODE_DONTWAKE: 1 << 0,
  UFFDIO_CONTINUE_MODE_WP: 1 << 1,
  UFFDIO_POISON_MODE_DONTWAKE: 1 << 0,
  UFFDIO_MOVE_MODE_DONTWAKE: 1 << 0,
  UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES: 1 << 1,
};

// §1.4 feature bits
const FEATURES: Record<string, number> = {
  UFFD_FEATURE_PAGEFAULT_FLAG_WP: 1 << 0,
  UFFD_FEATURE_EVENT_FORK: 1 << 1,
  UFFD_FEATURE_EVENT_REMAP: 1 << 2,
  UFFD_FEATURE_EVENT_REMOVE: 1 << 3,
  UFFD_FEATURE_MISSING_HUGETLBFS: 1 << 4,
  UFFD_FEATURE_MISSING_SHMEM: 1 << 5,
  UFFD_FEATURE_EVENT_UNMAP: 1 << 6,
  UFFD_FEATURE_SIGBUS: 1 << 7,
  UFFD_FEATURE_THREAD_ID: 1 << 8,
  UFFD_FEATURE_MINOR_HUGETLBFS: 1 << 9,
  UFFD_FEATURE_MINOR_SHMEM: 1 << 10,
  UFFD_FEATURE_EXACT_ADDRESS: 1 << 11,
  UFFD_FEATURE_WP_HUGETLBFS_SHMEM: 1 << 12,
  UFFD_FEATURE_WP_UNPOPULATED: 1 << 13,
  UFFD_FEATURE_POISON: 1 << 14,
  UFFD_FEATURE_WP_ASYNC: 1 << 15,
  UFFD_FEATURE_MOVE: 1 << 16,
};

// §1.6 events and pagefault flags
const EVENTS: Record<string, number> = {
  UFFD_EVENT_PAGEFAULT: 0x12,
  UFFD_EVENT_FORK: 0x13,
  UFFD_EVENT_REMAP: 0x14,
  UFFD_EVENT_REMOVE: 0x15,
  UFFD_EVENT_UNMAP: 0x16,
  UFFD_PAGEFAULT_FLAG_WRITE: 1 << 0,
  UFFD_PAGEFAULT_FLAG_WP: 1 << 1,
  UFFD_PAGEFAULT_FLAG_MINOR: 1 << 2,
};

const ALL = { ...IOCTLS, ...OPEN, ...LAYOUT, ...MODES, ...FEATURES, ...EVENTS };

describe('uAPI constants (spec §1)', () => {
  test.each(Object.entries(IOCTLS))('§1.2 ioctl %s = %d', (name, value) => {
    expect(c[name]).toBe(value);
  });

  test.each(Object.entries(IOCTL_SHAPE))('§1.2 %s encodes nr/dir/size', (name, [nr, dir, size]) => {
    const v = c[name]!;
    expect(v & 0xff).toBe(nr);
    expect((v >>> 8) & 0xff).toBe(0xaa);
    expect((v >>> 16) & 0x3fff).toBe(size);
    expect(v >>> 30).toBe(dir);
  });

  test('§1.2: the argument size encoded in each ioctl equals the struct size', () => {
    expect((c.UFFDIO_API! >>> 16) & 0x3fff).toBe(c.sizeof_uffdio_api);
    expect((c.UFFDIO_REGISTER! >>> 16) & 0x3fff).toBe(c.sizeof_uffdio_register);
    expect((c.UFFDIO_UNREGISTER! >>> 16) & 0x3fff).toBe(c.sizeof_uffdio_range);
    expect((c.UFFDIO_WAKE! >>> 16) & 0x3fff).toBe(c.sizeof_uffdio_range);
    expect((c.UFFDIO_COPY! >>> 16) & 0x3fff).toBe(c.sizeof_uffdio_copy);
    expect((c.UFFDIO_ZEROPAGE! >>> 16) & 0x3fff).toBe(c.sizeof_uffdio_zeropage);
    expect((c.UFFDIO_MOVE! >>> 16) & 0x3fff).toBe(c.sizeof_uffdio_move);
    expect((c.UFFDIO_WRITEPROTECT! >>> 16) & 0x3fff).toBe(c.sizeof_uffdio_writeprotect);
    expect((c.UFFDIO_CONTINUE! >>> 16) & 0x3fff).toBe(c.sizeof_uffdio_continue);
    expect((c.UFFDIO_POISON! >>> 16) & 0x3fff).toBe(c.sizeof_uffdio_poison);
  });

  test.each(Object.entries(OPEN))('§1.1 %s = %s', (name, value) => {
    expect(c[name]).toBe(value);
  });

  test('§1.1 open flags on x86-64: O_CLOEXEC 0x80000, O_NONBLOCK 0x800', () => {
    if (process.arch === 'x64') {
      expect(c.O_CLOEXEC).toBe(0x80000);
      expect(c.O_NONBLOCK).toBe(0x800);
    } else {
      expect(typeof c.O_CLOEXEC).toBe('number');
    }
  });

  test.each(Object.entries(LAYOUT))('§1.3 %s = %s', (name, value) => {
    expect(c[name]).toBe(value);
  });

  test.each(Object.entries(MODES))('§1.3 mode %s = %s', (name, value) => {
    expect(c[name]).toBe(value);
  });

  test.each(Object.entries(FEATURES))('§1.4 feature %s = %s', (name, value) => {
    expect(c[name]).toBe(value);
  });

  test('§1.4 beware: MOVE is 1<<16 and WP_ASYNC is 1<<15', () => {
    expect(c.UFFD_FEATURE_MOVE).toBe(65536);
    expect(c.UFFD_FEATURE_WP_ASYNC).toBe(32768);
    expect(c.UFFD_FEATURE_POISON).toBe(16384);
    expect(c.UFFD_FEATURE_WP_UNPOPULATED).toBe(8192);
  });

  test.each(Object.entries(EVENTS))('§1.6 %s = %s', (name, value) => {
    expect(c[name]).toBe(value);
  });

  test('every uAPI constant the addon exports is checked here', () => {
    const uapi = Object.keys(c).filter((k) => /^(UFFD|USERFAULTFD|sizeof_|offsetof_)/.test(k));
    const unchecked = uapi.filter((k) => !(k in ALL));
    expect(unchecked).toEqual([]);
    // ...and every expected constant is exported.
    expect(Object.keys(ALL).filter((k) => !(k in c))).toEqual([]);
  });

  test('lib/features.ts names the §1.4 feature bits and §1.2 ioctl numbers', () => {
    expect(FEATURE_BITS).toEqual({
      pagefaultFlagWp: 0,
      eventFork: 1,
      eventRemap: 2,
      eventRemove: 3,
      missingHugetlbfs: 4,
      missingShmem: 5,
      eventUnmap: 6,
      sigbus: 7,
      threadId: 8,
      minorHugetlbfs: 9,
      minorShmem: 10,
      exactAddress: 11,
      wpHugetlbfsShmem: 12,
      wpUnpopulated: 13,
      poison: 14,
      wpAsync: 15,
      move: 16,
    });
    expect(IOCTL_BITS).toEqual({
      register: 0x00,
      unregister: 0x01,
      wake: 0x02,
      copy: 0x03,
      zeropage: 0x04,
      move: 0x05,
      writeProtect: 0x06,
      continue: 0x07,
      poison: 0x08,
      api: 0x3f,
    });
  });

  test('§1.3 uffd_msg: decodeMessages reads the fields at the spec offsets', () => {
    const buf = new Uint8Array(32 * 4);
    const v = new DataView(buf.buffer);
    // pagefault: flags@8 address@16 ptid@24
    v.setUint8(0, 0x12);
    v.setBigUint64(8, 3n, true);
    v.setBigUint64(16, 0x7f0000001000n, true);
    v.setUint32(24, 4242, true);
    // fork: ufd@8
    v.setUint8(32, 0x13);
    v.setUint32(40, 17, true);
    // remap: from@8 to@16 len@24
    v.setUint8(64, 0x14);
    v.setBigUint64(72, 0x1000n, true);
    v.setBigUint64(80, 0x2000n, true);
    v.setBigUint64(88, 0x8000n, true);
    // remove: start@8 end@16
    v.setUint8(96, 0x15);
    v.setBigUint64(104, 0x3000n, true);
    v.setBigUint64(112, 0x4000n, true);
    expect(decodeMessages(buf, 4, true)).toEqual([
      {
        type: 'pagefault',
        address: 0x7f0000001000,
        kind: 'wp',
        write: true,
        flags: 3,
        threadId: 4242,
      },
      { type: 'fork', fd: 17 },
      { type: 'remap', from: 0x1000, to: 0x2000, len: 0x8000 },
      { type: 'remove', start: 0x3000, end: 0x4000 },
    ]);
  });
});
