// What the engine's probe table (test/engine/) needs from the kernel beyond the core's calls:
// poll(2) on one fd, whose revents the probes compare (spec §1.6: POLLERR before UFFDIO_API and
// on a blocking uffd, A5/A15). libuv's poller cannot observe A15: it sets O_NONBLOCK itself.
#include <errno.h>
#include <poll.h>

#include "addon.h"

namespace uffd {
namespace {

// pollFd(fd, events, timeoutMs) -> revents (>= 0) or -errno.
Napi::Value PollFd(const Napi::CallbackInfo& info) {
  struct pollfd p;
  p.fd = ArgInt(info, 0, "fd");
  p.events = static_cast<short>(ArgInt(info, 1, "events"));
  p.revents = 0;
  int timeout = ArgInt(info, 2, "timeout");
  int r;
  do {
    r = poll(&p, 1, timeout);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), p.revents);
}

}  // namespace

void InitEngineProbe(Napi::Env env, Napi::Object exports) {
  exports.Set("pollFd", Napi::Function::New(env, PollFd, "pollFd"));
}

}  // namespace uffd
