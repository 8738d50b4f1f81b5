/**
 * The uAPI numbers the simulated engine needs, written out so the engine works where the addon
 * cannot load (spec §1.2–§1.6). These are ABI constants: identical on x86-64 and arm64 (the
 * errno values and the generic mm flags are the asm-generic ones both use).
 */

/** errno values (positive), asm-generic/errno-base.h and errno.h. */
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSYS = 38;
export const EOPNOTSUPP = 95;

export const O_NONBLOCK = 0x800;
export const O_CLOEXEC = 0x80000;
export const UFFD_USER_MODE_ONLY = 1;
export const UFFD_API = 0xaa;

export const UFFDIO_REGISTER_MODE_MISSING = 1;
export const UFFDIO_REGISTER_MODE_WP = 2;
export const UFFDIO_REGISTER_MODE_MINOR = 4;
export const UFFDIO_COPY_MODE_DONTWAKE = 1;
export const UFFDIO_COPY_MODE_WP = 2;
export const UFFDIO_ZEROPAGE_MODE_DONTWAKE = 1;
export const UFFDIO_WRITEPROTECT_MODE_WP = 1;
export const UFFDIO_WRITEPROTECT_MODE_DONTWAKE = 2;
export const UFFDIO_CONTINUE_MODE_DONTWAKE = 1;
export const UFFDIO_CONTINUE_MODE_WP = 2;
export const UFFDIO_POISON_MODE_DONTWAKE = 1;
export const UFFDIO_MOVE_MODE_DONTWAKE = 1;
export const UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES = 2;

/** ioctl request values (x86-64 and arm64 share the _IOC encoding). */
export const UFFDIO_API_REQ = 0xc018aa3f;
export const UFFDIO_REGISTER_REQ = 0xc020aa00;
export const UFFDIO_UNREGISTER_REQ = 0x8010aa01;
export const UFFDIO_WAKE_REQ = 0x8010aa02;
export const UFFDIO_COPY_REQ = 0xc028aa03;
export const UFFDIO_ZEROPAGE_REQ = 0xc020aa04;
export const UFFDIO_MOVE_REQ = 0xc028aa05;
export const UFFDIO_WRITEPROTECT_REQ = 0xc018aa06;
export const UFFDIO_CONTINUE_REQ = 0xc020aa07;
export const UFFDIO_POISON_REQ = 0xc020aa08;
export const USERFAULTFD_IOC_NEW = 0xaa00;

/** Feature bits (spec §1.4). */
export const F_PAGEFAULT_FLAG_WP = 1 << 0;
export const F_EVENT_FORK = 1 << 1;
export const F_EVENT_REMAP = 1 << 2;
export const F_EVENT_REMOVE = 1 << 3;
export const F_EVENT_UNMAP = 1 << 6;
export const F_SIGBUS = 1 << 7;
export const F_THREAD_ID = 1 << 8;
export const F_EXACT_ADDRESS = 1 << 11;
export const F_WP_UNPOPULATED = 1 << 13;
export const F_POISON = 1 << 14;
export const F_WP_ASYNC = 1 << 15;
export const F_MOVE = 1 << 16;
/** What 6.18 offers here (A9): bits 0–16. */
export const FEATURES_6_18 = 0x1ffff;
/**
 * What 6.1 offers on x86_64 (bits 0–12: up to WP_HUGETLBFS_SHMEM, 5.19); arm64 6.1 has no
 * uffd-wp and lacks bits 0 and 12 too (the arm64-6.1 guest's UFFDIO_API, test/vm).
 */
export const FEATURES_6_1 = 0x1fff;
export const F_WP_HUGETLBFS_SHMEM = 1 << 12;
/** The RFC-era kernel offered no MOVE bit (the ioctl existed without a feature flag). */
export const FEATURES_RFC_2015 = 0x1ffff & ~F_MOVE;

/** `uffdio_api.ioctls` on success (A9): REGISTER | UNREGISTER | API. */
export const UFFD_API_IOCTLS = (1n << 0n) | (1n << 1n) | (1n << 0x3fn);
/** REGISTER's reply before mode filtering (spec §1.5): WAKE..POISON. */
export const UFFD_API_RANGE_IOCTLS = 0x1fc;
export const UFFD_API_RANGE_IOCTLS_BASIC = 0x1cc;
export const IOCTL_BIT_MOVE = 1 << 5;
export const IOCTL_BIT_WRITEPROTECT = 1 << 6;
export const IOCTL_BIT_CONTINUE = 1 << 7;
export const IOCTL_BIT_POISON = 1 << 8;

/** uffd_msg (spec §1.3, §1.6). */
export const MSG_SIZE = 32;
export const UFFD_EVENT_PAGEFAULT = 0x12;
export const UFFD_EVENT_FORK = 0x13;
export const UFFD_EVENT_REMAP = 0x14;
export const UFFD_EVENT_REMOVE = 0x15;
export const UFFD_EVENT_UNMAP = 0x16;
export const UFFD_PAGEFAULT_FLAG_WRITE = 1;
export const UFFD_PAGEFAULT_FLAG_WP = 2;
export const UFFD_PAGEFAULT_FLAG_MINOR = 4;

/** poll(2) bits. */
export const POLLIN = 0x1;
export const POLLERR = 0x8;

/**
 * Names the core's `k()` looks up, for when the addon cannot load (the simulated backend on a
 * system without the addon). Only the uffd uAPI: mm syscalls need the addon anyway.
 */
export const UAPI_CONSTANTS: Readonly<Record<string, number>> = Object.freeze({
  UFFD_API,
  UFFD_USER_MODE_ONLY,
  O_CLOEXEC,
  O_NONBLOCK,
  UFFDIO_REGISTER_MODE_MISSING,
  UFFDIO_REGISTER_MODE_WP,
  UFFDIO_REGISTER_MODE_MINOR,
  UFFDIO_COPY_MODE_DONTWAKE,
  UFFDIO_COPY_MODE_WP,
  UFFDIO_ZEROPAGE_MODE_DONTWAKE,
  UFFDIO_WRITEPROTECT_MODE_WP,
  UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
  UFFDIO_CONTINUE_MODE_DONTWAKE,
  UFFDIO_CONTINUE_MODE_WP,
  UFFDIO_POISON_MODE_DONTWAKE,
  UFFDIO_MOVE_MODE_DONTWAKE,
  UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES,
  UFFD_EVENT_PAGEFAULT,
  UFFD_EVENT_FORK,
  UFFD_EVENT_REMAP,
  UFFD_EVENT_REMOVE,
  UFFD_EVENT_UNMAP,
  UFFD_PAGEFAULT_FLAG_WRITE,
  UFFD_PAGEFAULT_FLAG_WP,
  UFFD_PAGEFAULT_FLAG_MINOR,
  USERFAULTFD_IOC_NEW,
  UFFDIO_API: UFFDIO_API_REQ,
  UFFDIO_REGISTER: UFFDIO_REGISTER_REQ,
  UFFDIO_UNREGISTER: UFFDIO_UNREGISTER_REQ,
  UFFDIO_WAKE: UFFDIO_WAKE_REQ,
  UFFDIO_COPY: UFFDIO_COPY_REQ,
  UFFDIO_ZEROPAGE: UFFDIO_ZEROPAGE_REQ,
  UFFDIO_MOVE: UFFDIO_MOVE_REQ,
  UFFDIO_WRITEPROTECT: UFFDIO_WRITEPROTECT_REQ,
  UFFDIO_CONTINUE: UFFDIO_CONTINUE_REQ,
  UFFDIO_POISON: UFFDIO_POISON_REQ,
});
