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
  explicit Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
    Napi::Env env = info.Env();
    int fd = ArgInt(info, 0, "fd");
    if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "callback must be a function");
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "userfaultfd:poll");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      throw Napi::Error::New(env, "no event loop");
    }
    handle_ = new uv_poll_t;
    int r = uv_poll_init(loop, handle_, fd);
    if (r != 0) {
      delete handle_;
      handle_ = nullptr;
      Napi::Error e = Napi::Error::New(env, uv_strerror(r));
      e.Set("errno", Napi::Number::New(env, r));
      e.Set("code", Napi::String::New(env, uv_err_name(r)));
      e.Set("syscall", Napi::String::New(env, "epoll_ctl"));
      throw e;
    }
    handle_->data = this;
    napi_add_async_cleanup_hook(env, &Poller::OnTeardown, this, &hook_);
    Ref();  // kept alive until the handle is closed
  }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (handle_ == nullptr || closing_) return Errno(info.Env(), EBADF);
    int r = uv_poll_start(handle_, UV_READABLE, &Poller::OnPoll);
    return Napi::Number::New(info.Env(), r);
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr && !closing_) uv_poll_stop(handle_);
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    BeginClose();
    return info.Env().Undefined();
  }

  Napi::Value RefHandle(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr && !closing_) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefHandle(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr && !closing_) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  void BeginClose() {
    if (handle_ == nullptr || closing_) return;
    closing_ = true;
    uv_poll_stop(handle_);
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), &Poller::OnClosed);
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    Poller* self = static_cast<Poller*>(h->data);
    if (self->closing_) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      self->callback_.MakeCallback(self->Value(),
                                   {Napi::Number::New(env, status), Napi::Number::New(env, events)},
                                   *self->context_);
    } catch (const Napi::Error& e) {
      e.ThrowAsJavaScriptException();
    }
  }

  static void OnClosed(uv_handle_t* h) {
    Poller* self = static_cast<Poller*>(h->data);
    delete reinterpret_cast<uv_poll_t*>(h);
    self->handle_ = nullptr;
    if (self->hook_ != nullptr) {
      napi_remove_async_cleanup_hook(self->hook_);
      self->hook_ = nullptr;
    }
    if (self->tearingDown_) return;  // no JS may run during teardown
    self->Unref();
  }

  static void OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
    Poller* self = static_cast<Poller*>(arg);
    self->tearingDown_ = true;
    if (self->handle_ != nullptr && !self->closing_) {
      self->BeginClose();
    } else if (self->hook_ != nullptr) {
      // Already closing: OnClosed will remove the hook.
      if (self->handle_ == nullptr) {
        napi_remove_async_cleanup_hook(self->hook_);
        self->hook_ = nullptr;
      }
    }
  }

  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
  uv_poll_t* handle_ = nullptr;
  napi_async_cleanup_hook_handle hook_ = nullptr;
  bool closing_ = false;
  bool tearingDown_ = false;
};

}  // namespace

void InitPoller(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Poller::Define(env);
  GetData(env)->pollerCtor = Napi::Persistent(ctor);
  exports.Set("Poller", ctor);
}

}  // namespace uffd
