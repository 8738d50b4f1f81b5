// Constants exported to lib/: the hand-written uAPI (checked against the spec by
// test/native/uapi.test.ts), and the libc values lib/ needs for mmap, madvise and friends,
// taken from this platform's headers so nothing in lib/ hard-codes an architecture's numbers.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>

#include "addon.h"
#include "uapi.h"

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif

namespace uffd {

void InitConstants(Napi::Env env, Napi::Object exports) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, double v) { c.Set(name, Napi::Number::New(env, v)); };
  // ioctl request numbers
  set("UFFDIO_API", kApiIoctl);
  set("UFFDIO_REGISTER", kRegister);
  set("UFFDIO_UNREGISTER", kUnregister);
  set("UFFDIO_WAKE", kWake);
  set("UFFDIO_COPY", kCopy);
  set("UFFDIO_ZEROPAGE", kZeropage);
  set("UFFDIO_MOVE", kMove);
  set("UFFDIO_WRITEPROTECT", kWriteprotect);
  set("UFFDIO_CONTINUE", kContinue);
  set("UFFDIO_POISON", kPoison);
  set("USERFAULTFD_IOC_NEW", kDevIocNew);
  set("UFFD_API", kApi);
  set("UFFD_USER_MODE_ONLY", kUserModeOnly);
  // struct sizes and offsets
  set("sizeof_uffdio_api", sizeof(ApiArg));
  set("sizeof_uffdio_range", sizeof(Range));
  set("sizeof_uffdio_register", sizeof(RegisterArg));
  set("sizeof_uffdio_copy", sizeof(CopyArg));
  set("sizeof_uffdio_zeropage", sizeof(ZeropageArg));
  set("sizeof_uffdio_writeprotect", sizeof(WriteprotectArg));
  set("sizeof_uffdio_continue", sizeof(ContinueArg));
  set("sizeof_uffdio_poison", sizeof(PoisonArg));
  set("sizeof_uffdio_move", sizeof(MoveArg));
  set("sizeof_uffd_msg", sizeof(Msg));
  set("offsetof_uffdio_register_ioctls", offsetof(RegisterArg, ioctls));
  set("offsetof_uffdio_copy_copy", offsetof(CopyArg, copy));
  set("offsetof_uffdio_zeropage_zeropage", offsetof(ZeropageArg, zeropage));
  set("offsetof_uffdio_continue_mapped", offsetof(ContinueArg, mapped));
  set("offsetof_uffdio_poison_updated", offsetof(PoisonArg, updated));
  set("offsetof_uffdio_move_move", offsetof(MoveArg, move));
  set("offsetof_uffd_msg_arg", offsetof(Msg, arg));
  set("offsetof_uffd_msg_pagefault_flags", offsetof(Msg, arg.pagefault.flags));
  set("offsetof_uffd_msg_pagefault_address", offsetof(Msg, arg.pagefault.address));
  set("offsetof_uffd_msg_pagefault_ptid", offsetof(Msg, arg.pagefault.feat.ptid));
  set("offsetof_uffd_msg_fork_ufd", offsetof(Msg, arg.fork.ufd));
  set("offsetof_uffd_msg_remap_from", offsetof(Msg, arg.remap.from));
  set("offsetof_uffd_msg_remap_to", offsetof(Msg, arg.remap.to));
  set("offsetof_uffd_msg_remap_len", offsetof(Msg, arg.remap.len));
  set("offsetof_uffd_msg_remove_start", offsetof(Msg, arg.remove.start));
  set("offsetof_uffd_msg_remove_end", offsetof(Msg, arg.remove.end));
  // register / ioctl modes
  set("UFFDIO_REGISTER_MODE_MISSING", kRegisterModeMissing);
  set("UFFDIO_REGISTER_MODE_WP", kRegisterModeWp);
  set("UFFDIO_REGISTER_MODE_MINOR", kRegisterModeMinor);
  set("UFFDIO_COPY_MODE_DONTWAKE", kCopyModeDontwake);
  set("UFFDIO_COPY_MODE_WP", kCopyModeWp);
  set("UFFDIO_ZEROPAGE_MODE_DONTWAKE", kZeropageModeDontwake);
  set("UFFDIO_WRITEPROTECT_MODE_WP", kWriteprotectModeWp);
  set("UFFDIO_WRITEPROTECT_MODE_DONTWAKE", kWriteprotectModeDontwake);
  set("UFFDIO_CONTINUE_MODE_DONTWAKE", kContinueModeDontwake);
  set("UFFDIO_CONTINUE_MODE_WP", kContinueModeWp);
  set("UFFDIO_POISON_MODE_DONTWAKE", kPoisonModeDontwake);
  set("UFFDIO_MOVE_MODE_DONTWAKE", kMoveModeDontwake);
  set("UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES", kMoveModeAllowSrcHoles);
  // features
  set("UFFD_FEATURE_PAGEFAULT_FLAG_WP", kFeaturePagefaultFlagWp);
  set("UFFD_FEATURE_EVENT_FORK", kFeatureEventFork);
  set("UFFD_FEATURE_EVENT_REMAP", kFeatureEventRemap);
  set("UFFD_FEATURE_EVENT_REMOVE", kFeatureEventRemove);
  set("UFFD_FEATURE_MISSING_HUGETLBFS", kFeatureMissingHugetlbfs);
  set("UFFD_FEATURE_MISSING_SHMEM", kFeatureMissingShmem);
  set("UFFD_FEATURE_EVENT_UNMAP", kFeatureEventUnmap);
  set("UFFD_FEATURE_SIGBUS", kFeatureSigbus);
  set("UFFD_FEATURE_THREAD_ID", kFeatureThreadId);
  set("UFFD_FEATURE_MINOR_HUGETLBFS", kFeatureMinorHugetlbfs);
  set("UFFD_FEATURE_MINOR_SHMEM", kFeatureMinorShmem);
  set("UFFD_FEATURE_EXACT_ADDRESS", kFeatureExactAddress);
  set("UFFD_FEATURE_WP_HUGETLBFS_SHMEM", kFeatureWpHugetlbfsShmem);
  set("UFFD_FEATURE_WP_UNPOPULATED", kFeatureWpUnpopulated);
  set("UFFD_FEATURE_POISON", kFeaturePoison);
  set("UFFD_FEATURE_WP_ASYNC", kFeatureWpAsync);
  set("UFFD_FEATURE_MOVE", kFeatureMove);
  // events
  set("UFFD_EVENT_PAGEFAULT", kEventPagefault);
  set("UFFD_EVENT_FORK", kEventFork);
  set("UFFD_EVENT_REMAP", kEventRemap);
  set("UFFD_EVENT_REMOVE", kEventRemove);
  set("UFFD_EVENT_UNMAP", kEventUnmap);
  set("UFFD_PAGEFAULT_FLAG_WRITE", kPagefaultFlagWrite);
  set("UFFD_PAGEFAULT_FLAG_WP", kPagefaultFlagWp);
  set("UFFD_PAGEFAULT_FLAG_MINOR", kPagefaultFlagMinor);
  // libc
  set("O_CLOEXEC", O_CLOEXEC);
  set("O_NONBLOCK", O_NONBLOCK);
  set("PROT_NONE", PROT_NONE);
  set("PROT_READ", PROT_READ);
  set("PROT_WRITE", PROT_WRITE);
  set("PROT_EXEC", PROT_EXEC);
  set("MAP_SHARED", MAP_SHARED);
  set("MAP_PRIVATE", MAP_PRIVATE);
  set("MAP_ANONYMOUS", MAP_ANONYMOUS);
  set("MAP_FIXED", MAP_FIXED);
  set("MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE);
  set("MAP_NORESERVE", MAP_NORESERVE);
  set("MAP_POPULATE", MAP_POPULATE);
  set("MAP_LOCKED", MAP_LOCKED);
  set("MADV_NORMAL", MADV_NORMAL);
  set("MADV_DONTNEED", MADV_DONTNEED);
  set("MADV_REMOVE", MADV_REMOVE);
  set("MADV_DONTFORK", MADV_DONTFORK);
  set("MADV_DOFORK", MADV_DOFORK);
  set("MADV_HUGEPAGE", MADV_HUGEPAGE);
  set("MADV_NOHUGEPAGE", MADV_NOHUGEPAGE);
  set("MADV_PAGEOUT", MADV_PAGEOUT);
  set("MADV_COLD", MADV_COLD);
  set("MLOCK_ONFAULT", MLOCK_ONFAULT);
  set("MREMAP_MAYMOVE", kMremapMaymove);
  set("MREMAP_FIXED", kMremapFixed);
  set("MREMAP_DONTUNMAP", kMremapDontunmap);
  set("MREMAP_RELOCATE_ANON", kMremapRelocateAnon);
  set("MFD_CLOEXEC", MFD_CLOEXEC);
  set("SIGKILL", SIGKILL);
  exports.Set("constants", c);
}

}  // namespace uffd
