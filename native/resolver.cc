// Native resolvers: a dedicated std::thread that serves the missing faults of given ranges by a
// fixed policy, with no JS on the path (spec §1.6, §2.6, §3.4, §3.5).
//
//   zeropage  UFFDIO_ZEROPAGE of the faulting page
//   copy      UFFDIO_COPY from source + (page - start)
//   move      UFFDIO_MOVE from source + (page - start)   (compaction: src reads zero after)
//
// Why a std::thread and not the libuv threadpool: the thread lives as long as the resolver and
// spends its life in poll(2); a pool thread would be taken from fs, dns and zlib for good.
//
// While it runs the resolver owns read(2) of the userfaultfd (on its own dup of the fd, so the
// number cannot be reused under it). Messages it does not handle (faults outside its ranges,
// wp/minor faults, FORK/REMAP/REMOVE/UNMAP) go to a queue that JS drains with take(); an eventfd
// (notifyFd) becomes readable while the queue is non-empty, and lib/events.ts polls it on the
// environment's loop exactly as it polls the userfaultfd itself.
//
// Kernel rules applied here:
// - EEXIST: someone else installed the page; the kernel does not wake on error, so UFFDIO_WAKE
//   it (selftests' copy_page/move_page do the same).
// - EAGAIN with result field -EAGAIN: a non-cooperative event is unread (mmap_changing). Read
//   every pending message first (events come after faults, spec §1.6), hand the events to JS,
//   and retry the fault from a retry queue on a 1 ms poll timeout: the count is decremented by
//   the thread that raised the event after it wakes, so a retry may need a moment, but it never
//   needs a new message.
// - Any other error: counted in `errors` and the fault is handed to JS, so it is not left
//   asleep unseen.
//
// Stopping (stop(), uffd.close(), environment teardown, garbage collection): an eventfd wakes the
// poll, the thread wakes the faults still in its retry queue (they re-fault and the messages go
// to whoever reads next) and exits, the owner joins it and closes the dup.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "addon.h"
#include "uapi.h"
#include "watchdog.h"

