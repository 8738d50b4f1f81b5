// Work that must not run on the JS thread: memory accesses that may fault on registered pages,
// and fork(2) (a fork with UFFD_FEATURE_EVENT_FORK blocks the forking thread until the FORK
// event is read, and the reader is the JS thread).
//
// Each task runs on its own std::thread (never the libuv threadpool: a thread blocked in a
// userfault would starve fs, dns and zlib) and settles a promise through a thread-safe
// function, whose calls run inside a callback scope, so awaiting code resumes at once.
//
// Memory accesses run under a per-thread sigsetjmp guard for SIGBUS and SIGSEGV: an access to a
// poisoned page (UFFDIO_POISON, UFFD_FEATURE_SIGBUS) or to unmapped memory is reported as
// { signal } instead of killing the process. Signals on other threads are passed to the handler
// that was installed before ours (V8's, Node's, or the default action).
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "addon.h"
#include "task.h"
#include "uapi.h"

namespace uffd {
namespace {

// ---- tasks on a dedicated thread -------------------------------------------------------------

// Named "uffd-task", so /proc/<pid>/task/*/comm tells these threads apart (debuggers, the
// fuzzer's quiescence check: every "uffd-task" thread finished or blocked in handle_userfault).
// task.h keeps the thread away from the thread-safe function once the environment is gone.
Napi::Promise StartTask(Napi::Env env, std::function<void()> work,
                        std::function<Napi::Value(Napi::Env)> settle) {
  return RunOnThread(env, "userfaultfd:thread", std::move(work), std::move(settle), "uffd-task");
}

// ---- guarded memory access -------------------------------------------------------------------

thread_local sigjmp_buf* tGuard = nullptr;
thread_local uint64_t tFaultAddr = 0;
struct sigaction gPrevBus, gPrevSegv;
std::once_flag gHandlersOnce;

void Chain(const struct sigaction& prev, int sig, siginfo_t* si, void* uc) {
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction != nullptr) return prev.sa_sigaction(sig, si, uc);
  } else if (prev.sa_handler == SIG_IGN) {
    return;
  } else if (prev.sa_handler != SIG_DFL) {
    return prev.sa_handler(sig);
  }
  // Default action: restore it and return; the faulting instruction runs again and the kernel
  // delivers the signal with the default disposition (terminate, core dump).
  signal(sig, SIG_DFL);
}

// ---- the report of a fatal fault ----------------------------------------------------------------
// Only async-signal-safe calls below (write, prctl, sigaction, raise), except backtrace(), whose
// one unsafe step (loading libgcc's unwinder) InstallHandlers() takes in advance.

size_t PutU64(char* out, uint64_t v, unsigned base) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v != 0);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

size_t PutStr(char* out, const char* s) {
  size_t n = 0;
  while (s[n] != '\0') {
    out[n] = s[n];
    n++;
  }
  return n;
}

