// A stand-in for Firecracker's VMM side of the snapshot-restore page-fault handshake (Firecracker
// docs/snapshotting/handling-page-faults-on-snapshot-resume.md), for test/events/firecracker:
// maps two "guest memory" regions, creates a userfaultfd with EVENT_REMOVE (as Firecracker does
// for the balloon), registers the regions for missing faults, connects to the handler's Unix
// socket and sends ONE message: the JSON array of {base_host_virt_addr, size, offset,
// page_size} with the uffd as SCM_RIGHTS. Then it reads every byte of guest memory and checks it
// against the snapshot file's bytes (the handler serves them), MADV_DONTNEEDs one page (a REMOVE
// event; the handler must serve it as zeros afterwards) and reads it again.
//
// usage: fc-vmm <socket path> <snapshot file>   exit 0 when every byte matched; prints why not.
// The uAPI values are written out here (as Firecracker's userfaultfd crate does), so the peer
// builds against any kernel headers.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

struct uffdio_api_ {
  uint64_t api, features, ioctls;
};
struct uffdio_register_ {
  uint64_t start, len, mode, ioctls;
};
#define UFFDIO_API_ 0xC018AA3FUL
#define UFFDIO_REGISTER_ 0xC020AA00UL
#define UFFD_FEATURE_EVENT_REMOVE_ (1ULL << 3)
#define UFFD_USER_MODE_ONLY_ 1

static int fail(const char *what) {
  perror(what);
  return 2;
}

int main(int argc, char **argv) {
  if (argc != 3) return fprintf(stderr, "usage: fc-vmm <socket> <snapshot>\n"), 2;
  alarm(20);  // never outlive a broken test
  long ps = sysconf(_SC_PAGESIZE);
  // Region 0: 8 pages at file offset 0; region 1: 4 pages at file offset 8 pages.
  const size_t sizes[2] = {8 * (size_t)ps, 4 * (size_t)ps};
  const size_t offsets[2] = {0, 8 * (size_t)ps};
  unsigned char *base[2];
  for (int r = 0; r < 2; r++) {
    base[r] = mmap(NULL, sizes[r], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base[r] == MAP_FAILED) return fail("mmap");
  }
  int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY_);
  if (uffd < 0) return fail("userfaultfd");
  struct uffdio_api_ api = {0xAA, UFFD_FEATURE_EVENT_REMOVE_, 0};
  if (ioctl(uffd, UFFDIO_API_, &api) != 0) return fail("UFFDIO_API");
  for (int r = 0; r < 2; r++) {
    struct uffdio_register_ reg = {(uint64_t)(uintptr_t)base[r], sizes[r], 1 /* MISSING */, 0};
    if (ioctl(uffd, UFFDIO_REGISTER_, &reg) != 0) return fail("UFFDIO_REGISTER");
  }

  int snap = open(argv[2], O_RDONLY);
  if (snap < 0) return fail("open snapshot");
  size_t total = offsets[1] + sizes[1];
  unsigned char *expect = malloc(total);
  if (expect == NULL || pread(snap, expect, total, 0) != (ssize_t)total) return fail("pread");
  close(snap);

  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, argv[1], sizeof sa.sun_path - 1);
  if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) return fail("connect");

  char json[512];
  int n = snprintf(json, sizeof json,
                   "[{\"base_host_virt_addr\":%lu,\"size\":%zu,\"offset\":%zu,\"page_size\":%ld},"
                   "{\"base_host_virt_addr\":%lu,\"size\":%zu,\"offset\":%zu,\"page_size\":%ld}]",
                   (unsigned long)(uintptr_t)base[0], sizes[0], offsets[0], ps,
                   (unsigned long)(uintptr_t)base[1], sizes[1], offsets[1], ps);
  struct iovec iov = {json, (size_t)n};
  char ctrl[CMSG_SPACE(sizeof(int))];
  memset(ctrl, 0, sizeof ctrl);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &uffd, sizeof(int));
  if (sendmsg(s, &msg, 0) != n) return fail("sendmsg");

  // The "guest" runs: every byte must be the snapshot's byte at the region's file offset.
  size_t bad = 0;
  for (int r = 0; r < 2; r++) {
    for (size_t i = 0; i < sizes[r]; i++) {
      if (base[r][i] != expect[offsets[r] + i]) bad++;
    }
  }
  // Balloon-style removal of region 1's second page: REMOVE event, then it must read zero.
  unsigned char *gone = base[1] + ps;
  if (madvise(gone, ps, MADV_DONTNEED) != 0) return fail("madvise");
  size_t nonzero = 0;
  for (long i = 0; i < ps; i++) nonzero += gone[i] != 0;
  printf("VMM pages=%zu bad=%zu nonzero_after_remove=%zu\n", (sizes[0] + sizes[1]) / ps, bad,
         nonzero);
  fflush(stdout);
  close(s);
  return bad == 0 && nonzero == 0 ? 0 : 1;
}
