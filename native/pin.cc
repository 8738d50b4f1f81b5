// A long-term page pin (FOLL_PIN | FOLL_LONGTERM), taken the way io_uring fixed buffers take it:
// io_uring_setup(2), then io_uring_register(2) IORING_REGISTER_BUFFERS on one iovec. For tests
// and diagnostics only (spec §5.2 X3/X4): UFFDIO_MOVE refuses a pinned page with EBUSY
// (move_pages_pte: folio_maybe_dma_pinned, spec §2). Nothing in lib/ pins memory.
//
// Raw syscalls, no liburing: registering buffers needs no ring mmap, only the ring fd. The
// struct below is io_uring_params from include/uapi/linux/io_uring.h, spelled out (as uapi.h
// does for userfaultfd) so the build does not depend on the system header's vintage.
//
// Unpinning: IORING_UNREGISTER_BUFFERS unpins before it returns. close(2) alone does not: the
// last close queues io_ring_exit_work, and the buffers are unpinned later by that work item.
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "addon.h"

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425  // the same number on every architecture (unified since 5.1)
#endif
#ifndef SYS_io_uring_register
#define SYS_io_uring_register 427
#endif

namespace uffd {
namespace {

constexpr unsigned kRegisterBuffers = 0;    // IORING_REGISTER_BUFFERS
constexpr unsigned kUnregisterBuffers = 1;  // IORING_UNREGISTER_BUFFERS

struct IoUringParams {
  uint32_t sq_entries;
  uint32_t cq_entries;
  uint32_t flags;
  uint32_t sq_thread_cpu;
  uint32_t sq_thread_idle;
  uint32_t features;
  uint32_t wq_fd;
  uint32_t resv[3];
  uint8_t sq_off[40];  // struct io_sqring_offsets, filled by the kernel, unused here
  uint8_t cq_off[40];  // struct io_cqring_offsets
};
static_assert(sizeof(IoUringParams) == 120, "io_uring_params");

// ioUringPin(addr, len): a ring fd whose one registered buffer is [addr, addr+len), or -errno
// (io_uring_setup's: EPERM when kernel.io_uring_disabled forbids it, ENOSYS without io_uring;
// io_uring_register's: EFAULT for an unmapped range, ENOMEM over RLIMIT_MEMLOCK unless
// CAP_IPC_LOCK). The fd is owned by the environment (closed at its teardown).
Napi::Value IoUringPin(const Napi::CallbackInfo& info) {
  uint64_t addr = ArgU64(info, 0, "addr");
  uint64_t len = ArgU64(info, 1, "len");
  IoUringParams p = {};
  long fd = syscall(SYS_io_uring_setup, 1, &p);
  if (fd < 0) return Errno(info.Env(), errno);
  struct iovec iov = {reinterpret_cast<void*>(addr), static_cast<size_t>(len)};
  if (syscall(SYS_io_uring_register, fd, kRegisterBuffers, &iov, 1) != 0) {
    int err = errno;
    close(static_cast<int>(fd));
    return Errno(info.Env(), err);
  }
  OwnFd(info.Env(), static_cast<int>(fd));
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

// ioUringUnpin(ringFd): IORING_UNREGISTER_BUFFERS (the pages are unpinned when it returns);
// 0 or -errno. The ring fd stays open: close it with close().
Napi::Value IoUringUnpin(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "ringFd");
  return Ret(info.Env(), syscall(SYS_io_uring_register, fd, kUnregisterBuffers, nullptr, 0));
}

}  // namespace

void InitPin(Napi::Env env, Napi::Object exports) {
  exports.Set("ioUringPin", Napi::Function::New(env, IoUringPin, "ioUringPin"));
  exports.Set("ioUringUnpin", Napi::Function::New(env, IoUringUnpin, "ioUringUnpin"));
}

}  // namespace uffd
