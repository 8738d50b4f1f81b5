// The JS-thread fault watchdog.
//
// THE RULE: the JS thread must never touch a missing page of memory registered with a
// userfaultfd that the same thread serves. It sleeps in handle_userfault() until the fault is
// resolved, and the resolver is the sleeping thread itself: a silent, total hang with no
// exception and no JS to run. This file makes that hang loud.
//
// A process-wide native thread wakes every kPeriodMs and, for each environment (main thread or
// Worker) that has userfaultfds open, reads /proc/self/task/<tid>/wchan of its JS thread (tid
// recorded when the addon loaded in that environment). When the thread has been asleep in
// handle_userfault for thresholdMs, the watchdog reads the pending messages of that
// environment's uffds itself (the JS reader cannot: it is the sleeper) until it finds the
// message whose THREAD_ID is the JS thread. It then writes a report to stderr naming the
// address and the fix, and applies the environment's policy:
//   report  (default) wake the page again (the thread re-faults; a real deadlock stays a hang, a
//           slow foreign server is not disturbed), reported once per page;
//   resolve map a zero page (missing), the page-cache page (minor, CONTINUE) or drop the write
//           protection (wp), so the thread continues;
//   poison  UFFDIO_POISON: the thread takes SIGBUS (fatal for a JS thread);
//   off     no scanning.
// Fault messages of other threads read during the scan are given back with UFFDIO_WAKE (the
// thread re-faults and a new message is queued, spec §1.6). Non-cooperative events read during
// the scan cannot be given back: they are kept in a per-fd stash that lib/events.ts drains before
// reading the fd.
//
// A native resolver owns read(2) of its fd: the watchdog skips that fd, and the resolver reports
// JS-thread faults it forwards through WatchdogJsThreadFault().
#include "watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "addon.h"