namespace uffd {
namespace {

// Policy numbers as lib/resolver.ts sends them (the index in its POLICIES list).
enum Policy : int { kPolicyZeropage = 0, kPolicyCopy = 1, kPolicyMove = 2 };

struct ResolveRange {
  uint64_t start, len, source;
  int policy;
};

class Resolver : public Napi::ObjectWrap<Resolver> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "Resolver",
        {InstanceMethod("start", &Resolver::Start), InstanceMethod("stop", &Resolver::StopJs),
         InstanceMethod("take", &Resolver::Take), InstanceMethod("counters", &Resolver::Counters),
         InstanceAccessor("notifyFd", &Resolver::NotifyFd, nullptr),
         InstanceAccessor("running", &Resolver::Running, nullptr),
         InstanceAccessor("error", &Resolver::Error, nullptr)});
  }

  // new Resolver(fd, ranges: Float64Array of (start, len, policy, source) quadruples, forward,
  //              batch = messages per read(2))
  explicit Resolver(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Resolver>(info) {
    Napi::Env env = info.Env();
    int fd = ArgInt(info, 0, "fd");
    if (!info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw Napi::TypeError::New(env, "ranges must be a Float64Array");
    }
    Napi::Float64Array r = info[1].As<Napi::Float64Array>();
    for (size_t i = 0; i + 3 < r.ElementLength(); i += 4) {
      ranges_.push_back({static_cast<uint64_t>(r[i]), static_cast<uint64_t>(r[i + 1]),
                         static_cast<uint64_t>(r[i + 3]), static_cast<int>(r[i + 2])});
    }
    forward_ = info[2].ToBoolean().Value();
    batch_ = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 64;
    if (batch_ < 1 || batch_ > 1024) batch_ = 64;
    pageSize_ = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    envKey_ = WatchdogEnvKey(env);
    jsTid_ = WatchdogJsTid(envKey_);
    fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    notifyFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd_ < 0 || notifyFd_ < 0 || stopFd_ < 0) {
      int err = errno;
      CloseFds();
      Napi::Error e = Napi::Error::New(env, strerror(err));
      e.Set("errno", Napi::Number::New(env, -err));
      throw e;
    }
    napi_add_env_cleanup_hook(env, &Resolver::OnEnvCleanup, this);
    hooked_ = true;
  }

  ~Resolver() override {
    if (hooked_) napi_remove_env_cleanup_hook(Env(), &Resolver::OnEnvCleanup, this);
    Halt();
    CloseFds();
  }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (thread_.joinable() || fd_ < 0) return Errno(info.Env(), EBUSY);
    running_ = true;
    thread_ = std::thread([this] { Run(); });
    return Napi::Number::New(info.Env(), 0);
  }

  Napi::Value StopJs(const Napi::CallbackInfo& info) {
    Halt();
    return info.Env().Undefined();
  }

  // take(buffer) -> messages copied (32 bytes each). Resets notifyFd once the queue is empty,
  // under the same lock as the producer's write, so a notification is never lost.
  Napi::Value Take(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "buffer must be a Uint8Array");
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    uint8_t* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    size_t cap = ta.ByteLength() / sizeof(Msg);
    size_t n = 0;
    std::lock_guard<std::mutex> lock(mu_);
    for (; n < cap && !queue_.empty(); n++) {
      memcpy(base + n * sizeof(Msg), &queue_.front(), sizeof(Msg));
      queue_.pop_front();
    }
    if (queue_.empty() && notified_) {
      uint64_t v;
      ssize_t r = read(notifyFd_, &v, sizeof v);
      (void)r;
      notified_ = false;
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  Napi::Value Counters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    auto set = [&](const char* k, const std::atomic<uint64_t>& v) {
      o.Set(k, Napi::Number::New(env, static_cast<double>(v.load())));
    };
    set("faults", faults_);
    set("resolved", resolved_);
    set("eexist", eexist_);
    set("eagain", eagain_);
    set("errors", errors_);
    set("forwarded", forwarded_);
    return o;
  }

  Napi::Value NotifyFd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), notifyFd_);
  }
  Napi::Value Running(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), running_.load());
  }
  // The -errno that ended the thread on its own (read(2) or poll(2) failing), else 0.
  Napi::Value Error(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), -fatal_.load());
  }

  static void OnEnvCleanup(void* arg) {
    Resolver* self = static_cast<Resolver*>(arg);
    self->hooked_ = false;
    self->Halt();
  }

  // Stops and joins the thread, then closes the dup so the userfaultfd can be released.
  void Halt() {
    if (thread_.joinable()) {
      uint64_t one = 1;
      ssize_t w = write(stopFd_, &one, sizeof one);
      (void)w;
      thread_.join();
    }
    running_ = false;
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  void CloseFds() {
    if (fd_ >= 0) close(fd_);
    if (notifyFd_ >= 0) close(notifyFd_);
    if (stopFd_ >= 0) close(stopFd_);
    fd_ = notifyFd_ = stopFd_ = -1;
    std::lock_guard<std::mutex> lock(mu_);
    for (const Msg& m : queue_) {  // FORK fds nobody will take
      if (m.event == kEventFork) close(static_cast<int>(m.arg.fork.ufd));
    }
    queue_.clear();
  }

  void Forward(const Msg& m) {
    if (!forward_) {
      if (m.event == kEventFork) close(static_cast<int>(m.arg.fork.ufd));
      if (m.event == kEventPagefault) errors_++;  // nobody will serve it: count it
      return;
    }
    forwarded_++;
    if (m.event == kEventPagefault && jsTid_ != 0 &&
        static_cast<int>(m.arg.pagefault.feat.ptid) == jsTid_) {
      // JS is the only one who will see this fault, and JS is the faulting thread.
      WatchdogJsThreadFault(envKey_, fd_, m);
    }
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(m);
    if (!notified_) {
      uint64_t one = 1;
      ssize_t w = write(notifyFd_, &one, sizeof one);
      (void)w;
      notified_ = true;
    }
  }

  const ResolveRange* Find(uint64_t addr) const {
    for (const auto& r : ranges_) {
      if (addr >= r.start && addr - r.start < r.len) return &r;
    }
    return nullptr;
  }

  // One resolution ioctl: 0, or -errno with EAGAIN only for the "event unread" case.
  int Resolve(const ResolveRange& r, uint64_t page) {
    constexpr int64_t kUntouched = INT64_MIN;
    uint64_t off = page - r.start;
    int ret;
    int64_t field;
    switch (r.policy) {
      case kPolicyCopy: {
        CopyArg a{page, r.source + off, pageSize_, 0, kUntouched};
        ret = ioctl(fd_, kCopy, &a);
        field = a.copy;
        break;
      }
      case kPolicyMove: {
        MoveArg a{page, r.source + off, pageSize_, 0, kUntouched};
        ret = ioctl(fd_, kMove, &a);
        field = a.move;
        break;
      }
      default: {
        ZeropageArg a{{page, pageSize_}, 0, kUntouched};
        ret = ioctl(fd_, kZeropage, &a);
        field = a.zeropage;
        break;
      }
    }
    if (ret == 0) return 0;
    int err = errno;
    // One page cannot be partly done; a positive field with EAGAIN would mean a short copy of a
    // huge page, which these policies never ask for. Treat it as done.
    if (err == EAGAIN && field > 0) return 0;
    return -err;
  }

  // Handles one message; a fault that got EAGAIN goes to `retry`.
  void Handle(const Msg& m, bool isRetry, std::deque<Msg>* retry) {
    if (m.event != kEventPagefault) return Forward(m);
    uint64_t flags = m.arg.pagefault.flags;
    uint64_t addr = m.arg.pagefault.address;
    const ResolveRange* r =
        (flags & (kPagefaultFlagWp | kPagefaultFlagMinor)) ? nullptr : Find(addr);
    if (r == nullptr) return Forward(m);
    if (!isRetry) faults_++;
    uint64_t page = addr & ~(pageSize_ - 1);
    int ret = Resolve(*r, page);
    if (ret == 0) {
      resolved_++;
    } else if (ret == -EEXIST) {
      Range w{page, pageSize_};
      ioctl(fd_, kWake, &w);  // no implicit wake on EEXIST
      eexist_++;
    } else if (ret == -EAGAIN) {
      eagain_++;
      retry->push_back(m);
    } else {
      errors_++;
      Forward(m);  // hand it to JS rather than leave it asleep
    }
  }

  void Run() {
    std::vector<Msg> buf(static_cast<size_t>(batch_));
    std::deque<Msg> retry;
    struct pollfd pfd[2] = {{fd_, POLLIN, 0}, {stopFd_, POLLIN, 0}};
    for (;;) {
      int r = poll(pfd, 2, retry.empty() ? -1 : 1);
      if (r < 0) {
        if (errno == EINTR) continue;
        fatal_ = errno;
        break;
      }
      if (pfd[1].revents != 0) break;
      if (pfd[0].revents & (POLLERR | POLLNVAL)) {
        fatal_ = EBADF;  // not initialised, blocking fd (spec A15) or closed: cannot serve
        break;
      }
      // Read everything pending: faults first, then the events that make ioctls fail with
      // EAGAIN until they are read.
      bool failed = false;
      for (;;) {
        ssize_t n = read(fd_, buf.data(), buf.size() * sizeof(Msg));
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN) {
            fatal_ = errno;
            failed = true;
          }
          break;
        }
        size_t count = static_cast<size_t>(n) / sizeof(Msg);
        for (size_t i = 0; i < count; i++) Handle(buf[i], false, &retry);
        if (count < buf.size()) break;
      }
      if (failed) break;
      for (size_t i = 0, k = retry.size(); i < k; i++) {
        Msg m = retry.front();
        retry.pop_front();
        Handle(m, true, &retry);
      }
    }
    // Give the faults we still hold back to the kernel: woken, they re-fault and queue new
    // messages for the next reader.
    for (const Msg& m : retry) {
      Range w{m.arg.pagefault.address & ~(pageSize_ - 1), pageSize_};
      ioctl(fd_, kWake, &w);
    }
    running_ = false;
  }

  std::vector<ResolveRange> ranges_;
  bool forward_ = true;
  int batch_ = 64;
  uint64_t pageSize_ = 4096;
  uint64_t envKey_ = 0;
  int jsTid_ = 0;
  int fd_ = -1, notifyFd_ = -1, stopFd_ = -1;
  bool hooked_ = false;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<int> fatal_{0};
  std::atomic<uint64_t> faults_{0}, resolved_{0}, eexist_{0}, eagain_{0}, errors_{0}, forwarded_{0};
  std::mutex mu_;
  std::deque<Msg> queue_;
  bool notified_ = false;
};

}  // namespace

void InitResolver(Napi::Env env, Napi::Object exports) {
  exports.Set("Resolver", Resolver::Define(env));
}

}  // namespace uffd
