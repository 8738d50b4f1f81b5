// Running blocking work on a dedicated std::thread and settling a promise on the JS thread.
//
// Why not Napi::AsyncWorker: it runs on the libuv threadpool, and the work here may block for
// as long as a peer takes to send a message; a blocked pool thread starves fs, dns and zlib.
// The settle step runs through a thread-safe function, whose calls run inside a callback scope,
// so awaiting code resumes at once (the MakeCallback pitfall in ../shared/style.md).
//
// The thread-safe function dies with its environment, whatever the thread still holds. At
// environment teardown (a Worker that exits or is terminated) Node's own cleanup hook for the
// function closes it and DELETES it (node_api.cc: Cleanup -> CloseHandlesAndMaybeDelete ->
// Finalize -> EmptyQueueAndDelete -> delete this), even while a thread still holds a reference:
// thread_count is not consulted (Node 20, as on this machine; nodejs/node#55706; newer lines are
// reported to wait for the last release, which this file does not rely on). A thread that calls
// into it after that locks a freed mutex: uv_mutex_lock() aborts with no message. That
// was the rare SIGABRT of test/events "a Worker exits cleanly ... (resolver)": the touch() thread
// queued its result, was descheduled before its Release(), and the Worker resolved the promise,
// posted its message and was terminated in between (cores: abort in uv_mutex_lock <-
// napi_release_threadsafe_function on the task thread). A thread that is still working when the
// environment goes away (blocked in a userfault, a recvmsg) meets the same freed function later.
//
// So each task has a TaskLink: the thread makes its thread-safe-function calls (the call and the
// release) only under link->mu and only while the environment lives, and an environment cleanup
// hook sets envGone under the same mutex. The hook is added after the function is created, so it
// runs first (hooks run in reverse order of registration): once it has returned, no thread is
// inside the function and none will enter it. The hook waits at most for one queue push and a
// release; it never waits for the work itself (which may block forever on a fault nobody
// serves). The hook stays registered until the function's finalizer: only then is the thread
// done with it (after its Release(), not when the promise is settled, which comes first).
#pragma once

#include <napi.h>
#include <pthread.h>

#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace uffd {

struct TaskLink {
  std::mutex mu;
  bool envGone = false;  // under mu: set by the environment's teardown
  napi_env env = nullptr;
  bool hooked = false;  // JS thread only

  static void OnEnvTeardown(void* arg) {
    TaskLink* link = static_cast<TaskLink*>(arg);
    std::lock_guard<std::mutex> lock(link->mu);  // waits for a call or release in progress
    link->envGone = true;
    link->hooked = false;  // run: nothing to remove
  }

  // The thread-safe function's finalizer (JS thread): it is closed, normally (released and
  // drained) or by the teardown, after OnEnvTeardown. The holder keeps the link alive until now.
  static void OnTsfnFinalized(Napi::Env, std::shared_ptr<TaskLink>* holder, std::nullptr_t*) {
    TaskLink* link = holder->get();
    if (link->hooked) napi_remove_env_cleanup_hook(link->env, &TaskLink::OnEnvTeardown, link);
    link->hooked = false;
    delete holder;
  }
};

struct ThreadTask {
  std::function<void()> work;                    // on the native thread
  std::function<Napi::Value(Napi::Env)> settle;  // on the JS thread; its value resolves
  Napi::Promise::Deferred deferred;
  explicit ThreadTask(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

// static, not just inline: node-addon-api tests `CallJs != nullptr` in a template argument, and
// GCC 12 with -fsanitize=undefined (npm run build:asan) does not treat the address of an
// external inline function as a constant there (it could be interposed); an internal one is.
static inline void ThreadTaskCallJs(Napi::Env env, Napi::Function, std::nullptr_t*,
                                    ThreadTask* task) {
  std::unique_ptr<ThreadTask> owned(task);
  if (env == nullptr) return;  // the environment is going away: nobody awaits the promise
  try {
    owned->deferred.Resolve(owned->settle(env));
  } catch (const Napi::Error& e) {
    owned->deferred.Reject(e.Value());
  }
}

using ThreadTaskTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, ThreadTask, ThreadTaskCallJs>;

// Runs work() on a new detached thread, then settle() on the JS thread; the promise resolves to
// settle's value. threadName (15 characters at most) names the thread in /proc/<pid>/task/*/comm.
// static like ThreadTaskCallJs: its thread lambda holds a ThreadTaskTsfn, whose type now has
// internal linkage (-Wsubobject-linkage otherwise).
static inline Napi::Promise RunOnThread(Napi::Env env, const char* name, std::function<void()> work,
                                        std::function<Napi::Value(Napi::Env)> settle,
                                        const char* threadName = nullptr) {
  auto* task = new ThreadTask(env);
  task->work = std::move(work);
  task->settle = std::move(settle);
  auto link = std::make_shared<TaskLink>();
  link->env = env;
  Napi::Promise promise = task->deferred.Promise();
  ThreadTaskTsfn tsfn = ThreadTaskTsfn::New(env, name, 0, 1, nullptr, &TaskLink::OnTsfnFinalized,
                                            new std::shared_ptr<TaskLink>(link));
  // After New(): this hook must run before the function's own cleanup hook (see the top).
  napi_add_env_cleanup_hook(env, &TaskLink::OnEnvTeardown, link.get());
  link->hooked = true;
  std::thread([tsfn, task, link, threadName]() mutable {
    if (threadName != nullptr) pthread_setname_np(pthread_self(), threadName);
    task->work();
    std::lock_guard<std::mutex> lock(link->mu);
    if (link->envGone) {
      // The function is closed or already freed: do not touch it. The task holds no JS
      // references (a deferred is a handle the isolate frees), so it can go here.
      delete task;
      return;
    }
    // Unbounded queue (0): the call never waits for the JS thread, so the hook never waits long.
    if (tsfn.BlockingCall(task) != napi_ok) delete task;
    tsfn.Release();
  }).detach();
  return promise;
}

}  // namespace uffd
