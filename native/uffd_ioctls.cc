// Opening a userfaultfd, the UFFDIO_API handshake, and every UFFDIO_* ioctl.
//
// Each function issues exactly one syscall and reports exactly what the kernel said: the return
// value (0 or a negative errno) and, for the five ioctls with a result field, that field
// (written to AddonData::result; NaN when the kernel left it untouched, spec §3.10). Retrying,
// waking after EEXIST and the meaning of partial progress are decided in lib/.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

#include "addon.h"
#include "uapi.h"

namespace uffd {
namespace {

// Sentinel pre-set into result fields so "untouched" is observable (as the spec's probe did).
constexpr int64_t kUntouched = INT64_MIN;

inline int Fd(const Napi::CallbackInfo& info) { return ArgInt(info, 0, "fd"); }

inline Napi::Value Report(const Napi::CallbackInfo& info, int ret, int err, int64_t field) {
  double* out = GetData(info.Env())->result;
  out[0] = field == kUntouched ? NAN : static_cast<double>(field);
  return Napi::Number::New(info.Env(), ret == 0 ? 0 : -err);
}

// userfaultfd(flags) -> fd, or -errno.
Napi::Value Open(const Napi::CallbackInfo& info) {
  int flags = ArgInt(info, 0, "flags");
  long fd = syscall(SYS_userfaultfd, flags);
  if (fd < 0) return Errno(info.Env(), errno);
  OwnFd(info.Env(), static_cast<int>(fd));
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

// open("/dev/userfaultfd") + USERFAULTFD_IOC_NEW(flags) -> [fd or -errno, failing step].
// The step ("open" or "ioctl") lets lib/ name the syscall in the error.
Napi::Value DevOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int flags = ArgInt(info, 0, "flags");
  Napi::Array out = Napi::Array::New(env, 2);
  int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev < 0) {
    out.Set(0u, Errno(env, errno));
    out.Set(1u, Napi::String::New(env, "open"));
    return out;
  }
  int fd = ioctl(dev, kDevIocNew, flags);
  int err = errno;
  close(dev);
  OwnFd(env, fd);
  out.Set(0u, fd < 0 ? Errno(env, err) : Napi::Number::New(env, fd));
  out.Set(1u, Napi::String::New(env, "ioctl"));
  return out;
}

// UFFDIO_API(api, features) -> [ret, api, features, ioctls]; on error the kernel zeroes the
// struct (spec §3.1), and we report what it wrote back either way.
Napi::Value Api(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ApiArg a{ArgU64(info, 1, "api"), ArgU64(info, 2, "features"), 0};
  int ret = ioctl(Fd(info), kApiIoctl, &a);
  int err = errno;
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(0u, Napi::Number::New(env, ret == 0 ? 0 : -err));
  out.Set(1u, Napi::BigInt::New(env, a.api));
  out.Set(2u, Napi::BigInt::New(env, a.features));
  out.Set(3u, Napi::BigInt::New(env, a.ioctls));
  return out;
}

// UFFDIO_REGISTER -> the range's ioctl bitmask (>= 0), or -errno.
Napi::Value Register(const Napi::CallbackInfo& info) {
  RegisterArg a{{ArgU64(info, 1, "start"), ArgU64(info, 2, "len")}, ArgU64(info, 3, "mode"), 0};
  int ret = ioctl(Fd(info), kRegister, &a);
  if (ret != 0) return Errno(info.Env(), errno);
  return FromU64(info.Env(), a.ioctls);
}

Napi::Value RangeIoctl(const Napi::CallbackInfo& info, unsigned long request) {
  Range r{ArgU64(info, 1, "start"), ArgU64(info, 2, "len")};
  int ret = ioctl(Fd(info), request, &r);
  return Napi::Number::New(info.Env(), ret == 0 ? 0 : -errno);
}
Napi::Value Unregister(const Napi::CallbackInfo& info) { return RangeIoctl(info, kUnregister); }
Napi::Value Wake(const Napi::CallbackInfo& info) { return RangeIoctl(info, kWake); }

// Resolves the src argument of COPY: an address, or an ArrayBufferView whose bytes are read in
// place (the view is an argument of this synchronous call, so it stays alive for the ioctl).
// lib/ has already checked len against the view's length.
uint64_t SrcAddress(const Napi::CallbackInfo& info, size_t i) {
  uint8_t* data = nullptr;
  size_t len = 0;
  if (ViewBytes(info[i], &data, &len)) return reinterpret_cast<uint64_t>(data);
  return ArgU64(info, i, "src");
}

Napi::Value Copy(const Napi::CallbackInfo& info) {
  CopyArg a{ArgU64(info, 1, "dst"), SrcAddress(info, 2), ArgU64(info, 3, "len"),
            ArgU64(info, 4, "mode"), kUntouched};
  int ret = ioctl(Fd(info), kCopy, &a);
  return Report(info, ret, errno, a.copy);
}

Napi::Value Zeropage(const Napi::CallbackInfo& info) {
  ZeropageArg a{
      {ArgU64(info, 1, "start"), ArgU64(info, 2, "len")}, ArgU64(info, 3, "mode"), kUntouched};
  int ret = ioctl(Fd(info), kZeropage, &a);
  return Report(info, ret, errno, a.zeropage);
}

Napi::Value Move(const Napi::CallbackInfo& info) {
  MoveArg a{ArgU64(info, 1, "dst"), ArgU64(info, 2, "src"), ArgU64(info, 3, "len"),
            ArgU64(info, 4, "mode"), kUntouched};
  int ret = ioctl(Fd(info), kMove, &a);
  return Report(info, ret, errno, a.move);
}

Napi::Value Continue(const Napi::CallbackInfo& info) {
  ContinueArg a{
      {ArgU64(info, 1, "start"), ArgU64(info, 2, "len")}, ArgU64(info, 3, "mode"), kUntouched};
  int ret = ioctl(Fd(info), kContinue, &a);
  return Report(info, ret, errno, a.mapped);
}

Napi::Value Poison(const Napi::CallbackInfo& info) {
  PoisonArg a{
      {ArgU64(info, 1, "start"), ArgU64(info, 2, "len")}, ArgU64(info, 3, "mode"), kUntouched};
  int ret = ioctl(Fd(info), kPoison, &a);
  return Report(info, ret, errno, a.updated);
}

Napi::Value Writeprotect(const Napi::CallbackInfo& info) {
  WriteprotectArg a{{ArgU64(info, 1, "start"), ArgU64(info, 2, "len")}, ArgU64(info, 3, "mode")};
  int ret = ioctl(Fd(info), kWriteprotect, &a);
  return Napi::Number::New(info.Env(), ret == 0 ? 0 : -errno);
}

// Batched MOVE/COPY: entries is a Float64Array of (dst, src, len) triples; mode applies to all.
// Stops at the first ioctl that does not complete fully. Returns the number of entries fully
// done; result[0] holds the failing entry's result field and result[1] its -errno.
Napi::Value Batch(const Napi::CallbackInfo& info, bool move) {
  Napi::Env env = info.Env();
  int fd = Fd(info);
  if (!info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "entries must be a Float64Array");
  }
  Napi::Float64Array entries = info[1].As<Napi::Float64Array>();
  uint64_t mode = ArgU64(info, 2, "mode");
  size_t n = entries.ElementLength() / 3;
  const double* e = entries.Data();
  double* out = GetData(env)->result;
  for (size_t i = 0; i < n; i++) {
    uint64_t dst = static_cast<uint64_t>(e[3 * i]);
    uint64_t src = static_cast<uint64_t>(e[3 * i + 1]);
    uint64_t len = static_cast<uint64_t>(e[3 * i + 2]);
    int ret;
    int64_t field;
    if (move) {
      MoveArg a{dst, src, len, mode, kUntouched};
      ret = ioctl(fd, kMove, &a);
      field = a.move;
    } else {
      CopyArg a{dst, src, len, mode, kUntouched};
      ret = ioctl(fd, kCopy, &a);
      field = a.copy;
    }
    if (ret != 0) {
      out[0] = field == kUntouched ? NAN : static_cast<double>(field);
      out[1] = -errno;
      return Napi::Number::New(env, static_cast<double>(i));
    }
  }
  out[0] = NAN;
  out[1] = 0;
  return Napi::Number::New(env, static_cast<double>(n));
}
Napi::Value MoveBatch(const Napi::CallbackInfo& info) { return Batch(info, true); }
Napi::Value CopyBatch(const Napi::CallbackInfo& info) { return Batch(info, false); }

