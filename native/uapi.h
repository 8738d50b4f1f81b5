// The userfaultfd uAPI, defined by hand.
//
// The build machine's <linux/userfaultfd.h> may be as old as Linux 6.1 (Debian bookworm), which
// lacks UFFDIO_MOVE, UFFDIO_POISON, UFFD_FEATURE_WP_ASYNC and more. We never include it: every
// constant and struct the addon uses is spelled out here, from include/uapi/linux/userfaultfd.h
// of 6.18 (spec: ../shared/spec/kernel-semantics.md §1), and checked below with static_asserts
// and at run time by test/native/uapi.test.ts. What the running kernel supports is decided at run
// time from the UFFDIO_API reply, never from these definitions.
#pragma once

#include <linux/ioctl.h>
#include <stddef.h>
#include <stdint.h>

namespace uffd {

// Userfaultfd(2) flags. O_CLOEXEC / O_NONBLOCK come from <fcntl.h>.
constexpr int kUserModeOnly = 1;  // UFFD_USER_MODE_ONLY (5.11)
constexpr uint64_t kApi = 0xAA;   // UFFD_API

struct Range {
  uint64_t start;
  uint64_t len;
};
struct ApiArg {
  uint64_t api;
  uint64_t features;
  uint64_t ioctls;
};
struct RegisterArg {
  Range range;
  uint64_t mode;
  uint64_t ioctls;
};
struct CopyArg {
  uint64_t dst;
  uint64_t src;
  uint64_t len;
  uint64_t mode;
  int64_t copy;
};
struct ZeropageArg {
  Range range;
  uint64_t mode;
  int64_t zeropage;
};
struct WriteprotectArg {
  Range range;
  uint64_t mode;
};
struct ContinueArg {
  Range range;
  uint64_t mode;
  int64_t mapped;
};
struct PoisonArg {
  Range range;
  uint64_t mode;
  int64_t updated;
};
struct MoveArg {
  uint64_t dst;
  uint64_t src;
  uint64_t len;
  uint64_t mode;
  int64_t move;
};

// struct uffd_msg is __packed and exactly 32 bytes (BUILD_BUG_ON in msg_init()).
struct __attribute__((packed)) Msg {
  uint8_t event;
  uint8_t reserved1;
  uint16_t reserved2;
  uint32_t reserved3;
  union __attribute__((packed)) {
    struct __attribute__((packed)) {
      uint64_t flags;
      uint64_t address;
      union {
        uint32_t ptid;
      } feat;
    } pagefault;
    struct __attribute__((packed)) {
      uint32_t ufd;
    } fork;
    struct __attribute__((packed)) {
      uint64_t from;
      uint64_t to;
      uint64_t len;
    } remap;
    struct __attribute__((packed)) {
      uint64_t start;
      uint64_t end;
    } remove;
    struct __attribute__((packed)) {
      uint64_t reserved1;
      uint64_t reserved2;
      uint64_t reserved3;
    } reserved;
  } arg;
};

// ioctl numbers. The kernel compares the whole cmd value, so size and direction must be exact
// (spec §1.2). UNREGISTER and WAKE really are _IOR in the uAPI although the kernel reads them.
constexpr unsigned kIoctlType = 0xAA;
constexpr unsigned long kApiIoctl = _IOWR(kIoctlType, 0x3F, ApiArg);
constexpr unsigned long kRegister = _IOWR(kIoctlType, 0x00, RegisterArg);
constexpr unsigned long kUnregister = _IOR(kIoctlType, 0x01, Range);
constexpr unsigned long kWake = _IOR(kIoctlType, 0x02, Range);
constexpr unsigned long kCopy = _IOWR(kIoctlType, 0x03, CopyArg);
constexpr unsigned long kZeropage = _IOWR(kIoctlType, 0x04, ZeropageArg);
constexpr unsigned long kMove = _IOWR(kIoctlType, 0x05, MoveArg);
constexpr unsigned long kWriteprotect = _IOWR(kIoctlType, 0x06, WriteprotectArg);
constexpr unsigned long kContinue = _IOWR(kIoctlType, 0x07, ContinueArg);
constexpr unsigned long kPoison = _IOWR(kIoctlType, 0x08, PoisonArg);
constexpr unsigned long kDevIocNew = _IO(kIoctlType, 0x00);  // USERFAULTFD_IOC_NEW (6.1)

// ioctl bit numbers as reported in uffdio_api.ioctls / uffdio_register.ioctls.
constexpr int kNrRegister = 0x00, kNrUnregister = 0x01, kNrWake = 0x02, kNrCopy = 0x03,
              kNrZeropage = 0x04, kNrMove = 0x05, kNrWriteprotect = 0x06, kNrContinue = 0x07,
              kNrPoison = 0x08, kNrApi = 0x3F;

// Register modes.
constexpr uint64_t kRegisterModeMissing = 1ull << 0;
constexpr uint64_t kRegisterModeWp = 1ull << 1;
constexpr uint64_t kRegisterModeMinor = 1ull << 2;
// Per-ioctl modes.
constexpr uint64_t kCopyModeDontwake = 1ull << 0;
constexpr uint64_t kCopyModeWp = 1ull << 1;
constexpr uint64_t kZeropageModeDontwake = 1ull << 0;
constexpr uint64_t kWriteprotectModeWp = 1ull << 0;
constexpr uint64_t kWriteprotectModeDontwake = 1ull << 1;
constexpr uint64_t kContinueModeDontwake = 1ull << 0;
constexpr uint64_t kContinueModeWp = 1ull << 1;
constexpr uint64_t kPoisonModeDontwake = 1ull << 0;
constexpr uint64_t kMoveModeDontwake = 1ull << 0;
constexpr uint64_t kMoveModeAllowSrcHoles = 1ull << 1;

// Feature bits (spec §1.4). Beware: MOVE is bit 16; bit 15 is WP_ASYNC.
constexpr uint64_t kFeaturePagefaultFlagWp = 1ull << 0;
constexpr uint64_t kFeatureEventFork = 1ull << 1;
constexpr uint64_t kFeatureEventRemap = 1ull << 2;
constexpr uint64_t kFeatureEventRemove = 1ull << 3;
constexpr uint64_t kFeatureMissingHugetlbfs = 1ull << 4;
constexpr uint64_t kFeatureMissingShmem = 1ull << 5;
constexpr uint64_t kFeatureEventUnmap = 1ull << 6;
constexpr uint64_t kFeatureSigbus = 1ull << 7;
constexpr uint64_t kFeatureThreadId = 1ull << 8;
constexpr uint64_t kFeatureMinorHugetlbfs = 1ull << 9;
constexpr uint64_t kFeatureMinorShmem = 1ull << 10;
constexpr uint64_t kFeatureExactAddress = 1ull << 11;
constexpr uint64_t kFeatureWpHugetlbfsShmem = 1ull << 12;
constexpr uint64_t kFeatureWpUnpopulated = 1ull << 13;
constexpr uint64_t kFeaturePoison = 1ull << 14;
constexpr uint64_t kFeatureWpAsync = 1ull << 15;
constexpr uint64_t kFeatureMove = 1ull << 16;

// Events and pagefault flags (spec §1.6).
constexpr uint8_t kEventPagefault = 0x12;
constexpr uint8_t kEventFork = 0x13;
constexpr uint8_t kEventRemap = 0x14;
constexpr uint8_t kEventRemove = 0x15;
constexpr uint8_t kEventUnmap = 0x16;
constexpr uint64_t kPagefaultFlagWrite = 1ull << 0;
constexpr uint64_t kPagefaultFlagWp = 1ull << 1;
constexpr uint64_t kPagefaultFlagMinor = 1ull << 2;

// mremap(2) flags that older libc headers lack.
constexpr int kMremapMaymove = 1;
constexpr int kMremapFixed = 2;
constexpr int kMremapDontunmap = 4;  // 5.7
// MREMAP_RELOCATE_ANON was proposed in 2025 (../shared/seeds/2025-mremap-relocate-anon.txt) and is
// not merged in 6.18: the kernel rejects the unknown bit with EINVAL. The value is the one the
// patch series used; we only probe it.
constexpr int kMremapRelocateAnon = 8;

// Layout checks (sizes and offsets as in spec §1.3, confirmed there against the 6.18 BTF).
static_assert(sizeof(Range) == 16, "uffdio_range");
static_assert(sizeof(ApiArg) == 24, "uffdio_api");
static_assert(sizeof(RegisterArg) == 32, "uffdio_register");
static_assert(offsetof(RegisterArg, ioctls) == 24, "uffdio_register.ioctls");
static_assert(sizeof(CopyArg) == 40, "uffdio_copy");
static_assert(offsetof(CopyArg, copy) == 32, "uffdio_copy.copy");
static_assert(sizeof(ZeropageArg) == 32, "uffdio_zeropage");
static_assert(offsetof(ZeropageArg, zeropage) == 24, "uffdio_zeropage.zeropage");
static_assert(sizeof(WriteprotectArg) == 24, "uffdio_writeprotect");
static_assert(sizeof(ContinueArg) == 32, "uffdio_continue");
static_assert(offsetof(ContinueArg, mapped) == 24, "uffdio_continue.mapped");
static_assert(sizeof(PoisonArg) == 32, "uffdio_poison");
static_assert(offsetof(PoisonArg, updated) == 24, "uffdio_poison.updated");
static_assert(sizeof(MoveArg) == 40, "uffdio_move");
static_assert(offsetof(MoveArg, move) == 32, "uffdio_move.move");
static_assert(sizeof(Msg) == 32, "uffd_msg");
static_assert(offsetof(Msg, arg) == 8, "uffd_msg.arg");
static_assert(offsetof(Msg, arg.pagefault.address) == 16, "uffd_msg.arg.pagefault.address");
static_assert(offsetof(Msg, arg.pagefault.feat.ptid) == 24, "uffd_msg.arg.pagefault.feat.ptid");
static_assert(offsetof(Msg, arg.remap.len) == 24, "uffd_msg.arg.remap.len");
static_assert(offsetof(Msg, arg.remove.end) == 16, "uffd_msg.arg.remove.end");
#if defined(__x86_64__) || defined(__aarch64__)
// The values the spec's probe printed on x86-64 (spec §1.2). arm64 uses the same generic _IOC
// encoding (asm-generic/ioctl.h), so the prebuildify:arm64 cross build checks them too; the test
// checks them at run time on every arch.
static_assert(kApiIoctl == 0xC018AA3F, "UFFDIO_API");
static_assert(kRegister == 0xC020AA00, "UFFDIO_REGISTER");
static_assert(kUnregister == 0x8010AA01, "UFFDIO_UNREGISTER");
static_assert(kWake == 0x8010AA02, "UFFDIO_WAKE");
static_assert(kCopy == 0xC028AA03, "UFFDIO_COPY");
static_assert(kZeropage == 0xC020AA04, "UFFDIO_ZEROPAGE");
static_assert(kMove == 0xC028AA05, "UFFDIO_MOVE");
static_assert(kWriteprotect == 0xC018AA06, "UFFDIO_WRITEPROTECT");
static_assert(kContinue == 0xC020AA07, "UFFDIO_CONTINUE");
static_assert(kPoison == 0xC020AA08, "UFFDIO_POISON");
static_assert(kDevIocNew == 0xAA00, "USERFAULTFD_IOC_NEW");
#endif

}  // namespace uffd