uint64_t ProgramCounter(void* uc) {
#if defined(__x86_64__)
  return static_cast<uint64_t>(static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<uint64_t>(static_cast<ucontext_t*>(uc)->uc_mcontext.pc);
#else
  (void)uc;
  return 0;
#endif
}

// The process is about to die of sig (nothing is left to handle it): say where, so that a crash
// in a test runner's worker or in a user's process leaves more than "Segmentation fault". The
// frames are module+offset (addr2line or gdb turn them into lines).
void FatalReport(int sig, siginfo_t* si, void* uc) {
  char buf[320];
  size_t n =
      PutStr(buf, sig == SIGBUS ? "\nuserfaultfd: fatal SIGBUS" : "\nuserfaultfd: fatal SIGSEGV");
  n += PutStr(buf + n, " (si_code ");
  if (si->si_code < 0) buf[n++] = '-';
  n += PutU64(buf + n, static_cast<uint64_t>(si->si_code < 0 ? -si->si_code : si->si_code), 10);
  n += PutStr(buf + n, ") at address 0x");
  n += PutU64(buf + n, reinterpret_cast<uint64_t>(si->si_addr), 16);
  n += PutStr(buf + n, ", pc 0x");
  n += PutU64(buf + n, ProgramCounter(uc), 16);
  n += PutStr(buf + n, ", thread ");
  n += PutU64(buf + n, static_cast<uint64_t>(syscall(SYS_gettid)), 10);
  char comm[17] = {0};
  prctl(PR_GET_NAME, comm, 0, 0, 0);
  n += PutStr(buf + n, " \"");
  n += PutStr(buf + n, comm);
  n += PutStr(buf + n, "\" (report from the userfaultfd addon's signal handler):\n");
  ssize_t w = write(2, buf, n);
  (void)w;
  void* frames[48];
  int depth = backtrace(frames, 48);
  backtrace_symbols_fd(frames, depth, 2);
}

void OnFaultSignal(int sig, siginfo_t* si, void* uc) {
  if (tGuard != nullptr) {
    tFaultAddr = reinterpret_cast<uint64_t>(si->si_addr);
    siglongjmp(*tGuard, sig);
  }
  Chain(sig == SIGBUS ? gPrevBus : gPrevSegv, sig, si, uc);
  // A handler before ours (V8's WebAssembly trap handler, say) may have taken the signal and
  // returned. When the disposition is now the default, the process dies: a fault re-executes the
  // instruction and takes the signal again; a signal sent with kill(2) (si_code <= 0) would not
  // recur, so it is raised again rather than swallowed.
  struct sigaction cur;
  if (sigaction(sig, nullptr, &cur) != 0 || (cur.sa_flags & SA_SIGINFO) != 0 ||
      cur.sa_handler != SIG_DFL) {
    return;
  }
  if (si->si_code <= 0) {
    raise(sig);
    return;
  }
  FatalReport(sig, si, uc);
}

void InstallHandlers() {
  std::call_once(gHandlersOnce, [] {
    void* warm[1];
    backtrace(warm, 1);  // loads the unwinder now, not first in a signal handler (FatalReport)
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = OnFaultSignal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &gPrevBus);
    sigaction(SIGSEGV, &sa, &gPrevSegv);
  });
}

struct Access {
  enum Kind { kRead, kWrite, kCopyOut, kCopyIn } kind;
  uint64_t addr = 0, len = 0, stride = 1;
  uint8_t value = 0;
  std::vector<uint8_t> data;  // kCopyIn source, kCopyOut destination
  uint64_t accesses = 0, sum = 0;
  int signal = 0;
  uint64_t faultAddr = 0;
  int tid = 0;
};

// RunAccess touches whatever addresses the caller named, on purpose: unmapped or poisoned pages
// are caught by the SIGSEGV/SIGBUS guard and reported. Under AddressSanitizer that is a "wild
// pointer" by definition (a readMemory of 2^48 was reported), and an instrumented load computes
// a shadow address for it that may itself fault; UBSan likewise reports a store to address 0.
// So these accesses are not instrumented, and the copies use plain volatile loads and stores:
// memcpy's ASan interceptor would check both ranges before copying. The data buffer on the
// other side is the addon's own and correctly sized.
#define UFFD_UNINSTRUMENTED __attribute__((no_sanitize("address", "undefined"), noinline))

UFFD_UNINSTRUMENTED void GuardedCopy(uint8_t* dst, const uint8_t* src, uint64_t n) {
  uint64_t i = 0;
  if (((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src)) & 7) == 0) {
    for (; i + 8 <= n; i += 8) {
      *reinterpret_cast<volatile uint64_t*>(dst + i) =
          *reinterpret_cast<const volatile uint64_t*>(src + i);
    }
  }
  for (; i < n; i++) {
    *reinterpret_cast<volatile uint8_t*>(dst + i) =
        *reinterpret_cast<const volatile uint8_t*>(src + i);
  }
}

