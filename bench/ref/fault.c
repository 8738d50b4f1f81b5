/*
 * Scenarios 1, 2 and 8, C reference: the fault round trip.
 *
 * `threads` faulting threads each read `pages` fresh pages of a registered range, one page
 * after the other. One handler thread serves every fault the way the kernel selftests do
 * (spec §4.1 uffd_poll_thread): poll(2) on the uffd, read(2) the messages (up to 64 at a time,
 * as the package's event stream does), one resolving ioctl per fault at the page address.
 *
 *   fault op=copy|zeropage|move pages=N threads=T
 *
 * Prints {"ns": wall time from the start signal until every faulter finished, "faults": ...}.
 */
#include "common.h"

enum { OP_COPY, OP_ZEROPAGE, OP_MOVE };

static int uffd;
static int op;
static size_t ps;
static char *dst, *src;
static size_t total_pages;
static volatile int go;
static uint64_t t_start;

static void resolve(uint64_t addr) {
  uint64_t off = addr - (uint64_t)(uintptr_t)dst;
  int ret;
  if (op == OP_COPY) {
    struct uffdio_copy_ c = {addr, (uint64_t)(uintptr_t)(src + off), ps, 0, 0};
    ret = ioctl(uffd, UFFDIO_COPY_, &c);
  } else if (op == OP_ZEROPAGE) {
    struct uffdio_zeropage_ z = {{addr, ps}, 0, 0};
    ret = ioctl(uffd, UFFDIO_ZEROPAGE_, &z);
  } else {
    struct uffdio_move_ m = {addr, (uint64_t)(uintptr_t)(src + off), ps, 0, 0};
    ret = ioctl(uffd, UFFDIO_MOVE_, &m);
  }
  if (ret && errno != EEXIST) die("resolve ioctl");
  if (ret) { /* EEXIST: someone else installed it; no implicit wake (spec §4.4) */
    struct uffdio_range_ r = {addr, ps};
    ioctl(uffd, UFFDIO_WAKE_, &r);
  }
}

static void *handler(void *arg) {
  (void)arg;
  struct uffd_msg_ msgs[64];
  size_t served = 0;
  struct pollfd pfd = {uffd, POLLIN, 0};
  while (served < total_pages) {
    int r = poll(&pfd, 1, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("poll");
    ssize_t n = read(uffd, msgs, sizeof msgs);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) die("read");
    for (ssize_t i = 0; i < n / (ssize_t)sizeof(struct uffd_msg_); i++) {
      if (msgs[i].event != UFFD_EVENT_PAGEFAULT_) continue;
      resolve(msgs[i].address & ~(uint64_t)(ps - 1));
      served++;
    }
  }
  return NULL;
}

struct faulter {
  pthread_t t;
  char *base;
  size_t pages;
  uint64_t sum;
  uint64_t end;
};

static void *faulter(void *arg) {
  struct faulter *f = arg;
  while (!go) __atomic_thread_fence(__ATOMIC_ACQUIRE);
  uint64_t sum = 0;
  for (size_t i = 0; i < f->pages; i++) sum += *(volatile char *)(f->base + i * ps);
  f->sum = sum;
  f->end = now_ns();
  return NULL;
}

int main(int argc, char **argv) {
  const char *o = arg_str(argc, argv, "op", "copy");
  op = !strcmp(o, "move") ? OP_MOVE : !strcmp(o, "zeropage") ? OP_ZEROPAGE : OP_COPY;
  size_t pages = arg_u64(argc, argv, "pages", 10000);
  int threads = (int)arg_u64(argc, argv, "threads", 1);
  ps = page_size();
  total_pages = pages * (size_t)threads;
  size_t len = total_pages * ps;
  uffd = uffd_open();
  dst = map_anon(len, 0);
  src = map_anon(len, 0);
  if (op != OP_ZEROPAGE) populate(src, len, ps);
  uffd_register(uffd, dst, len);

  pthread_t h;
  struct faulter fs[16];
  if (threads > 16) threads = 16;
  for (int i = 0; i < threads; i++) {
    fs[i].base = dst + (size_t)i * pages * ps;
    fs[i].pages = pages;
    pthread_create(&fs[i].t, NULL, faulter, &fs[i]);
  }
  pthread_create(&h, NULL, handler, NULL);
  t_start = now_ns();
  __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
  uint64_t end = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(fs[i].t, NULL);
    if (fs[i].end > end) end = fs[i].end;
  }
  pthread_join(h, NULL);
  printf("{\"ns\":%llu,\"faults\":%zu}\n", (unsigned long long)(end - t_start), total_pages);
  return 0;
}
