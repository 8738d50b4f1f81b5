/*
 * Scenarios 3 and 4, C reference: single-page UFFDIO_MOVE / UFFDIO_COPY calls in a loop over
 * scattered pages. dst page perm_d[i] receives src page perm_s[i]; both permutations come from
 * xorshift32 with the same seeds as the package side (bench/lib/rng.ts). No thread waits on
 * the range, so the wake that follows each call finds nobody, as in the package loop.
 *
 *   calls op=move|copy pages=N seed=S
 *
 * Prints {"ns": time of the loop, "calls": N}. Setup (populating src) is not timed.
 */
#include "common.h"

int main(int argc, char **argv) {
  int move = !strcmp(arg_str(argc, argv, "op", "move"), "move");
  uint32_t pages = (uint32_t)arg_u64(argc, argv, "pages", 10000);
  uint32_t seed = (uint32_t)arg_u64(argc, argv, "seed", 1);
  size_t ps = page_size();
  size_t len = (size_t)pages * ps;
  int uffd = uffd_open();
  char *dst = map_anon(len, 0);
  char *src = map_anon(len, 0);
  populate(src, len, ps);
  uffd_register(uffd, dst, len);
  uint32_t *pd = permutation(pages, seed);
  uint32_t *psrc = permutation(pages, seed + 1);

  uint64_t t0 = now_ns();
  for (uint32_t i = 0; i < pages; i++) {
    uint64_t d = (uint64_t)(uintptr_t)(dst + (size_t)pd[i] * ps);
    uint64_t s = (uint64_t)(uintptr_t)(src + (size_t)psrc[i] * ps);
    int ret;
    if (move) {
      struct uffdio_move_ m = {d, s, ps, 0, 0};
      ret = ioctl(uffd, UFFDIO_MOVE_, &m);
    } else {
      struct uffdio_copy_ c = {d, s, ps, 0, 0};
      ret = ioctl(uffd, UFFDIO_COPY_, &c);
    }
    if (ret) die(move ? "UFFDIO_MOVE" : "UFFDIO_COPY");
  }
  uint64_t t1 = now_ns();
  /* Check one page landed (not timed). */
  if (dst[(size_t)pd[0] * ps] != (char)(psrc[0] + 1)) {
    fprintf(stderr, "content mismatch\n");
    return 1;
  }
  printf("{\"ns\":%llu,\"calls\":%u}\n", (unsigned long long)(t1 - t0), pages);
  return 0;
}
