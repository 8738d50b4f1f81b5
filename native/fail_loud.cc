// The native half of the fail-loud policy (lib/fail-loud.ts): poisoning every page still missing
// in a range, and a watchdog thread that does it (or aborts the process) when the serving side
// goes away.
//
// Why native: the thread that must notice is often the one that cannot run. A process whose JS
// thread faults on memory served by another process sleeps in handle_userfault; if the server
// dies while the fd is still open here, it sleeps forever (peers.md §c7, ejc3/fcvm #739). A
// dedicated thread blocked in poll(2) on the server's pidfd is awake whatever the JS thread does.
//
// UFFDIO_POISON (6.6+, spec §3.9) installs a poison marker on each missing page of the range and
// wakes the waiters; any later access raises SIGBUS. Unlike close(), which lets blocked threads
// retry as ordinary faults and silently read zero pages, poisoning makes an unserved page loud.
// Markers stay after the fd is closed or the range unregistered: only MADV_DONTNEED, munmap or a
// new mapping removes them.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "addon.h"
#include "uapi.h"

namespace uffd {
namespace {

struct PoisonResult {
  uint64_t poisoned = 0;  // bytes that got a poison marker
  uint64_t present = 0;   // bytes skipped because a page was there (resolved: not poisoned)
  int err = 0;            // the errno that stopped it early, or 0
};

// Poisons every missing page of [start, start+len), skipping present pages (EEXIST) and pages
// outside a registered VMA (ENOENT: the kernel refuses a range that crosses a VMA end, so the
// chunk is halved until it fits). EAGAIN with no progress means an unread non-cooperative event
// (mmap_changing, spec §1.6): retried for a while, then reported.
// UFFDIO_WAKE on [start, start+len), errors ignored: a wake of a range nobody waits in is a no-op.
//
// Why poisoning needs more wakes than its own: a thread that read a none PTE just before the
// marker went in, and queues itself in handle_userfault() just after UFFDIO_POISON's wake, finds
// the marker in userfaultfd_must_wait(), which treats every PTE marker as none (fs/userfaultfd.c,
// pte_none_mostly(), through 6.18; later kernels wait only on uffd-wp markers) and sleeps with
// nobody left to wake it. A later wake sends it back to the fault, which now meets the marker and
// raises SIGBUS. The server's own death sets it up: its SIGCHLD interrupts the thread waiting on
// the fault the server had read, and that thread re-faults while the watchdog poisons. The likely
// cause of a CI hang in the arm64 6.12 guest (fail-loud, "JS thread blocked", action poison: 1 run
// in many; 160 more runs there did not repeat it). test/reliability/fixtures/failure-rewake.js
// builds the state on purpose with a DONTWAKE poison.
void WakeRange(int fd, uint64_t start, uint64_t len) {
  Range r{start, len};
  (void)ioctl(fd, kWake, &r);
}

PoisonResult PoisonRange(int fd, uint64_t start, uint64_t len, uint64_t ps) {
  PoisonResult res;
  uint64_t done = 0;
  uint64_t chunk = len;
  int again = 0;
  while (done < len) {
    if (chunk > len - done) chunk = len - done;
    PoisonArg a{{start + done, chunk}, 0, INT64_MIN};
    if (ioctl(fd, kPoison, &a) == 0) {
      res.poisoned += chunk;
      done += chunk;
      chunk = len - done;
      continue;
    }
    int err = errno;
    if (a.updated > 0) {  // partial progress; the next iteration meets the reason
      res.poisoned += static_cast<uint64_t>(a.updated);
      done += static_cast<uint64_t>(a.updated);
      chunk = len - done;
      continue;
    }
    if (err == EAGAIN && again++ < 2000) {
      usleep(500);
      continue;
    }
    if (err == ENOENT && chunk > ps) {
      chunk = (chunk / 2 + ps - 1) / ps * ps;
      continue;
    }
    if (err == EEXIST || err == ENOENT) {
      if (err == EEXIST) res.present += ps;
      done += ps;
      chunk = len - done;
      continue;
    }
    // ESRCH: the process whose memory this is has exited (a uffd received from it, spec §5.3
    // C57): no thread is left to read a zero page, so there is nothing to make loud.
    if (err != ESRCH) res.err = err;
    break;
  }
  if (res.poisoned > 0) WakeRange(fd, start, len);
  return res;
}

uint64_t PageSize() { return static_cast<uint64_t>(sysconf(_SC_PAGESIZE)); }

// poisonRange(fd, start, len) -> [poisonedBytes, presentBytes, -errno or 0]
Napi::Value PoisonRangeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PoisonResult r = PoisonRange(ArgInt(info, 0, "fd"), ArgU64(info, 1, "start"),
                               ArgU64(info, 2, "len"), PageSize());
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(r.poisoned)));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(r.present)));
  out.Set(2u, Napi::Number::New(env, -r.err));
  return out;
}

// pidfdOpen(pid) -> fd (O_CLOEXEC) or -errno.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  long fd = syscall(SYS_pidfd_open, ArgInt(info, 0, "pid"), 0);
  if (fd < 0) return Errno(info.Env(), errno);
  fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

