/*
 * Scenario 6, C reference: heap compaction as in the UFFDIO_MOVE commit
 * (shared/seeds/2023-uffdio-move-uabi.txt): "a benchmark that emulates a heap compaction
 * implementation using userfaultfd (to allow concurrent accesses by application threads)".
 *
 * A from-space of `live * spread` pages holds `live` live pages at random positions (the rest is
 * garbage). The compactor relocates the live pages, in address order, into a dense to-space that
 * is registered for missing faults, page j of to-space receiving the j-th live page:
 *   mode=copy: UFFDIO_COPY, then MADV_DONTNEED of the from-space page (release it), or
 *   mode=move: UFFDIO_MOVE (the page itself is moved: no allocation, no copy, no release).
 * Meanwhile a reader thread keeps reading a random to-space page every 5 µs and checks that it
 * holds the right live page; its faults are served at once by a handler thread (poll + read + the
 * same relocation for the faulting page; EEXIST means the compactor got there first: wake).
 *
 *   compact mode=copy|move live=N spread=2 seed=S reader=1
 *
 * Prints {"ns": the compactor's completion time, "pages": N, "faults": faults served by the
 * handler, "reads": reader accesses, "bad": wrong pages seen by the reader}.
 */
#include "common.h"

static int uffd, move_mode;
static size_t ps, live;
static char *from, *to;
static uint32_t *live_idx;  /* to-space page j <- from-space page live_idx[j] */
static unsigned char *done; /* to-space page j is relocated (a real compactor's page state) */
static volatile int compactor_done, stop_handler;
static uint64_t faults, reads, bad;
static int pipefd[2];

/* The from-space page k starts with the 8-byte stamp k + 1. */
static void relocate(size_t j) {
  uint64_t d = (uint64_t)(uintptr_t)(to + j * ps);
  char *s = from + (size_t)live_idx[j] * ps;
  int ret;
  if (move_mode) {
    struct uffdio_move_ m = {d, (uint64_t)(uintptr_t)s, ps, 0, 0};
    ret = ioctl(uffd, UFFDIO_MOVE_, &m);
  } else {
    struct uffdio_copy_ c = {d, (uint64_t)(uintptr_t)s, ps, 0, 0};
    ret = ioctl(uffd, UFFDIO_COPY_, &c);
  }
  if (ret && errno != EEXIST) die("relocate");
  if (ret) { /* the other side relocated it: make sure nobody stays asleep */
    struct uffdio_range_ r = {d, ps};
    ioctl(uffd, UFFDIO_WAKE_, &r);
  }
  if (!move_mode && madvise(s, ps, MADV_DONTNEED)) die("madvise");
  __atomic_store_n(&done[j], 1, __ATOMIC_RELEASE);
}

static void *handler(void *arg) {
  (void)arg;
  struct uffd_msg_ msgs[64];
  struct pollfd p[2] = {{uffd, POLLIN, 0}, {pipefd[0], POLLIN, 0}};
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (p[1].revents) return NULL;
    ssize_t n = read(uffd, msgs, sizeof msgs);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) die("read");
    for (ssize_t i = 0; i < n / (ssize_t)sizeof(struct uffd_msg_); i++) {
      uint64_t a = msgs[i].address & ~(uint64_t)(ps - 1);
      relocate((a - (uint64_t)(uintptr_t)to) / ps);
      faults++;
    }
  }
}

/* One random to-space page every PACE_NS (a mutator doing some work between heap accesses),
 * spinning in between, as the package's reader worker does (bench/workers/reader.ts). */
#define PACE_NS 5000
static void *reader(void *arg) {
  uint32_t s = (uint32_t)(uintptr_t)arg;
  uint64_t next = now_ns();
  while (!compactor_done) {
    size_t j = xorshift32(&s) % live;
    uint64_t v = *(volatile uint64_t *)(to + j * ps);
    if (v != (uint64_t)live_idx[j] + 1) bad++;
    reads++;
    next += PACE_NS;
    uint64_t t;
    while ((t = now_ns()) < next && !compactor_done) {
    }
    if (t > next + PACE_NS) next = t; /* after a fault: no catch-up burst */
  }
  return NULL;
}

int main(int argc, char **argv) {
  move_mode = !strcmp(arg_str(argc, argv, "mode", "move"), "move");
  live = arg_u64(argc, argv, "live", 16384);
  size_t spread = arg_u64(argc, argv, "spread", 2);
  uint32_t seed = (uint32_t)arg_u64(argc, argv, "seed", 7);
  int with_reader = (int)arg_u64(argc, argv, "reader", 1);
  ps = page_size();
  size_t from_pages = live * spread;
  uffd = uffd_open();
  from = map_anon(from_pages * ps, 0);
  to = map_anon(live * ps, 0);
  for (size_t k = 0; k < from_pages; k++) *(uint64_t *)(from + k * ps) = k + 1;
  /* live set: the first `live` entries of a permutation of the from-space, in address order */
  uint32_t *perm = permutation((uint32_t)from_pages, seed);
  char *mark = calloc(from_pages, 1);
  for (size_t i = 0; i < live; i++) mark[perm[i]] = 1;
  live_idx = malloc(sizeof(uint32_t) * live);
  done = calloc(live, 1);
  for (size_t k = 0, j = 0; k < from_pages; k++)
    if (mark[k]) live_idx[j++] = (uint32_t)k;
  uffd_register(uffd, to, live * ps);
  if (pipe(pipefd)) die("pipe");

  pthread_t h, r;
  pthread_create(&h, NULL, handler, NULL);
  if (with_reader) pthread_create(&r, NULL, reader, (void *)(uintptr_t)(seed * 2654435761u | 1));
  usleep(1000); /* let the reader start faulting */
  uint64_t t0 = now_ns();
  /* Pages the handler already relocated for the reader are skipped. */
  for (size_t j = 0; j < live; j++)
    if (!__atomic_load_n(&done[j], __ATOMIC_ACQUIRE)) relocate(j);
  uint64_t t1 = now_ns();
  compactor_done = 1;
  if (with_reader) pthread_join(r, NULL);
  if (write(pipefd[1], "x", 1) != 1) die("write");
  pthread_join(h, NULL);
  for (size_t j = 0; j < live; j++)
    if (*(uint64_t *)(to + j * ps) != (uint64_t)live_idx[j] + 1) bad++;
  printf("{\"ns\":%llu,\"pages\":%zu,\"faults\":%llu,\"reads\":%llu,\"bad\":%llu}\n",
         (unsigned long long)(t1 - t0), live, (unsigned long long)faults, (unsigned long long)reads,
         (unsigned long long)bad);
  return bad ? 1 : 0;
}