namespace uffd {
namespace {

constexpr int kPeriodMs = 100;

struct WatchedFd {
  dev_t dev;
  ino_t ino;          // each userfaultfd has its own anon inode: detects a closed and reused number
  bool skip = false;  // a native resolver reads this fd
  std::deque<Msg> stash;
};

struct WatchedEnv {
  int jsTid = 0;
  // /proc/self/task/<jsTid>/wchan, opened once when the addon loads in the environment and
  // re-read with pread every period (closed at its teardown): one fd for the environment's
  // lifetime rather than an open/close every 100 ms that anyone counting fds sees come and go.
  int wchanFd = -1;
  int policy = kJsFaultReport;
  int thresholdMs = 1000;
  int64_t blockedSinceMs = 0;
  std::map<int, WatchedFd> fds;
  std::set<uint64_t> reported;  // pages already reported
};

// Never destroyed: used by a detached thread that may run during process exit.
std::mutex* gMu = new std::mutex();
std::map<uint64_t, WatchedEnv>* gEnvs = new std::map<uint64_t, WatchedEnv>();
bool gThreadRunning = false;

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

uint64_t PageSize() { return static_cast<uint64_t>(sysconf(_SC_PAGESIZE)); }

void Say(const std::string& s) {
  // One write(2) so concurrent reports do not interleave; stderr is unbuffered here.
  ssize_t w = write(2, s.data(), s.size());
  (void)w;
}

int OpenWchan(int tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/wchan", tid);
  return open(path, O_RDONLY | O_CLOEXEC);
}

bool InHandleUserfault(int wchanFd) {
  if (wchanFd < 0) return false;
  char buf[64] = {0};
  ssize_t n = pread(wchanFd, buf, sizeof buf - 1, 0);
  return n > 0 && strncmp(buf, "handle_userfault", 16) == 0;
}

bool SameFile(int fd, const WatchedFd& w) {
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_dev == w.dev && st.st_ino == w.ino;
}

void Wake(int fd, uint64_t page) {
  Range r{page, PageSize()};
  ioctl(fd, kWake, &r);
}

const char* KindOf(const Msg& m) {
  uint64_t f = m.arg.pagefault.flags;
  return f & kPagefaultFlagWp ? "write-protect" : f & kPagefaultFlagMinor ? "minor" : "missing";
}

// Applies the policy to the JS thread's fault; returns what was done, for the report.
std::string Act(int policy, int fd, const Msg& m, bool giveBack) {
  uint64_t ps = PageSize();
  uint64_t page = m.arg.pagefault.address & ~(ps - 1);
  uint64_t flags = m.arg.pagefault.flags;
  constexpr int64_t kUntouched = INT64_MIN;
  int ret = 0;
  if (policy == kJsFaultResolve) {
    if (flags & kPagefaultFlagWp) {
      WriteprotectArg a{{page, ps}, 0};  // clear WP, and wake
      ret = ioctl(fd, kWriteprotect, &a);
    } else if (flags & kPagefaultFlagMinor) {
      ContinueArg a{{page, ps}, 0, kUntouched};
      ret = ioctl(fd, kContinue, &a);
    } else {
      ZeropageArg a{{page, ps}, 0, kUntouched};
      ret = ioctl(fd, kZeropage, &a);
    }
    if (ret != 0 && errno == EEXIST) Wake(fd, page);  // someone installed it: no implicit wake
    if (ret != 0 && errno != EEXIST) {
      Wake(fd, page);
      return std::string("resolving it failed (") + strerror(errno) + "): left waiting.";
    }
    return flags & kPagefaultFlagWp      ? "action: write protection dropped, thread resumed."
           : flags & kPagefaultFlagMinor ? "action: page-cache page mapped (CONTINUE), resumed."
                                         : "action: a ZERO page was mapped and the thread resumed "
                                           "(its data is not what a server would have provided).";
  }
  if (policy == kJsFaultPoison && !(flags & kPagefaultFlagWp)) {
    PoisonArg a{{page, ps}, 0, kUntouched};
    ret = ioctl(fd, kPoison, &a);
    if (ret == 0) return "action: page POISONED, the thread takes SIGBUS.";
    if (errno == EEXIST) Wake(fd, page);
    return std::string("poisoning failed (") + strerror(errno) + ").";
  }
  if (giveBack) Wake(fd, page);
  return "action: none (policy 'report'); the thread stays asleep until the fault is resolved.";
}

std::string Report(int tid, int fd, const Msg& m, const std::string& action) {
  char head[256];
  snprintf(head, sizeof head,
           "\nuserfaultfd: DEADLOCK: the JavaScript thread (tid %d) faulted on address 0x%llx "
           "(%s%s fault, userfaultfd fd %d), and that thread is the one that serves this "
           "userfaultfd: it sleeps in handle_userfault forever.\n",
           tid, static_cast<unsigned long long>(m.arg.pagefault.address), KindOf(m),
           (m.arg.pagefault.flags & kPagefaultFlagWrite) ? " write" : " read", fd);
  return std::string(head) +
         "  The rule: never touch registered memory that may be missing from the thread that "
         "resolves its faults (no mapping.buffer reads, Buffer.from, console.log or postMessage of "
         "it on that thread).\n"
         "  The fix: touch it from a Worker (Mapping.attach), a native thread (touch(), "
         "readMemory()), another process, or serve that range with a native resolver "
         "(uffd.startResolver).\n  " +
         action + "\n";
}

// One scan of an environment whose JS thread has slept in handle_userfault for too long.
// Called with gMu held.
void Scan(WatchedEnv& e) {
  std::vector<std::pair<int, uint64_t>> giveBack;
  std::vector<uint64_t> anonymous;  // fault addresses with no THREAD_ID (feature off)
  bool found = false;
  Msg hit{};
  int hitFd = -1;
  uint64_t ps = PageSize();
  for (auto it = e.fds.begin(); it != e.fds.end() && !found;) {
    int fd = it->first;
    WatchedFd& w = it->second;
    if (!SameFile(fd, w)) {  // closed without unwatch (e.g. by a finalizer): forget it
      it = e.fds.erase(it);
      continue;
    }
    if (!w.skip) {
      for (;;) {
        Msg m;
        ssize_t n = read(fd, &m, sizeof m);
        if (n != static_cast<ssize_t>(sizeof m)) break;  // EAGAIN: nothing more pending
        if (m.event != kEventPagefault) {
          w.stash.push_back(m);
          continue;
        }
        int ptid = static_cast<int>(m.arg.pagefault.feat.ptid);
        if (ptid == e.jsTid) {
          found = true;
          hit = m;
          hitFd = fd;
          break;
        }
        if (ptid == 0) anonymous.push_back(m.arg.pagefault.address);
        giveBack.push_back({fd, m.arg.pagefault.address & ~(ps - 1)});
      }
    }
    ++it;
  }
  for (auto& [fd, page] : giveBack) Wake(fd, page);
  if (found) {
    uint64_t page = hit.arg.pagefault.address & ~(ps - 1);
    bool first = e.reported.insert(page).second;
    std::string action = Act(e.policy, hitFd, hit, true);
    if (first || e.policy != kJsFaultReport) Say(Report(e.jsTid, hitFd, hit, action));
  } else if (!anonymous.empty() && e.reported.insert(0).second) {
    char buf[512];
    snprintf(buf, sizeof buf,
             "\nuserfaultfd: the JavaScript thread (tid %d) has slept in handle_userfault for "
             "over %d ms while its own userfaultfds have unserved faults (first at 0x%llx). "
             "If the JS thread touched registered memory, it will never wake: touch it from a "
             "Worker, a native thread (touch()) or another process. Open the uffd with the "
             "threadId feature for an exact diagnosis.\n",
             e.jsTid, e.thresholdMs, static_cast<unsigned long long>(anonymous.front()));
    Say(buf);
  }
}

void Run() {
  for (;;) {
    usleep(kPeriodMs * 1000);
    std::lock_guard<std::mutex> lock(*gMu);
    bool any = false;
    for (auto& [key, e] : *gEnvs) {
      (void)key;
      if (e.fds.empty() || e.policy == kJsFaultOff) continue;
      any = true;
      if (!InHandleUserfault(e.wchanFd)) {
        e.blockedSinceMs = 0;
        continue;
      }
      int64_t now = NowMs();
      if (e.blockedSinceMs == 0) e.blockedSinceMs = now;
      if (now - e.blockedSinceMs < e.thresholdMs) continue;
      e.blockedSinceMs = now;  // next scan after another threshold, if still asleep
      Scan(e);
    }
    if (!any) {
      gThreadRunning = false;  // restarted by the next watch()
      return;
    }
  }
}

// Starts the watchdog thread if it is not running. Caller holds gMu.
void EnsureThread() {
  if (gThreadRunning) return;
  gThreadRunning = true;
  std::thread(Run).detach();
}

WatchedEnv* EnvOf(napi_env env) {
  auto it = gEnvs->find(WatchdogEnvKey(env));
  return it == gEnvs->end() ? nullptr : &it->second;
}

// Whether fd is a userfaultfd: the watchdog reads from the fds it watches, which must never
// consume another kind of file's data (Userfaultfd.fromFd accepts any fd).
bool IsUserfaultfd(int fd) {
  char path[64], target[64] = {0};
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof target - 1);
  return n > 0 && strcmp(target, "anon_inode:[userfaultfd]") == 0;
}

// watchdogWatch(fd) -> 0 | -errno (EBADF, or EINVAL for an fd that is not a userfaultfd): the JS
// thread of this environment serves fd.
Napi::Value Watch(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  struct stat st;
  if (fstat(fd, &st) != 0) return Errno(info.Env(), errno);
  if (!IsUserfaultfd(fd)) return Errno(info.Env(), EINVAL);
  std::lock_guard<std::mutex> lock(*gMu);
  WatchedEnv* e = EnvOf(info.Env());
  if (e == nullptr) return Errno(info.Env(), ESRCH);
  WatchedFd w;
  w.dev = st.st_dev;
  w.ino = st.st_ino;
  e->fds[fd] = w;
  EnsureThread();
  return Napi::Number::New(info.Env(), 0);
}

// watchdogUnwatch(fd): forget fd (closing it, or it is served elsewhere). Closes the fds of
// stashed FORK events, whose reader is gone.
Napi::Value Unwatch(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  std::lock_guard<std::mutex> lock(*gMu);
  WatchedEnv* e = EnvOf(info.Env());
  if (e != nullptr) {
    auto it = e->fds.find(fd);
    if (it != e->fds.end()) {
      for (const Msg& m : it->second.stash) {
        if (m.event == kEventFork) close(static_cast<int>(m.arg.fork.ufd));
      }
      e->fds.erase(it);
    }
  }
  return info.Env().Undefined();
}

// watchdogSkip(fd, skip): a native resolver owns read(2) of fd while skip is true.
Napi::Value Skip(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  bool skip = info[1].ToBoolean().Value();
  std::lock_guard<std::mutex> lock(*gMu);
  WatchedEnv* e = EnvOf(info.Env());
  if (e != nullptr) {
    auto it = e->fds.find(fd);
    if (it != e->fds.end()) it->second.skip = skip;
  }
  return info.Env().Undefined();
}

// watchdogConfigure(policy, thresholdMs).
Napi::Value Configure(const Napi::CallbackInfo& info) {
  int policy = ArgInt(info, 0, "policy");
  int threshold = ArgInt(info, 1, "thresholdMs");
  std::lock_guard<std::mutex> lock(*gMu);
  WatchedEnv* e = EnvOf(info.Env());
  if (e != nullptr) {
    e->policy = policy;
    e->thresholdMs = threshold < kPeriodMs ? kPeriodMs : threshold;
    e->reported.clear();
    if (policy != kJsFaultOff && !e->fds.empty()) EnsureThread();
  }
  return info.Env().Undefined();
}

// watchdogTake(fd, buffer) -> the number of stashed messages copied into buffer (32 bytes each).
Napi::Value Take(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "buffer must be a Uint8Array");
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  uint8_t* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  size_t cap = ta.ByteLength() / sizeof(Msg);
  size_t n = 0;
  std::lock_guard<std::mutex> lock(*gMu);
  WatchedEnv* e = EnvOf(env);
  if (e != nullptr) {
    auto it = e->fds.find(fd);
    if (it != e->fds.end()) {
      auto& q = it->second.stash;
      for (; n < cap && !q.empty(); n++) {
        memcpy(base + n * sizeof(Msg), &q.front(), sizeof(Msg));
        q.pop_front();
      }
    }
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value JsTid(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(*gMu);
  WatchedEnv* e = EnvOf(info.Env());
  return Napi::Number::New(info.Env(), e == nullptr ? 0 : e->jsTid);
}

void OnEnvCleanup(void* arg) {
  std::lock_guard<std::mutex> lock(*gMu);
  auto it = gEnvs->find(reinterpret_cast<uint64_t>(arg));
  if (it == gEnvs->end()) return;
  if (it->second.wchanFd >= 0) close(it->second.wchanFd);
  for (auto& [fd, w] : it->second.fds) {
    (void)fd;
    for (const Msg& m : w.stash) {
      if (m.event == kEventFork) close(static_cast<int>(m.arg.fork.ufd));
    }
  }
  gEnvs->erase(it);
}

}  // namespace

uint64_t WatchdogEnvKey(napi_env env) { return reinterpret_cast<uint64_t>(env); }

int WatchdogJsTid(uint64_t envKey) {
  std::lock_guard<std::mutex> lock(*gMu);
  auto it = gEnvs->find(envKey);
  return it == gEnvs->end() ? 0 : it->second.jsTid;
}

void WatchdogJsThreadFault(uint64_t envKey, int fd, const Msg& msg) {
  std::lock_guard<std::mutex> lock(*gMu);
  auto it = gEnvs->find(envKey);
  if (it == gEnvs->end() || it->second.policy == kJsFaultOff) return;
  WatchedEnv& e = it->second;
  uint64_t page = msg.arg.pagefault.address & ~(PageSize() - 1);
  bool first = e.reported.insert(page).second;
  // The message stays queued for JS (the resolver forwarded it): nothing to give back.
  std::string action = Act(e.policy, fd, msg, false);
  if (first || e.policy != kJsFaultReport) Say(Report(e.jsTid, fd, msg, action));
}

void InitWatchdog(Napi::Env env, Napi::Object exports) {
  {
    std::lock_guard<std::mutex> lock(*gMu);
    WatchedEnv e;
    e.jsTid = static_cast<int>(syscall(SYS_gettid));  // Init runs on the environment's JS thread
    e.wchanFd = OpenWchan(e.jsTid);
    (*gEnvs)[WatchdogEnvKey(env)] = e;
  }
  napi_add_env_cleanup_hook(env, OnEnvCleanup, reinterpret_cast<void*>(WatchdogEnvKey(env)));
  exports.Set("watchdogWatch", Napi::Function::New(env, Watch, "watchdogWatch"));
  exports.Set("watchdogUnwatch", Napi::Function::New(env, Unwatch, "watchdogUnwatch"));
  exports.Set("watchdogSkip", Napi::Function::New(env, Skip, "watchdogSkip"));
  exports.Set("watchdogConfigure", Napi::Function::New(env, Configure, "watchdogConfigure"));
  exports.Set("watchdogTake", Napi::Function::New(env, Take, "watchdogTake"));
  exports.Set("watchdogJsTid", Napi::Function::New(env, JsTid, "watchdogJsTid"));
}

}  // namespace uffd