// ioctl(fd, request, buffer|null) with a raw argument: for the uAPI tests (unknown command,
// NULL argument, wrong size) that the typed calls cannot express. Returns 0 or -errno.
Napi::Value RawIoctl(const Napi::CallbackInfo& info) {
  uint64_t request = ArgU64(info, 1, "request");
  void* arg = nullptr;
  if (info[2].IsBuffer()) arg = info[2].As<Napi::Buffer<uint8_t>>().Data();
  int ret = ioctl(Fd(info), static_cast<unsigned long>(request), arg);
  return Napi::Number::New(info.Env(), ret < 0 ? -errno : ret);
}

// read(2) of whole uffd_msg records into buffer -> the number of messages, or -errno
// (EAGAIN when nothing is pending on an O_NONBLOCK fd; EINVAL before UFFDIO_API or for a
// buffer smaller than one message, spec §1.6).
Napi::Value ReadMsgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Fd(info);
  uint8_t* base = nullptr;
  size_t size = 0;
  if (!info[1].IsTypedArray() || !ViewBytes(info[1], &base, &size)) {
    throw Napi::TypeError::New(env, "buffer must be a Uint8Array");
  }
  ssize_t n;
  do {
    n = read(fd, base, size);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Errno(env, errno);
  return Napi::Number::New(env, static_cast<double>(n / sizeof(Msg)));
}

