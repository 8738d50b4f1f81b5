// Module entry: per-environment state (the addon loads in every Worker, so nothing JS-facing is
// static) and the exports of each native file.
#include "addon.h"

namespace uffd {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);
  // result[0]: the last result field; result[1]: the batch calls' -errno.
  Napi::Float64Array result = Napi::Float64Array::New(env, 4);
  data->resultRef = Napi::Persistent(result);
  data->result = result.Data();
  exports.Set("result", result);
  InitConstants(env, exports);
  InitIoctls(env, exports);
  InitMemory(env, exports);
  InitThreads(env, exports);
  InitPoller(env, exports);
  InitScm(env, exports);
  InitWatchdog(env, exports);
  InitResolver(env, exports);
  InitEnvCleanup(env, exports);
  InitFailLoud(env, exports);
  InitPin(env, exports);
  return exports;
}

}  // namespace uffd

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return uffd::Init(env, exports);
}

NODE_API_MODULE(userfaultfd, InitAddon)