// The threads of this process sleeping in a userfault, with their voluntary context switch
// counts (/proc/self/task/<tid>/{wchan,status}). A thread seen there with the same count on two
// samples has been waiting for one and the same fault in between: it was neither woken nor
// rescheduled. Reading the fd's queue instead (fdinfo "pending") would miss faults that were
// read and then dropped, e.g. by an abandoned iterator that had already read a batch.
std::map<int, long> WaitingThreads() {
  std::map<int, long> out;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300];
    snprintf(path, sizeof path, "/proc/self/task/%s/wchan", e->d_name);
    char w[64] = {0};
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) continue;
    ssize_t n = read(f, w, sizeof w - 1);
    close(f);
    if (n <= 0 || strcmp(w, "handle_userfault") != 0) continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
    f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) continue;
    char buf[2048];
    n = read(f, buf, sizeof buf - 1);
    close(f);
    if (n <= 0) continue;
    buf[n] = 0;
    const char* v = strstr(buf, "voluntary_ctxt_switches:");
    out[atoi(e->d_name)] = v == nullptr ? -1 : strtol(v + 24, nullptr, 10);
  }
  closedir(d);
  return out;
}

// "userfaultfd: <why>; aborting (fail-loud policy)" on stderr with write(2) (from the watchdog
// thread or an env teardown: no JS, no stdio buffers), then abort(): the message lib/fail-loud.ts
// abortLoudly() prints for the trips JS sees.
[[noreturn]] void AbortLoudly(const char* why) {
  char msg[256];
  int len = snprintf(msg, sizeof msg, "userfaultfd: %s; aborting (fail-loud policy)\n", why);
  if (len > static_cast<int>(sizeof msg) - 1) len = sizeof msg - 1;
  ssize_t w = write(2, msg, static_cast<size_t>(len));
  (void)w;
  abort();
}

enum Action { kPoisonAction = 0, kAbortAction = 1 };
enum Reason { kServerExit = 1, kStall = 2 };

struct Trip {
  int reason;
  uint64_t poisoned;
  int err;
};

void TripCallJs(Napi::Env env, Napi::Function cb, std::nullptr_t*, Trip* t) {
  std::unique_ptr<Trip> owned(t);
  if (env == nullptr || cb.IsEmpty()) return;
  cb.Call({Napi::String::New(env, t->reason == kServerExit ? "server-exit" : "stall"),
           Napi::Number::New(env, static_cast<double>(t->poisoned)),
           Napi::Number::New(env, -t->err)});
}

using TripTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Trip, TripCallJs>;