UFFD_UNINSTRUMENTED void RunAccess(Access* a) {
  a->tid = static_cast<int>(syscall(SYS_gettid));
  sigjmp_buf jb;
  tFaultAddr = 0;  // first touch of the TLS block happens here, not in the signal handler
  tGuard = &jb;
  volatile uint64_t done = 0;
  volatile uint64_t sum = 0;
  int sig = sigsetjmp(jb, 1);
  if (sig == 0) {
    uint8_t* base = reinterpret_cast<uint8_t*>(a->addr);
    switch (a->kind) {
      case Access::kRead:
        for (uint64_t off = 0; off < a->len; off += a->stride) {
          sum = sum + *reinterpret_cast<volatile uint8_t*>(base + off);
          done = done + 1;
        }
        break;
      case Access::kWrite:
        for (uint64_t off = 0; off < a->len; off += a->stride) {
          *reinterpret_cast<volatile uint8_t*>(base + off) = a->value;
          done = done + 1;
        }
        break;
      case Access::kCopyOut:  // data was sized on the JS thread (Touch): nothing here may throw
        for (uint64_t off = 0; off < a->len; off += a->stride) {
          uint64_t n = a->len - off < a->stride ? a->len - off : a->stride;
          GuardedCopy(a->data.data() + off, base + off, n);
          done = done + 1;
        }
        break;
      case Access::kCopyIn:
        for (uint64_t off = 0; off < a->len; off += a->stride) {
          uint64_t n = a->len - off < a->stride ? a->len - off : a->stride;
          GuardedCopy(base + off, a->data.data() + off, n);
          done = done + 1;
        }
        break;
    }
  } else {
    a->signal = sig;
    a->faultAddr = tFaultAddr;
  }
  tGuard = nullptr;
  a->accesses = done;
  a->sum = sum;
}

Napi::Value AccessResult(Napi::Env env, const Access& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("accesses", Napi::Number::New(env, static_cast<double>(a.accesses)));
  o.Set("sum", Napi::Number::New(env, static_cast<double>(a.sum)));
  o.Set("threadId", Napi::Number::New(env, a.tid));
  if (a.signal != 0) {
    o.Set("signal", Napi::String::New(env, a.signal == SIGBUS ? "SIGBUS" : "SIGSEGV"));
    o.Set("faultAddress", Napi::Number::New(env, static_cast<double>(a.faultAddr)));
  }
  if (a.kind == Access::kCopyOut && a.signal == 0) {
    o.Set("data", Napi::Buffer<uint8_t>::Copy(env, a.data.data(), a.data.size()));
  }
  return o;
}

// touch(addr, len, kind, stride, value|Uint8Array) -> Promise<{accesses, sum, threadId,
// signal?, faultAddress?, data?}>. kind: 0 read one byte per stride, 1 write `value` one byte
// per stride, 2 copy len bytes out (data), 3 copy the given bytes in.
Napi::Value Touch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto a = std::make_shared<Access>();
  a->addr = ArgU64(info, 0, "addr");
  a->len = ArgU64(info, 1, "len");
  a->kind = static_cast<Access::Kind>(ArgInt(info, 2, "kind"));
  a->stride = ArgU64(info, 3, "stride");
  if (a->stride == 0) a->stride = 1;
  if (a->kind == Access::kCopyIn) {
    uint8_t* p = nullptr;
    size_t n = 0;
    if (!info[4].IsTypedArray() || !ViewBytes(info[4], &p, &n)) {
      throw Napi::TypeError::New(env, "data must be a Uint8Array");
    }
    a->data.assign(p, p + n);
    a->len = n;
  } else if (info[4].IsNumber()) {
    a->value = static_cast<uint8_t>(info[4].As<Napi::Number>().Uint32Value());
  }
  if (a->kind == Access::kCopyOut) {
    // Allocate here, not on the task's thread: a std::bad_alloc escaping a std::thread calls
    // std::terminate (readMemory(addr, 2 ** 40) aborted the process). lib/ bounds len too.
    try {
      a->data.resize(a->len);
    } catch (const std::exception&) {
      Napi::RangeError e = Napi::RangeError::New(env, "cannot allocate the readMemory buffer");
      e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
      throw e;
    }
  }
  InstallHandlers();
  return StartTask(
      env, [a] { RunAccess(a.get()); }, [a](Napi::Env e) { return AccessResult(e, *a); });
}

