// The JS-thread fault watchdog (watchdog.cc), as seen by the other native files.
#pragma once

#include <napi.h>
#include <stdint.h>

#include "uapi.h"

namespace uffd {

// What to do when the JS thread of an environment faults on memory that only it can resolve.
enum JsFaultPolicy : int {
  kJsFaultOff = 0,
  kJsFaultReport = 1,
  kJsFaultResolve = 2,
  kJsFaultPoison = 3
};

// The key of an environment in the watchdog (stable while the environment lives).
uint64_t WatchdogEnvKey(napi_env env);
// The kernel tid of an environment's JS thread, recorded when the addon loaded in it.
int WatchdogJsTid(uint64_t envKey);
// A reader other than the JS thread (a native resolver) found a fault message of the
// environment's JS thread: report it and apply the environment's policy on `fd`.
void WatchdogJsThreadFault(uint64_t envKey, int fd, const Msg& msg);

}  // namespace uffd
