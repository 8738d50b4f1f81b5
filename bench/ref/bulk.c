/*
 * Scenario 5, C reference: one bulk UFFDIO_MOVE or UFFDIO_COPY of `bytes` from a populated
 * source into an empty registered destination, with 4 KiB pages (MADV_NOHUGEPAGE) or
 * THP-backed (2 MiB aligned, MADV_HUGEPAGE). A partial result (EAGAIN with a positive result
 * field, spec §2.6) is continued, as completeMove()/completeCopy() do in the package.
 *
 *   bulk op=move|copy bytes=N thp=0|1 [idle_threads=N]
 *
 * idle_threads=N starts N threads that run for a moment and then sleep, before the timed call:
 * a process with threads that have run on other CPUs pays for TLB shootdowns there when page
 * table entries change (flush_tlb_mm_range() sends IPIs to the CPUs in the mm's cpumask), and a
 * Node process always has such threads (V8's platform workers, libuv's). The bench uses it to
 * show how much of a gap is that kernel cost rather than the package's code.
 *
 * Prints {"ns": time of the ioctl(s), "bytes": N, "thpBytes": AnonHugePages after the call,
 * i.e. of source + destination, the only THP-advised memory here}.
 * Mapping, populating and reading smaps are not timed; smaps is read after the call, as on the
 * package side (reading it just before walks the page tables and slows the call down).
 */
#include "common.h"

#include <pthread.h>

/* Runs for ~1 ms (so the scheduler places it on some CPU and the mm is active there), then
 * sleeps for good, like an idle worker thread. */
static void *idle_thread(void *arg) {
  (void)arg;
  volatile unsigned long x = 0;
  for (unsigned long i = 0; i < 2000000; i++) x += i;
  pause();
  return NULL;
}

static long anon_huge_kb(void) {
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

int main(int argc, char **argv) {
  int move = !strcmp(arg_str(argc, argv, "op", "move"), "move");
  size_t bytes = arg_u64(argc, argv, "bytes", 16u << 20);
  int thp = (int)arg_u64(argc, argv, "thp", 0);
  size_t ps = page_size();
  int idle_threads = (int)arg_u64(argc, argv, "idle_threads", 0);
  for (int i = 0; i < idle_threads; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, idle_thread, NULL) != 0) die("pthread_create");
  }
  if (idle_threads > 0) usleep(100000); /* let each of them run */
  int uffd = uffd_open();
  char *src = map_anon(bytes, thp);
  char *dst = map_anon(bytes, thp);
  populate(src, bytes, ps);
  uffd_register(uffd, dst, bytes);

  uint64_t done = 0;
  uint64_t t0 = now_ns();
  while (done < bytes) {
    uint64_t d = (uint64_t)(uintptr_t)dst + done, s = (uint64_t)(uintptr_t)src + done;
    int64_t field;
    int ret;
    if (move) {
      struct uffdio_move_ m = {d, s, bytes - done, 0, 0};
      ret = ioctl(uffd, UFFDIO_MOVE_, &m);
      field = m.move;
    } else {
      struct uffdio_copy_ c = {d, s, bytes - done, 0, 0};
      ret = ioctl(uffd, UFFDIO_COPY_, &c);
      field = c.copy;
    }
    if (ret == 0) break;
    if (errno == EAGAIN && field > 0) {
      done += (uint64_t)field;
      continue;
    }
    die(move ? "UFFDIO_MOVE" : "UFFDIO_COPY");
  }
  uint64_t t1 = now_ns();
  long thp_kb = anon_huge_kb();
  if (dst[bytes - ps] != (char)((bytes - ps) / ps + 1)) {
    fprintf(stderr, "content mismatch\n");
    return 1;
  }
  printf("{\"ns\":%llu,\"bytes\":%zu,\"thpBytes\":%ld}\n", (unsigned long long)(t1 - t0), bytes,
         thp_kb < 0 ? -1 : thp_kb * 1024);
  return 0;
}
