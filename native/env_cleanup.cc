// What an environment leaves behind when it goes away without closing: a Worker that is
// terminated (or returns) with a Userfaultfd or a Mapping still open. The process keeps running,
// so nothing else would ever close those fds or unmap that memory: 1k Worker cycles leaked 1k
// fds. Each environment records the fds it owns; a cleanup hook, registered when the addon loads
// in that environment, closes the rest at teardown and unmaps its regions.
//
// Order at teardown: env cleanup hooks run in reverse order of registration, so this hook (added
// at load) runs after every Poller's async cleanup hook (added later) has stopped polling.
// Closing a userfaultfd here wakes any thread still blocked in a fault on it (the kernel
// unregisters the ranges on the last close), as close() does.
#include <unistd.h>

#include "addon.h"

namespace uffd {

void OwnFd(Napi::Env env, int fd) {
  if (fd >= 0) GetData(env)->ownedFds.insert(fd);
}

void DisownFd(Napi::Env env, int fd) { GetData(env)->ownedFds.erase(fd); }

namespace {

// ownFd(fd): an fd the JS layer took over (Userfaultfd.fromFd, a FORK event's fd, SCM_RIGHTS).
Napi::Value OwnFdJs(const Napi::CallbackInfo& info) {
  OwnFd(info.Env(), ArgInt(info, 0, "fd"));
  return info.Env().Undefined();
}

// ownedFdCount(): for the leak tests.
Napi::Value OwnedFdCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(GetData(info.Env())->ownedFds.size()));
}

void OnEnvTeardown(AddonData* data) {
  for (int fd : data->ownedFds) close(fd);
  data->ownedFds.clear();
  UnmapEnvRegions(data);
}

}  // namespace

void InitEnvCleanup(Napi::Env env, Napi::Object exports) {
  napi_add_env_cleanup_hook(
      env, [](void* arg) { OnEnvTeardown(static_cast<AddonData*>(arg)); }, GetData(env));
  exports.Set("ownFd", Napi::Function::New(env, OwnFdJs, "ownFd"));
  exports.Set("ownedFdCount", Napi::Function::New(env, OwnedFdCount, "ownedFdCount"));
}

}  // namespace uffd