// new Watchdog(uffdFd, pidfd, stallMs, ranges: Float64Array [addr, len, ...], action, onTrip)
// Owns a dup of the uffd fd and the pidfd (either may be -1: no server watch). Its thread polls
// the pidfd and a stop eventfd; with stallMs > 0 it also samples the threads of this process
// waiting in a userfault and trips when one has waited for the same fault for stallMs. On a trip it
// poisons the ranges (or writes a message and aborts), then calls onTrip(reason, bytes, -errno)
// on the JS thread if that thread is able to run. It trips at most once.
class Watchdog : public Napi::ObjectWrap<Watchdog> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Watchdog",
                       {InstanceMethod("stop", &Watchdog::StopJs),
                        InstanceAccessor("tripped", &Watchdog::Tripped, nullptr)});
  }

  explicit Watchdog(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Watchdog>(info) {
    Napi::Env env = info.Env();
    int fd = ArgInt(info, 0, "fd");
    pidfd_ = ArgInt(info, 1, "pidfd");
    stallMs_ = ArgInt(info, 2, "stallMs");
    if (!info[3].IsTypedArray() ||
        info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw Napi::TypeError::New(env, "ranges must be a Float64Array");
    }
    Napi::Float64Array r = info[3].As<Napi::Float64Array>();
    for (size_t i = 0; i + 1 < r.ElementLength(); i += 2) {
      ranges_.emplace_back(static_cast<uint64_t>(r[i]), static_cast<uint64_t>(r[i + 1]));
    }
    action_ = ArgInt(info, 4, "action");
    if (!info[5].IsFunction()) throw Napi::TypeError::New(env, "onTrip must be a function");
    fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (fd_ < 0) throw Napi::Error::New(env, std::string("dup: ") + strerror(errno));
    stop_ = eventfd(0, EFD_CLOEXEC);
    if (stop_ < 0) {
      close(fd_);
      throw Napi::Error::New(env, std::string("eventfd: ") + strerror(errno));
    }
    tsfn_ = TripTsfn::New(env, info[5].As<Napi::Function>(), "userfaultfd:watchdog", 0, 1);
    tsfn_.Unref(env);  // a watchdog never keeps the process alive
    napi_add_env_cleanup_hook(env, &Watchdog::OnTeardown, this);
    hooked_ = true;
    thread_ = std::thread([this] { Run(); });
  }

  ~Watchdog() override { Stop(); }

 private:
  void Run() {
    // tid -> (context switches when first seen waiting, ms waited since)
    std::map<int, std::pair<long, int>> waiting;
    const int tick = stallMs_ > 0 ? (stallMs_ < 400 ? (stallMs_ + 3) / 4 : 100) : -1;
    for (;;) {
      struct pollfd p[2] = {{stop_, POLLIN, 0}, {pidfd_, POLLIN, 0}};
      int n = poll(p, pidfd_ >= 0 ? 2 : 1, tick);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || (p[0].revents & POLLIN)) return;
      if (pidfd_ >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        Fire(kServerExit);
        return;
      }
      if (stallMs_ > 0) {
        std::map<int, std::pair<long, int>> next;
        bool stalled = false;
        for (const auto& [tid, switches] : WaitingThreads()) {
          auto it = waiting.find(tid);
          int ms =
              it != waiting.end() && it->second.first == switches ? it->second.second + tick : 0;
          next[tid] = {switches, ms};
          if (ms >= stallMs_) stalled = true;
        }
        waiting.swap(next);
        if (stalled) {
          Fire(kStall);
          return;
        }
      }
    }
  }

  void Fire(int reason) {
    tripped_.store(reason);
    uint64_t poisoned = 0;
    int err = 0;
    if (action_ == kAbortAction) {
      AbortLoudly(reason == kServerExit
                      ? "the serving process exited with faults unresolved"
                      : "a fault has waited longer than stallMs with faults unresolved");
    }
    const uint64_t ps = PageSize();
    for (const auto& [start, len] : ranges_) {
      PoisonResult r = PoisonRange(fd_, start, len, ps);
      poisoned += r.poisoned;
      if (r.err != 0 && err == 0) err = r.err;
    }
    if (err != 0) {
      // Some pages could not be poisoned: a silent zero page must not be possible, so abort.
      char why[96];
      snprintf(why, sizeof why, "could not poison the unresolved pages (%s)", strerror(err));
      AbortLoudly(why);
    }
    tsfn_.NonBlockingCall(new Trip{reason, poisoned, err});
    Rewake();
  }

  // Wakes the ranges again at 1, 2, 4 ... 512 ms after the poison (about a second in all), for a
  // thread that slipped past UFFDIO_POISON's own wake (see WakeRange). Stops early on stop().
  void Rewake() {
    for (int delay = 1; delay <= 512; delay *= 2) {
      struct pollfd p = {stop_, POLLIN, 0};
      int n = poll(&p, 1, delay);
      if (n < 0 && errno == EINTR) continue;
      if (n != 0) return;
      for (const auto& [start, len] : ranges_) WakeRange(fd_, start, len);
    }
  }

  void StopThread() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    ssize_t w = write(stop_, &one, sizeof one);
    (void)w;
    thread_.join();
    tsfn_.Release();
  }

  void Stop() {
    StopThread();
    if (fd_ >= 0) close(fd_);
    if (stop_ >= 0) close(stop_);
    if (pidfd_ >= 0) close(pidfd_);
    fd_ = stop_ = pidfd_ = -1;
    if (hooked_) {
      napi_remove_env_cleanup_hook(Env(), &Watchdog::OnTeardown, this);
      hooked_ = false;
    }
  }

  // The environment that armed the policy is going away (a Worker exits or is terminated): its
  // uffds are about to be closed by the addon's own cleanup hook (registered earlier, so run
  // later), which would let waiters read zero pages. Poison first, as close() does in JS; with
  // 'abort', abort if a thread is waiting in a fault now, as close() does in JS (a terminated
  // Worker's JS cannot run that close hook, so this is the only place it can happen).
  static void OnTeardown(void* arg) {
    Watchdog* self = static_cast<Watchdog*>(arg);
    self->hooked_ = false;  // being run: nothing to remove
    self->StopThread();
    const bool armed = self->tripped_.load() == 0 && self->fd_ >= 0;
    if (armed && self->action_ == kAbortAction && !WaitingThreads().empty()) {
      AbortLoudly("the thread that armed the policy went away with faults unresolved");
    }
    if (armed && self->action_ == kPoisonAction) {
      const uint64_t ps = PageSize();
      for (const auto& [start, len] : self->ranges_) PoisonRange(self->fd_, start, len, ps);
    }
    self->Stop();
  }

  Napi::Value StopJs(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }

  Napi::Value Tripped(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), tripped_.load());
  }

  int fd_ = -1;
  int pidfd_ = -1;
  int stop_ = -1;
  int stallMs_ = 0;
  int action_ = kPoisonAction;
  bool hooked_ = false;
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;
  std::atomic<int> tripped_{0};
  TripTsfn tsfn_;
  std::thread thread_;
};

}  // namespace

void InitFailLoud(Napi::Env env, Napi::Object exports) {
  exports.Set("poisonRange", Napi::Function::New(env, PoisonRangeJs, "poisonRange"));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
  exports.Set("Watchdog", Watchdog::Define(env));
}

}  // namespace uffd
