/*
 * Scenario 7, C reference: compaction by mremap(2) vs by UFFDIO_MOVE, and what each does to the
 * VMA count (/proc/self/maps lines). Every other page of a from-space of 2*live pages is live
 * (the worst case for splitting); live page j goes to page j of a dense to-space.
 *   mode=mremap: mremap(from_k, ps, ps, MAYMOVE|FIXED, to_j). Each call splits the from-space
 *     VMA and leaves a one-page VMA in to-space that cannot merge with its neighbours (their
 *     vm_pgoff is not contiguous), so the count grows ~2 per page until vm.max_map_count
 *     stops mremap with ENOMEM.
 *   mode=move: UFFDIO_MOVE into a registered to-space: page tables only, no new VMA (the 2015
 *     RFC's point, spec §2.10).
 *
 *   remap mode=mremap|move live=N
 *
 * Prints {"ns", "pages" (done before any failure), "vmasBefore", "vmasAfter", "errno"}.
 */
#include "common.h"

int main(int argc, char **argv) {
  int move = !strcmp(arg_str(argc, argv, "mode", "move"), "move");
  size_t live = arg_u64(argc, argv, "live", 10000);
  size_t ps = page_size();
  size_t from_pages = 2 * live;
  char *from = map_anon(from_pages * ps, 0);
  char *to = map_anon(live * ps, 0);
  for (size_t k = 0; k < from_pages; k++) *(uint64_t *)(from + k * ps) = k + 1;
  int uffd = -1;
  if (move) {
    uffd = uffd_open();
    uffd_register(uffd, to, live * ps);
  }
  long before = vma_count();
  size_t done = 0;
  int err = 0;
  uint64_t t0 = now_ns();
  for (size_t j = 0; j < live; j++) {
    char *s = from + 2 * j * ps, *d = to + j * ps;
    if (move) {
      struct uffdio_move_ m = {(uint64_t)(uintptr_t)d, (uint64_t)(uintptr_t)s, ps, 0, 0};
      if (ioctl(uffd, UFFDIO_MOVE_, &m)) {
        err = errno;
        break;
      }
    } else if (mremap(s, ps, ps, MREMAP_MAYMOVE | MREMAP_FIXED, d) == MAP_FAILED) {
      err = errno;
      break;
    }
    done++;
  }
  uint64_t t1 = now_ns();
  long after = vma_count();
  for (size_t j = 0; j < done; j++)
    if (*(uint64_t *)(to + j * ps) != 2 * j + 1) {
      fprintf(stderr, "content mismatch at %zu\n", j);
      return 1;
    }
  printf("{\"ns\":%llu,\"pages\":%zu,\"vmasBefore\":%ld,\"vmasAfter\":%ld,\"errno\":%d}\n",
         (unsigned long long)(t1 - t0), done, before, after, err);
  return 0;
}