// ---- fork helpers ----------------------------------------------------------------------------
// A multi-threaded process may fork when the child calls only async-signal-safe functions
// until it exits: pause(2), ioctl(2), write(2), sendmsg(2) and _exit(2) are.
//
// RawFork() is the clone(2) syscall, not glibc's fork(): glibc's fork() takes the malloc arena
// and stdio locks before the syscall and releases them after it returns. With a uffd that has
// UFFD_FEATURE_EVENT_FORK and a registered range, the syscall blocks until the JS thread reads
// the FORK event (spec §1.6), and the JS thread needs malloc to read it: a deadlock (seen as
// the JS thread asleep in futex_wait while this thread sleeps in
// userfaultfd_event_wait_completion). The raw syscall takes no user-space lock; the children
// below use only raw system calls, so they need no atfork handling either. All pointer
// arguments are 0, so the differing clone argument order across architectures does not matter.
pid_t RawFork() { return static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0)); }

// forkPause() -> Promise<pid>: a child that shares every page copy-on-write (making them
// !PageAnonExclusive, spec §2.4) and only waits to be killed.
Napi::Value ForkPause(const Napi::CallbackInfo& info) {
  auto pid = std::make_shared<long>(0);
  return StartTask(
      info.Env(),
      [pid] {
        pid_t p = RawFork();  // not glibc fork(): see RawFork()
        if (p == 0) {
          for (;;) pause();
        }
        *pid = p < 0 ? -errno : p;
      },
      [pid](Napi::Env e) { return Napi::Number::New(e, static_cast<double>(*pid)); });
}

// reap(pid) -> Promise<status>: waitpid(2) on a thread. status as from waitpid, or -errno.
Napi::Value Reap(const Napi::CallbackInfo& info) {
  pid_t pid = ArgInt(info, 0, "pid");
  auto st = std::make_shared<long>(0);
  return StartTask(
      info.Env(),
      [pid, st] {
        int status = 0;
        pid_t r;
        do {
          r = waitpid(pid, &status, __WALL);
        } while (r < 0 && errno == EINTR);
        *st = r < 0 ? -errno : status;
      },
      [st](Napi::Env e) { return Napi::Number::New(e, static_cast<double>(*st)); });
}

// forkIoctl(fd, op, a, b, len, mode) -> Promise<[ret, field]>: a forked child issues one
// COPY (op 0), MOVE (op 1) or ZEROPAGE (op 2) on the inherited uffd and exits. Probes C54/C55:
// COPY from another mm succeeds, MOVE gives EINVAL (spec §3.4, §2.1).
Napi::Value ForkIoctl(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  int op = ArgInt(info, 1, "op");
  uint64_t a = ArgU64(info, 2, "a"), b = ArgU64(info, 3, "b"), len = ArgU64(info, 4, "len"),
           mode = ArgU64(info, 5, "mode");
  auto out = std::make_shared<std::pair<long, double>>(0, NAN);
  return StartTask(
      info.Env(),
      [=] {
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) != 0) {
          out->first = -errno;
          return;
        }
        pid_t p = RawFork();
        if (p == 0) {
          int64_t res[2];
          int ret;
          constexpr int64_t kUntouched = INT64_MIN;
          if (op == 0) {
            CopyArg c{a, b, len, mode, kUntouched};
            ret = ioctl(fd, kCopy, &c);
            res[1] = c.copy;
          } else if (op == 1) {
            MoveArg m{a, b, len, mode, kUntouched};
            ret = ioctl(fd, kMove, &m);
            res[1] = m.move;
          } else {
            ZeropageArg z{{a, len}, mode, kUntouched};
            ret = ioctl(fd, kZeropage, &z);
            res[1] = z.zeropage;
          }
          res[0] = ret == 0 ? 0 : -errno;
          ssize_t w = write(pfd[1], res, sizeof res);
          _exit(w == sizeof res ? 0 : 1);
        }
        close(pfd[1]);
        if (p < 0) {
          out->first = -errno;
          close(pfd[0]);
          return;
        }
        int64_t res[2] = {-EIO, INT64_MIN};
        ssize_t r;
        do {
          r = read(pfd[0], res, sizeof res);
        } while (r < 0 && errno == EINTR);
        close(pfd[0]);
        int status;
        while (waitpid(p, &status, 0) < 0 && errno == EINTR) {
        }
        out->first = r == sizeof res ? res[0] : -EIO;
        out->second = res[1] == INT64_MIN ? NAN : static_cast<double>(res[1]);
      },
      [out](Napi::Env e) {
        Napi::Array arr = Napi::Array::New(e, 2);
        arr.Set(0u, Napi::Number::New(e, static_cast<double>(out->first)));
        arr.Set(1u, Napi::Number::New(e, out->second));
        return arr;
      });
}

