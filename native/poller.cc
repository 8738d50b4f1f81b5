// Watches a userfaultfd for readability on the environment's own libuv loop (so it works in
// Workers), and calls back into JS through MakeCallback with an async context, so promise
// continuations queued by the callback run before control returns to libuv.
//
// lib/ starts the poll only while a consumer is waiting (back-pressure) and reads the messages
// itself with readMsgs(). Closing: close() stops the poll and uv_close()s the handle; the fd is
// closed by lib/ afterwards (never by us). An async cleanup hook does the same at environment
// teardown, so a Worker that exits with an open stream leaves no handle behind.
#include <uv.h>

#include "addon.h"

namespace uffd {
namespace {

// State shared by the Poller object and its uv handle: the handle may outlive the object (the
// object can be collected while uv_close completes) and vice versa.
struct PollState {
  class Poller* owner;
  uv_poll_t handle;
  napi_async_cleanup_hook_handle hook = nullptr;
  bool closing = false;
};

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "Poller",
        {InstanceMethod("start", &Poller::Start), InstanceMethod("stop", &Poller::Stop),
         InstanceMethod("close", &Poller::Close), InstanceMethod("ref", &Poller::RefHandle),
         InstanceMethod("unref", &Poller::UnrefHandle)});
  }

  // new Poller(fd, callback(status, events))
  //
  // Lifetime: while polling, the object is strongly referenced (a waiting consumer is an
  // operation in progress). While idle it is not, and the callback is held weakly, so a
  // Userfaultfd dropped without close() can be collected (its FinalizationRegistry closes the
  // fd; our destructor closes the uv handle).
  explicit Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
    Napi::Env env = info.Env();
    int fd = ArgInt(info, 0, "fd");
    if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "callback must be a function");
    callback_ = Napi::Weak(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "userfaultfd:poll");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      throw Napi::Error::New(env, "no event loop");
    }
    auto* st = new PollState{this, {}};
    int r = uv_poll_init(loop, &st->handle, fd);
    if (r != 0) {
      delete st;
      Napi::Error e = Napi::Error::New(env, uv_strerror(r));
      e.Set("errno", Napi::Number::New(env, r));
      e.Set("code", Napi::String::New(env, uv_err_name(r)));
      e.Set("syscall", Napi::String::New(env, "epoll_ctl"));
      throw e;
    }
    st->handle.data = st;
    napi_add_async_cleanup_hook(env, &Poller::OnTeardown, st, &st->hook);
    state_ = st;
  }

  ~Poller() override {
    if (state_ == nullptr) return;
    state_->owner = nullptr;
    BeginClose(state_);
  }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (state_ == nullptr || state_->closing) return Errno(info.Env(), EBADF);
    int r = uv_poll_start(&state_->handle, UV_READABLE, &Poller::OnPoll);
    if (r == 0 && !strong_) {
      strong_ = true;
      Ref();
      callback_.Ref();
    }
    return Napi::Number::New(info.Env(), r);
  }

  void Weaken() {
    if (!strong_) return;
    strong_ = false;
    callback_.Unref();
    Unref();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (state_ != nullptr && !state_->closing) uv_poll_stop(&state_->handle);
    Weaken();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (state_ != nullptr) {
      state_->owner = nullptr;
      BeginClose(state_);
      state_ = nullptr;
    }
    Weaken();
    return info.Env().Undefined();
  }

  Napi::Value RefHandle(const Napi::CallbackInfo& info) {
    if (state_ != nullptr && !state_->closing)
      uv_ref(reinterpret_cast<uv_handle_t*>(&state_->handle));
    return info.Env().Undefined();
  }

  Napi::Value UnrefHandle(const Napi::CallbackInfo& info) {
    if (state_ != nullptr && !state_->closing) {
      uv_unref(reinterpret_cast<uv_handle_t*>(&state_->handle));
    }
    return info.Env().Undefined();
  }

  static void BeginClose(PollState* st) {
    if (st->closing) return;
    st->closing = true;
    uv_poll_stop(&st->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&st->handle), &Poller::OnClosed);
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    PollState* st = static_cast<PollState*>(h->data);
    Poller* self = st->owner;
    if (self == nullptr || st->closing) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    Napi::Function cb = self->callback_.Value();
    if (cb.IsEmpty()) return;
    try {
      cb.MakeCallback(self->Value(),
                      {Napi::Number::New(env, status), Napi::Number::New(env, events)},
                      *self->context_);
    } catch (const Napi::Error& e) {
      e.ThrowAsJavaScriptException();
    }
  }

  static void OnClosed(uv_handle_t* h) {
    PollState* st = static_cast<PollState*>(h->data);
    if (st->hook != nullptr) napi_remove_async_cleanup_hook(st->hook);
    if (st->owner != nullptr) st->owner->state_ = nullptr;
    delete st;
  }

  // Environment teardown (process exit, Worker exit): close the handle so the loop can close.
  static void OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
    PollState* st = static_cast<PollState*>(arg);
    if (st->closing) return;  // OnClosed removes the hook
    BeginClose(st);
  }

  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
  PollState* state_ = nullptr;
  bool strong_ = false;
};

}  // namespace

void InitPoller(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Poller::Define(env);
  GetData(env)->pollerCtor = Napi::Persistent(ctor);
  exports.Set("Poller", ctor);
}

}  // namespace uffd