// poll(2) once on fd for `events` with a timeout in ms -> revents (>= 0), or -errno. For the
// tests of spec §1.6 (A5, A14, A15: POLLERR before UFFDIO_API and on a blocking fd) and for
// waiting until an event is pending without reading it. The Poller cannot show A15: libuv's
// uv_poll_init sets O_NONBLOCK on the fd it watches.
Napi::Value PollOnce(const Napi::CallbackInfo& info) {
  struct pollfd p;
  p.fd = Fd(info);
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

Napi::Value Close(const Napi::CallbackInfo& info) {
  // close(2): never retry on EINTR (the fd is gone either way on Linux).
  int fd = Fd(info);
  DisownFd(info.Env(), fd);
  int ret = close(fd);
  return Napi::Number::New(info.Env(), ret == 0 ? 0 : -errno);
}

Napi::Value Dup(const Napi::CallbackInfo& info) {
  int fd = fcntl(Fd(info), F_DUPFD_CLOEXEC, 0);
  return Napi::Number::New(info.Env(), fd < 0 ? -errno : fd);
}

// fcntl(F_GETFL/F_SETFL) for O_NONBLOCK: a uffd received from another process may be blocking,
// and poll(2) reports POLLERR for a blocking uffd (spec §5.3, A15).
Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  int fd = Fd(info);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return Errno(info.Env(), errno);
  if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), 0);
}

// The string Node uses for an errno (e.g. "file already exists") for error messages.
Napi::Value StrError(const Napi::CallbackInfo& info) {
  int err = ArgInt(info, 0, "errno");
  return Napi::String::New(info.Env(), strerror(err < 0 ? -err : err));
}

}  // namespace

void InitIoctls(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("devOpen", Napi::Function::New(env, DevOpen, "devOpen"));
  exports.Set("api", Napi::Function::New(env, Api, "api"));
  exports.Set("register", Napi::Function::New(env, Register, "register"));
  exports.Set("unregister", Napi::Function::New(env, Unregister, "unregister"));
  exports.Set("wake", Napi::Function::New(env, Wake, "wake"));
  exports.Set("copy", Napi::Function::New(env, Copy, "copy"));
  exports.Set("zeropage", Napi::Function::New(env, Zeropage, "zeropage"));
  exports.Set("move", Napi::Function::New(env, Move, "move"));
  exports.Set("continue", Napi::Function::New(env, Continue, "continue"));
  exports.Set("poison", Napi::Function::New(env, Poison, "poison"));
  exports.Set("writeprotect", Napi::Function::New(env, Writeprotect, "writeprotect"));
  exports.Set("moveBatch", Napi::Function::New(env, MoveBatch, "moveBatch"));
  exports.Set("copyBatch", Napi::Function::New(env, CopyBatch, "copyBatch"));
  exports.Set("rawIoctl", Napi::Function::New(env, RawIoctl, "rawIoctl"));
  exports.Set("readMsgs", Napi::Function::New(env, ReadMsgs, "readMsgs"));
  exports.Set("poll", Napi::Function::New(env, PollOnce, "poll"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("dup", Napi::Function::New(env, Dup, "dup"));
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking, "setNonBlocking"));
  exports.Set("strerror", Napi::Function::New(env, StrError, "strerror"));
}

}  // namespace uffd