// orphanUffd(flags, features) -> Promise<fd or -errno>: a forked child opens a userfaultfd in
// its own mm, completes UFFDIO_API, sends the fd over a socketpair (SCM_RIGHTS) and exits.
// The received fd refers to a dead mm (probes C56-C59: MOVE EINVAL, COPY/ZEROPAGE ESRCH,
// REGISTER ENOMEM).
Napi::Value OrphanUffd(const Napi::CallbackInfo& info) {
  int flags = ArgInt(info, 0, "flags");
  uint64_t features = ArgU64(info, 1, "features");
  auto out = std::make_shared<long>(0);
  return StartTask(
      info.Env(),
      [=] {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0) {
          *out = -errno;
          return;
        }
        pid_t p = RawFork();
        if (p == 0) {
          int u = static_cast<int>(syscall(SYS_userfaultfd, flags));
          ApiArg api{kApi, features, 0};
          if (u < 0 || ioctl(u, kApiIoctl, &api) != 0) _exit(2);
          char byte = 0;
          struct iovec iov = {&byte, 1};
          char ctrl[CMSG_SPACE(sizeof(int))];
          memset(ctrl, 0, sizeof ctrl);
          struct msghdr msg;
          memset(&msg, 0, sizeof msg);
          msg.msg_iov = &iov;
          msg.msg_iovlen = 1;
          msg.msg_control = ctrl;
          msg.msg_controllen = sizeof ctrl;
          struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
          c->cmsg_level = SOL_SOCKET;
          c->cmsg_type = SCM_RIGHTS;
          c->cmsg_len = CMSG_LEN(sizeof(int));
          memcpy(CMSG_DATA(c), &u, sizeof(int));
          _exit(sendmsg(sv[1], &msg, 0) == 1 ? 0 : 3);
        }
        close(sv[1]);
        if (p < 0) {
          *out = -errno;
          close(sv[0]);
          return;
        }
        char byte;
        struct iovec iov = {&byte, 1};
        char ctrl[CMSG_SPACE(sizeof(int))];
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl;
        msg.msg_controllen = sizeof ctrl;
        ssize_t r;
        do {
          r = recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC);
        } while (r < 0 && errno == EINTR);
        int status = 0;
        while (waitpid(p, &status, 0) < 0 && errno == EINTR) {
        }
        close(sv[0]);
        struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
        if (r != 1 || c == nullptr || c->cmsg_type != SCM_RIGHTS) {
          *out = -EIO;
          return;
        }
        int fd;
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
        *out = fd;
      },
      [out](Napi::Env e) { return Napi::Number::New(e, static_cast<double>(*out)); });
}

Napi::Value GetTid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

}  // namespace

void InitThreads(Napi::Env env, Napi::Object exports) {
  exports.Set("touch", Napi::Function::New(env, Touch, "touch"));
  exports.Set("forkPause", Napi::Function::New(env, ForkPause, "forkPause"));
  exports.Set("reap", Napi::Function::New(env, Reap, "reap"));
  exports.Set("forkIoctl", Napi::Function::New(env, ForkIoctl, "forkIoctl"));
  exports.Set("orphanUffd", Napi::Function::New(env, OrphanUffd, "orphanUffd"));
  exports.Set("gettid", Napi::Function::New(env, GetTid, "gettid"));
}

}  // namespace uffd
