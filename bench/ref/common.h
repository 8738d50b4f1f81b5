/*
 * Shared helpers for the C reference programs of the benchmark (bench/README or the repo
 * README "Performance"). Each program measures one scenario the way a C user of userfaultfd
 * would write it, and prints one JSON object on stdout. They are compiled with the system cc
 * at bench time (bench/run.ts) and never linked into the package.
 *
 * The uAPI is spelled out by hand, as in native/uapi.h: the build machine's
 * <linux/userfaultfd.h> may predate UFFDIO_MOVE (Linux 6.8).
 */
#ifndef BENCH_REF_COMMON_H
#define BENCH_REF_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct uffdio_range_ {
  uint64_t start, len;
};
struct uffdio_api_ {
  uint64_t api, features, ioctls;
};
struct uffdio_register_ {
  struct uffdio_range_ range;
  uint64_t mode, ioctls;
};
struct uffdio_copy_ {
  uint64_t dst, src, len, mode;
  int64_t copy;
};
struct uffdio_zeropage_ {
  struct uffdio_range_ range;
  uint64_t mode;
  int64_t zeropage;
};
struct uffdio_move_ {
  uint64_t dst, src, len, mode;
  int64_t move;
};
struct __attribute__((packed)) uffd_msg_ {
  uint8_t event, reserved1;
  uint16_t reserved2;
  uint32_t reserved3;
  uint64_t flags;   /* arg.pagefault.flags */
  uint64_t address; /* arg.pagefault.address */
  uint32_t ptid;
  uint32_t pad;
};
_Static_assert(sizeof(struct uffd_msg_) == 32, "uffd_msg");
_Static_assert(sizeof(struct uffdio_move_) == 40, "uffdio_move");

#define UFFD_USER_MODE_ONLY_ 1
#define UFFDIO_API_ _IOWR(0xAA, 0x3F, struct uffdio_api_)
#define UFFDIO_REGISTER_ _IOWR(0xAA, 0x00, struct uffdio_register_)
#define UFFDIO_WAKE_ _IOR(0xAA, 0x02, struct uffdio_range_)
#define UFFDIO_COPY_ _IOWR(0xAA, 0x03, struct uffdio_copy_)
#define UFFDIO_ZEROPAGE_ _IOWR(0xAA, 0x04, struct uffdio_zeropage_)
#define UFFDIO_MOVE_ _IOWR(0xAA, 0x05, struct uffdio_move_)
#define UFFD_EVENT_PAGEFAULT_ 0x12
#define UFFD_FEATURE_THREAD_ID_ (1ull << 8)
#define UFFD_FEATURE_MOVE_ (1ull << 16)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES_ (1ull << 1)
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif

static inline void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(2);
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The same flags and features the package uses by default (Userfaultfd.open()):
 * O_CLOEXEC|O_NONBLOCK|UFFD_USER_MODE_ONLY, THREAD_ID enabled, two-step negotiation. */
static inline int uffd_open(void) {
  int flags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY_;
  int probe = (int)syscall(SYS_userfaultfd, flags);
  if (probe < 0) die("userfaultfd");
  struct uffdio_api_ a = {0xAA, 0, 0};
  if (ioctl(probe, UFFDIO_API_, &a)) die("UFFDIO_API (probe)");
  close(probe);
  int fd = (int)syscall(SYS_userfaultfd, flags);
  if (fd < 0) die("userfaultfd");
  struct uffdio_api_ b = {0xAA, a.features & UFFD_FEATURE_THREAD_ID_, 0};
  if (ioctl(fd, UFFDIO_API_, &b)) die("UFFDIO_API");
  return fd;
}

static inline void uffd_register(int fd, void *addr, size_t len) {
  struct uffdio_register_ r = {{(uint64_t)(uintptr_t)addr, len}, 1 /* MISSING */, 0};
  if (ioctl(fd, UFFDIO_REGISTER_, &r)) die("UFFDIO_REGISTER");
}

static inline size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* Private anonymous memory; with thp, 2 MiB aligned and MADV_HUGEPAGE (as
 * Mapping.anonymous(len, { hugepage: true })), else MADV_NOHUGEPAGE. */
static inline char *map_anon(size_t len, int thp) {
  size_t align = thp ? (2u << 20) : 0;
  size_t total = len + align;
  char *raw = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) die("mmap");
  char *p = raw;
  if (align) {
    p = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    if (p > raw) munmap(raw, (size_t)(p - raw));
    size_t tail = (size_t)(raw + total - (p + len));
    if (tail) munmap(p + len, tail);
  }
  if (madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)) die("madvise");
  return p;
}

/* Writes one byte per page (the page's index) so every page is present and distinct. */
static inline void populate(char *p, size_t len, size_t ps) {
  for (size_t off = 0; off < len; off += ps) p[off] = (char)(off / ps + 1);
}

/* xorshift32: the same generator as bench/lib/rng.ts, so both sides use the same orders. */
static inline uint32_t xorshift32(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *s = x;
  return x;
}

/* A permutation of 0..n-1 (Fisher-Yates with xorshift32, seed != 0). */
static inline uint32_t *permutation(uint32_t n, uint32_t seed) {
  uint32_t *p = malloc(sizeof(uint32_t) * (n ? n : 1));
  if (!p) die("malloc");
  for (uint32_t i = 0; i < n; i++) p[i] = i;
  uint32_t s = seed;
  for (uint32_t i = n; i > 1; i--) {
    uint32_t j = xorshift32(&s) % i;
    uint32_t t = p[i - 1];
    p[i - 1] = p[j];
    p[j] = t;
  }
  return p;
}

/* key=value arguments: arg_u64(argc, argv, "pages", 1000). */
static inline uint64_t arg_u64(int argc, char **argv, const char *key, uint64_t def) {
  size_t k = strlen(key);
  for (int i = 1; i < argc; i++)
    if (!strncmp(argv[i], key, k) && argv[i][k] == '=') return strtoull(argv[i] + k + 1, 0, 0);
  return def;
}
static inline const char *arg_str(int argc, char **argv, const char *key, const char *def) {
  size_t k = strlen(key);
  for (int i = 1; i < argc; i++)
    if (!strncmp(argv[i], key, k) && argv[i][k] == '=') return argv[i] + k + 1;
  return def;
}

/* Lines of /proc/self/maps: the process's VMA count. */
static inline long vma_count(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return -1;
  long n = 0;
  int c;
  while ((c = fgetc(f)) != EOF)
    if (c == '\n') n++;
  fclose(f);
  return n;
}

#endif
