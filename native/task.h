// Running blocking work on a dedicated std::thread and settling a promise on the JS thread.
//
// Why not Napi::AsyncWorker: it runs on the libuv threadpool, and the work here may block for
// as long as a peer takes to send a message; a blocked pool thread starves fs, dns and zlib.
// The settle step runs through a thread-safe function, whose calls run inside a callback scope,
// so awaiting code resumes at once (the MakeCallback pitfall in ../shared/style.md).
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <thread>

namespace uffd {

struct ThreadTask {
  std::function<void()> work;                    // on the native thread
  std::function<Napi::Value(Napi::Env)> settle;  // on the JS thread; its value resolves
  Napi::Promise::Deferred deferred;
  explicit ThreadTask(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

inline void ThreadTaskCallJs(Napi::Env env, Napi::Function, std::nullptr_t*, ThreadTask* task) {
  std::unique_ptr<ThreadTask> owned(task);
  if (env == nullptr) return;  // the environment is going away: nobody awaits the promise
  try {
    owned->deferred.Resolve(owned->settle(env));
  } catch (const Napi::Error& e) {
    owned->deferred.Reject(e.Value());
  }
}

using ThreadTaskTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, ThreadTask, ThreadTaskCallJs>;

inline Napi::Promise RunOnThread(Napi::Env env, const char* name, std::function<void()> work,
                                 std::function<Napi::Value(Napi::Env)> settle) {
  auto* task = new ThreadTask(env);
  task->work = std::move(work);
  task->settle = std::move(settle);
  Napi::Promise promise = task->deferred.Promise();
  ThreadTaskTsfn tsfn = ThreadTaskTsfn::New(env, name, 0, 1);
  std::thread([tsfn, task]() mutable {
    task->work();
    if (tsfn.BlockingCall(task) != napi_ok) delete task;  // env gone: drop the result
    tsfn.Release();
  }).detach();
  return promise;
}

}  // namespace uffd
